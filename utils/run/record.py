"""The record of a run directory, ``run.json``: the profile and overrides, and each notebook's outcome.

It lets a later command add to a run: ``--rerun-failed`` runs the notebooks that failed or are
missing there, and ``--report`` renders the summary and HTML report again without running anything.
"""

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

from utils import REPO_ROOT
from utils.run.execution import RAN, Outcome

RECORD_FILE = "run.json"
RUNS_DIR = REPO_ROOT / "runs"


@dataclass
class RunRecord:
    profile: str
    overrides: dict
    started: str = field(default_factory=lambda: datetime.datetime.now().isoformat(timespec="seconds"))
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by notebook stem

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.notebook.stem] = outcome

    def ordered(self) -> list[Outcome]:
        return [self.outcomes[stem] for stem in sorted(self.outcomes)]

    def succeeded(self, stem: str) -> bool:
        outcome = self.outcomes.get(stem)
        return outcome is not None and outcome.status == RAN

    def save(self, run_dir: Path) -> None:
        document = {
            "profile": self.profile,
            "overrides": self.overrides,
            "started": self.started,
            "notebooks": {
                stem: _relative(outcome.to_json(), run_dir) for stem, outcome in self.outcomes.items()
            },
        }
        (run_dir / RECORD_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> "RunRecord | None":
        path = run_dir / RECORD_FILE
        if not path.is_file():
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
        outcomes = {
            stem: Outcome.from_json(_absolute(entry, run_dir))
            for stem, entry in document["notebooks"].items()
        }
        return cls(document["profile"], document["overrides"], document["started"], outcomes)


def _relative(entry: dict, run_dir: Path) -> dict:
    """Paths inside the run directory or the repository stored relative to them, so both can move."""
    entry = dict(entry)
    for key in ("executed", "output_dir"):
        path = Path(entry[key])
        entry[key] = str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)
    notebook = Path(entry["notebook"])
    entry["notebook"] = (
        str(notebook.relative_to(REPO_ROOT)) if notebook.is_relative_to(REPO_ROOT) else str(notebook)
    )
    return entry


def _absolute(entry: dict, run_dir: Path) -> dict:
    entry = dict(entry)
    for key in ("executed", "output_dir"):
        entry[key] = str(run_dir / entry[key])
    entry["notebook"] = str(REPO_ROOT / entry["notebook"])
    return entry


def latest_run(runs_dir: Path = RUNS_DIR) -> Path | None:
    """The run directory under ``runs_dir`` whose record started last, or None."""
    runs = [path.parent for path in runs_dir.glob(f"*/{RECORD_FILE}")]
    return max(runs, key=lambda run: RunRecord.load(run).started, default=None)
