import argparse
import json
import shutil

import nbformat
import pytest

from utils import run
from utils.run import execution

PASSING = [
    'profile = "auto"\noutput_dir = None\nscale = 1',
    "from utils import environment, profiles, results, verdicts\n"
    "cfg = profiles.settings(profile, {'smoke': {'n': 1}, 'full': {'n': 2}})\n"
    "claim = verdicts.Claim('scaling', 'scaling works', 'n', 6, '>=', digits=0)\n"
    "results.write_results('10_ok', parameters={'scale': scale, **vars(cfg)},\n"
    "    environment=environment.capture(), metrics={'n': cfg.n * scale},\n"
    "    verdicts=[verdicts.judge(claim, cfg.n * scale)],\n"
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
    assert execution.parse_parameter("steps=200") == ("steps", 200)
    assert execution.parse_parameter("lr=1e-4") == ("lr", 1e-4)
    assert execution.parse_parameter("shapes=['a', 'b']") == ("shapes", ["a", "b"])
    assert execution.parse_parameter("model_name=org/model") == ("model_name", "org/model")
    with pytest.raises(argparse.ArgumentTypeError):
        execution.parse_parameter("no-equals-sign")


def test_discover_by_number_and_stem(tmp_path):
    for name in ("01_a", "02_b", "notes"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in execution.discover([], tmp_path)] == ["01_a", "02_b"]
    assert [p.stem for p in execution.discover(["02"], tmp_path)] == ["02_b"]
    assert [p.stem for p in execution.discover(["01_a"], tmp_path)] == ["01_a"]
    with pytest.raises(SystemExit, match=r"no notebook matches '07'.*01_a, 02_b"):
        execution.discover(["07"], tmp_path)


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
    assert "| 09_fail | failed |" in summary and "| 10_ok | ran |" in summary
    assert "**FAILED**" in summary
    assert "raise ValueError('boom in cell two')" in summary and "ValueError: boom in cell two" in summary
    assert "| scaling works | **held** | n: 6, needed ≥ 6 |" in summary
    assert "profile `smoke`" in summary and "code runs" in summary


def test_executed_notebooks_carry_no_machine_paths(tmp_path):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    assert run.main([str(passing), "--profile", "smoke", "-p", "scale=6", "--output-dir", str(out)]) == 0
    executed = nbformat.read(out / "10_ok.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "nbval-skip" in injected[0].metadata["tags"]
    assert "scale = 6" in injected[0].source and "output_dir" not in injected[0].source
    assert str(tmp_path) not in json.dumps(executed.metadata)


def test_all_passing_exits_zero(tmp_path):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    assert run.main([str(passing), "--profile", "full", "--output-dir", str(tmp_path / "run")]) == 0
    assert (
        "| scaling works | **not held** | n: 2, needed ≥ 6 |" in (tmp_path / "run" / "summary.md").read_text()
    )


def test_compare_prints_each_claim_against_a_smoke_reference_and_the_flips(tmp_path, capsys):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    first = tmp_path / "first"
    assert run.main([str(passing), "--profile", "smoke", "-p", "scale=6", "--output-dir", str(first)]) == 0
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copy(first / "10_ok" / "results.json", reference / "10_ok.json")
    capsys.readouterr()

    second = tmp_path / "second"
    args = [str(passing), "--profile", "smoke", "--output-dir", str(second), "--compare", str(reference)]
    assert run.main(args) == 0
    assert "FLIPPED        held -> not held    scaling works" in capsys.readouterr().out
    summary = (second / "summary.md").read_text()
    assert "| scaling works | held (6) | not held (1) | **yes** |" in summary


def test_reference_runs_refuse_smoke_profiles_and_dirty_trees(monkeypatch):
    assert "full" in run.reference_refusal("smoke", allow_dirty=False)
    monkeypatch.setattr(run.environment, "git_state", lambda: ("a" * 40, True))
    assert "differ from commit" in run.reference_refusal("full", allow_dirty=False)
    assert run.reference_refusal("full", allow_dirty=True) is None
    monkeypatch.setattr(run.environment, "git_state", lambda: ("a" * 40, None))
    assert "no git" in run.reference_refusal("full", allow_dirty=False)
    monkeypatch.setattr(run.environment, "git_state", lambda: ("a" * 40, False))
    assert run.reference_refusal("multi", allow_dirty=False) is None


def test_reference_run_is_refused_before_any_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run.environment, "git_state", lambda: ("a" * 40, True))
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    assert (
        run.main([str(passing), "--profile", "full", "--reference", "--output-dir", str(tmp_path / "r")]) == 2
    )
    assert "--allow-dirty" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_promote_copies_notebook_and_results(tmp_path):
    run_dir, notebooks, results = tmp_path / "run", tmp_path / "notebooks", tmp_path / "results"
    (run_dir / "10_ok").mkdir(parents=True)
    notebooks.mkdir()
    (run_dir / "10_ok.ipynb").write_text("executed")
    (run_dir / "10_ok" / "results.json").write_text("{}")
    outcome = execution.Outcome(notebooks / "10_ok.ipynb", run_dir / "10_ok.ipynb", run_dir / "10_ok", 1.0)
    run.promote(outcome, notebooks, results)
    assert (notebooks / "10_ok.ipynb").read_text() == "executed"
    assert (results / "10_ok.json").read_text() == "{}"
