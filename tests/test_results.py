import json

import numpy as np
import pytest

from utils import environment, results, verdicts

CLAIM = verdicts.Claim("speed", "bf16 is faster", "bf16 / fp32 samples/s", 1.5, unit="x")


def write(directory, notebook="99_demo", found=None, profile="smoke", date="2026-11-29T10:00:00+00:00"):
    env = {**environment.capture(), "date": date}
    return results.write_results(
        notebook,
        parameters={"profile": profile},
        environment=env,
        metrics={},
        verdicts=found if found is not None else [verdicts.judge(CLAIM, [2.0, 2.5])],
        key_figures={},
        output_dir=directory,
    )


def test_write_and_read_round_trip(tmp_path):
    found = [
        verdicts.judge(CLAIM, [2.3, 2.5]),
        verdicts.not_tested(verdicts.Claim("x", "s", "v", 1), "no GPU"),
    ]
    path = results.write_results(
        "99_demo",
        parameters={"profile": "smoke", "path": tmp_path},
        environment={"device": "cpu"},
        metrics={"accuracy": np.float32(0.5), "steps": np.int64(3)},
        verdicts=found,
        key_figures={"speed-up": "2.4x"},
        output_dir=tmp_path / "out",
    )
    assert path == tmp_path / "out" / "results.json"
    stored = json.loads(path.read_text())
    assert stored["schema_version"] == results.SCHEMA_VERSION and stored["profile"] == "smoke"
    assert stored["metrics"] == {"accuracy": 0.5, "steps": 3}
    assert stored["parameters"]["path"] == str(tmp_path)
    assert set(stored["verdicts"][0]) >= {"claim", "state", "evidence", "measured", "threshold", "n"}
    assert results.read_results(path)["verdicts"] == found


def test_one_verdict_per_claim(tmp_path):
    with pytest.raises(ValueError, match="repeated ids"):
        write(tmp_path, found=[verdicts.judge(CLAIM, 2.0), verdicts.judge(CLAIM, 1.0)])


def test_other_schema_versions_are_refused(tmp_path):
    path = write(tmp_path)
    document = json.loads(path.read_text())
    document["schema_version"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="schema version 1"):
        results.read_results(path)


def test_unstorable_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store object"):
        results.write_results(
            "99_demo",
            parameters={},
            environment={},
            metrics={"x": object()},
            verdicts=[],
            key_figures={},
            output_dir=tmp_path,
        )


def test_reference_is_the_current_run_else_the_newest_earlier_card(tmp_path):
    assert results.reference_path("99_demo", tmp_path) is None
    for card, date in (("h100", "2026-11-27T00:00:00+00:00"), ("a100", "2026-10-01T00:00:00+00:00")):
        write(tmp_path / card, date=date).rename(tmp_path / card / "99_demo.json")
    assert results.reference_path("99_demo", tmp_path) == tmp_path / "h100" / "99_demo.json"
    write(tmp_path).rename(tmp_path / "99_demo.json")
    assert results.reference_path("99_demo", tmp_path) == tmp_path / "99_demo.json"


def test_reference_column_is_for_smoke_runs_only(tmp_path):
    assert results.reference_verdicts("99_demo", "smoke", tmp_path) == {}  # none committed
    reference = [verdicts.judge(CLAIM, 1.2)]
    write(tmp_path, found=reference, profile="full").rename(tmp_path / "99_demo.json")
    assert results.reference_verdicts("99_demo", "smoke", tmp_path) == {"speed": reference[0]}
    assert results.reference_verdicts("99_demo", "full", tmp_path) is None
    assert results.reference_verdicts("99_demo", "multi", tmp_path) is None


def test_smoke_verdict_section_says_what_it_checks_and_shows_the_reference(tmp_path):
    reference = [verdicts.judge(CLAIM, 1.2)]
    write(tmp_path, found=reference, profile="full").rename(tmp_path / "99_demo.json")
    found = [verdicts.judge(CLAIM, 2.0)]
    section = results.verdict_section("99_demo", found, environment.capture(), "smoke", tmp_path)
    assert results.SMOKE_BANNER in section
    assert "1 held, 0 not held, 0 not tested" in section
    assert "| bf16 is faster | **held** | not held |" in section
    assert f"Reference run: {environment.describe(environment.capture())}." in section
    full = results.verdict_section("99_demo", found, environment.capture(), "full", tmp_path)
    assert results.SMOKE_BANNER not in full and "reference run" not in full.lower()
    alone = results.verdict_section("98_new", found, environment.capture(), "smoke", tmp_path)
    assert "| bf16 is faster | **held** | no reference |" in alone and "Reference run:" not in alone


def test_committed_reference_results_are_readable_and_name_their_commit(repo_root):
    paths = sorted((repo_root / "results").glob("**/*.json"))
    assert paths
    for path in paths:
        document = results.read_results(path)
        assert document["environment"]["git_commit"], path
        assert all(v.state in verdicts.STATES for v in document["verdicts"]), path


def test_default_output_dir_is_under_runs():
    assert results.output_dir_for("01_x").parts[-3:] == ("runs", "interactive", "01_x")
