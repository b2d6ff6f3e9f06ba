import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from utils import REPO_ROOT, run
from utils.run import execution, parameters, report

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
    assert "| scaling works | **held** | no reference | n: 6, needed ≥ 6 |" in summary
    assert "profile `smoke`" in summary and "code runs" in summary
    assert summary.startswith("# Notebook suite summary\n\n> **Smoke run.**")


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


SLOW = ['profile = "auto"\noutput_dir = None', "import time", "print('started', flush=True)\ntime.sleep(60)"]
TYPED = [
    'profile = "auto"\noutput_dir = None\nseed = 42\nsteps = None\nrates = None\nname = None',
    "from utils import profiles\n"
    "TABLE = {'smoke': dict(steps=2, rates=[1e-4]), 'full': dict(steps=9, rates=[1e-3])}\n"
    "cfg = profiles.settings(profile, TABLE, steps=steps, rates=rates)",
]


def test_the_failing_line_of_a_cell_is_named(tmp_path):
    failing = write_notebook(
        tmp_path / "09_fail.ipynb",
        ['profile = "auto"\noutput_dir = None', "def half(x):\n    return x / 0\n\ny = 2\nhalf(y)\nz = 3"],
    )
    out = tmp_path / "run"
    assert run.main([str(failing), "--profile", "smoke", "--output-dir", str(out)]) == 1
    record = run.RunRecord.load(out)
    assert (
        record.outcomes["09_fail"].error == "cell 3, line 5 (`half(y)`): ZeroDivisionError: division by zero"
    )


def test_parameters_read_their_types_from_the_profile_table(tmp_path):
    knobs = parameters.knobs(write_notebook(tmp_path / "01_typed.ipynb", TYPED))
    assert list(knobs) == ["profile", "output_dir", "seed", "steps", "rates", "name"]
    assert knobs["seed"].examples == [42] and knobs["steps"].examples == [2, 9]
    assert knobs["rates"].examples == [[1e-4], [1e-3]] and knobs["name"].examples == []
    assert parameters.type_error(knobs["steps"], 5) is None
    assert parameters.type_error(knobs["steps"], None) is None  # None: the profile's value
    assert parameters.type_error(knobs["rates"], [1, 2e-5]) is None  # an int is a fine float
    assert parameters.type_error(knobs["name"], ["anything"]) is None
    assert "steps takes int, not str: steps='abc' (the notebook uses 2, 9)" in parameters.type_error(
        knobs["steps"], "abc"
    )
    assert "takes list of float" in parameters.type_error(knobs["rates"], ["a"])
    assert "takes int" in parameters.type_error(knobs["seed"], True)


def test_an_annotation_in_the_parameters_cell_sets_the_type(tmp_path):
    notebook = write_notebook(
        tmp_path / "01_annotated.ipynb", ["steps: int = None\nrate: Optional[float] = None"]
    )
    knobs = parameters.knobs(notebook)
    assert parameters.type_error(knobs["steps"], "abc") == "steps takes int, not str: steps='abc'"
    assert parameters.type_error(knobs["rate"], 3) is None


def test_every_suite_notebook_has_checkable_parameters():
    for notebook in run.discover([]):
        knobs = parameters.knobs(notebook)
        assert {"profile", "seed", "output_dir"} <= set(knobs), notebook.stem
        assert knobs["seed"].examples, notebook.stem


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nonexistent_param=3", "unknown parameter 'nonexistent_param'"),
        ("steps=abc", "steps takes int, not str: steps='abc'"),
        ("profile=full", "use --profile"),
    ],
)
def test_bad_parameters_are_refused_before_any_kernel_starts(tmp_path, capsys, override, message):
    typed = write_notebook(tmp_path / "01_typed.ipynb", TYPED)
    out = tmp_path / "run"
    assert run.main([str(typed), "-p", override, "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert message in error
    if "unknown" in message:
        assert "Valid names: 01_typed: seed (int), steps (int), rates (list of float), name" in error
    assert not out.exists()


def test_a_parameter_goes_only_to_the_notebooks_that_have_it(tmp_path):
    typed = write_notebook(tmp_path / "01_typed.ipynb", TYPED)
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    assert (
        run.main([str(typed), str(passing), "-p", "scale=6", "--profile", "smoke", "--output-dir", str(out)])
        == 0
    )
    assert "scale" not in nbformat.read(out / "01_typed.ipynb", as_version=4).metadata.papermill.parameters
    assert nbformat.read(out / "10_ok.ipynb", as_version=4).metadata.papermill.parameters["scale"] == 6


def test_rerun_failed_runs_only_what_failed_or_is_missing_into_the_same_run(tmp_path, capsys, monkeypatch):
    failing = write_notebook(tmp_path / "09_fail.ipynb", FAILING)
    write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    write_notebook(tmp_path / "11_ok.ipynb", PASSING)
    monkeypatch.setattr(run, "discover", lambda selection: execution.discover(selection, tmp_path))
    out = tmp_path / "run"
    assert run.main(["09", "10", "--profile", "smoke", "-p", "scale=6", "--output-dir", str(out)]) == 1
    first = run.RunRecord.load(out).outcomes["10_ok"].seconds

    write_notebook(failing, PASSING)  # fixed
    capsys.readouterr()
    assert run.main(["--rerun-failed", str(out), "--profile", "full"]) == 2
    assert run.main(["--rerun-failed", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "notebooks that failed or are missing: 09_fail, 11_ok" in printed
    assert "10_ok ..." not in printed and "2 of 2 notebooks ran" in printed
    record = run.RunRecord.load(out)
    assert set(record.outcomes) == {"09_fail", "10_ok", "11_ok"}
    assert record.outcomes["10_ok"].seconds == first
    assert all(outcome.status == "ran" for outcome in record.outcomes.values())
    assert record.overrides == {"scale": 6}
    summary = (out / "summary.md").read_text()
    assert all(f"| {stem} | ran |" in summary for stem in ("09_fail", "10_ok", "11_ok"))


def test_ctrl_c_stops_cleanly_with_a_summary_and_marked_partial_notebooks(tmp_path):
    slow = write_notebook(tmp_path / "05_slow.ipynb", SLOW)
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "utils.run", str(slow), str(passing), "--profile", "smoke"]
    process = subprocess.Popen(
        [*command, "--output-dir", str(out), "--html"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _running_cell(out / "05_slow.ipynb") != 3:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr == ""
    assert stdout.splitlines()[0] == "[1/2] 05_slow ..."
    last = [line for line in stdout.splitlines()[1:] if line.strip()]
    assert len(last) == 1 and last[0].startswith("Interrupted: 0 of 2 notebooks ran, partial: 05_slow")

    summary = (out / "summary.md").read_text()
    assert "| 05_slow | interrupted |" in summary and "| 10_ok | not run |" in summary
    partial = nbformat.read(out / "05_slow.ipynb", as_version=4)
    assert partial.cells[0].metadata["tags"] == [execution.INTERRUPTED_TAG]
    assert "stopped during cell 4 of 4" in partial.cells[0].source
    assert partial.cells[-1].metadata.papermill["status"] == "interrupted"
    assert (out / "report.html").is_file()


def _running_cell(path):
    """The index of the cell that papermill last saved as running, if any."""
    try:
        cells = nbformat.read(path, as_version=4).cells
    except (OSError, ValueError):  # not written yet, or half written
        return None
    running = [
        i for i, cell in enumerate(cells) if cell.metadata.get("papermill", {}).get("status") == "running"
    ]
    return running[-1] if running else None


def test_heartbeat_names_the_running_cell_at_most_once_per_interval():
    stream = io.StringIO()
    cells = [nbformat.v4.new_markdown_cell("# 04"), *map(nbformat.v4.new_code_cell, "abc")]
    cells.insert(2, nbformat.v4.new_markdown_cell("## two"))
    with execution.Heartbeat("04_performance", every=0.05, stream=stream) as heartbeat:
        heartbeat.cell_started(cells, 3)
        time.sleep(0.18)
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 4
    assert all(line == "    04_performance: cell 2 of 3, 0 min" for line in lines)


def test_runs_are_quiet_and_the_kernel_log_is_kept(tmp_path, capfd):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    assert run.main([str(passing), "--profile", "smoke", "--output-dir", str(out)]) == 0
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines() == [
        "[1/1] 10_ok ...",
        f"[1/1] 10_ok: ok ({run.RunRecord.load(out).outcomes['10_ok'].seconds:.0f} s)",
        f"1 of 1 notebooks ran; summary: {out / 'summary.md'}",
    ]
    assert (out / "10_ok" / "execution.log").is_file()


def test_html_report_shows_overview_verdicts_across_hardware_and_links(tmp_path):
    failing = write_notebook(tmp_path / "09_fail.ipynb", FAILING)
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    run.main(
        [
            str(failing),
            str(passing),
            "--profile",
            "smoke",
            "-p",
            "scale=6",
            "--output-dir",
            str(out),
            "--html",
        ]
    )
    page = (out / "report.html").read_text()
    assert "<table>" in page and "Verdicts across hardware" in page
    assert 'href="10_ok.html"' in page and (out / "10_ok.html").is_file() and (out / "09_fail.html").is_file()
    assert "this run (smoke: code path only)" in page and "<th>H100</th>" in page
    assert "Smoke run." in page and "boom in cell two" in page
    assert "<script src=" not in page  # nothing loaded from the network

    again = tmp_path / "again"
    shutil.copytree(out, again)
    (again / "report.html").unlink()
    assert run.main(["--report", str(again)]) == 0
    assert (again / "report.html").read_text().count("<table>") == page.count("<table>")


def test_reference_report_renders_the_committed_runs(tmp_path):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    assert run.main([str(passing), "--profile", "full", "--output-dir", str(out)]) == 0
    reference = tmp_path / "results"
    (reference / "old-card").mkdir(parents=True)
    shutil.copy(out / "10_ok" / "results.json", reference / "10_ok.json")
    document = json.loads((out / "10_ok" / "results.json").read_text())
    document["environment"]["gpu"] = "Old Card"
    (reference / "old-card" / "10_ok.json").write_text(json.dumps(document))
    page = report.write_reference_report(tmp_path / "report", [passing], reference).read_text()
    assert "<th>CPU</th>" in page and "<th>Old</th>" in page and "<th>across cards</th>" in page
    assert "this run" not in page and "Smoke run." not in page
    assert page.count("not held (2)") == 2  # the claim in both columns of the cross-hardware table


def test_the_last_run_is_the_one_whose_record_started_last(tmp_path):
    for name, started in [("b", "2026-01-02T00:00:00"), ("a", "2026-01-03T00:00:00"), ("c", None)]:
        (tmp_path / name).mkdir()
        if started:
            run.RunRecord("smoke", {}, started).save(tmp_path / name)
    assert run.latest_run(tmp_path) == tmp_path / "a"
    assert run.latest_run(tmp_path / "c") is None


def test_rerun_and_report_default_to_the_last_run(tmp_path, monkeypatch, capsys):
    passing = write_notebook(tmp_path / "10_ok.ipynb", PASSING)
    out = tmp_path / "run"
    assert run.main([str(passing), "--profile", "smoke", "-p", "scale=6", "--output-dir", str(out)]) == 0
    monkeypatch.setattr(run, "latest_run", lambda: out)
    monkeypatch.setattr(run, "discover", lambda selection: [passing])
    capsys.readouterr()
    assert run.main(["--rerun-failed"]) == 0
    assert f"Re-running in {out} the notebooks that failed or are missing: none" in capsys.readouterr().out
    assert run.main(["--report"]) == 0
    assert (out / "report.html").is_file()
    assert run.main(["--rerun-failed", str(tmp_path / "10")]) == 2
    assert "notebooks to select go before the option" in capsys.readouterr().err
