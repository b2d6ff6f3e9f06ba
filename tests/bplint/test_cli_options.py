"""Command-line options and formats that users know from ruff: standard input, .gitignore,
--output-file, json-lines/junit/gitlab/sarif, --show-fixes, --exit-non-zero-on-fix, --add-noqa,
unused noqa comments (BPL901), `bplint rule --format json`, character columns, --force-exclude."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from bplint_testutil import REPO_ROOT, notebook, run_cli

UNSAFE_LOAD = "import torch\nstate = torch.load('out/pytorch_model.bin')\n"


def run_stdin(text: str, *args: str, cwd=None):
    return subprocess.run([sys.executable, "-m", "bplint", *args], input=text, cwd=cwd or REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


# -- standard input ---------------------------------------------------------------------------
def test_stdin_is_linted_as_python_named_dash(tmp_path):
    proc = run_stdin(UNSAFE_LOAD, "-", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("-:2:9: BPL203")


def test_stdin_filename_gives_kind_and_per_file_settings(project):
    project("pyproject.toml", '[tool.bplint]\nper-file-ignores = { "legacy/*" = ["BPL203"] }\n')
    root = project.root
    named = run_stdin(UNSAFE_LOAD, "--stdin-filename", "train.py", "--no-cache", cwd=root)
    assert named.returncode == 1 and named.stdout.startswith("train.py:2:9: BPL203")
    ignored = run_stdin(UNSAFE_LOAD, "-", "--stdin-filename", "legacy/train.py", "--no-cache", cwd=root)
    assert ignored.returncode == 0, ignored.stdout
    nb = notebook("import torch\n", "torch.load(p)\n")
    cells = run_stdin(nb, "-", "--stdin-filename", "nb.ipynb", "--format", "json", cwd=root)
    assert [(d["code"], d["cell"]) for d in json.loads(cells.stdout)] == [("BPL203", 2)]
    assert run_stdin(UNSAFE_LOAD, "-", "--stdin-filename", "notes.md", cwd=root).returncode == 2


def test_stdin_fix_writes_the_fixed_source_to_stdout(tmp_path):
    proc = run_stdin(UNSAFE_LOAD, "-", "--fix", "--no-cache", cwd=tmp_path)
    assert proc.stdout == "import torch\nstate = torch.load('out/pytorch_model.bin', weights_only=True)\n"
    assert proc.returncode == 0 and "All checks passed" in proc.stderr


def test_dash_with_other_paths_is_a_usage_error(tmp_path):
    assert run_stdin("", "-", "x.py", cwd=tmp_path).returncode == 2


# -- .gitignore ------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_gitignore_is_respected_by_default(project):
    root = project.root
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    project(".gitignore", "generated/\n*_tmp.py\n!keep_tmp.py\n/top_only.py\n")
    for name in ("generated/a.py", "b_tmp.py", "keep_tmp.py", "top_only.py", "sub/top_only.py", "sub/c.py"):
        project(name, UNSAFE_LOAD)
    project("sub/.gitignore", "c.py\n")

    def linted(*args):
        out = run_cli("--no-cache", "--format", "json", *args, cwd=root).stdout
        return sorted({d["path"] for d in json.loads(out)})

    assert linted() == ["keep_tmp.py", "sub/top_only.py"]
    every = ["b_tmp.py", "generated/a.py", "keep_tmp.py", "sub/c.py", "sub/top_only.py", "top_only.py"]
    assert linted("--no-respect-gitignore") == every
    assert linted("sub") == ["sub/top_only.py"]  # the root .gitignore applies below it too
    assert linted("b_tmp.py") == ["b_tmp.py"]  # a file named on the command line is linted
    project("pyproject.toml", "[tool.bplint]\nrespect-gitignore = false\n")
    assert linted() == every


# -- output -------------------------------------------------------------------------------------
@pytest.fixture
def two_findings(project):
    hub = "from transformers import AutoModel\nAutoModel.from_pretrained('org/name')\n"
    project("train.py", UNSAFE_LOAD + hub)
    return project


def test_output_file(two_findings, tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("--no-cache", "--format", "json", "--output-file", str(out), cwd=two_findings.root)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(json.loads(out.read_text())) == 2
    nowhere = str(tmp_path / "no" / "dir" / "r.txt")
    missing = run_cli("--no-cache", "--output-file", nowhere, cwd=two_findings.root)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_json_lines(two_findings):
    lines = run_cli("--no-cache", "--format", "json-lines", cwd=two_findings.root).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["code"] for r in rows] == ["BPL203", "BPL202"]
    assert rows[0]["fix"] == {"applicability": "safe", "message": "add weights_only=True", "edits": [
        {"line": 2, "column": 43, "end_line": 2, "end_column": 43, "content": ", weights_only=True"}]}
    assert rows[1]["fix"] is None


def test_junit(two_findings):
    proc = run_cli("--no-cache", "--format", "junit", cwd=two_findings.root)
    root = ET.fromstring(proc.stdout)
    assert root.tag == "testsuites" and root.get("failures") == "2"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["org.bplint.BPL203", "org.bplint.BPL202"]
    assert cases[0].find("failure").get("message").startswith("torch.load()")
    clean = run_cli("--no-cache", "--format", "junit", "--select", "BPL8", cwd=two_findings.root)
    assert ET.fromstring(clean.stdout).get("failures") == "0"


def test_gitlab_code_quality(two_findings):
    first = json.loads(run_cli("--no-cache", "--format", "gitlab", cwd=two_findings.root).stdout)
    again = json.loads(run_cli("--no-cache", "--format", "gitlab", cwd=two_findings.root).stdout)
    assert [d["check_name"] for d in first] == ["BPL203", "BPL202"]
    assert first[0]["severity"] == "major" and first[1]["severity"] == "minor"
    assert first[0]["location"] == {"path": "train.py", "positions": {"begin": {"line": 2, "column": 9},
                                                                    "end": {"line": 2, "column": 44}}}
    assert len({d["fingerprint"] for d in first}) == 2
    assert [d["fingerprint"] for d in first] == [d["fingerprint"] for d in again]


def test_sarif_uris_help_and_fixes(two_findings):
    doc = json.loads(run_cli("--no-cache", "--format", "sarif", cwd=two_findings.root).stdout)
    run = doc["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["BPL203"]["helpUri"].startswith("file:///") and rules["BPL203"]["helpUri"].endswith(
        "07_security.ipynb")
    load, hub = run["results"]
    uri = load["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (two_findings.root / "train.py").as_uri()
    change = load["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == uri
    assert change["replacements"] == [{"deletedRegion": {"startLine": 2, "startColumn": 43, "endLine": 2,
                                                         "endColumn": 43},
                                       "insertedContent": {"text": ", weights_only=True"}}]
    assert "fixes" not in hub


def test_columns_are_characters_not_bytes(project):
    project("t.py", "import torch\nétiquette = 'é'; x = torch.load(p)\n")
    (f,) = json.loads(run_cli("--no-cache", "--format", "json", cwd=project.root).stdout)
    assert (f["column"], f["end_column"]) == (22, 35)  # 'é' is two bytes, one character
    text = run_cli("--no-cache", cwd=project.root).stdout
    assert text.startswith("t.py:2:22: BPL203")


# -- fixes --------------------------------------------------------------------------------------
def test_show_fixes_marks_fixable_findings_and_lists_what_was_fixed(two_findings):
    root = two_findings.root
    report = run_cli("--no-cache", "--show-fixes", cwd=root).stdout
    assert "train.py:2:9: BPL203 [*] [error]" in report
    assert "1 fixable with --fix (0 more with --unsafe-fixes)." in report
    fixed = run_cli("--no-cache", "--fix", "--show-fixes", cwd=root)
    assert "Fixed:\n    1\tBPL203" in fixed.stderr


def test_exit_non_zero_on_fix(project):
    path = project("train.py", UNSAFE_LOAD)
    assert run_cli("--no-cache", "--fix", cwd=project.root).returncode == 0  # nothing left to report
    path.write_text(UNSAFE_LOAD)
    assert run_cli("--no-cache", "--fix", "--exit-non-zero-on-fix", cwd=project.root).returncode == 1
    unchanged = run_cli("--no-cache", "--fix", "--exit-non-zero-on-fix", cwd=project.root)
    assert unchanged.returncode == 0


def test_add_noqa(project):
    src = ('import torch\n'
           'a = torch.load("x.pt")  # noqa: BPL101\n'
           'b = torch.load(\n'
           '    "y.pt"\n'
           ')\n'
           'c = torch.load("""z\n'
           '.pt""")\n')
    path = project("train.py", src)
    nb_path = project("nb.ipynb", notebook("import torch\ntorch.load(p)\n"))
    proc = run_cli("--no-cache", "--add-noqa", cwd=project.root)
    assert "added noqa comments to 4 lines in 2 files" in proc.stderr
    assert path.read_text() == ('import torch\n'
                                'a = torch.load("x.pt")  # noqa: BPL101, BPL203\n'
                                'b = torch.load(  # noqa: BPL203\n'
                                '    "y.pt"\n'
                                ')\n'
                                'c = torch.load("""z\n'
                                '.pt""")  # noqa: BPL203\n')
    assert json.loads(nb_path.read_text())["cells"][0]["source"][1] == "torch.load(p)  # noqa: BPL203\n"
    assert run_cli("--no-cache", cwd=project.root).returncode == 0


def test_unused_noqa_is_opt_in_and_fixable(project):
    src = "import torch\ntorch.load(p, weights_only=True)  # noqa: BPL203\nx = 1  # noqa: E501\n"
    path = project("t.py", src)
    assert run_cli("--no-cache", cwd=project.root).returncode == 0
    proc = run_cli("--no-cache", "--extend-select", "BPL901", "--format", "json", cwd=project.root)
    assert [(d["code"], d["line"], d["message"]) for d in json.loads(proc.stdout)] == [
        ("BPL901", 2, "Unused noqa directive (unused: BPL203)")]
    run_cli("--no-cache", "--extend-select", "BPL901", "--fix", cwd=project.root)
    assert path.read_text() == "import torch\ntorch.load(p, weights_only=True)\nx = 1  # noqa: E501\n"


# -- rules, paths ---------------------------------------------------------------------------------
def test_rule_and_rules_as_json_and_markdown():
    one = json.loads(run_cli("rule", "BPL203", "--format", "json").stdout)
    assert (one["code"], one["name"]) == ("BPL203", "unsafe-torch-load")
    assert "## What it does" in one["explanation"]
    every = json.loads(run_cli("rule", "--all", "--format", "json").stdout)
    assert [r["code"] for r in every] == sorted(r["code"] for r in every) and len(every) >= 30
    assert {r["code"] for r in every if r["opt_in"]} == {"BPL409", "BPL702", "BPL901"}
    listed = json.loads(run_cli("rules", "--format", "json").stdout)
    assert listed == every
    table = run_cli("rules", "--format", "markdown").stdout
    assert table.startswith("| code | name | severity | summary | notebook |")
    assert run_cli("rule", "BPL203", "--format", "xml").returncode == 2


def test_force_exclude_says_what_it_skipped(project):
    project("pyproject.toml", '[tool.bplint]\nextend-exclude = ["runs"]\n')
    project("runs/sample.py", UNSAFE_LOAD)
    root = project.root
    assert run_cli("--no-cache", cwd=root).returncode == 0  # not found in the tree
    named = run_cli("--no-cache", "runs/sample.py", cwd=root)
    assert named.returncode == 1 and "BPL203" in named.stdout  # named on the command line: linted
    forced = run_cli("--no-cache", "--force-exclude", "runs/sample.py", cwd=root)
    assert forced.returncode == 0
    assert "runs/sample.py: not linted: excluded by 'runs'" in forced.stderr
    assert "No files were linted." in forced.stdout and "All checks passed" not in forced.stdout
