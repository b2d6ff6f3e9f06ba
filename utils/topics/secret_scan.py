"""Secrets stay in the environment: read them from ``os.environ`` and check that none leaked into text.

``find_secrets`` recognises the common token formats (Hugging Face, GitHub, OpenAI-style, AWS access
keys, private-key blocks); ``scan_notebook`` applies it to a notebook's sources and stored outputs.
Findings are returned redacted, so printing them does not leak what they found.
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
    "OpenAI-style key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
}


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    redacted: str


def redact(secret: str) -> str:
    """The first four characters and the length: enough to recognise a token, not to use it."""
    return f"{secret[:4]}… ({len(secret)} characters)"


def find_secrets(text: str, where: str = "") -> list[Finding]:
    return [
        Finding(kind, where, redact(match.group(0)))
        for kind, pattern in PATTERNS.items()
        for match in pattern.finditer(text)
    ]


def token_from_env(name: str = "HF_TOKEN") -> str | None:
    """The secret in environment variable ``name`` (None when unset or empty); never log the value."""
    return os.environ.get(name) or None


def _output_texts(output: dict) -> list[str]:
    texts = []
    if "text" in output:
        texts.append(output["text"])
    if "traceback" in output:
        texts.extend(output["traceback"])
    for value in output.get("data", {}).values():
        texts.append(value if isinstance(value, str) else json.dumps(value))
    return ["".join(text) if isinstance(text, list) else str(text) for text in texts]


def scan_notebook(path: str | Path) -> list[Finding]:
    """Secrets in the sources and stored outputs of the notebook at ``path``."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    findings = []
    for index, cell in enumerate(notebook.get("cells", [])):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        findings += find_secrets(source, f"cell {index} source")
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                findings += find_secrets(text, f"cell {index} output")
    return findings
