"""Machine-readable results of a notebook run, the reference runs they are compared with, and the
verdict section of a notebook.

``results.json`` (schema version 2) holds the parameters, the environment (hardware, versions, full
git commit), the metrics, one entry per claim (see :mod:`utils.verdicts`) and a few key figures.
Reference runs are committed as ``results/NN_topic.json``; those of earlier cards stay in
``results/<card>/`` (for example ``results/h100/``).
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

from utils import REPO_ROOT, environment
from utils.verdicts import Verdict, counts, table

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 2
REFERENCE_DIR = REPO_ROOT / "results"
SMOKE_BANNER = (
    "**Smoke profile:** tiny settings on a CPU check that the code runs; these verdicts are not "
    "evidence for or against the claims. The reference column is the committed GPU run."
)


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
    """Write ``results.json``; return its path.

    ``key_figures`` are the few headline numbers, already formatted, that the suite summary lists.
    """
    ids = [verdict.id for verdict in verdicts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"each claim gets one verdict; repeated ids in {ids}")
    directory = output_dir_for(notebook, output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS_FILE
    document = {
        "schema_version": SCHEMA_VERSION,
        "notebook": notebook,
        "profile": parameters.get("profile"),
        "parameters": parameters,
        "environment": environment,
        "metrics": metrics,
        "verdicts": [dataclasses.asdict(verdict) for verdict in verdicts],
        "key_figures": key_figures,
    }
    path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """A ``results.json`` with its verdicts as :class:`~utils.verdicts.Verdict` objects."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: results schema version {version!r}, this code reads {SCHEMA_VERSION}")
    document["verdicts"] = [Verdict(**verdict) for verdict in document["verdicts"]]
    return document


def reference_path(notebook: str, reference_dir: Path = REFERENCE_DIR) -> Path | None:
    """The committed reference run of ``notebook``: ``results/<notebook>.json``, else the newest run of
    an earlier card under ``results/<card>/``; ``None`` if there is none."""
    current = reference_dir / f"{notebook}.json"
    if current.is_file():
        return current
    earlier = [path for path in reference_dir.glob(f"*/{notebook}.json") if path.is_file()]
    return max(earlier, key=lambda path: read_results(path)["environment"]["date"], default=None)


def _reference_run(notebook: str, reference_dir: Path) -> dict[str, Any] | None:
    path = reference_path(notebook, reference_dir)
    return read_results(path) if path else None


def _verdicts_by_id(document: dict[str, Any] | None) -> dict[str, Verdict]:
    return {verdict.id: verdict for verdict in document["verdicts"]} if document else {}


def reference_verdicts(
    notebook: str, profile: str, reference_dir: Path = REFERENCE_DIR
) -> dict[str, Verdict] | None:
    """The reference column of a verdict table: for a smoke run, the committed reference run's verdicts
    by claim id (empty where none is committed); None for other profiles, whose verdicts stand on their
    own."""
    if profile != "smoke":
        return None
    return _verdicts_by_id(_reference_run(notebook, reference_dir))


def verdict_section(
    notebook: str,
    verdicts: list[Verdict],
    env: dict[str, Any],
    profile: str,
    reference_dir: Path = REFERENCE_DIR,
) -> str:
    """The Markdown of a notebook's verdict cell: where it ran, the counts and the table.

    A smoke run says that it checks the code path only and shows the reference run's states beside
    its own.
    """
    tally = ", ".join(f"{n} {state}" for state, n in counts(verdicts).items())
    lines = [f"Measured on **{environment.describe(env)}**, profile `{profile}`: {tally}.", ""]
    reference = None
    if profile == "smoke":
        lines += [SMOKE_BANNER, ""]
        document = _reference_run(notebook, reference_dir)  # read once: its verdicts and its machine
        reference = _verdicts_by_id(document)
        if document is not None:
            lines += [f"Reference run: {environment.describe(document['environment'])}.", ""]
    return "\n".join([*lines, table(verdicts, reference)])
