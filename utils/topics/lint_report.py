"""Run bplint as a user does and read its findings; the insecure and fixed samples of notebook 07.

``python -m bplint --format json`` prints a list of findings, each with ``code``, ``name``,
``severity``, ``message``, ``path``, ``cell``, ``line``, ``column``, ``end_line``, ``end_column``
and ``notebook`` (where the pitfall is demonstrated). ``run_bplint`` reports a linter that is
missing or fails instead of raising, so a notebook can record its check as not tested.

bplint honours the ``exclude`` settings of the project it lints, also for files named on the command
line: a sample written under an excluded folder (this repository excludes ``runs/``) is skipped
without a word. :func:`check_security_samples` therefore writes its samples to a new temporary
folder outside the repository, and lints that folder the way a user would.
"""

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from utils import REPO_ROOT

FINDING_KEYS = ("code", "name", "severity", "message", "path", "cell", "line", "column")


@dataclass
class LintRun:
    available: bool
    exit_code: int | None
    findings: list[dict] = field(default_factory=list)
    error: str | None = None


def parse_findings(text: str) -> list[dict]:
    """The findings of bplint's JSON output; ``ValueError`` for anything bplint does not print."""
    document = json.loads(text)
    if not isinstance(document, list):
        raise ValueError(f"expected a list of findings, got {type(document).__name__}")
    for finding in document:
        missing = [key for key in FINDING_KEYS if not isinstance(finding, dict) or key not in finding]
        if missing:
            raise ValueError(f"a finding without {', '.join(missing)}: {finding!r}")
    return document


def run_bplint(
    paths: list[str | Path], *, extra_args: tuple[str, ...] = ("--no-cache",), timeout: float = 120
) -> LintRun:
    """``python -m bplint --format json PATHS`` with this interpreter; exit 0 means clean, 1 findings.

    It runs from the repository root, so the repository's own bplint is the one imported.
    """
    command = [sys.executable, "-m", "bplint", "--format", "json", *extra_args, *map(str, paths)]
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return LintRun(False, None, error=f"{type(error).__name__}: {error}")
    if done.returncode not in (0, 1):
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return LintRun(False, done.returncode, error=message[-1] if message else f"exit {done.returncode}")
    try:
        findings = parse_findings(done.stdout)
    except ValueError as error:  # json.JSONDecodeError included
        return LintRun(False, done.returncode, error=f"output is not bplint JSON: {error}")
    return LintRun(True, done.returncode, findings)


# A token-shaped string, assembled at run time so that no source file holds one.
FAKE_TOKEN = "hf_" + "Xq7" * 12
# One line per seeded pitfall of the insecure sample.
PITFALLS = {
    "hard-coded token": f'HF_TOKEN = "{FAKE_TOKEN}"',
    "torch.load(weights_only=False)": 'state = torch.load("pytorch_model.bin", weights_only=False)',
    "pickle.load": 'features = pickle.load(open("features.pkl", "rb"))',
    "trust_remote_code=True": 'config = AutoConfig.from_pretrained("org/model", trust_remote_code=True)',
    "branch as revision": 'model = AutoModel.from_pretrained("org/model", revision="main", token=HF_TOKEN)',
}
INSECURE = "\n".join(
    [
        '"""Loads a model (insecurely)."""',
        "import pickle",
        "",
        "import torch",
        "from transformers import AutoConfig, AutoModel",
        "",
        *PITFALLS.values(),
        "",
    ]
)


def fixed_sample(commit: str) -> str:
    """The insecure sample with every pitfall fixed; ``commit`` is the full hash it pins."""
    return "\n".join(
        [
            '"""Loads a model (securely)."""',
            "import json",
            "import os",
            "",
            "from safetensors.torch import load_file",
            "from transformers import AutoConfig, AutoModel",
            "",
            f"REVISION = {commit!r}  # a full commit hash",
            'HF_TOKEN = os.environ.get("HF_TOKEN")',
            'state = load_file("model.safetensors")',
            'features = json.loads(open("features.json").read())',
            'config = AutoConfig.from_pretrained("org/model", revision=REVISION)',
            'model = AutoModel.from_pretrained("org/model", revision=REVISION, token=HF_TOKEN)',
            "",
        ]
    )


@dataclass
class SampleCheck:
    """bplint's findings on the two samples, one row per seeded pitfall."""

    folder: Path
    run: LintRun
    rows: list[dict]
    insecure: list[dict]
    fixed: list[dict]

    @property
    def missed(self) -> list[str]:
        return [row["pitfall"] for row in self.rows if not row["found"]]


def check_security_samples(commit: str, folder: Path | None = None) -> SampleCheck:
    """Write the insecure and the fixed sample into ``folder`` (default: a new temporary folder outside
    the repository) and lint the folder with one ``python -m bplint --format json --no-cache FOLDER``.

    A pitfall counts as found when bplint reports a finding on its line. Both samples sit in one
    folder and are linted by one run, so an exclusion that hid one would hide both.
    """
    folder = Path(folder or tempfile.mkdtemp(prefix="bplint-samples-"))
    folder.mkdir(parents=True, exist_ok=True)
    insecure_path, fixed_path = folder / "sample_insecure.py", folder / "sample_fixed.py"
    insecure_path.write_text(INSECURE)
    fixed_path.write_text(fixed_sample(commit))
    run = run_bplint([folder])
    by_file = {
        path: [f for f in run.findings if Path(f["path"]).resolve() == path.resolve()]
        for path in (insecure_path, fixed_path)
    }
    lines = INSECURE.splitlines()
    rows = []
    for pitfall, line in PITFALLS.items():
        number = lines.index(line) + 1
        codes = sorted({f["code"] for f in by_file[insecure_path] if f["line"] == number})
        rows.append({"pitfall": pitfall, "line": number, "found": bool(codes), "codes": ", ".join(codes)})
    return SampleCheck(folder, run, rows, by_file[insecure_path], by_file[fixed_path])
