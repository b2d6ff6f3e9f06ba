"""bplint is clean on this repository's own code, notebooks and configuration."""

import json

from bplint_testutil import REPO_ROOT, run_cli

FIXTURES = REPO_ROOT / "tests" / "bplint" / "fixtures"


def test_repository_is_clean():
    wanted = ("bplint", "utils", "notebooks", "tests", "benchmarks", "pyproject.toml", "constraints.txt")
    targets = [p for p in wanted if (REPO_ROOT / p).exists()]
    proc = run_cli("--no-cache", *targets, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All checks passed" in proc.stdout
    # the whole tree too (fixtures are excluded by [tool.bplint] extend-exclude)
    assert run_cli("--no-cache", cwd=REPO_ROOT).returncode == 0


def test_fixtures_are_bad_when_linted_on_their_own():
    whole = [str(FIXTURES / name) for name in ("bad_train.py", "bad_loop.ipynb", "requirements.txt")]
    proc = run_cli("--no-cache", "--format", "json", "--config", str(FIXTURES / "bplint.toml"), *whole,
                   cwd=REPO_ROOT)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    got = sorted({(d["path"].rsplit("/", 1)[-1], d["code"], d["cell"], d["line"]) for d in data})
    assert got == [
        ("bad_loop.ipynb", "BPL001", 4, 4),
        ("bad_loop.ipynb", "BPL102", 2, 1),
        ("bad_loop.ipynb", "BPL303", 4, 4),
        ("bad_loop.ipynb", "BPL603", 4, 5),
        ("bad_train.py", "BPL001", None, 19),
        ("bad_train.py", "BPL201", None, 13),
        ("bad_train.py", "BPL202", None, 12),
        ("bad_train.py", "BPL202", None, 13),
        ("bad_train.py", "BPL203", None, 14),
        ("bad_train.py", "BPL204", None, 16),
        ("bad_train.py", "BPL205", None, 20),
        ("bad_train.py", "BPL301", None, 17),
        ("bad_train.py", "BPL302", None, 21),
        ("bad_train.py", "BPL405", None, 18),
        ("requirements.txt", "BPL101", None, 1),
    ]
