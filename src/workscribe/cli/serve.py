"""``workscribe serve``: run the organisation's fleet service (HTTP, uvicorn)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import errors_as, json_option


@click.command("serve")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
              help="The data folder `workscribe org init` made (its fleet.json names the catalog and store).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 lets the system choose one (printed).")
@click.option("--body-timeout", "body_timeout", default=60.0, show_default=True,
              type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="How long the body of an upload may pause before the service gives up on it, keeping what "
                   "came (a connection cut without a word holds its upload no longer).")
@json_option
def serve(data_dir: Path, host: str, port: int, body_timeout: float, as_json: bool) -> None:
    """Run the fleet service until interrupted; one JSON access-log line per request on stderr.

    Once listening it prints `listening on http://HOST:PORT` (with --json: {"listening": URL}) on stdout.
    Put it behind a TLS-terminating proxy for any network but loopback.

    Example: workscribe serve --data /srv/workscribe --host 127.0.0.1 --port 8470
    """
    import uvicorn

    from workscribe.fleet.config import FleetConfigError, ServiceUnreachable
    from workscribe.fleet.org import OrgError
    from workscribe.fleet.service import create_app

    with errors_as(OrgError, FleetConfigError), errors_as(ServiceUnreachable, code=EXIT_FAILED):
        app = create_app(data_dir, body_timeout_s=body_timeout)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn serves them
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}", code=EXIT_FAILED) from None
    bound = sock.getsockname()[1]
    url = f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}"
    click.echo(json.dumps({"listening": url}) if as_json else f"listening on {url}")
    click.get_text_stream("stdout").flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def register(cli: click.Group) -> None:
    """Adds ``serve`` to ``cli``."""
    cli.add_command(serve)
