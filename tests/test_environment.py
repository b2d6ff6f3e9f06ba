import json
import subprocess

from utils import REPO_ROOT, environment


def test_capture_is_json_ready_and_complete():
    env = environment.capture(seed=3)
    json.dumps(env)
    assert env["seed"] == 3
    assert env["device"] in ("cpu", "cuda")
    assert env["libraries"]["torch"] and env["libraries"]["transformers"]
    assert env["python"].count(".") == 2


def test_git_commit_matches_the_checkout():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        return  # not a git checkout: covered by the fallback test
    assert environment.git_commit().startswith(head.stdout.strip())


def test_git_commit_falls_back_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("BP_GIT_COMMIT", "abc1234")
    assert environment.git_commit() == "abc1234"


def test_describe_names_hardware_versions_and_date():
    env = environment.capture()
    line = environment.describe(env)
    assert env["libraries"]["transformers"] in line
    assert env["date"][:10] in line
    assert (env["gpu"] or "CPU") in line
