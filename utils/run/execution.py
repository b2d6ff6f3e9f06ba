"""Executing notebooks with papermill: which notebooks, with which parameters, and what came out."""

import argparse
import ast
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Papermill metadata that names paths of the machine a notebook ran on.
MACHINE_PATHS = ("input_path", "output_path")


@dataclass
class Outcome:
    notebook: Path
    executed: Path
    output_dir: Path
    seconds: float
    error: str | None = None


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


def describe_failure(error: Exception) -> str:
    """The failing cell and error of a papermill execution error, or the exception itself."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        source = error.source.strip().splitlines()
        first = source[0] if source else ""
        return f"cell {error.exec_count} (`{first}`...): {error.ename}: {error.evalue}"
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


def execute(notebook: Path, run_dir: Path, parameters: dict, kernel: str | None) -> Outcome:
    import papermill

    output_dir = run_dir / notebook.stem
    executed = run_dir / notebook.name
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            notebook,
            executed,
            parameters={**parameters, "output_dir": str(output_dir)},
            cwd=notebook.parent,
            kernel_name=kernel,
            progress_bar=sys.stderr.isatty(),
        )
    except Exception as exc:  # a broken notebook must not stop the others
        error = describe_failure(exc)
    if executed.is_file():
        tidy_executed(executed)
    return Outcome(notebook, executed, output_dir, time.perf_counter() - start, error)
