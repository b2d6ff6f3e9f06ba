"""Claims as data, and the verdict a run reaches on each.

A notebook declares its claims before it measures: what is stated, the statistic that tests it, the
threshold and its direction. After the experiments, :func:`judge` turns the measured values of the
statistic (one per repetition) into a :class:`Verdict` with exactly one of three states:

- ``held``: the statistic's mean is on the claimed side of the threshold;
- ``not held``: it is not;
- ``not tested``: nothing was measured (an arm skipped on this device, a GPU count not present).

Where repetitions exist, the spread is reported, and a verdict whose repetitions fall on both sides
of the threshold is marked *within noise*: its state follows the mean, and its evidence says that
the repetitions disagree. A failed verdict carries an explanation computed from the measurements.
"""

import dataclasses
import math
import numbers
import operator
import statistics
from collections.abc import Sequence
from typing import Any

HELD, NOT_HELD, NOT_TESTED = "held", "not held", "not tested"
STATES = (HELD, NOT_HELD, NOT_TESTED)
_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A falsifiable statement: ``statistic`` compared with ``threshold`` by ``direction``.

    ``unit`` follows each formatted number (``"x"``, ``" points"``); ``digits`` is the number of
    decimals shown. ``id`` names the claim across runs, cards and notebook versions.
    """

    id: str
    statement: str
    statistic: str
    threshold: float
    direction: str = ">="
    unit: str = ""
    digits: int = 2

    def __post_init__(self):
        if self.direction not in _COMPARE:
            raise ValueError(f"direction must be one of {', '.join(_COMPARE)}, not {self.direction!r}")
        if not self.id.replace("_", "").isalnum():
            raise ValueError(f"claim id {self.id!r}: use letters, digits and underscores")

    def passes(self, value: float) -> bool:
        return _COMPARE[self.direction](value, self.threshold)

    def format(self, value: float) -> str:
        return f"{value:.{self.digits}f}{self.unit}"

    @property
    def bar(self) -> str:
        """The threshold as text, e.g. ``≥ 1.50x``."""
        return f"{_SYMBOL[self.direction]} {self.format(self.threshold)}"


@dataclasses.dataclass
class Verdict:
    """One claim's outcome, as stored in ``results.json`` and shown in the verdict table."""

    id: str
    claim: str
    state: str
    evidence: str
    measured: dict[str, Any]
    threshold: str
    n: int
    explanation: str = ""
    within_noise: bool = False

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {self.state!r}")


def claims(*declared: Claim) -> dict[str, Claim]:
    """The notebook's claims by id, in order; ids must be unique."""
    by_id = {claim.id: claim for claim in declared}
    if len(by_id) != len(declared):
        raise ValueError("claim ids must be unique")
    return by_id


def _values(measured: float | Sequence[float]) -> list[float]:
    values = [float(measured)] if isinstance(measured, numbers.Real) else [float(v) for v in measured]
    if not values:
        raise ValueError("no measured values: use not_tested() for a claim that did not run")
    if any(math.isnan(v) for v in values):
        raise ValueError(f"measured values contain NaN: {values}")
    return values


def judge(
    claim: Claim,
    measured: float | Sequence[float],
    *,
    context: str = "",
    explanation: str = "",
    detail: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict on ``claim`` from the statistic's values, one per repetition.

    ``context`` is a short clause of supporting numbers for the evidence; ``explanation`` says, from
    the measurements, what limited a claim that did not hold (shown only then); ``detail`` is stored
    with the measured values.
    """
    values = _values(measured)
    mean = statistics.fmean(values)
    state = HELD if claim.passes(mean) else NOT_HELD
    low, high = min(values), max(values)
    within_noise = len(values) > 1 and claim.passes(low) != claim.passes(high)
    evidence = f"{claim.statistic}: {claim.format(mean)}"
    if len(values) > 1:
        evidence += f" (mean of {len(values)}, range {claim.format(low)} to {claim.format(high)})"
    evidence += f", needed {claim.bar}"
    if within_noise:
        evidence += "; within noise: the repetitions fall on both sides of the threshold"
    if context:
        evidence += f"; {context}"
    return Verdict(
        id=claim.id,
        claim=claim.statement,
        state=state,
        evidence=evidence,
        measured={"statistic": claim.statistic, "mean": mean, "values": values, **(detail or {})},
        threshold=claim.bar,
        n=len(values),
        explanation=explanation if state == NOT_HELD or within_noise else "",
        within_noise=within_noise,
    )


def not_tested(claim: Claim, reason: str) -> Verdict:
    """The verdict on a claim whose experiment did not run here; ``reason`` says why."""
    return Verdict(
        id=claim.id,
        claim=claim.statement,
        state=NOT_TESTED,
        evidence=reason,
        measured={"statistic": claim.statistic},
        threshold=claim.bar,
        n=0,
    )


def counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts are in each state."""
    return {state: sum(v.state == state for v in verdicts) for state in STATES}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(verdicts: Sequence[Verdict], reference: dict[str, Verdict] | None = None) -> str:
    """The verdicts as a Markdown table; with ``reference`` (by claim id), a column of its states."""
    header = ["claim", "verdict"] + (["reference run"] if reference is not None else []) + ["evidence"]
    rows = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for verdict in verdicts:
        state = f"**{verdict.state}**" + (" (within noise)" if verdict.within_noise else "")
        evidence = verdict.evidence + (f". *Why:* {verdict.explanation}" if verdict.explanation else "")
        cells = [verdict.claim, state]
        if reference is not None:
            known = reference.get(verdict.id)
            cells.append(known.state if known else "no reference")
        rows.append("| " + " | ".join(_cell(c) for c in [*cells, evidence]) + " |")
    return "\n".join(rows)
