import json
import subprocess

import pytest

from utils import environment


def test_capture_is_json_ready_and_complete():
    env = environment.capture(seed=3)
    json.dumps(env)
    assert env["seed"] == 3
    assert env["device"] in ("cpu", "cuda")
    assert env["libraries"]["torch"] and env["libraries"]["transformers"]
    assert env["python"].count(".") == 2


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A one-commit git repository standing in for the project checkout."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "tracked.txt").write_text("one\n")
    subprocess.run([*git, "add", "tracked.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    monkeypatch.setattr(environment, "REPO_ROOT", tmp_path)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return tmp_path, head.stdout.strip()


def test_git_state_is_the_full_commit_of_a_clean_tree(checkout):
    _, head = checkout
    assert environment.git_state() == (head, False)
    assert len(head) == 40


def test_git_state_sees_changed_tracked_files_but_not_untracked_ones(checkout):
    root, head = checkout
    (root / "untracked.txt").write_text("new\n")
    assert environment.git_state() == (head, False)
    (root / "tracked.txt").write_text("two\n")
    assert environment.git_state() == (head, True)


def test_git_state_outside_a_checkout_falls_back_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("BP_GIT_COMMIT", "a" * 40)
    assert environment.git_state() == ("a" * 40, None)


def test_describe_names_hardware_versions_date_and_commit():
    env = environment.capture()
    env.update(git_commit="0123456789abcdef" * 2 + "01234567", git_dirty=True)
    line = environment.describe(env)
    assert env["libraries"]["transformers"] in line
    assert env["date"][:10] in line
    assert (env["gpu"] or "CPU") in line
    assert "commit 0123456789ab with uncommitted changes" in line
