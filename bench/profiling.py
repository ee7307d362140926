"""`--profile`: py-spy flame graphs (GIL held) of the services during one step of a scenario.

py-spy is not a dependency of the platform: `pip install py-spy`. Without it the bench
says so in the report and runs unprofiled.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import TracebackType

PROFILES = Path(__file__).resolve().parent / "profiles"


def find_py_spy() -> str | None:
    return shutil.which("py-spy", path=sysconfig.get_path("scripts")) or shutil.which("py-spy")


class Profiler:
    """Record each pid for `seconds` into `<directory>/<tag>-<name>.svg` (GIL-holding samples)."""

    def __init__(
        self, enabled: bool, pids: dict[str, int], seconds: float, tag: str,
        directory: Path = PROFILES,
    ) -> None:  # fmt: skip
        self.enabled = enabled
        self.pids, self.seconds, self.tag, self.directory = pids, seconds, tag, directory
        self.children: list[subprocess.Popen[bytes]] = []
        self.written: list[Path] = []
        self.problem = ""

    def __enter__(self) -> Profiler:
        if not self.enabled:
            return self
        py_spy = find_py_spy()
        if py_spy is None:
            self.problem = "py-spy not installed (pip install py-spy): no profile"
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.directory / f"{self.tag}-{name}.svg"
            argv = [py_spy, "record", "--gil", "--nonblocking", "-p", str(pid),
                    "-d", str(max(1, int(self.seconds))), "-r", "50", "-o", str(out)]  # fmt: skip
            self.children.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            self.written.append(out)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for child in self.children:
            try:
                child.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.written = [p for p in self.written if p.exists()]
        if self.children and not self.written:
            self.problem = "py-spy wrote no profile (ptrace not permitted?)"
        if self.problem:
            sys.stderr.write(f"profile: {self.problem}\n")

    def note(self) -> str:
        if self.problem:
            return self.problem
        names = ", ".join(f"`bench/profiles/{p.name}`" for p in self.written)
        return f"py-spy flame graphs (GIL held, 50 Hz) of this step: {names}"
