import numpy as np
import pytest

from utils import verdicts
from utils.verdicts import HELD, NOT_HELD, NOT_TESTED, Claim

SPEED = Claim("bf16_speed", "bf16 trains faster", "bf16 / fp32 samples/s", 1.5, ">=", "x")
LOSS = Claim("initial_loss", "initial loss near ln 5", "relative gap to ln 5", 0.1, "<=", digits=3)


def test_mean_on_the_claimed_side_holds_and_the_other_side_does_not():
    assert verdicts.judge(SPEED, [1.6, 1.7, 1.8]).state == HELD
    assert verdicts.judge(SPEED, [1.2, 1.3]).state == NOT_HELD
    assert verdicts.judge(LOSS, 0.02).state == HELD
    assert verdicts.judge(LOSS, 0.2).state == NOT_HELD


def test_threshold_itself_counts_as_claimed_for_inclusive_directions():
    assert verdicts.judge(SPEED, 1.5).state == HELD
    assert verdicts.judge(Claim("x", "s", "v", 1.5, ">"), 1.5).state == NOT_HELD


def test_repetitions_on_both_sides_are_within_noise_and_say_so():
    verdict = verdicts.judge(SPEED, [1.45, 1.52, 1.58], explanation="host-bound")
    assert verdict.state == HELD and verdict.within_noise
    assert "within noise" in verdict.evidence
    assert "range 1.45x to 1.58x" in verdict.evidence
    assert verdict.explanation == "host-bound"


def test_explanation_is_kept_only_where_the_claim_failed_or_is_within_noise():
    assert verdicts.judge(SPEED, [2.0, 2.1], explanation="unused").explanation == ""
    assert verdicts.judge(SPEED, [1.0, 1.1], explanation="host-bound").explanation == "host-bound"


def test_evidence_and_stored_values():
    verdict = verdicts.judge(SPEED, [1.6, 1.8], context="accuracy 0.97 vs 0.97", detail={"arms": 2})
    assert verdict.evidence == (
        "bf16 / fp32 samples/s: 1.70x (mean of 2, range 1.60x to 1.80x), needed ≥ 1.50x; "
        "accuracy 0.97 vs 0.97"
    )
    assert verdict.measured == {
        "statistic": "bf16 / fp32 samples/s",
        "mean": pytest.approx(1.7),
        "values": [1.6, 1.8],
        "arms": 2,
    }
    assert (verdict.n, verdict.threshold) == (2, "≥ 1.50x")


def test_numpy_scalars_and_arrays_are_measured_values():
    assert verdicts.judge(LOSS, np.float64(0.05)).n == 1
    assert verdicts.judge(SPEED, np.array([1.6, 1.7])).n == 2


def test_a_single_run_is_never_within_noise():
    verdict = verdicts.judge(SPEED, 1.49)
    assert not verdict.within_noise and verdict.n == 1 and "mean of" not in verdict.evidence


def test_not_tested_is_its_own_state():
    verdict = verdicts.not_tested(SPEED, "TF32 needs an NVIDIA GPU")
    assert (verdict.state, verdict.n, verdict.evidence) == (NOT_TESTED, 0, "TF32 needs an NVIDIA GPU")


@pytest.mark.parametrize("measured", [[], [float("nan")], [1.0, float("nan")]])
def test_missing_or_nan_values_are_refused(measured):
    with pytest.raises(ValueError):
        verdicts.judge(SPEED, measured)


def test_claims_are_validated():
    with pytest.raises(ValueError, match="direction"):
        Claim("x", "s", "v", 1.0, "=>")
    with pytest.raises(ValueError, match="claim id"):
        Claim("two words", "s", "v", 1.0)
    with pytest.raises(ValueError, match="unique"):
        verdicts.claims(SPEED, SPEED)
    with pytest.raises(ValueError, match="state"):
        verdicts.Verdict("x", "s", "maybe", "e", {}, "≥ 1", 1)


def test_counts_and_table():
    found = [verdicts.judge(SPEED, 2.0), verdicts.judge(LOSS, 0.5, explanation="head too confident")]
    assert verdicts.counts(found) == {HELD: 1, NOT_HELD: 1, NOT_TESTED: 0}
    rows = verdicts.table(found, reference={"bf16_speed": verdicts.judge(SPEED, 1.0)}).splitlines()
    assert rows[0] == "| claim | verdict | reference run | evidence |"
    assert rows[2].startswith("| bf16 trains faster | **held** | not held | bf16 / fp32 samples/s: 2.00x")
    assert rows[3].startswith("| initial loss near ln 5 | **not held** | no reference |")
    assert rows[3].endswith(". *Why:* head too confident |")
