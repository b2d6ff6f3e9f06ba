import json
import sys

from utils.topics import lint_report


def test_parses_a_list_with_top_level_locations():
    text = json.dumps([{"code": "BPL201", "message": "unsafe load", "path": "a.py", "line": 3, "column": 5}])
    assert lint_report.parse_findings(text) == [
        {"code": "BPL201", "message": "unsafe load", "path": "a.py", "line": 3, "column": 5}
    ]


def test_parses_an_object_with_nested_locations():
    text = json.dumps(
        {
            "version": "1",
            "findings": [
                {"code": "BPL1", "message": "m", "location": {"file": "b.py", "row": 7, "col": 1}},
                {"code": "BPL2", "message": "n", "filename": "c.py", "lineno": 2},
            ],
        }
    )
    findings = lint_report.parse_findings(text)
    assert [(f["path"], f["line"], f["column"]) for f in findings] == [("b.py", 7, 1), ("c.py", 2, None)]


def test_empty_output_means_no_findings():
    assert lint_report.parse_findings("") == []
    assert lint_report.parse_findings('{"findings": []}') == []


def test_a_missing_or_failing_linter_is_reported_not_raised(monkeypatch, tmp_path):
    def fake_run(command, **kwargs):
        assert command[:3] == [sys.executable, "-m", "bplint"]
        return type(
            "Done", (), {"returncode": 2, "stdout": "", "stderr": "usage: bplint\nerror: bad option"}
        )()

    monkeypatch.setattr(lint_report.subprocess, "run", fake_run)
    run = lint_report.run_bplint([tmp_path])
    assert not run.available and run.exit_code == 2 and run.error == "error: bad option"


def test_exit_one_with_findings(monkeypatch, tmp_path):
    def fake_run(command, **kwargs):
        stdout = json.dumps([{"code": "BPL9", "message": "x", "path": "f.py", "line": 1}])
        return type("Done", (), {"returncode": 1, "stdout": stdout, "stderr": ""})()

    monkeypatch.setattr(lint_report.subprocess, "run", fake_run)
    run = lint_report.run_bplint([tmp_path])
    assert run.available and run.exit_code == 1 and run.findings[0]["code"] == "BPL9"
