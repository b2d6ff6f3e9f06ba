"""Command line: formats, exit codes, configuration, selection, suppression, rule docs."""

import json
import subprocess
import sys

import pytest
from bplint_testutil import REPO_ROOT, run_cli

BAD = """\
import torch
from transformers import AutoModel
state = torch.load("x.pt")
model = AutoModel.from_pretrained("org/name", trust_remote_code=True)
"""


@pytest.fixture
def bad_project(project):
    project("train.py", BAD)
    project("requirements.txt", "torch>=2\n")
    return project


def test_exit_codes_and_text_output(bad_project):
    root = bad_project.root
    proc = run_cli("--no-cache", cwd=root)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert "requirements.txt:1:1: BPL101 [warning]" in lines[0]
    assert lines[1].startswith("train.py:3:9: BPL203 [error] torch.load()")
    assert any(line.startswith("train.py:4:35: BPL202") for line in lines)
    assert any(line.startswith("train.py:4:47: BPL201") for line in lines)
    assert lines[-1].startswith("Found 4 findings")
    assert run_cli("--exit-zero", "--no-cache", cwd=root).returncode == 0
    bad_project("train.py", "print('ok')\n")
    bad_project("requirements.txt", "torch==2.13.0\n")
    clean = run_cli(cwd=root)
    assert clean.returncode == 0 and "All checks passed" in clean.stdout


def test_select_ignore_extend_select_prefixes(bad_project):
    root = bad_project.root

    def found(*args):
        out = run_cli("--format", "json", "--no-cache", *args, cwd=root).stdout
        return sorted(d["code"] for d in json.loads(out))

    assert found() == ["BPL101", "BPL201", "BPL202", "BPL203"]
    assert found("--select", "BPL2") == ["BPL201", "BPL202", "BPL203"]
    assert found("--select", "BPL2", "--ignore", "BPL202") == ["BPL201", "BPL203"]
    assert found("--select", "BPL101", "--extend-select", "BPL203") == ["BPL101", "BPL203"]
    assert found("--ignore", "BPL2", "--select", "BPL201") == ["BPL201"]  # more specific wins
    assert found("--ignore", "BPL") == []


def test_unknown_code_is_usage_error(bad_project):
    proc = run_cli("--select", "BPL999", cwd=bad_project.root)
    assert proc.returncode == 2 and "BPL999" in proc.stderr
    proc = run_cli("--ignore", "E501", cwd=bad_project.root)
    assert proc.returncode == 2 and "E501" in proc.stderr


def test_missing_path_is_usage_error(tmp_path):
    proc = run_cli(str(tmp_path / "nope.py"))
    assert proc.returncode == 2 and "nope.py" in proc.stderr


def test_config_in_pyproject(bad_project):
    root = bad_project.root
    bad_project("pyproject.toml", """\
        [project]
        name = "demo"
        dependencies = ["torch>=2"]

        [tool.bplint]
        ignore = ["BPL202"]
        per-file-ignores = {"train.py" = ["BPL203"]}
        extend-exclude = ["requirements.txt"]
        pin-policy = "library"
        """)
    out = json.loads(run_cli("--format", "json", "--no-cache", cwd=root).stdout)
    assert sorted(d["code"] for d in out) == ["BPL201"]
    # config is found from a subdirectory, and applies to explicit files
    bad_project("sub/deep/x.py", "import torch\ntorch.load(p)\n")
    proc = run_cli("--no-cache", "x.py", cwd=root / "sub" / "deep")
    assert "x.py:2:1: BPL203" in proc.stdout
    # a file named on the command line is linted, excluded or not (as ruff does); with
    # --force-exclude (the pre-commit hook) it is skipped, and bplint says so
    proc = run_cli("--no-cache", str(root / "requirements.txt"), cwd=root)
    assert proc.returncode == 1 and "BPL101" in proc.stdout
    proc = run_cli("--no-cache", "--force-exclude", str(root / "requirements.txt"), cwd=root)
    assert proc.returncode == 0 and "No files were linted" in proc.stdout
    assert "excluded by 'requirements.txt'" in proc.stderr


@pytest.mark.parametrize("table,needle", [
    ('unknown-key = 1', "unknown-key"),
    ('select = ["BPL42"]', "BPL42"),
    ('ignore = ["BPL2", "XYZ"]', "XYZ"),
    ('ignore = "BPL2"', "'ignore' must be a list, not a string"),
    ('cpu-only = 1', "'cpu-only' must be a boolean, not an integer"),
    ('deterministic = "yes"', "'deterministic' must be a boolean"),
    ('respect-gitignore = []', "'respect-gitignore' must be a boolean, not a list"),
    ('per-file-ignores = {"a.py" = "BPL2"}', "per-file-ignores.a.py"),
    ('extend-exclude = "runs"', "'extend-exclude' must be a list"),
    ('pin-policy = "strict"', "pin-policy"),
    ('cpu-only = "yes"', "cpu-only"),
    ('per-file-ignores = ["x"]', "per-file-ignores"),
    ('exclude = [1]', "exclude"),
])
def test_bad_configuration_exits_2_naming_the_key(project, table, needle):
    project("pyproject.toml", f"[tool.bplint]\n{table}\n")
    project("a.py", "x = 1\n")
    proc = run_cli(cwd=project.root)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_invalid_toml_config_exits_2_naming_the_file(project):
    project("pyproject.toml", "[tool.bplint]\nselect = [\n")
    project("a.py", "x = 1\n")
    proc = run_cli(cwd=project.root)
    assert proc.returncode == 2 and "pyproject.toml" in proc.stderr


def test_explicit_config_file(project, tmp_path_factory):
    project("a.py", "import torch\ntorch.load(p)\n")
    other = tmp_path_factory.mktemp("cfg") / "pyproject.toml"
    other.write_text('[tool.bplint]\nignore = ["BPL203"]\n')
    assert run_cli("--config", str(other), "--no-cache", cwd=project.root).returncode == 0
    assert run_cli("--config", "missing.toml", cwd=project.root).returncode == 2


def test_excludes_default_and_cli(project):
    project(".venv/lib/bad.py", "import pickle\npickle.load(f)\n")
    project("node_modules/x.py", "import pickle\npickle.load(f)\n")
    project("nb/.ipynb_checkpoints/a-checkpoint.py", "import pickle\npickle.load(f)\n")
    project("gen/bad.py", "import pickle\npickle.load(f)\n")
    proc = run_cli("--no-cache", cwd=project.root)
    assert proc.returncode == 1 and proc.stdout.startswith("gen/bad.py:2:1: BPL204")
    assert run_cli("--no-cache", "--exclude", "gen", cwd=project.root).returncode == 0
    assert run_cli("--no-cache", "--extend-exclude", "*.py", cwd=project.root).returncode == 0


def test_noqa_and_file_level_disable(project):
    project("a.py", """\
        import pickle, torch
        pickle.load(f)  # noqa: BPL204
        pickle.load(f)  # noqa
        pickle.load(f)  # noqa: BPL203
        torch.load(
            p,
        )  # noqa: BPL203
        """)
    proc = run_cli("--no-cache", "--format", "json", cwd=project.root)
    assert [(d["code"], d["line"]) for d in json.loads(proc.stdout)] == [("BPL204", 4)]
    project("b.py", "# bplint: disable=BPL204, BPL203\nimport pickle\npickle.load(f)\n")
    proc = run_cli("--no-cache", "--format", "json", "b.py", cwd=project.root)
    assert json.loads(proc.stdout) == []


def test_only_comments_suppress(project):
    """A string that contains ``# noqa`` or ``# bplint: disable`` (a sample source, documentation)
    suppresses nothing and is no unused noqa either."""
    project("c.py", '''\
        import pickle
        SAMPLE = "# bplint: disable=BPL204"
        x = pickle.load(f), "# noqa: BPL204"
        DOC = """
        pickle.load(f)  # noqa: BPL203
        """
        ''')
    proc = run_cli("--no-cache", "--format", "json", "--extend-select", "BPL901", "c.py", cwd=project.root)
    assert [(d["code"], d["line"]) for d in json.loads(proc.stdout)] == [("BPL204", 3)]


def test_json_format_fields(bad_project):
    out = json.loads(run_cli("--format", "json", "--no-cache", "train.py", cwd=bad_project.root).stdout)
    d = out[0]
    assert set(d) >= {"code", "name", "severity", "message", "path", "cell", "line", "column", "end_line",
                      "end_column", "notebook"}
    got = (d["code"], d["path"], d["line"], d["column"], d["severity"])
    assert got == ("BPL203", "train.py", 3, 9, "error")
    assert d["notebook"] == "notebooks/07_security.ipynb"


def test_sarif_format_structure(bad_project):
    cell = {"cell_type": "code", "source": "import pickle\npickle.load(f)"}
    bad_project("nb.ipynb", json.dumps({"cells": [cell]}))
    proc = run_cli("--format", "sarif", "--no-cache", cwd=bad_project.root)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["version"] == "2.1.0" and "sarif" in doc["$schema"]
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "bplint"
    ids = [r["id"] for r in rules]
    assert ids == sorted(ids) and "BPL203" in ids
    assert all(r["shortDescription"]["text"] and r["help"]["text"] for r in rules)
    assert len(run["results"]) == 5
    for res in run["results"]:
        assert res["ruleId"] in ids and rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning") and res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"]
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
    uri = lambda r: r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]  # noqa: E731
    assert all(uri(r).startswith("file:///") for r in run["results"])
    nb = [r for r in run["results"] if uri(r) == (bad_project.root / "nb.ipynb").as_uri()]
    assert nb[0]["properties"]["cell"] == 1 and nb[0]["properties"]["cellLine"] == 2
    assert nb[0]["message"]["text"].startswith("[cell 1, line 2] ")


def test_github_format(bad_project):
    proc = run_cli("--format", "github", "--no-cache", "train.py", cwd=bad_project.root)
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "::error file=train.py,line=3,col=9,endLine=3,endColumn=27,title=BPL203 unsafe-torch-load"
        "::torch.load() without weights_only=True unpickles the file and can run arbitrary code:"
        " pass weights_only=True or use safetensors")
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)


def test_statistics(bad_project):
    proc = run_cli("--statistics", "--no-cache", cwd=bad_project.root)
    assert proc.returncode == 1
    assert "BPL203\tunsafe-torch-load" in proc.stdout and "Found 4 findings" in proc.stdout


def test_rule_command():
    proc = run_cli("rule", "BPL203")
    assert proc.returncode == 0
    for part in ("unsafe-torch-load", "## What it does", "## Why is this bad?", "## Example", "Use instead",
                 "## How to fix", "notebooks/07_security.ipynb"):
        assert part in proc.stdout
    assert run_cli("rule", "unsafe-torch-load").stdout == proc.stdout
    allr = run_cli("rule", "--all")
    assert allr.returncode == 0 and allr.stdout.count("## What it does") >= 15
    table = run_cli("rules")
    assert table.returncode == 0 and "BPL001" in table.stdout and "BPL303" in table.stdout
    bad = run_cli("rule", "BPL999")
    assert bad.returncode == 2 and "BPL999" in bad.stderr


def test_version_and_bad_option():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("bplint ")
    assert run_cli("--format", "xml").returncode == 2


def test_cache_warm_run_gives_same_results(bad_project):
    root = bad_project.root
    cold = run_cli("--format", "json", cwd=root)
    assert (root / ".bplint_cache").is_dir()
    warm = run_cli("--format", "json", cwd=root)
    assert cold.stdout == warm.stdout and json.loads(warm.stdout)
    # a config change that affects rules must not reuse stale results
    head = '[project]\ndependencies = ["x>=1"]\n[tool.bplint]\n'
    bad_project("pyproject.toml", head + 'pin-policy = "library"\n')
    lib = json.loads(run_cli("--format", "json", cwd=root).stdout)
    bad_project("pyproject.toml", head + 'pin-policy = "application"\n')
    app = json.loads(run_cli("--format", "json", cwd=root).stdout)
    assert "BPL103" not in [d["code"] for d in lib] and "BPL103" in [d["code"] for d in app]


def test_many_files_use_workers_and_match_serial(project):
    for i in range(80):
        project(f"pkg/m{i:02d}.py", "import torch\ntorch.load(p)\n" if i % 2 else "x = 1\n")
    proc = run_cli("--no-cache", "--format", "json", cwd=project.root)
    data = json.loads(proc.stdout)
    assert len(data) == 40 and [d["path"] for d in data] == sorted(d["path"] for d in data)


def test_repo_root_is_importable():
    assert (REPO_ROOT / "bplint" / "cli.py").is_file()


def test_version_and_lint_import_nothing_heavy(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\nfrom transformers import Trainer\nTrainer(model=m).train()\n")
    code = (
        "import sys\n"
        "from bplint.cli import main\n"
        "main(['--version'])\n"
        "assert 'argparse' not in sys.modules and 'ast' not in sys.modules, 'version must stay lazy'\n"
        f"main(['--no-cache', '--exit-zero', {str(script)!r}])\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
