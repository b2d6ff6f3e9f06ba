"""Run notebooks of the suite with papermill under a profile and write a summary.

    python -m utils.run                      # every notebook, profile auto (full on CUDA, else smoke)
    python -m utils.run 01 03 --profile smoke
    python -m utils.run 01 -p train_steps=200 -p model_name=org/model -p model_revision=<commit>

Executed notebooks, each notebook's ``results.json`` and ``summary.md`` go to ``runs/<timestamp>/``.
A failing notebook is reported with its failing cell and error; the others still run, and the
command exits with status 1.
"""

import argparse
import ast
import datetime
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils import REPO_ROOT
from utils.environment import describe
from utils.results import RESULTS_FILE, read_results, verdict_table

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


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


def skip_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``nbval-skip``.

    ``pytest --nbval-lax`` over an executed notebook then runs it with the notebook's own defaults
    (the smoke profile on a CPU) instead of the parameters of the run that produced its outputs.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "nbval-skip" not in tags:
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
        skip_injected_parameters(executed)
    return Outcome(notebook, executed, output_dir, time.perf_counter() - start, error)


def summarize(outcomes: list[Outcome], profile: str, overrides: dict) -> str:
    """The suite summary: per notebook its status, profile, hardware, key figures and verdicts."""
    lines = [
        "# Notebook suite summary",
        "",
        f"Profile requested: `{profile}`" + (f"; overrides: `{overrides}`" if overrides else ""),
        "",
    ]
    for outcome in outcomes:
        lines += [f"## {outcome.notebook.stem}", ""]
        if outcome.error:
            lines += [f"**FAILED** after {outcome.seconds:.0f} s: {outcome.error}", ""]
            continue
        results_path = outcome.output_dir / RESULTS_FILE
        if not results_path.is_file():
            lines += [f"Ran in {outcome.seconds:.0f} s but wrote no {RESULTS_FILE}.", ""]
            continue
        results = read_results(results_path)
        lines += [
            f"Ran in {outcome.seconds:.0f} s, profile `{results['parameters'].get('profile')}`, "
            f"on {describe(results['environment'])}.",
            "",
        ]
        lines += [f"- {name}: {value}" for name, value in results["key_figures"].items()]
        lines += ["", verdict_table(results["verdicts"]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="paths, stems or numbers (01); default: all")
    parser.add_argument("--profile", default="auto", choices=["auto", "smoke", "full", "multi"])
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        type=parse_parameter,
        metavar="KEY=VALUE",
        help="override a notebook parameter (repeatable)",
    )
    parser.add_argument("--output-dir", type=Path, help="default: runs/<timestamp>")
    parser.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    args = parser.parse_args(argv)

    notebooks = discover(args.notebooks)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (args.output_dir or REPO_ROOT / "runs" / stamp).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = dict(args.parameter)

    outcomes = []
    for index, notebook in enumerate(notebooks, 1):
        print(f"[{index}/{len(notebooks)}] {notebook.stem} ...", flush=True)
        outcome = execute(notebook, run_dir, {"profile": args.profile, **overrides}, args.kernel)
        status = f"FAILED: {outcome.error}" if outcome.error else "ok"
        print(f"[{index}/{len(notebooks)}] {notebook.stem}: {status} ({outcome.seconds:.0f} s)", flush=True)
        outcomes.append(outcome)

    summary = run_dir / "summary.md"
    summary.write_text(summarize(outcomes, args.profile, overrides), encoding="utf-8")
    failed = [outcome for outcome in outcomes if outcome.error]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} notebooks ran; summary: {summary}")
    return 1 if failed else 0
