"""The notebook suite, run once the way users run it, then checked.

One ``python -m utils.run --profile smoke --html`` into a run directory under the repository's
``runs/`` (as ``make run`` does: files written there are, for example, outside bplint's reach)
executes every selected notebook once, several at a time. The tests then check each execution:
no errors, complete results, the cells tagged ``nbval-check-output`` equal to the committed outputs
(by nbval's own comparison), the summary, and the HTML reports in headless Chromium.
"""

import contextlib
import copy
import datetime
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from browser import Browser, chromium_binary

from utils import REPO_ROOT, run
from utils.run.execution import RAN
from utils.run.record import RUNS_DIR, RunRecord
from utils.verdicts import STATES

NOTEBOOKS = run.discover([])
CHECK_TAG = "nbval-check-output"
pytestmark = pytest.mark.notebook


def _checked_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if CHECK_TAG in c.metadata.get("tags", [])]


CHECKED = [nb for nb in NOTEBOOKS if _checked_cells(nb)]


@dataclass
class SuiteRun:
    run_dir: Path
    returncode: int
    output: str
    stems: list[str]

    def record(self) -> RunRecord:
        return RunRecord.load(self.run_dir)

    def executed(self, notebook: Path):
        return nbformat.read(self.run_dir / notebook.name, as_version=4)

    def require(self, notebook: Path) -> None:
        outcome = self.record().outcomes.get(notebook.stem)
        assert outcome is not None, f"{notebook.stem} did not run:\n{self.output[-3000:]}"
        assert outcome.status == RAN, f"{notebook.stem}: {outcome.error}"


def _selected_stems(session) -> list[str]:
    """The notebooks whose own tests this session runs; every notebook when a suite-wide test runs."""
    stems = set()
    for item in session.items:
        if item.module.__name__ != __name__ or item.name == "test_notebook_shape":
            continue
        params = getattr(item, "callspec", None)
        if params is None or "notebook" not in params.params:
            return [nb.stem for nb in NOTEBOOKS]
        stems.add(params.params["notebook"].stem)
    return sorted(stems)


def _say(config, text: str) -> None:
    """A line on the terminal at once, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(text)


def _jobs() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 4))


@pytest.fixture(scope="session")
def suite_run(request) -> SuiteRun:
    stems = _selected_stems(request.session)
    run_dir = RUNS_DIR / f"tests-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    command = [sys.executable, "-m", "utils.run", *stems, "--profile", "smoke", "--html"]
    command += ["--jobs", str(_jobs()), "--output-dir", str(run_dir)]
    _say(request.config, f"\nexecuting {len(stems)} notebooks into {run_dir}, {_jobs()} at a time")
    lines = []
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:  # progress: a line per notebook, and per minute of a long one
            lines.append(line)
            _say(request.config, line.rstrip())
    return SuiteRun(run_dir, process.returncode, "".join(lines), stems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(suite_run, notebook):
    suite_run.require(notebook)
    executed = suite_run.executed(notebook)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""

    results = json.loads((suite_run.run_dir / notebook.stem / "results.json").read_text())
    assert results["notebook"] == notebook.stem
    assert results["parameters"]["profile"] == "smoke"
    assert results["environment"]["libraries"]["transformers"]
    assert results["verdicts"], "a notebook must reach verdicts"
    assert all(v["state"] in STATES and v["evidence"] for v in results["verdicts"])
    assert results["key_figures"]


def _nbval_mismatch(session, committed_path: Path, committed_cell, index: int, outputs: list) -> str | None:
    """nbval's own comparison of ``outputs`` with the committed cell's (as ``pytest --nbval-lax``
    does for cells tagged nbval-check-output, including ``--nbval-sanitize-with``); None if equal."""
    from nbval.plugin import IPyNbCell, IPyNbFile, coalesce_streams

    holder = IPyNbFile.from_parent(session, path=committed_path)
    holder.setup_sanitize_files()
    cell = IPyNbCell.from_parent(
        holder, name=f"Cell {index}", cell_num=index, cell=committed_cell, options={}
    )
    test = coalesce_streams([nbformat.from_dict(copy.deepcopy(o)) for o in outputs])
    reference = coalesce_streams([nbformat.from_dict(copy.deepcopy(o)) for o in committed_cell.outputs])
    if cell.compare_outputs(test, reference):
        return None
    return "\n".join(cell.comparison_traceback)


@pytest.mark.parametrize("notebook", CHECKED, ids=[nb.stem for nb in CHECKED])
def test_checked_outputs_match_the_committed_notebook(suite_run, notebook, request):
    suite_run.require(notebook)
    executed = {cell.get("id"): cell for cell in suite_run.executed(notebook).cells}
    committed = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(committed.cells):
        if CHECK_TAG not in cell.metadata.get("tags", []) or cell.get("execution_count") is None:
            continue
        ran = executed.get(cell.get("id"))
        assert ran is not None and ran.source == cell.source, f"cell {index} of {notebook.name} did not run"
        mismatch = _nbval_mismatch(request.session, notebook, cell, index, ran.outputs)
        assert mismatch is None, (
            f"{notebook.name}, cell {index} (`{cell.source.splitlines()[0]}`):\n{mismatch}"
        )


def test_suite_summary_lists_every_notebook(suite_run):
    summary = (suite_run.run_dir / "summary.md").read_text()
    assert summary.startswith("# Notebook suite summary\n\n> **Smoke run.**")
    assert all(f"## {stem}" in summary for stem in suite_run.stems)
    assert all(f"| {stem} | ran |" in summary for stem in suite_run.stems)
    assert suite_run.returncode == 0, suite_run.output[-3000:]


def _browser_or_skip() -> str:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    return binary


def _check_report(browser: Browser, page: Path, columns: list[str], notebooks: list[str]) -> None:
    browser.open(page.as_uri())
    table = browser.evaluate(
        """(() => {
            const heading = [...document.querySelectorAll('h2')]
                .find(h => h.textContent.startsWith('Verdicts across hardware'));
            const table = heading && heading.parentElement.querySelector('table');
            if (!table) return null;
            return {
                visible: table.getBoundingClientRect().height > 0,
                header: [...table.querySelectorAll('thead th')].map(th => th.textContent.trim()),
                notebooks: [...table.querySelectorAll('tbody tr')].map(tr => tr.cells[0].textContent.trim()),
            };
        })()"""
    )
    assert table is not None, f"{page}: no verdict table"
    assert table["visible"]
    assert all(any(name in header for header in table["header"]) for name in columns), table["header"]
    assert set(notebooks) <= set(table["notebooks"]), table["notebooks"]
    assert browser.problems() == [], browser.problems()


def test_html_report_in_a_browser(suite_run, request):
    binary = _browser_or_skip()
    report = suite_run.run_dir / "report.html"
    screenshot = suite_run.run_dir / "report.png"
    with Browser(binary) as browser:
        _check_report(browser, report, ["this run (smoke: code path only)", "results/h100/"], suite_run.stems)
        links = browser.evaluate("[...document.querySelectorAll('a[href$=\".html\"]')].map(a => a.href)")
        assert {Path(link).name for link in links} >= {f"{stem}.html" for stem in suite_run.stems}
        browser.screenshot(screenshot)
    assert screenshot.stat().st_size > 10_000
    _say(request.config, f"\nscreenshot of the HTML report: {screenshot}")


def test_reference_report_in_a_browser(suite_run):
    binary = _browser_or_skip()
    out = suite_run.run_dir / "reference-report"
    command = [sys.executable, "-m", "utils.run", "--report", "results", "--output-dir", str(out)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    with Browser(binary) as browser:
        _check_report(browser, out / "report.html", ["results/h100/"], [nb.stem for nb in NOTEBOOKS])
        browser.screenshot(out / "report.png")


def test_notebook_shape():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
        assert "parameters" in code_cells[0].metadata.get("tags", []), f"{path.name}: parameters cell first"
        assert 'profile = "auto"' in code_cells[0].source
        assert "output_dir = None" in code_cells[0].source
        assert any("results.write_results(" in c.source for c in code_cells), f"{path.name} writes no results"
