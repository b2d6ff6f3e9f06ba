import argparse

import nbformat
import pytest

from utils import run

PASSING = [
    'profile = "auto"\noutput_dir = None\nscale = 1',
    "from utils import environment, profiles, results\n"
    "cfg = profiles.settings(profile, {'smoke': {'n': 1}, 'full': {'n': 2}})\n"
    "results.write_results('10_ok', parameters={'scale': scale, **vars(cfg)},\n"
    "    environment=environment.capture(), metrics={'n': cfg.n * scale},\n"
    "    verdicts=[results.Verdict('scaling works', cfg.n * scale == 6, f'n={cfg.n * scale}')],\n"
    "    key_figures={'n': str(cfg.n * scale)}, output_dir=output_dir)",
]
FAILING = ['profile = "auto"\noutput_dir = None', "x = 1", "raise ValueError('boom in cell two')"]


def write_notebook(path, sources):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(notebook, path)
    return path


def test_parse_parameter_reads_literals_and_strings():
    assert run.parse_parameter("steps=200") == ("steps", 200)
    assert run.parse_parameter("lr=1e-4") == ("lr", 1e-4)
    assert run.parse_parameter("shapes=['a', 'b']") == ("shapes", ["a", "b"])
    assert run.parse_parameter("model_name=org/model") == ("model_name", "org/model")
    with pytest.raises(argparse.ArgumentTypeError):
        run.parse_parameter("no-equals-sign")


def test_discover_by_number_and_stem(tmp_path):
    for name in ("01_a", "02_b", "notes"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in run.discover([], tmp_path)] == ["01_a", "02_b"]
    assert [p.stem for p in run.discover(["02"], tmp_path)] == ["02_b"]
    assert [p.stem for p in run.discover(["01_a"], tmp_path)] == ["01_a"]
    with pytest.raises(SystemExit, match=r"no notebook matches '07'.*01_a, 02_b"):
        run.discover(["07"], tmp_path)


def test_suite_reports_failures_and_keeps_going(tmp_path, capsys):
    failing = write_notebook(tmp_path / "09_fail.ipynb", FAILING)
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    code = run.main(
        [str(failing), str(passing), "--profile", "smoke", "-p", "scale=6", "--output-dir", str(out)]
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert "09_fail: FAILED" in printed and "1 of 2 notebooks ran" in printed

    summary = (out / "summary.md").read_text()
    assert "**FAILED**" in summary
    assert "raise ValueError('boom in cell two')" in summary and "ValueError: boom in cell two" in summary
    assert "| scaling works | **held** | n=6 |" in summary
    assert "profile `smoke`" in summary

    executed = nbformat.read(out / "10_ok.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "nbval-skip" in injected[0].metadata["tags"]
    assert "scale = 6" in injected[0].source


def test_all_passing_exits_zero(tmp_path):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    assert run.main([str(passing), "--profile", "full", "--output-dir", str(tmp_path / "run")]) == 0
    assert "| scaling works | **did not hold** | n=2 |" in (tmp_path / "run" / "summary.md").read_text()
