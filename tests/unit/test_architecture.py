"""Architecture rules checked over the source with `ast` (STYLE.md "What that means here").

Services talk only through contract events, never by importing each other; shared/ is
below the services; domain.py and policies.py are pure: no I/O, no clock, no uuid4()
(STYLE.md rule 2: this is what makes replay exact).
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
    for p in (ROOT / "services" / name).glob("*.py")
    if p.name in ("domain.py", "policies.py")
)
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


def test_the_rules_see_every_service_and_their_pure_modules() -> None:
    assert {"intake", "routing", "compensation", "followup"} <= set(SERVICES)
    assert {p.parent.name for p in PURE_MODULES} == set(SERVICES)


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
