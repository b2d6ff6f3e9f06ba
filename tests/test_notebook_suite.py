"""Every notebook runs top to bottom in the smoke profile through the runner and writes its results."""

import json

import nbformat
import pytest

from utils import run

NOTEBOOKS = run.discover([])
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke-run")
    code = run.main(["--profile", "smoke", "--output-dir", str(out)])
    return out, code


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(smoke_run, notebook):
    out, _ = smoke_run
    executed = nbformat.read(out / notebook.name, as_version=4)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""

    results = json.loads((out / notebook.stem / "results.json").read_text())
    assert results["notebook"] == notebook.stem
    assert results["parameters"]["profile"] == "smoke"
    assert results["environment"]["libraries"]["transformers"]
    assert results["verdicts"], "a notebook must reach verdicts"
    assert all(v["held"] in (True, False, None) and v["evidence"] for v in results["verdicts"])
    assert results["key_figures"]


def test_suite_summary_lists_every_notebook(smoke_run):
    out, code = smoke_run
    summary = (out / "summary.md").read_text()
    assert all(f"## {nb.stem}" in summary for nb in NOTEBOOKS)
    assert code == 0


def test_notebook_shape():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
        assert "parameters" in code_cells[0].metadata.get("tags", []), f"{path.name}: parameters cell first"
        assert 'profile = "auto"' in code_cells[0].source
        assert "output_dir = None" in code_cells[0].source
        assert any("results.write_results(" in c.source for c in code_cells), f"{path.name} writes no results"
