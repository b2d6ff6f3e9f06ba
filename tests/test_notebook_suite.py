"""The notebook suite, run once the way users run it, then checked.

One ``python -m utils.run --profile smoke --html`` into a run directory under the repository's
``runs/`` (as ``make run`` does: files written there are, for example, outside bplint's reach)
executes every selected notebook once, several at a time (``tests/suite_run.py``; it starts as soon
as the tests are collected). The tests then check each execution: no errors, complete results, the
cells tagged ``nbval-check-output`` equal to the committed outputs (by nbval's own comparison), the
summary, and the HTML reports in headless Chromium.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser import Browser, chromium_binary
from suite_run import NOTEBOOKS, say

from utils import REPO_ROOT
from utils.verdicts import STATES

CHECK_TAG = "nbval-check-output"
pytestmark = pytest.mark.notebook


def _checked_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if CHECK_TAG in c.metadata.get("tags", [])]


CHECKED = [nb for nb in NOTEBOOKS if _checked_cells(nb)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(notebook_suite, notebook):
    notebook_suite.require(notebook)
    executed = notebook_suite.executed(notebook)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""

    results = json.loads((notebook_suite.run_dir / notebook.stem / "results.json").read_text())
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
def test_checked_outputs_match_the_committed_notebook(notebook_suite, notebook, request):
    notebook_suite.require(notebook)
    executed = {cell.get("id"): cell for cell in notebook_suite.executed(notebook).cells}
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


def test_suite_summary_lists_every_notebook(notebook_suite):
    summary = (notebook_suite.run_dir / "summary.md").read_text()
    assert summary.startswith("# Notebook suite summary\n\n> **Smoke run.**")
    assert all(f"## {stem}" in summary for stem in notebook_suite.stems)
    assert all(f"| {stem} | ran |" in summary for stem in notebook_suite.stems)
    assert notebook_suite.returncode == 0, notebook_suite.output[-3000:]


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


def test_html_report_in_a_browser(notebook_suite, request):
    binary = _browser_or_skip()
    report = notebook_suite.run_dir / "report.html"
    screenshot = notebook_suite.run_dir / "report.png"
    with Browser(binary) as browser:
        _check_report(
            browser, report, ["this run (smoke: code path only)", "H100", "H200"], notebook_suite.stems
        )
        links = browser.evaluate("[...document.querySelectorAll('a[href$=\".html\"]')].map(a => a.href)")
        assert {Path(link).name for link in links} >= {f"{stem}.html" for stem in notebook_suite.stems}
        browser.screenshot(screenshot)
    assert screenshot.stat().st_size > 10_000
    say(request.config, f"\nscreenshot of the HTML report: {screenshot}")


def test_reference_report_in_a_browser(notebook_suite):
    binary = _browser_or_skip()
    out = notebook_suite.run_dir / "reference-report"
    command = [sys.executable, "-m", "utils.run", "--report", "results", "--output-dir", str(out)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    with Browser(binary) as browser:
        _check_report(browser, out / "report.html", ["H100", "H200"], [nb.stem for nb in NOTEBOOKS])
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
