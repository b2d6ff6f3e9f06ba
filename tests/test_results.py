import json

import numpy as np
import pytest

from utils import results


def test_write_and_read_round_trip(tmp_path):
    verdicts = [results.Verdict("bf16 is faster", True, "2.4x"), results.Verdict("x", None, "not run")]
    path = results.write_results(
        "99_demo",
        parameters={"profile": "smoke", "path": tmp_path},
        environment={"device": "cpu"},
        metrics={"accuracy": np.float32(0.5), "steps": np.int64(3)},
        verdicts=verdicts,
        key_figures={"speed-up": "2.4x"},
        output_dir=tmp_path / "out",
    )
    assert path == tmp_path / "out" / "results.json"
    stored = json.loads(path.read_text())
    assert stored["metrics"] == {"accuracy": 0.5, "steps": 3}
    assert stored["parameters"]["path"] == str(tmp_path)
    assert results.read_results(path)["verdicts"] == verdicts


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


def test_verdict_table():
    table = results.verdict_table([results.Verdict("a", True, "e1"), results.Verdict("b", False, "e2")])
    assert table.splitlines()[2:] == ["| a | **held** | e1 |", "| b | **did not hold** | e2 |"]


def test_default_output_dir_is_under_runs():
    assert results.output_dir_for("01_x").parts[-3:] == ("runs", "interactive", "01_x")
