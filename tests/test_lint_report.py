import json
import shutil
import sys

import pytest

from utils import REPO_ROOT
from utils.topics import lint_report

EXAMPLE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_reads_what_bplint_prints(tmp_path):
    script = tmp_path / "train.py"
    script.write_text('import torch\n\nstate = torch.load("model.bin", weights_only=False)\n')
    run = lint_report.run_bplint([script])
    assert run.available and run.exit_code == 1
    (finding,) = run.findings
    assert set(lint_report.FINDING_KEYS) <= set(finding)
    assert (finding["code"], finding["line"], finding["path"]) == ("BPL203", 3, str(script))


def test_a_clean_file_has_no_findings(tmp_path):
    script = tmp_path / "clean.py"
    script.write_text('"""Nothing to report."""\n')
    run = lint_report.run_bplint([script])
    assert run.available and run.exit_code == 0 and run.findings == []


def test_output_bplint_never_prints_is_an_error():
    with pytest.raises(ValueError, match="list of findings"):
        lint_report.parse_findings(json.dumps({"findings": []}))
    with pytest.raises(ValueError, match="without"):
        lint_report.parse_findings(json.dumps([{"code": "BPL203", "message": "m"}]))


def test_a_failing_linter_is_reported_not_raised(monkeypatch, tmp_path):
    def fake_run(command, **kwargs):
        assert command[:3] == [sys.executable, "-m", "bplint"]
        return type(
            "Done", (), {"returncode": 2, "stdout": "", "stderr": "usage: bplint\nerror: bad option"}
        )()

    monkeypatch.setattr(lint_report.subprocess, "run", fake_run)
    run = lint_report.run_bplint([tmp_path])
    assert not run.available and run.exit_code == 2 and run.error == "error: bad option"


def test_the_notebook_check_finds_every_pitfall_and_passes_the_fixed_sample():
    check = lint_report.check_security_samples(EXAMPLE_COMMIT)  # as notebook 07 calls it
    shutil.rmtree(check.folder)
    assert not check.folder.resolve().is_relative_to(REPO_ROOT)
    assert check.run.available and check.missed == []
    assert check.fixed == [] and check.insecure


def test_an_excluded_folder_hides_the_samples():
    """The repository excludes runs/ from bplint, also for paths named on the command line."""
    folder = REPO_ROOT / "runs" / "test-lint-report"
    try:
        check = lint_report.check_security_samples(EXAMPLE_COMMIT, folder)
    finally:
        for path in folder.glob("*.py"):
            path.unlink()
        folder.rmdir()
    assert check.run.available and check.run.findings == []
    assert len(check.missed) == len(lint_report.PITFALLS)
