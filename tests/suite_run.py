"""The one execution of the notebook suite that tests/test_notebook_suite.py checks.

``python -m utils.run --profile smoke --html`` runs, as users run it, into ``runs/tests-<time>/`` under
the repository. ``tests/conftest.py`` starts it as soon as the tests are collected, so that the unit
tests run while the notebooks execute; its progress lines are shown once the notebook tests start,
and from then on as they come.
"""

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from utils import REPO_ROOT, run
from utils.run.execution import RAN
from utils.run.record import RUNS_DIR, RunRecord

NOTEBOOKS = run.discover([])
SUITE_MODULE = "test_notebook_suite"
STATIC_TESTS = {"test_notebook_shape"}  # tests of the module that need no execution


@dataclass
class SuiteRun:
    run_dir: Path
    returncode: int
    output: str = field(repr=False)
    stems: list[str]

    def record(self) -> RunRecord:
        return RunRecord.load(self.run_dir)

    def executed(self, notebook: Path):
        return nbformat.read(self.run_dir / notebook.name, as_version=4)

    def require(self, notebook: Path) -> None:
        outcome = self.record().outcomes.get(notebook.stem)
        assert outcome is not None, f"{notebook.stem} did not run:\n{self.output[-3000:]}"
        assert outcome.status == RAN, f"{notebook.stem}: {outcome.error}"


def selected_stems(session) -> list[str]:
    """The notebooks whose own tests this session runs; every notebook when a suite-wide test runs."""
    stems = set()
    for item in session.items:
        module = getattr(item, "module", None)
        if module is None or module.__name__ != SUITE_MODULE or item.originalname in STATIC_TESTS:
            continue
        params = getattr(item, "callspec", None)
        if params is None or "notebook" not in params.params:
            return [nb.stem for nb in NOTEBOOKS]
        stems.add(params.params["notebook"].stem)
    return sorted(stems)


def jobs() -> int:
    """Notebooks at once: one per core, at most four (each wants one core and a few GB)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 4))


def say(config, text: str) -> None:
    """A line on the terminal at once, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(text)


class BackgroundRun:
    """The runner in a process of its own; its output is kept, and echoed once someone waits for it."""

    def __init__(self, stems: list[str]):
        self.stems = stems
        self.run_dir = RUNS_DIR / f"tests-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        command = [sys.executable, "-m", "utils.run", *stems, "--profile", "smoke", "--html"]
        command += ["--jobs", str(jobs()), "--output-dir", str(self.run_dir)]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._echo = None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line)
                if self._echo is not None:
                    self._echo(line.rstrip())

    def wait(self, echo) -> SuiteRun:
        """Echo the lines so far and each new one through ``echo`` until the run ends."""
        with self._lock:
            count = f"{len(self.stems)} notebook{'s' if len(self.stems) != 1 else ''}"
            echo(f"\nexecuting {count} into {self.run_dir}, {jobs()} at a time")
            for line in self.lines:
                echo(line.rstrip())
            self._echo = echo
        self._reader.join()
        self.process.wait()
        return SuiteRun(self.run_dir, self.process.returncode, "".join(self.lines), self.stems)

    def stop(self) -> None:
        """Stop an unfinished run as Ctrl-C would (it writes its summary), killing it if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
