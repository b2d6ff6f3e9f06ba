"""Claim by claim, a new run's verdicts next to a reference run's, and the claims whose state flipped."""

from dataclasses import dataclass

from utils.verdicts import Verdict


@dataclass(frozen=True)
class Comparison:
    id: str
    claim: str
    reference: Verdict | None
    new: Verdict | None

    @property
    def flipped(self) -> bool:
        return self.reference is not None and self.new is not None and self.reference.state != self.new.state


def _value(verdict: Verdict | None) -> str:
    if verdict is None:
        return "absent"
    mean = verdict.measured.get("mean")
    return verdict.state if mean is None else f"{verdict.state} ({mean:.3g})"


def compare(reference: list[Verdict], new: list[Verdict]) -> list[Comparison]:
    """Pairs of verdicts by claim id, in the new run's order, then claims only the reference has."""
    old = {verdict.id: verdict for verdict in reference}
    rows = [Comparison(v.id, v.claim, old.get(v.id), v) for v in new]
    seen = {v.id for v in new}
    rows += [Comparison(v.id, v.claim, v, None) for v in reference if v.id not in seen]
    return rows


def comparison_table(rows: list[Comparison], reference_name: str, new_name: str) -> str:
    """The comparison as a Markdown table, flips marked."""
    lines = [
        f"| claim | {reference_name} | {new_name} | flipped |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        flip = "**yes**" if row.flipped else ""
        lines.append(f"| {row.claim} | {_value(row.reference)} | {_value(row.new)} | {flip} |")
    return "\n".join(lines)
