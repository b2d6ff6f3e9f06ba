"""Run notebooks of the suite with papermill under a profile and write a summary.

    python -m utils.run                      # every notebook, profile auto (full on CUDA, else smoke)
    python -m utils.run 01 03 --profile smoke --jobs 2 --html
    python -m utils.run 01 -p train_steps=200 -p model_name=org/model -p model_revision=<commit>
    python -m utils.run --rerun-failed       # the notebooks that failed or are missing in the last run
    python -m utils.run --report results/    # the committed reference as an HTML report, runs nothing
    python -m utils.run 04 --compare results/  # does the committed verdict hold on this machine?
    python -m utils.run 04 --profile full --reference   # re-make the committed reference run

Executed notebooks, each notebook's ``results.json``, ``summary.md`` and the record ``run.json`` go to
``runs/<timestamp>/``; ``--html`` adds ``report.html``. Parameters are checked against each notebook's
parameters cell before anything runs. Exit status: 0 when every notebook ran, 1 when one failed,
2 for a usage error (an unknown parameter, a value of the wrong type), 130 after Ctrl-C.
"""

import argparse
import datetime
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from utils import REPO_ROOT, environment
from utils.profiles import PROFILES
from utils.results import REFERENCE_DIR, RESULTS_FILE, read_results, reference_path
from utils.run import parameters
from utils.run.compare import compare
from utils.run.execution import FAILED, INTERRUPTED, NOTEBOOK_DIR, RAN, Outcome, discover, parse_parameter
from utils.run.record import RUNS_DIR, RunRecord, latest_run
from utils.run.summary import summarize

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
# --rerun-failed and --report without a directory: the last run (argparse would turn "" into Path(".")).
LAST_RUN = object()
# How long notebooks get to save their partial outputs after Ctrl-C before they are killed.
STOP_GRACE_SECONDS = 60


class UsageError(Exception):
    """A command line that cannot run; the message says why (exit status 2)."""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m utils.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="paths, stems or numbers (01); default: all")
    parser.add_argument("--profile", choices=["auto", *PROFILES], help="default: auto")
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        type=parse_parameter,
        metavar="KEY=VALUE",
        help="override a notebook parameter (repeatable); checked against the notebook's parameters cell",
    )
    parser.add_argument("--output-dir", type=Path, help="default: runs/<timestamp>")
    parser.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="notebooks executed at once (default 1; for CPU smoke runs, up to the number of cores)",
    )
    parser.add_argument(
        "--html", action="store_true", help="also write report.html (and each notebook as HTML)"
    )
    parser.add_argument(
        "--rerun-failed",
        nargs="?",
        const=LAST_RUN,
        type=Path,
        metavar="DIR",
        help="run the notebooks that failed or are missing in run directory DIR (default: the last run) "
        "into it again, with its profile and parameters",
    )
    parser.add_argument(
        "--report",
        nargs="?",
        const=LAST_RUN,
        type=Path,
        metavar="DIR",
        help="run nothing: write the summary and HTML report of run directory DIR (default: the last run), "
        "or of the committed reference when DIR is results/ (into --output-dir, default runs/reference)",
    )
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
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


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
    rows = compare(
        read_results(reference)["verdicts"], read_results(outcome.output_dir / RESULTS_FILE)["verdicts"]
    )
    for row in rows:
        old = row.reference.state if row.reference else "absent"
        new = row.new.state if row.new else "absent"
        marker = "FLIPPED" if row.flipped else "same"
        print(f"    {marker:7}  {old:>10} -> {new:<10}  {row.claim}")


def _last_run(given: Path | object) -> Path:
    run_dir = latest_run() if given is LAST_RUN else given
    if run_dir is None:
        raise UsageError(f"no earlier run with a record in {RUNS_DIR}")
    if not run_dir.is_dir():
        raise UsageError(f"no run directory {run_dir} (notebooks to select go before the option)")
    if RunRecord.load(run_dir) is None:
        raise UsageError(f"{run_dir} has no run record (run.json): run its notebooks again instead")
    return run_dir.resolve()


def _plan(args: argparse.Namespace) -> tuple[list[Path], Path, RunRecord]:
    """The notebooks to execute, the run directory and its record (new, or the earlier run's)."""
    if args.rerun_failed is not None:
        if args.profile or args.parameter or args.output_dir:
            raise UsageError(
                "--rerun-failed runs into the earlier run's directory, with its profile and parameters: "
                "drop --profile, -p and --output-dir"
            )
        run_dir = _last_run(args.rerun_failed)
        record = RunRecord.load(run_dir)
        candidates = discover(args.notebooks)
        notebooks = [nb for nb in candidates if not record.succeeded(nb.stem)]
        names = ", ".join(nb.stem for nb in notebooks) or "none"
        print(f"Re-running in {run_dir} the notebooks that failed or are missing: {names}")
        return notebooks, run_dir, record
    notebooks = discover(args.notebooks)
    profile, overrides = args.profile or "auto", dict(args.parameter)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (args.output_dir or RUNS_DIR / stamp).resolve()
    record = RunRecord.load(run_dir)
    if record is not None and (record.profile, record.overrides) != (profile, overrides):
        raise UsageError(
            f"{run_dir} holds a run with profile {record.profile!r} and overrides {record.overrides}: "
            "choose another --output-dir"
        )
    return notebooks, run_dir, record or RunRecord(profile, overrides)


def _start(
    notebook: Path, run_dir: Path, parameters_: dict, kernel: str | None, progress: str, scratch: Path
):
    spec = {
        "notebook": str(notebook),
        "run_dir": str(run_dir),
        "parameters": parameters_,
        "kernel": kernel,
        "progress": progress,
        "outcome": str(scratch / f"{notebook.stem}.outcome.json"),
    }
    spec_path = scratch / f"{notebook.stem}.spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    # Started in the repository root like `python -m utils.run`; its kernel finds utils through the
    # environment (make setup's .pth file), as every notebook does.
    return subprocess.Popen([sys.executable, "-m", "utils.run.worker", str(spec_path)], cwd=REPO_ROOT)


def _collect(
    notebook: Path, run_dir: Path, process: subprocess.Popen, scratch: Path, seconds: float
) -> Outcome:
    path = scratch / f"{notebook.stem}.outcome.json"
    if path.is_file():
        return Outcome.from_json(json.loads(path.read_text(encoding="utf-8")))
    log = run_dir / notebook.stem / "execution.log"
    return Outcome(
        notebook,
        run_dir / notebook.name,
        run_dir / notebook.stem,
        seconds,
        f"the notebook's process ended with status {process.returncode} before it finished; see {log}",
        interrupted=process.returncode in (-signal.SIGINT, -signal.SIGKILL),
    )


def _stop(running: dict) -> None:
    """Ask every running notebook to stop (they may not have seen Ctrl-C), wait for them to save their
    partial outputs, and kill them on a second Ctrl-C or after the grace period."""
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    try:
        for process in running:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        for process in running:
            process.kill()
            process.wait()


def _execute_all(notebooks, run_dir, per_notebook, args, record, on_finish) -> None:
    """Execute ``notebooks``, ``args.jobs`` at a time, calling ``on_finish`` as each one ends. After
    Ctrl-C, raise :class:`_Interrupted` once the started ones have stopped."""
    progress = "bar" if sys.stdout.isatty() and args.jobs == 1 else "lines"
    queue = list(enumerate(notebooks, 1))
    running: dict[subprocess.Popen, tuple[int, Path, float]] = {}
    with tempfile.TemporaryDirectory(prefix="utils-run-") as scratch:
        try:
            while queue or running:
                while queue and len(running) < args.jobs:
                    index, notebook = queue.pop(0)
                    print(f"[{index}/{len(notebooks)}] {notebook.stem} ...", flush=True)
                    process = _start(
                        notebook,
                        run_dir,
                        {"profile": record.profile, **per_notebook[notebook]},
                        args.kernel,
                        progress,
                        Path(scratch),
                    )
                    running[process] = (index, notebook, time.monotonic())
                time.sleep(0.2)
                for process in [p for p in running if p.poll() is not None]:
                    index, notebook, started = running.pop(process)
                    outcome = _collect(notebook, run_dir, process, Path(scratch), time.monotonic() - started)
                    on_finish(index, len(notebooks), outcome)
        except KeyboardInterrupt:
            _stop(running)
            for process, (_, notebook, started) in running.items():
                outcome = _collect(notebook, run_dir, process, Path(scratch), time.monotonic() - started)
                outcome.interrupted = True
                record.add(outcome)
            raise _Interrupted([notebook for _, notebook in queue]) from None


class _Interrupted(Exception):
    """Ctrl-C stopped the run; ``not_started`` are the notebooks it never reached."""

    def __init__(self, not_started: list[Path]):
        super().__init__("interrupted")
        self.not_started = not_started


def _write_reports(run_dir: Path, record: RunRecord, html: bool, references: dict, not_run=()) -> Path:
    summary = run_dir / "summary.md"
    summary.write_text(
        summarize(
            record.ordered(), record.profile, record.overrides, references, [nb.stem for nb in not_run]
        ),
        encoding="utf-8",
    )
    if html:
        from utils.run import report

        report.write_run_report(run_dir, record, [nb.stem for nb in not_run])
    return summary


def _report_only(args: argparse.Namespace) -> int:
    from utils.run import report

    given = args.report
    if given is not LAST_RUN and given.resolve() == REFERENCE_DIR.resolve():
        out = (args.output_dir or RUNS_DIR / "reference").resolve()
        path = report.write_reference_report(out, discover(args.notebooks))
    else:
        run_dir = _last_run(given)
        record = RunRecord.load(run_dir)
        _write_reports(run_dir, record, html=True, references={})
        path = run_dir / report.REPORT_FILE
    print(f"report: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:  # before the first notebook started, or while the reports were written
        print("\nInterrupted.", flush=True)
        return EXIT_INTERRUPTED


def _main(args: argparse.Namespace) -> int:
    try:
        if args.report is not None:
            return _report_only(args)
        notebooks, run_dir, record = _plan(args)
        if args.reference:
            refusal = reference_refusal(record.profile, args.allow_dirty)
            if refusal:
                raise UsageError(refusal)
        per_notebook, problems = parameters.check(record.overrides, notebooks)
        if problems:
            raise UsageError("\n".join(problems))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    run_dir.mkdir(parents=True, exist_ok=True)

    references, failed = {}, []

    def on_finish(index: int, total: int, outcome: Outcome) -> None:
        stem = outcome.notebook.stem
        status = {RAN: "ok", FAILED: f"FAILED: {outcome.error}", INTERRUPTED: "interrupted"}[outcome.status]
        print(f"[{index}/{total}] {stem}: {status} ({outcome.seconds:.0f} s)", flush=True)
        record.add(outcome)
        record.save(run_dir)
        if outcome.status != RAN:
            failed.append(outcome)
        ran = outcome.status == RAN and (outcome.output_dir / RESULTS_FILE).is_file()
        reference = reference_path(stem, args.compare) if args.compare and ran else None
        if reference is not None:
            references[stem] = reference
            _print_flips(outcome, reference)
        if args.reference and ran:
            promote(outcome)

    try:
        _execute_all(notebooks, run_dir, per_notebook, args, record, on_finish)
    except _Interrupted as interrupted:
        record.save(run_dir)
        summary = _write_reports(run_dir, record, args.html, references, interrupted.not_started)
        stopped = [record.outcomes.get(nb.stem) for nb in notebooks]
        partial = [outcome.notebook.stem for outcome in stopped if outcome and outcome.status == INTERRUPTED]
        ran = sum(record.succeeded(nb.stem) for nb in notebooks)
        print(
            f"\nInterrupted: {ran} of {len(notebooks)} notebooks ran, "
            f"partial: {', '.join(partial) or 'none'}, not started: {len(interrupted.not_started)}; "
            f"summary: {summary}",
            flush=True,
        )
        return EXIT_INTERRUPTED
    record.save(run_dir)
    summary = _write_reports(run_dir, record, args.html, references)
    ran = len(notebooks) - len(failed)
    report = f", report: {run_dir / 'report.html'}" if args.html else ""
    print(f"{ran} of {len(notebooks)} notebooks ran; summary: {summary}{report}")
    return EXIT_FAILED if failed else 0
