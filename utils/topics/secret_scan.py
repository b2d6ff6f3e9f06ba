"""Secrets stay in the environment: read them from ``os.environ`` and check that none leaked into text.

``find_secrets`` recognises the common token formats (Hugging Face, GitHub, OpenAI-style, AWS access
keys, private-key blocks); ``scan_notebook`` applies it to a notebook's sources and stored outputs
(printed streams, displays, results and errors); :class:`KernelOutputs` records everything a running
notebook kernel sends to the page, so a notebook can scan what its readers will see. Findings are
returned redacted, so printing them does not leak what they found.
"""

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bplint.secrets import HF_TOKEN_PATTERN

PATTERNS = {
    "Hugging Face token": HF_TOKEN_PATTERN,  # the pattern bplint's hard-coded-token rule uses
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


def find_secrets(text: str, where: str = "", known: tuple[str, ...] = ()) -> list[Finding]:
    """Token-shaped strings in ``text``, and any of the ``known`` secret values (say, the token this
    process was given), whatever their shape."""
    found = [
        Finding(kind, where, redact(match.group(0)))
        for kind, pattern in PATTERNS.items()
        for match in pattern.finditer(text)
    ]
    return found + [
        Finding("known secret", where, redact(value)) for value in known if value and value in text
    ]


def token_from_env(name: str = "HF_TOKEN") -> str | None:
    """The secret in environment variable ``name`` (None when unset or empty); never log the value."""
    return os.environ.get(name) or None


# Jupyter messages that put something on the page: printed text, displays, results and errors.
OUTPUT_MESSAGES = ("stream", "display_data", "update_display_data", "execute_result", "error")


def _output_texts(output: dict) -> list[str]:
    """The texts of one notebook output (or of the content of an output message)."""
    texts = []
    if "text" in output:
        texts.append(output["text"])
    if "traceback" in output:
        texts.extend(output["traceback"])
    if "evalue" in output:
        texts.append(output["evalue"])
    for value in output.get("data", {}).values():
        texts.append(value if isinstance(value, str) else json.dumps(value))
    return ["".join(text) if isinstance(text, list) else str(text) for text in texts]


def scan_notebook(path: str | Path, known: tuple[str, ...] = ()) -> list[Finding]:
    """Secrets in the sources and stored outputs of the notebook at ``path``."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    findings = []
    for index, cell in enumerate(notebook.get("cells", [])):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        findings += find_secrets(source, f"cell {index} source", known)
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                findings += find_secrets(text, f"cell {index} output", known)
    return findings


@dataclass
class KernelOutputs:
    """What this notebook kernel sends to the page from :meth:`start` on: every output message
    (stream, display, result, error) as its type and texts.

    Printed text, displays, results and tracebacks all leave an IPython kernel through one
    ``Session.send``; recording there sees exactly what a reader of the executed notebook sees.
    Outside a kernel (plain Python, a test) :attr:`available` stays ``False``.
    """

    messages: list[tuple[str, list[str]]] = field(default_factory=list)
    available: bool = False
    _session: object = None

    def start(self) -> "KernelOutputs":
        try:
            from IPython import get_ipython
        except ImportError:
            return self
        shell = get_ipython()
        session = getattr(getattr(shell, "displayhook", None), "session", None)
        if session is None or not callable(getattr(session, "send", None)):
            return self
        send = session.send

        def recording_send(stream, msg_or_type, content=None, *args, **kwargs):
            if isinstance(msg_or_type, dict):
                kind, body = msg_or_type["header"]["msg_type"], msg_or_type["content"]
            else:
                kind, body = msg_or_type, content or {}
            if kind in OUTPUT_MESSAGES:
                self.messages.append((kind, _output_texts(body)))
            return send(stream, msg_or_type, content, *args, **kwargs)

        session.send = recording_send
        self._session, self.available = session, True
        return self

    def stop(self) -> None:
        """Stop recording (the session's own ``send`` is restored)."""
        if self._session is not None:
            del self._session.send
            self._session = None

    def counts(self) -> dict[str, int]:
        """Messages recorded, by type."""
        return dict(Counter(kind for kind, _ in self.messages))

    def text(self, kind: str | None = None) -> str:
        """All recorded texts (of messages of type ``kind``), one per line."""
        return "\n".join(t for k, texts in self.messages if kind in (None, k) for t in texts)

    def scan(self, where: str = "this run's outputs", known: tuple[str, ...] = ()) -> list[Finding]:
        return find_secrets(self.text(), where, known)
