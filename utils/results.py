"""Machine-readable results of a notebook run, and the verdicts it reached."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from utils import REPO_ROOT

RESULTS_FILE = "results.json"


@dataclass
class Verdict:
    """A claim under test and what the measurements said about it (``held`` is None if untested)."""

    claim: str
    held: bool | None
    evidence: str

    @property
    def status(self) -> str:
        return {True: "held", False: "did not hold", None: "not tested"}[self.held]


def verdict_table(verdicts: list[Verdict]) -> str:
    """The verdicts as a Markdown table."""
    rows = ["| claim | verdict | evidence |", "| --- | --- | --- |"]
    rows += [f"| {v.claim} | **{v.status}** | {v.evidence} |" for v in verdicts]
    return "\n".join(rows)


def output_dir_for(notebook: str, output_dir: str | Path | None = None) -> Path:
    """``output_dir``, or ``runs/interactive/<notebook>`` for a run outside the runner."""
    return Path(output_dir) if output_dir else REPO_ROOT / "runs" / "interactive" / notebook


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in results.json")


def write_results(
    notebook: str,
    *,
    parameters: dict[str, Any],
    environment: dict[str, Any],
    metrics: dict[str, Any],
    verdicts: list[Verdict],
    key_figures: dict[str, str],
    output_dir: str | Path | None = None,
) -> Path:
    """Write ``results.json`` (parameters, environment, metrics, verdicts, key figures); return its path.

    ``key_figures`` are the few headline numbers, already formatted, that the suite summary lists.
    """
    directory = output_dir_for(notebook, output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS_FILE
    document = {
        "notebook": notebook,
        "parameters": parameters,
        "environment": environment,
        "metrics": metrics,
        "verdicts": [asdict(verdict) for verdict in verdicts],
        "key_figures": key_figures,
    }
    path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    document["verdicts"] = [Verdict(**verdict) for verdict in document["verdicts"]]
    return document
