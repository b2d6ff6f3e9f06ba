"""The suite summary of a run: an overview table, then each notebook's key figures and verdicts."""

from pathlib import Path

from utils.environment import describe
from utils.results import RESULTS_FILE, SMOKE_BANNER, read_results
from utils.run.compare import compare, comparison_table
from utils.run.execution import Outcome
from utils.verdicts import counts, table


def _results(outcome: Outcome) -> dict | None:
    path = outcome.output_dir / RESULTS_FILE
    return read_results(path) if outcome.error is None and path.is_file() else None


def overview(outcomes: list[Outcome]) -> str:
    rows = [
        "| notebook | status | time | held | not held | not tested |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        document = _results(outcome)
        if document is None:
            status = "failed" if outcome.error else f"no {RESULTS_FILE}"
            tally = ["", "", ""]
        else:
            status = "ran"
            tally = [str(n) for n in counts(document["verdicts"]).values()]
        rows.append(
            f"| {outcome.notebook.stem} | {status} | {outcome.seconds:.0f} s | " + " | ".join(tally) + " |"
        )
    return "\n".join(rows)


def summarize(
    outcomes: list[Outcome],
    profile: str,
    overrides: dict,
    references: dict[str, Path] | None = None,
) -> str:
    """The summary's Markdown. ``references`` maps a notebook stem to a reference ``results.json`` to
    compare the new verdicts with."""
    lines = [
        "# Notebook suite summary",
        "",
        f"Profile requested: `{profile}`" + (f"; overrides: `{overrides}`" if overrides else ""),
        "",
        overview(outcomes),
        "",
    ]
    for outcome in outcomes:
        lines += [f"## {outcome.notebook.stem}", ""]
        if outcome.error:
            lines += [f"**FAILED** after {outcome.seconds:.0f} s: {outcome.error}", ""]
            continue
        document = _results(outcome)
        if document is None:
            lines += [f"Ran in {outcome.seconds:.0f} s but wrote no {RESULTS_FILE}.", ""]
            continue
        lines += [
            f"Ran in {outcome.seconds:.0f} s, profile `{document['profile']}`, "
            f"on {describe(document['environment'])}.",
            "",
        ]
        if document["profile"] == "smoke":
            lines += [SMOKE_BANNER, ""]
        lines += [f"- {name}: {value}" for name, value in document["key_figures"].items()]
        lines += ["", table(document["verdicts"]), ""]
        reference = (references or {}).get(outcome.notebook.stem)
        if reference is not None:
            old = read_results(reference)
            rows = compare(old["verdicts"], document["verdicts"])
            lines += [
                f"Compared with {reference} ({describe(old['environment'])}):",
                "",
                comparison_table(rows, "reference", "this run"),
                "",
            ]
    return "\n".join(lines)
