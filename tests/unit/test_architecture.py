"""Architecture rules checked over the source with `ast` (STYLE.md "What that means here").

Services talk only through contract events, never by importing each other; shared/ is
below the services; domain and policy modules are pure: no I/O, no clock, no uuid4()
(STYLE.md rule 2: this is what makes replay exact); modules form no import cycles and
files stay small (rule 13); only the HTTP edge (api, deps, main) knows the web framework
(rule 12: use cases raise domain errors, mapped to problem+json in one place).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/__init__.py"))
PURE_MODULES = sorted(
    p
    for name in SERVICES
    for p in (ROOT / "services" / name).rglob("*.py")
    if p.name in ("domain.py", "policies.py", "policy.py")
)
MAX_LINES = 600
# The HTTP edge: the only modules of a service that may import the web framework.
HTTP_EDGE = frozenset({"api.py", "deps.py", "main.py"})
# Modules that do I/O or read a clock or randomness: a pure module imports none of them.
IMPURE_MODULES = frozenset(
    {
        "httpx",
        "requests",
        "urllib",
        "socket",
        "nats",
        "sqlite3",
        "psycopg",
        "psycopg2",
        "fastapi",
        "starlette",
        "uvicorn",
        "time",
        "random",
        "secrets",
        "subprocess",
        "asyncio",
    }
)
# Calls that read the clock or make a random id, as `<receiver>.<attribute>` or bare names.
IMPURE_CALLS = frozenset(
    {
        "uuid.uuid1",
        "uuid.uuid4",
        "uuid1",
        "uuid4",
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "date.today",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.date.today",
        "time.time",
        "time.monotonic",
        "os.urandom",
    }
)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def imports(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module `path` imports (anywhere in it), absolute, with its line number."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        receiver = dotted(node.value)
        return f"{receiver}.{node.attr}" if receiver else None
    return None


def impure_calls(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name in IMPURE_CALLS:
                yield node.lineno, name


def top(module: str, depth: int = 1) -> str:
    return ".".join(module.split(".")[:depth])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(paths: list[Path]) -> dict[str, set[str]]:
    """Module -> the modules of `paths` it imports (anywhere in it, even inside functions).

    `from a.b import c` imports `a.b.c` when that is a module, else `a.b` (the package's
    `__init__`); each import counts as the longest module name it starts with.
    """
    known = {module_name(path) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        source = module_name(path)
        targets: set[str] = set()
        for _, imported in imports(path):
            parts = imported.split(".")
            prefixes = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
            targets.update(next(([p] for p in prefixes if p in known), []))
        graph[source] = targets - {source}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import cycle per strongly connected group of modules, as `[a, b, ..., a]`."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            cycle = _cycle_from(start, graph, [], done)
            if cycle:
                cycles.append(cycle)
                done.update(cycle)
    return cycles


def _cycle_from(
    module: str, graph: dict[str, set[str]], path: list[str], done: set[str]
) -> list[str] | None:
    """Depth first from `module` along `path`: the first cycle met, or None (all done)."""
    path.append(module)
    for target in sorted(graph.get(module, ())):
        if target in path:
            return [*path[path.index(target) :], target]
        if target not in done:
            found = _cycle_from(target, graph, path, done)
            if found:
                return found
    path.pop()
    done.add(module)
    return None


def test_the_rules_see_every_service_and_their_pure_modules() -> None:
    assert {"intake", "routing", "compensation", "followup"} <= set(SERVICES)
    assert {p.parent.name for p in PURE_MODULES} >= set(SERVICES)
    assert ROOT / "services" / "intake" / "webhooks" / "domain.py" in PURE_MODULES


def test_shared_and_services_form_no_import_cycle() -> None:
    paths = python_files(ROOT / "shared") + python_files(ROOT / "services")
    graph = import_graph(paths)
    assert "services.intake.webhooks.api" in graph  # the graph sees subpackages
    cycles = [" -> ".join(cycle) for cycle in find_cycles(graph)]
    assert cycles == [], "modules form no import cycle:\n" + "\n".join(cycles)


def test_the_cycle_check_names_a_cycle_it_is_shown() -> None:
    graph = {
        "services.intake.api": {"services.intake.application"},
        "services.intake.application": {"services.intake.webhooks"},
        "services.intake.webhooks": {"services.intake.api", "shared.store"},
        "shared.store": set(),
        "shared.bus": {"shared.store"},
    }
    assert find_cycles(graph) == [
        [
            "services.intake.api",
            "services.intake.application",
            "services.intake.webhooks",
            "services.intake.api",
        ]
    ]
    del graph["services.intake.webhooks"]
    assert find_cycles(graph) == []


def test_a_function_level_import_counts_as_an_import() -> None:
    as_if = ROOT / "services" / "intake" / "application.py"  # source given as text
    source = "def f():\n    from services.intake.webhooks.service import WebhookUseCases\n"
    found = {module for _, module in imports(as_if, source)}
    assert "services.intake.webhooks.service" in found


@pytest.mark.parametrize(
    "path", python_files(ROOT / "shared") + python_files(ROOT / "services"), ids=relative
)
def test_every_module_is_a_room_of_at_most_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{relative(path)} has {lines} lines: split it by capability"


def test_only_the_http_edge_imports_the_web_framework() -> None:
    violations = [
        f"{relative(path)}:{line} imports {module}"
        for path in python_files(ROOT / "services")
        if path.name not in HTTP_EDGE
        for line, module in imports(path)
        if top(module) in ("fastapi", "starlette")
    ]
    assert violations == [], "use cases raise domain errors, never HTTP ones:\n" + "\n".join(
        violations
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    others = {f"services.{name}" for name in SERVICES if name != service}
    violations = [
        f"{relative(path)}:{line} imports {module}"
        for path in python_files(ROOT / "services" / service)
        for line, module in imports(path)
        if top(module, 2) in others
    ]
    assert violations == [], "services talk through contract events only:\n" + "\n".join(violations)


def test_shared_never_imports_a_service() -> None:
    violations = [
        f"{relative(path)}:{line} imports {module}"
        for path in python_files(ROOT / "shared")
        for line, module in imports(path)
        if top(module) == "services"
    ]
    assert violations == [], "shared/ sits below the services:\n" + "\n".join(violations)


@pytest.mark.parametrize("path", PURE_MODULES, ids=relative)
def test_domain_and_policy_modules_import_no_io_clock_or_randomness(path: Path) -> None:
    violations = [
        f"{relative(path)}:{line} imports {module}"
        for line, module in imports(path)
        if top(module) in IMPURE_MODULES or module in {"uuid.uuid4", "uuid.uuid1", "os.urandom"}
    ]
    assert violations == [], "domain and policies are pure:\n" + "\n".join(violations)


@pytest.mark.parametrize("path", PURE_MODULES, ids=relative)
def test_domain_and_policy_modules_read_no_clock_and_make_no_random_ids(path: Path) -> None:
    violations = [f"{relative(path)}:{line} calls {name}()" for line, name in impure_calls(path)]
    assert violations == [], "time and ids come in as arguments:\n" + "\n".join(violations)


def test_the_checks_catch_what_they_are_meant_to() -> None:
    as_if = ROOT / "services" / "routing" / "probe.py"  # never written: source given as text
    source = (
        "import time\n"
        "from uuid import uuid4\n"
        "from ..compensation import policies\n"
        "def f():\n"
        "    import services.intake.domain\n"
        "    return uuid4(), datetime.now(UTC), uuid.uuid4()\n"
    )
    found = {module for _, module in imports(as_if, source)}
    assert {
        "time",
        "uuid.uuid4",
        "services.compensation.policies",
        "services.intake.domain",
    } <= found
    calls = sorted(name for _, name in impure_calls(as_if, source))
    assert calls == ["datetime.now", "uuid.uuid4", "uuid4"]
