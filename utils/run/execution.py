"""Executing one notebook with papermill: which notebooks, with which parameters, and what came out.

:func:`execute` runs in a process of its own (:mod:`utils.run.worker`), one per notebook, so that
several notebooks can run at once and Ctrl-C stops each of them cleanly.
"""

import argparse
import ast
import contextlib
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from utils import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Papermill metadata that names paths of the machine a notebook ran on.
MACHINE_PATHS = ("input_path", "output_path")
RAN, FAILED, INTERRUPTED, NOT_RUN = "ran", "failed", "interrupted", "not run"
INTERRUPTED_TAG = "runner-interrupted"
HEARTBEAT_SECONDS = 60
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Outcome:
    notebook: Path
    executed: Path
    output_dir: Path
    seconds: float
    error: str | None = None
    interrupted: bool = False

    @property
    def status(self) -> str:
        return INTERRUPTED if self.interrupted else FAILED if self.error else RAN

    def to_json(self) -> dict:
        return {
            "notebook": str(self.notebook),
            "executed": str(self.executed),
            "output_dir": str(self.output_dir),
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_json(cls, document: dict) -> "Outcome":
        paths = {key: Path(document[key]) for key in ("notebook", "executed", "output_dir")}
        return cls(
            **paths, seconds=document["seconds"], error=document["error"], interrupted=document["interrupted"]
        )


def discover(selection: list[str], notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Notebooks matching each selection by path, stem or numeric prefix; all of them by default."""
    notebooks = sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return notebooks
    chosen = []
    for item in selection:
        if Path(item).is_file():
            chosen.append(Path(item).resolve())
            continue
        matches = [nb for nb in notebooks if nb.stem == item or nb.stem.split("_", 1)[0] == item]
        if not matches:
            names = ", ".join(nb.stem for nb in notebooks)
            raise SystemExit(f"no notebook matches {item!r}; available: {names}")
        chosen.extend(matches)
    return chosen


def parse_parameter(text: str) -> tuple[str, object]:
    """``key=value`` with a Python literal value (``3``, ``1e-4``, ``[1, 2]``, ``None``) or a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def failing_line(source: str, exec_count: int | None, traceback: list[str]) -> tuple[int, str] | None:
    """The line of the cell that raised, from IPython's ``Cell In[N], line L`` traceback frames.

    The outermost frame of the cell itself is the statement that failed there; frames of
    functions defined in earlier cells carry other numbers.
    """
    text = _ANSI.sub("", "\n".join(traceback))
    for count, line in re.findall(r"Cell In\[(\d+)\], line (\d+)", text):
        lines = source.splitlines()
        if exec_count is not None and int(count) == exec_count and 0 < int(line) <= len(lines):
            return int(line), lines[int(line) - 1].strip()
    return None


def describe_failure(error: Exception) -> str:
    """The failing cell, line and error of a papermill execution error, or the exception itself."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        found = failing_line(error.source, error.exec_count, error.traceback or [])
        if found is None:
            lines = error.source.strip().splitlines()
            where = f"cell {error.exec_count} (`{lines[0] if lines else ''}`...)"
        else:
            where = f"cell {error.exec_count}, line {found[0]} (`{found[1]}`)"
        return f"{where}: {error.ename}: {error.evalue}"
    return f"{type(error).__name__}: {error}"


def tidy_executed(path: Path) -> None:
    """Make an executed notebook fit to commit and to re-test.

    Papermill's injected-parameters cell is tagged ``nbval-skip``, so ``pytest --nbval-lax`` runs the
    notebook with its own defaults (the smoke profile on a CPU) instead of the run's parameters; the
    runner's ``output_dir`` and the paths of the machine it ran on are removed.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    papermill = notebook.metadata.get("papermill", {})
    for key in MACHINE_PATHS:
        papermill.pop(key, None)
    papermill.get("parameters", {}).pop("output_dir", None)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.source = "\n".join(
                line for line in cell.source.splitlines() if not line.startswith("output_dir")
            )
            if "nbval-skip" not in tags:
                cell.metadata["tags"] = [*tags, "nbval-skip"]
    nbformat.write(notebook, path)


def mark_interrupted(path: Path) -> None:
    """Say at the top of a partly executed notebook that it was stopped, and where.

    Papermill closes an interrupted notebook as if every cell had completed; the cell that was
    running is marked ``interrupted`` and the later ones ``pending`` again.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    started = [
        i for i, cell in enumerate(notebook.cells) if cell.metadata.get("papermill", {}).get("start_time")
    ]
    stopped = started[-1] if started else -1
    for index, cell in enumerate(notebook.cells):
        state = cell.metadata.get("papermill")
        if state is not None and index >= stopped:
            state["status"] = "interrupted" if index == stopped else "pending"
    where = "cell {} of {}".format(*code_cell_number(notebook.cells, stopped)) if stopped >= 0 else "start-up"
    banner = nbformat.v4.new_markdown_cell(
        f"**Interrupted:** this run was stopped during {where}. Outputs from there on are partial "
        "or missing, and the notebook wrote no results."
    )
    banner.metadata["tags"] = [INTERRUPTED_TAG]
    notebook.cells.insert(0, banner)
    nbformat.write(notebook, path)


def code_cell_number(cells: list, index: int) -> tuple[int, int]:
    """Which code cell ``cells[index]`` is, and how many there are: the numbers that match
    ``In [N]`` and papermill's error messages when a notebook runs top to bottom."""
    number = sum(cell.cell_type == "code" for cell in cells[: index + 1])
    return number, sum(cell.cell_type == "code" for cell in cells)


class Heartbeat:
    """Progress as plain lines for logs and pipes: at most one line per ``every`` seconds, naming the
    code cell that is running and the time so far."""

    def __init__(self, label: str, every: float = HEARTBEAT_SECONDS, stream=None):
        self.label, self.every = label, every
        self.stream = stream or sys.stdout
        self.cell, self.cells = 0, 0
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def cell_started(self, cells: list, index: int) -> None:
        self.cell, self.cells = code_cell_number(cells, index)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            minutes = (time.monotonic() - self.start) / 60
            print(
                f"    {self.label}: cell {self.cell} of {self.cells}, {minutes:.0f} min",
                file=self.stream,
                flush=True,
            )

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _engine():
    """Papermill's nbclient engine, telling a callback when each cell starts."""
    from papermill.engines import NBClientEngine, papermill_engines

    class CellReportingEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, on_cell_start=None, **kwargs):
            if on_cell_start is not None:
                start = nb_man.cell_start

                def cell_start(cell, cell_index=None, **more):
                    on_cell_start(nb_man.nb.cells, cell_index)
                    return start(cell, cell_index, **more)

                nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("cell-reporting", CellReportingEngine)
    return "cell-reporting"


def execute(
    notebook: Path,
    run_dir: Path,
    parameters: dict,
    kernel: str | None,
    progress: str = "none",
    stream=None,
) -> Outcome:
    """Execute ``notebook`` into ``run_dir``. ``progress``: ``"bar"`` (papermill's, for a terminal),
    ``"lines"`` (a heartbeat line at most once a minute) or ``"none"``, written to ``stream``
    (standard output by default)."""
    import papermill

    stream = stream or sys.stdout

    output_dir = run_dir / notebook.stem
    executed = run_dir / notebook.name
    heartbeat = Heartbeat(notebook.stem, stream=stream)
    start = time.perf_counter()
    error, interrupted = None, False
    try:
        with heartbeat if progress == "lines" else contextlib.nullcontext():
            papermill.execute_notebook(
                notebook,
                executed,
                parameters={**parameters, "output_dir": str(output_dir)},
                cwd=notebook.parent,
                kernel_name=kernel,
                progress_bar={"file": stream, "desc": notebook.stem, "leave": False}
                if progress == "bar"
                else False,
                engine_name=_engine(),
                on_cell_start=heartbeat.cell_started,
            )
    except KeyboardInterrupt:
        interrupted = True
        error = "interrupted (Ctrl-C)"
    except Exception as exc:  # a broken notebook must not stop the others
        error = describe_failure(exc)
    if executed.is_file():
        tidy_executed(executed)
        if interrupted:
            mark_interrupted(executed)
    return Outcome(notebook, executed, output_dir, time.perf_counter() - start, error, interrupted)
