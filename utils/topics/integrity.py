"""Verify model files before loading them: SHA-256 digests of a folder against a manifest.

A manifest is a JSON object ``{"files": {"relative/path": "sha256 hex"}}``. Write it where the files
are produced (or copy the digests a publisher lists), keep it apart from the files, and check the
folder against it before every load: a changed, missing or unexpected file is reported by name.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


class IntegrityError(RuntimeError):
    """A model folder does not match its manifest."""


@dataclass(frozen=True)
class Mismatch:
    path: str
    problem: str  # "changed", "missing" or "unexpected"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, streamed (model files do not fit comfortably in memory twice)."""
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def build_manifest(folder: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (POSIX separators, sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(folder)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in _files(folder)}


def write_manifest(folder: str | Path, path: str | Path) -> dict[str, str]:
    """Hash ``folder`` and write the manifest to ``path`` (best kept outside ``folder``)."""
    manifest = build_manifest(folder)
    Path(path).write_text(json.dumps({"files": manifest}, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(path: str | Path) -> dict[str, str]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["files"]


def check(folder: str | Path, manifest: dict[str, str], *, allow_extra: bool = False) -> list[Mismatch]:
    """Every difference between ``folder`` and ``manifest``; an empty list means the files match.

    Files that the manifest does not list are reported as ``unexpected`` unless ``allow_extra``: an
    added ``*.py`` file next to a config is exactly how custom code gets into a model folder.
    """
    actual = build_manifest(folder)
    problems = [Mismatch(name, "missing") for name in sorted(set(manifest) - set(actual))]
    problems += [
        Mismatch(name, "changed")
        for name in sorted(set(manifest) & set(actual))
        if manifest[name] != actual[name]
    ]
    if not allow_extra:
        problems += [Mismatch(name, "unexpected") for name in sorted(set(actual) - set(manifest))]
    return sorted(problems, key=lambda m: m.path)


def verify(folder: str | Path, manifest: dict[str, str] | str | Path, *, allow_extra: bool = False) -> Path:
    """Raise :class:`IntegrityError` unless ``folder`` matches ``manifest`` (a dict or a manifest file).

    Returns the folder, so that a load reads ``from_pretrained(integrity.verify(folder, manifest))``.
    """
    if not isinstance(manifest, dict):
        manifest = read_manifest(manifest)
    if not manifest:
        raise IntegrityError("the manifest lists no files")
    problems = check(folder, manifest, allow_extra=allow_extra)
    if problems:
        raise IntegrityError(f"{folder} does not match its manifest: " + "; ".join(map(str, problems)))
    return Path(folder)
