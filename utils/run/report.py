"""The HTML report of a run, or of the committed reference: the overview, the verdicts across hardware,
each notebook's verdicts with their evidence and figures, and links into the executed notebooks.

The report is assembled as a notebook of Markdown and figure outputs and rendered by nbconvert, like
each executed notebook beside it, with a template that loads nothing from the network.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

from utils.environment import describe
from utils.results import REFERENCE_DIR, SMOKE_BANNER, read_results, reference_path, reference_verdicts
from utils.run import cards
from utils.run.execution import RAN
from utils.run.record import RunRecord
from utils.run.summary import (
    SMOKE_RUN_BANNER,
    failure_text,
    is_smoke,
    overview_rows,
    results_of,
)
from utils.verdicts import counts, table

REPORT_FILE = "report.html"
TEMPLATE_DIR = Path(__file__).parent / "templates"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


@dataclass
class Entry:
    """One notebook of the report."""

    stem: str
    overview: list[str]  # its row of the overview: notebook, status, time, held, not held, not tested
    seconds: float | None
    document: dict | None  # its results, when it ran to the end
    executed: Path | None  # the executed notebook, when there is one
    page: str | None = None  # the executed notebook's HTML, relative to the report
    problem: str = ""  # what went wrong, for a notebook without results


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _anchor(text: str) -> str:
    """The id nbconvert gives a Markdown heading (spaces become hyphens)."""
    return text.replace(" ", "-")


def _verdict_heading(executed: Path) -> str | None:
    import nbformat

    for cell in nbformat.read(executed, as_version=4).cells:
        for line in cell.source.splitlines() if cell.cell_type == "markdown" else []:
            if line.startswith("#") and "verdict" in line.lower():
                return line.lstrip("#").strip()
    return None


def _figures(executed: Path) -> list:
    """The image outputs of an executed notebook, in order."""
    import nbformat

    outputs = []
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") in ("display_data", "execute_result") and any(
                kind in output.get("data", {}) for kind in IMAGE_TYPES
            ):
                figure = copy.deepcopy(output)
                figure.output_type = "display_data"
                figure.pop("execution_count", None)
                figure.data = {kind: value for kind, value in figure.data.items() if kind in IMAGE_TYPES}
                outputs.append(figure)
    return outputs


def cross_hardware_table(entries: list[Entry], reference_dir: Path, run_column: str | None) -> str:
    """Claims as rows; this run (when there is one), then each card's committed reference run, and
    the flips between cards, as in ``docs/verdicts.md`` (:mod:`utils.run.cards`)."""
    loaded = cards.load_cards(reference_dir)
    names = ([run_column] if run_column else []) + list(loaded)
    lines = ["| notebook | claim | " + " | ".join(_cell(n) for n in names) + " | across cards |"]
    lines.append("|" + " --- |" * (len(names) + 3))
    for entry in entries:
        by_card = [
            {v.id: v for v in loaded[card][entry.stem]["verdicts"]} if entry.stem in loaded[card] else {}
            for card in loaded
        ]
        run = [{v.id: v for v in entry.document["verdicts"]} if entry.document else {}] if run_column else []
        for statement, row in cards.claim_rows(by_card + run):  # this run counts as the newest
            on_cards = row[: len(by_card)]
            states = [cards.state_text(verdict) for verdict in row[len(by_card) :] + on_cards]
            cells = [entry.stem, statement, *states, cards.across_cards(on_cards)]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _markdown(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text)


def _notebook_section(entry: Entry, reference_dir: Path) -> list:
    import nbformat

    cells = [f"## {entry.stem}", ""]
    if entry.page:
        heading = _verdict_heading(entry.executed) if entry.executed else None
        verdict = f" · [its verdict]({entry.page}#{_anchor(heading)})" if heading else ""
        cells += [f"[Open the executed notebook]({entry.page}){verdict}", ""]
    if entry.document is None:
        cells += [entry.problem or f"Status: {entry.overview[1]}.", ""]
        return [_markdown("\n".join(cells))]
    document = entry.document
    timing = f"Ran in {entry.seconds:.0f} s, " if entry.seconds is not None else ""
    cells += [f"{timing}profile `{document['profile']}`, on {describe(document['environment'])}.", ""]
    if document["profile"] == "smoke":
        cells += [SMOKE_BANNER, ""]
    cells += [f"- {name}: {value}" for name, value in document["key_figures"].items()]
    reference_column = reference_verdicts(entry.stem, document["profile"], reference_dir)
    cells += ["", table(document["verdicts"], reference_column)]
    section = [_markdown("\n".join(cells))]
    figures = _figures(entry.executed) if entry.executed and entry.executed.is_file() else []
    if figures:
        section.append(_markdown(f"Figures of {entry.stem}:"))
        holder = nbformat.v4.new_code_cell("")
        holder.outputs = figures
        section.append(holder)
    return section


def report_notebook(
    title: str,
    intro: list[str],
    entries: list[Entry],
    smoke: bool,
    run_column: str | None,
    reference_dir: Path = REFERENCE_DIR,
):
    """The report as a notebook of Markdown cells and figure outputs."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["title"] = title
    head = [f"# {title}", ""] + ([SMOKE_RUN_BANNER, ""] if smoke else []) + intro
    rows = ["| notebook | status | time | held | not held | not tested | executed notebook |"]
    rows.append("|" + " --- |" * 7)
    for entry in entries:
        link = f"[{entry.stem}.html]({entry.page})" if entry.page else ""
        rows.append(
            f"| [{entry.stem}](#{_anchor(entry.stem)}) | " + " | ".join(entry.overview[1:]) + f" | {link} |"
        )
    cells = [_markdown("\n".join([*head, "", "## Overview", "", *rows]))]
    cells.append(
        _markdown(
            "## Verdicts across hardware\n\n"
            + (
                "The smoke column checks the code path only; the reference columns are GPU runs.\n\n"
                if smoke
                else ""
            )
            + cross_hardware_table(entries, reference_dir, run_column)
        )
    )
    for entry in entries:
        cells += _notebook_section(entry, reference_dir)
    notebook.cells = cells
    return notebook


def render(notebook, path: Path, include_code: bool) -> None:
    """Write ``notebook`` as a standalone HTML page (CSS and images inline, no scripts from the network)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        template_name="offline",
        exclude_input=not include_code,
        exclude_input_prompt=not include_code,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": path.stem}})
    path.write_text(body, encoding="utf-8")


def _page(executed: Path | None, out_dir: Path) -> str | None:
    """Render an executed notebook next to the report; its file name relative to the report."""
    import nbformat

    if executed is None or not executed.is_file():
        return None
    page = out_dir / f"{executed.stem}.html"
    render(nbformat.read(executed, as_version=4), page, include_code=True)
    return page.name


def write_run_report(run_dir: Path, record: RunRecord, not_run: list[str] = ()) -> Path:
    """``report.html`` of a run directory, with each executed notebook as HTML beside it."""
    outcomes = record.ordered()
    entries = []
    for outcome, row in zip(outcomes, overview_rows(outcomes), strict=True):
        executed = outcome.executed if outcome.executed.is_file() else None
        problem = "" if outcome.status == RAN else failure_text(outcome)
        entry = Entry(
            outcome.notebook.stem, row, outcome.seconds, results_of(outcome), executed, problem=problem
        )
        entry.page = _page(executed, run_dir)
        entries.append(entry)
    entries += [
        Entry(row[0], row, None, None, None, problem="Not run: the run was interrupted before it started.")
        for row in overview_rows([], not_run)
    ]
    smoke = is_smoke(outcomes, record.profile)
    environments = [e.document["environment"] for e in entries if e.document]
    machine = describe(environments[0]) if environments else "no notebook finished"
    overrides = f"; overrides `{record.overrides}`" if record.overrides else ""
    intro = [f"Run started {record.started}, profile requested `{record.profile}`{overrides}, on {machine}."]
    column = "this run (smoke: code path only)" if smoke else "this run"
    notebook = report_notebook("Notebook suite report", intro, entries, smoke, column)
    path = run_dir / REPORT_FILE
    render(notebook, path, include_code=False)
    return path


def write_reference_report(out_dir: Path, notebooks: list[Path], reference_dir: Path = REFERENCE_DIR) -> Path:
    """``report.html`` of the committed reference: its results and the committed notebooks."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for notebook in notebooks:
        path = reference_path(notebook.stem, reference_dir)
        document = read_results(path) if path else None
        seconds = nbformat.read(notebook, as_version=4).metadata.get("papermill", {}).get("duration")
        tally = [str(n) for n in counts(document["verdicts"]).values()] if document else ["", "", ""]
        status = RAN if document else "no reference run"
        row = [notebook.stem, status, f"{seconds:.0f} s" if seconds else "", *tally]
        entries.append(Entry(notebook.stem, row, seconds, document, notebook, _page(notebook, out_dir)))
    intro = [
        "The committed reference runs: each notebook's newest results in `results/` (earlier cards in "
        "`results/<card>/`) and the committed notebooks in `notebooks/`."
    ]
    notebook = report_notebook(
        "Reference runs", intro, entries, smoke=False, run_column=None, reference_dir=reference_dir
    )
    path = out_dir / REPORT_FILE
    render(notebook, path, include_code=False)
    return path
