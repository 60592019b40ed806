"""``workscribe bench ...``: speed and resource measurements (never timed tests)."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, print_table


@click.group("bench")
def bench_group() -> None:
    """Measure speed and resource use."""


@bench_group.command("record")
@click.option("--workload", type=click.Choice(["all", "typing", "terminal", "browser"]), default="all",
              show_default=True, help="typing: little output; terminal: commands printing output in a "
              "full-screen xterm; browser: scrolling a long page in Chromium; all: each in turn.")
@click.option("--duration", default=60.0, show_default=True, type=float,
              help="Seconds of steady work per workload.")
@click.option("--fps", default=5.0, show_default=True, type=float, help="Recorder frame rate.")
@click.option("--burst-rate", default=500, show_default=True, type=int,
              help="Injected input events per second in the typing workload's burst phase.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the demonstrator.")
@json_option
def bench_record_cmd(workload: str, duration: float, fps: float, burst_rate: int, seed: int,
                     as_json: bool) -> None:
    """Measure the recorder with every privacy stage on: CPU, memory, bytes per hour, frames, lost events.

    Example: workscribe bench record --workload terminal --json
    """
    from rich.progress import Progress

    from workscribe.bench.record import WORKLOADS, BenchError, bench_record
    from workscribe.envs.xdisplay import DisplayError

    if duration <= 0 or burst_rate <= 0:
        raise CliError("--duration and --burst-rate must be > 0")
    names = WORKLOADS if workload == "all" else (workload,)
    try:
        with Progress(transient=True, disable=as_json) as bar:
            tasks = {n: bar.add_task(f"{n} workload", total=1.0) for n in names}
            result = bench_record(names, duration, fps, burst_rate, seed=seed,
                                  progress=lambda n, f: bar.update(tasks[n], completed=f))
    except (DisplayError, BenchError, RuntimeError) as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    if as_json:
        echo_json(result)
        return
    figures = ["cpu_percent", "rss_peak_mb", "bytes_per_hour", "frames_stored", "frames_dropped",
               "frames_waited_on_disk", "events_injected", "events_lost"]
    rows = [(f, *(_cell(result["workloads"][n].get(f)) for n in names)) for f in figures]
    print_table(f"bench record ({duration:.0f} s each, {fps:g} fps)", ["figure", *names], rows)


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@bench_group.command("redact")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the labelled corpus.")
@click.option("--mb", default=20.0, show_default=True, type=float, help="MB of text redacted per timed run.")
@json_option
def bench_redact_cmd(seed: int, mb: float, as_json: bool) -> None:
    """Measure the text redactor: recall of planted secrets and PII, false positives, MB/s on one core.

    Example: workscribe bench redact --json
    """
    from workscribe.bench.frames import bench_frames
    from workscribe.bench.redact import bench_redact

    if mb <= 0:
        raise CliError("--mb must be > 0")
    result = bench_redact(seed=seed, target_mb=mb)
    result.update(bench_frames())
    if as_json:
        echo_json(result)
        return
    rows = [(k, " ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else v)
            for k, v in result.items() if k not in ("misses", "false_positives")]
    print_table("bench redact", ["figure", "value"], rows)


@bench_group.command("process")
@click.option("--hours", default=8.0, show_default=True, type=float, help="Hours of synthetic work to read.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic spool.")
@json_option
def bench_process_cmd(hours: float, seed: int, as_json: bool) -> None:
    """Measure spools to episodes on one core: realtime factor, and peak memory as hours grow.

    Example: workscribe bench process --hours 8 --json
    """
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from workscribe.bench.process import bench_process

    if hours <= 0:
        raise CliError("--hours must be > 0")
    with Progress(console=Console(stderr=True), transient=True) as bar:
        steps: dict[str, TaskID] = {}

        def show(what: str, fraction: float | None) -> None:  # one bar per step, the last one shown
            if what not in steps:
                for task in steps.values():
                    bar.update(task, visible=False)
                steps[what] = bar.add_task(what, total=None if fraction is None else 1.0)
            if fraction is not None:
                bar.update(steps[what], completed=fraction)

        try:
            result = bench_process(hours, seed=seed, progress=show)
        except RuntimeError as exc:
            raise CliError(str(exc), code=EXIT_FAILED) from None
    if as_json:
        echo_json(result)
    else:
        rows = [(k, ", ".join(f"{h} h: {mb} MB" for h, mb in v.items()) if isinstance(v, dict) else v)
                for k, v in result.items()]
        print_table("bench process", ["figure", "value"], rows)


@bench_group.command("browser")
@click.option("--repeats", default=50, show_default=True, type=int, help="Snapshots timed per page.")
@json_option
def bench_browser_cmd(repeats: int, as_json: bool) -> None:
    """Measure the browser source: in-page cost and size of one snapshot, per page (headless Chromium).

    Example: workscribe bench browser --json
    """
    from workscribe.bench.browser import bench_browser
    from workscribe.sources.cdp import CdpError

    if repeats <= 0:
        raise CliError("--repeats must be > 0")
    try:
        result = bench_browser(repeats)
    except (RuntimeError, CdpError) as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    if as_json:
        echo_json(result)
        return
    rows = [(name, *page.values()) for name, page in result["pages"].items()]
    columns = ["page", *next(iter(result["pages"].values())).keys()]
    print_table(f"bench browser ({repeats} snapshots per page)", columns, rows)


@bench_group.command("shell")
@click.option("--prompts", default=400, show_default=True, type=int,
              help="Prompts timed per shell and state.")
@json_option
def bench_shell_cmd(prompts: int, as_json: bool) -> None:
    """Measure the latency the shell hook adds per prompt (bash, and zsh if installed), recorder up and down.

    Example: workscribe bench shell --json
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from workscribe.bench.shell import bench_shell

    if prompts < 10:
        raise CliError("--prompts must be at least 10")
    try:
        with Progress(TextColumn("timing prompts"), BarColumn(), TaskProgressColumn(),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("prompts", total=1.0)
            result = bench_shell(prompts, progress=lambda f: bar.update(task, completed=f))
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    if as_json:
        echo_json(result)
        return
    rows = [(shell, state, *figures.values()) for shell, states in result["shells"].items()
            for state, figures in states.items()]
    print_table(f"bench shell ({prompts} prompts each; target: added median <= 2 ms, p99 <= 5 ms; "
                f"{'met' if result['met'] else 'NOT met'})",
                ["shell", "state", "median ms", "p99 ms", "added median ms", "added p99 ms"], rows)


def register(cli: click.Group) -> None:
    """Adds the bench verbs to ``cli``."""
    cli.add_command(bench_group)


@bench_group.command("bc")
@click.option("--tasks", default="click-test,click-button,click-link,click-dialog,focus-text,enter-text,"
              "login-user,click-checkboxes", show_default=True, help="MiniWoB++ tasks.")
@click.option("--episodes", default=100, show_default=True, type=int, help="Demonstrations per task.")
@click.option("--eval-episodes", default=50, show_default=True, type=int, help="Evaluation seeds per task.")
@click.option("--epochs", default=15, show_default=True, type=int)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default="bench-out/bc", show_default=True,
              help="Folder for every artefact of the run.")
@json_option
def bench_bc_cmd(tasks: str, episodes: int, eval_episodes: int, epochs: int, device: str, out: Path,
                 as_json: bool) -> None:
    """Measure the behaviour-cloning loop: collect, export, train, evaluate on unseen seeds.

    Example: workscribe bench bc --episodes 100 --eval-episodes 50 --json
    """
    from workscribe.bench.bc import bench_bc
    from workscribe.jobs.bc import StageError

    task_list = tuple(t.strip() for t in tasks.split(",") if t.strip())
    if not task_list or episodes <= 0 or eval_episodes <= 0 or epochs <= 0:
        raise CliError("--tasks must name a task; --episodes, --eval-episodes and --epochs must be > 0")
    with errors_as(StageError, code=EXIT_FAILED):
        result = bench_bc(out, task_list, episodes, eval_episodes, epochs, device,
                          progress=lambda line: click.echo(f"==> {line}", err=True))
    if as_json:
        echo_json(result)
        return
    rows = [(t, s) for t, s in result["tasks"].items()] + [("mean", result["mean_success"])]
    rows += [(f"baseline: {b}", s) for b, s in result["baselines"].items()]
    facts = ("demonstrations", "decisions", "training_seconds", "eval_episodes_per_minute")
    rows += [(k, result[k]) for k in facts]
    print_table("bench bc", ["figure", "value"], rows)


@bench_group.command("fleet")
@click.option("--devices", default=20, show_default=True, type=int, help="Devices uploading at once.")
@click.option("--hours", default=2.0, show_default=True, type=float,
              help="Hours of synthetic work in each device's spool.")
@click.option("--mb-per-hour", default=20.0, show_default=True, type=float,
              help="Spool bytes per hour of work (the recorder stores 17 to 20 MB/h on terminal work).")
@click.option("--segment-s", default=300.0, show_default=True, type=float,
              help="Seconds of work per segment (the recorder's default is 300).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a PNG: MB stored over time, the service's memory against segments stored.")
@json_option
def bench_fleet_cmd(devices: int, hours: float, mb_per_hour: float, segment_s: float, seed: int,
                    plot: Path | None, as_json: bool) -> None:
    """Measure the fleet service on loopback: many devices uploading at once.

    A real `workscribe serve` and enrolled devices running the real upload client; every device re-seals
    its segments before the clock starts (on a fleet each does so on its own CPU). Reports segments and
    MB stored per second, upload latency, lost and duplicated segments, the service's CPU and memory.

    Example: workscribe bench fleet --devices 20 --json
    """
    from rich.progress import Progress

    from workscribe.bench.fleet import BenchError, bench_fleet

    if devices <= 0 or hours <= 0 or mb_per_hour < 0 or segment_s <= 0:
        raise CliError("--devices, --hours and --segment-s must be > 0, --mb-per-hour >= 0")
    with Progress(transient=True, disable=as_json) as bar:
        tasks: dict[str, object] = {}

        def show(phase: str, done: float, total: float) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        with errors_as(BenchError, code=EXIT_FAILED):
            result = bench_fleet(devices, hours, mb_per_hour, segment_s, seed, progress=show)
    if plot is not None:
        from workscribe.bench.fleet import plot as draw

        with errors_as(OSError):
            plot.write_bytes(draw(result))
    if as_json:
        echo_json(result)
        return
    service = result["service"]
    growth = service["rss_mb_per_1000_segments_after_quarter"]
    rows = [("segments (MB)", f"{result['segments']} ({result['mb']} MB)"),
            ("ingest", f"{result['segments_per_s']} segments/s, {result['mb_per_s']} MB/s (target >= 50)"),
            ("latency p50 / p99", f"{result['latency_ms']['p50']} / {result['latency_ms']['p99']} ms"),
            ("lost / duplicated", f"{result['lost']} / {result['duplicated']}"),
            ("failed / 5xx", f"{result['failed']} / {result['responses_5xx']}"),
            ("service CPU", f"{service['cpu_percent']}% of a core"),
            ("service memory", f"{service['rss_mb_start']} MB idle, {service['rss_mb_at_quarter']} MB "
                               f"at a quarter, {service['rss_mb_end']} MB at the end (peak "
                               f"{service['rss_mb_peak']}; {growth} MB per 1000 segments after the first "
                               "quarter)"),
            ("devices' CPU", f"{result['devices_cpu_percent']}% of a core")]
    print_table(f"bench fleet ({devices} devices, {hours:g} h each, on {result['cores']} cores)",
                ["figure", "value"], rows)
