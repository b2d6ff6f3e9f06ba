"""The suite summary of a run: an overview table, then each notebook's key figures and verdicts."""

from pathlib import Path

from utils.environment import describe
from utils.results import RESULTS_FILE, SMOKE_BANNER, read_results, reference_verdicts
from utils.run.compare import compare, comparison_table
from utils.run.execution import INTERRUPTED, NOT_RUN, RAN, Outcome
from utils.verdicts import counts, table

SMOKE_RUN_BANNER = (
    "> **Smoke run.** Tiny settings on a CPU check that every notebook's code runs from top to bottom. "
    "The verdicts below come from a few training steps: they are not evidence for or against the "
    "claims. Each verdict table shows, beside it, the state that the committed reference GPU run reached."
)


def results_of(outcome: Outcome) -> dict | None:
    """The outcome's results, if the notebook ran to the end and wrote them."""
    path = outcome.output_dir / RESULTS_FILE
    return read_results(path) if outcome.status == RAN and path.is_file() else None


def status_of(outcome: Outcome | None) -> str:
    if outcome is None:
        return NOT_RUN
    if outcome.status == RAN and results_of(outcome) is None:
        return f"no {RESULTS_FILE}"
    return outcome.status


def overview_rows(outcomes: list[Outcome], not_run: list[str] = ()) -> list[list[str]]:
    """notebook, status, time, held, not held, not tested: one row per notebook."""
    rows = []
    for outcome in outcomes:
        document = results_of(outcome)
        tally = [str(n) for n in counts(document["verdicts"]).values()] if document else ["", "", ""]
        rows.append([outcome.notebook.stem, status_of(outcome), f"{outcome.seconds:.0f} s", *tally])
    rows += [[stem, NOT_RUN, "", "", "", ""] for stem in not_run]
    return rows


def overview(outcomes: list[Outcome], not_run: list[str] = ()) -> str:
    lines = [
        "| notebook | status | time | held | not held | not tested |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in overview_rows(outcomes, not_run)]
    return "\n".join(lines)


def is_smoke(outcomes: list[Outcome], profile: str) -> bool:
    """Whether the run used the smoke profile (``auto`` resolves per notebook, so ask the results)."""
    profiles = {document["profile"] for document in map(results_of, outcomes) if document}
    return profile == "smoke" or profiles == {"smoke"}


def failure_text(outcome: Outcome) -> str:
    if outcome.status == INTERRUPTED:
        return (
            f"**Interrupted** after {outcome.seconds:.0f} s; the executed notebook is partial and marked so."
        )
    return f"**FAILED** after {outcome.seconds:.0f} s: {outcome.error}"


def summarize(
    outcomes: list[Outcome],
    profile: str,
    overrides: dict,
    references: dict[str, Path] | None = None,
    not_run: list[str] = (),
) -> str:
    """The summary's Markdown. ``references`` maps a notebook stem to a reference ``results.json`` to
    compare the new verdicts with; ``not_run`` names notebooks that were planned but never started."""
    lines = ["# Notebook suite summary", ""]
    if is_smoke(outcomes, profile):
        lines += [SMOKE_RUN_BANNER, ""]
    lines += [
        f"Profile requested: `{profile}`" + (f"; overrides: `{overrides}`" if overrides else ""),
        "",
        overview(outcomes, not_run),
        "",
    ]
    for outcome in outcomes:
        lines += [f"## {outcome.notebook.stem}", ""]
        if outcome.status != RAN:
            lines += [failure_text(outcome), ""]
            continue
        document = results_of(outcome)
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
        reference_column = reference_verdicts(outcome.notebook.stem, document["profile"])
        lines += ["", table(document["verdicts"], reference_column), ""]
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
    lines += [f"## {stem}\n\nNot run: the run was interrupted before it started.\n" for stem in not_run]
    return "\n".join(lines)
