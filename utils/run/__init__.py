"""Run notebooks of the suite with papermill under a profile and write a summary.

    python -m utils.run                      # every notebook, profile auto (full on CUDA, else smoke)
    python -m utils.run 01 03 --profile smoke
    python -m utils.run 01 -p train_steps=200 -p model_name=org/model -p model_revision=<commit>
    python -m utils.run 04 --compare results/  # does the committed verdict hold on this machine?
    python -m utils.run 04 --profile full --reference   # re-make the committed reference run

Executed notebooks, each notebook's ``results.json`` and ``summary.md`` go to ``runs/<timestamp>/``.
A failing notebook is reported with its failing cell and error; the others still run, and the
command exits with status 1.
"""

import argparse
import datetime
import shutil
import sys
from pathlib import Path

from utils import REPO_ROOT, environment
from utils.profiles import PROFILES
from utils.results import REFERENCE_DIR, RESULTS_FILE, reference_path
from utils.run.compare import compare
from utils.run.execution import NOTEBOOK_DIR, Outcome, discover, execute, parse_parameter
from utils.run.summary import summarize


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m utils.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="paths, stems or numbers (01); default: all")
    parser.add_argument("--profile", default="auto", choices=["auto", *PROFILES])
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
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="print each claim's state next to the reference run's in DIR (e.g. results/) and every flip",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="make the committed reference: copy each executed notebook to notebooks/ and its results to "
        "results/ (needs a clean git checkout and the full or multi profile)",
    )
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="with --reference: accept uncommitted changes (the results record them as such)",
    )
    return parser.parse_args(argv)


def reference_refusal(profile: str, allow_dirty: bool) -> str | None:
    """Why a reference run cannot be made from this checkout now, or None."""
    if profile in ("auto", "smoke"):
        return "a reference run needs --profile full or --profile multi"
    commit, dirty = environment.git_state()
    if dirty is False or allow_dirty:
        return None
    if dirty is None:
        return "cannot check the checkout for uncommitted changes (no git); --allow-dirty to run anyway"
    return f"tracked files differ from commit {commit}: commit them, or pass --allow-dirty for an experiment"


def promote(outcome: Outcome, notebook_dir: Path = NOTEBOOK_DIR, reference_dir: Path = REFERENCE_DIR) -> None:
    """Copy a successful run's executed notebook and results over the committed reference."""
    shutil.copyfile(outcome.executed, notebook_dir / outcome.notebook.name)
    reference_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(outcome.output_dir / RESULTS_FILE, reference_dir / f"{outcome.notebook.stem}.json")


def _print_flips(outcome: Outcome, reference: Path) -> None:
    from utils.results import read_results

    rows = compare(
        read_results(reference)["verdicts"], read_results(outcome.output_dir / RESULTS_FILE)["verdicts"]
    )
    for row in rows:
        old = row.reference.state if row.reference else "absent"
        new = row.new.state if row.new else "absent"
        marker = "FLIPPED" if row.flipped else "same"
        print(f"    {marker:7}  {old:>10} -> {new:<10}  {row.claim}")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    notebooks = discover(args.notebooks)
    if args.reference:
        refusal = reference_refusal(args.profile, args.allow_dirty)
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (args.output_dir or REPO_ROOT / "runs" / stamp).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = dict(args.parameter)

    outcomes, references = [], {}
    for index, notebook in enumerate(notebooks, 1):
        print(f"[{index}/{len(notebooks)}] {notebook.stem} ...", flush=True)
        outcome = execute(notebook, run_dir, {"profile": args.profile, **overrides}, args.kernel)
        status = f"FAILED: {outcome.error}" if outcome.error else "ok"
        print(f"[{index}/{len(notebooks)}] {notebook.stem}: {status} ({outcome.seconds:.0f} s)", flush=True)
        outcomes.append(outcome)
        ran = outcome.error is None and (outcome.output_dir / RESULTS_FILE).is_file()
        reference = reference_path(notebook.stem, args.compare) if args.compare and ran else None
        if reference is not None:
            references[notebook.stem] = reference
            _print_flips(outcome, reference)
        if args.reference and ran:
            promote(outcome)

    summary = run_dir / "summary.md"
    summary.write_text(summarize(outcomes, args.profile, overrides, references), encoding="utf-8")
    failed = [outcome for outcome in outcomes if outcome.error]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} notebooks ran; summary: {summary}")
    return 1 if failed else 0
