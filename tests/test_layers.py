"""The layout is the data flow: no module imports a stage after it, and the recording stages do not
import each other (``record`` wires them). The table is the one in docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

import workscribe

PACKAGE = Path(workscribe.__file__).parent

CORE = {"workscribe", "events", "paths", "patches", "textrules"}
"""What every module may import: the event shape and clock, state paths, diffs, the pure text rules."""

TEXT_RULES = {"redact.text", "redact.rules", "redact.pii", "redact.identity"}
"""Pure redaction functions of text: a library any stage calls, not the redaction stage itself."""

ALLOWED: dict[str, set[str]] = {
    "sources": set(),
    "guard": {"sources.base"},
    "redact": set(),
    "spool": set(),
    "record": {"sources", "guard", "redact", "spool"},
    "process": {"spool.reader"},  # the actions of a stored spool
    "export": {"spool", "process"},
    "policy": {"export", "process", "evaluate.metrics"},  # held-out scores of training, pure metrics
    "evaluate": {"sources", "guard", "redact", "process", "export", "policy", "envs"},
    "envs": {"process"},
    "viz": {"guard.consent", "process", "export", "policy"},
    "testing": {"spool"},
    "fleet": {"spool"},  # re-seals segments for upload; the service checks their clear framing
    # end-to-end jobs (collect, the demo and its fleet, the small behaviour-cloning pipeline): every stage,
    # no CLI
    "jobs": {"sources", "guard", "redact", "spool", "record", "process", "export", "policy", "evaluate",
             "envs", "viz", "testing", "fleet"},
    "bench": {"*"},
    "cli": {"*"},
    "__main__": {"cli"},
}
"""For each top-level part of the package, the other parts (or modules) it may import."""


def _part(module: str) -> str:
    """``workscribe.redact.text`` -> ``textrules``; ``workscribe.guard.scope`` -> ``guard``."""
    rest = module.removeprefix("workscribe").lstrip(".")
    if not rest:
        return "workscribe"
    if any(rest == m or rest.startswith(m + ".") for m in TEXT_RULES):
        return "textrules"
    return rest.split(".")[0]


def _imports(path: Path, module: str) -> set[str]:
    """Every ``workscribe`` module ``path`` imports, lazy imports inside functions included."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
            if path.name == "__init__.py" and node.level > 1:
                base = base[: -(node.level - 1)]
            name = ".".join(base + ([node.module] if node.module else []))
            out.add(name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "workscribe":
            if node.module == "workscribe":  # a submodule, or a name of the package itself
                out.update(f"workscribe.{a.name}" if _is_module(a.name) else "workscribe" for a in node.names)
            else:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "workscribe")
    return out


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _allowed(source: str, target: str) -> bool:
    part, other = _part(source), _part(target)
    if part == other or other in CORE:
        return True
    rest = target.removeprefix("workscribe.")
    return any(a == "*" or rest == a or rest.startswith(a + ".") for a in ALLOWED[part])


def test_no_module_reaches_into_a_later_stage_or_a_sibling_recording_stage() -> None:
    modules = 0
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        part = _part(module)
        if part in CORE:
            continue
        assert part in ALLOWED, f"{module}: its folder {part!r} has no row in ALLOWED (tests/test_layers.py)"
        modules += 1
        bad += [f"{module} imports {t}" for t in sorted(_imports(path, module)) if not _allowed(module, t)]
    assert modules > 80
    assert not bad, "imports against the data flow (docs/architecture.md):\n" + "\n".join(bad)


def test_the_check_sees_a_backward_import() -> None:
    assert not _allowed("workscribe.redact.stage", "workscribe.sources.browser")
    assert not _allowed("workscribe.sources.files", "workscribe.export.driver")
    assert not _allowed("workscribe.policy.train", "workscribe.evaluate.closed_loop")
    assert _allowed("workscribe.sources.files", "workscribe.redact.identity")
    assert _allowed("workscribe.export.driver", "workscribe.process.episodes")


def test_no_private_name_is_imported_from_another_module() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "workscribe":
                bad += [f"{path.relative_to(PACKAGE)}: {a.name} from {node.module}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "private names used across modules (make them public):\n" + "\n".join(bad)
