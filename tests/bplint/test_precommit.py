"""The pre-commit hook, for real: `pre-commit try-repo` against this repository's working tree."""

import os
import shutil
import subprocess
import sys

import pytest
from bplint_testutil import REPO_ROOT

pytestmark = pytest.mark.slow


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pre_commit_hook_fails_then_passes(tmp_path):
    repo = tmp_path / "user-repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    script = repo / "train.py"
    script.write_text("import torch\nstate = torch.load('ckpt.pt')\n")
    (repo / "requirements.txt").write_text("torch==2.13.0\n")
    (repo / "README.md").write_text("not linted\n")
    _git(repo, "add", "-A")

    env = dict(os.environ)
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(REPO_ROOT), "bplint", "--all-files"]

    failed = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "bplint" in out and "Failed" in out
    assert "train.py:2:9: BPL203" in out
    assert "Traceback" not in out

    script.write_text("import torch\nstate = torch.load('ckpt.pt', weights_only=True)\n")
    _git(repo, "add", "-A")
    passed = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    out = passed.stdout + passed.stderr
    assert passed.returncode == 0, out
    assert "Passed" in out
