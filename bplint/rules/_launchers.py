# ruff: noqa: PTH118, PTH119, PTH120, PTH208
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Launchers: the files next to a script that say how it runs.

A script is often started by something else, which decides part of its environment:

* ``accelerate launch train.py`` in a README, a shell script or a notebook next to it: Accelerate's
  launch configuration (``accelerate config``, ``--mixed_precision``) decides the precision;
* a SageMaker ``HuggingFace(entry_point="train.py", source_dir="./scripts",
  transformers_version="4.26", ...)`` estimator in a notebook or script next to it or in the
  directory above: the job runs in the Hugging Face container of that transformers release.

Only what these files say literally is read; each directory is read once.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from functools import lru_cache

# Hugging Face's SageMaker training containers install one datasets release next to each transformers
# release (aws/deep-learning-containers, huggingface/*/training/buildspec*.yml): up to transformers
# 4.41 every container ships datasets 1.x or 2.x (2.19 at most); from 4.45 on, datasets 3 or later.
CONTAINER_DATASETS_3 = "4.45"
HEAD = 1_000_000  # bytes read of a launcher: commands and estimators come first, outputs later
DOC_SUFFIXES = (".md", ".rst", ".txt", ".sh", ".bash", ".slurm", ".ipynb", "makefile")
_ACCELERATE_LAUNCH = re.compile(r"accelerate\s+launch\b((?:[^\n\\]|\\[ \t]*\r?\n|\\)*)")
_SCRIPT = re.compile(r"([\w./\\-]+\.py)\b")
Pieces = list[tuple[str, str]]  # (cell type, text) of a launcher: one "code" piece outside notebooks
_LAUNCH_PRECISION = re.compile(r"^mixed_precision:\s*['\"]?(\w+)", re.MULTILINE)


def _pieces(name: str, data: bytes) -> Pieces | None:
    """A launcher's text as ``(cell type, text)`` pieces: a notebook's cells, else one ``code`` piece."""
    from bplint.sources import cell_text

    text = data.decode("utf-8", "replace")
    if not name.endswith(".ipynb"):
        return [("code", text)]
    try:
        nb = json.loads(text)
    except ValueError:
        return None  # cut at HEAD, or not JSON
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return None
    out = []
    for c in cells:
        source = cell_text(c.get("source")) if isinstance(c, dict) else None
        if source:
            out.append((str(c.get("cell_type")), source))
    return out


def _files(directory: str, suffixes: tuple[str, ...], needle: bytes) -> Iterator[tuple[str, Pieces]]:
    """``(name, pieces)`` of the files of a directory with one of these suffixes that mention ``needle``."""
    from bplint.sources import read_bytes

    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return
    for name in names:
        if not name.lower().endswith(suffixes):
            continue
        try:
            data = read_bytes(os.path.join(directory, name), head=HEAD)
        except ValueError:
            continue
        pieces = _pieces(name, data) if needle in data else None
        if pieces:
            yield name, pieces


@lru_cache(maxsize=1024)
def launch_precision(directory: str) -> str | None:
    """The mixed_precision an accelerate launch config (YAML) in the directory sets, if any."""
    for _name, pieces in _files(directory, (".yaml", ".yml"), b"mixed_precision:"):
        text = pieces[0][1]
        m = _LAUNCH_PRECISION.search(text)
        if m and "distributed_type:" in text:
            return m.group(1)
    return None


@lru_cache(maxsize=1024)
def accelerate_launched(directory: str) -> frozenset[str]:
    """Names of the scripts that a README, shell script or notebook of the directory starts with
    ``accelerate launch`` (the first ``.py`` of each command, continuation lines included)."""
    out = set()
    for _name, pieces in _files(directory, DOC_SUFFIXES, b"accelerate"):
        for m in _ACCELERATE_LAUNCH.finditer("\n\n".join(text for _kind, text in pieces)):
            script = _SCRIPT.search(m.group(1))
            if script:
                out.add(os.path.basename(script.group(1).replace("\\", "/")))
    return frozenset(out)


# -- SageMaker -----------------------------------------------------------------------------------
def _python(source: str) -> ast.Module | None:
    # IPython lines (!pip, %env) are not Python: blank them, keep the rest of the cell
    lines = ("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None  # a cell that is not Python: the others still count


def _strings(trees: list[ast.Module]) -> dict[str, str]:
    """Module-level names bound to a string literal (``transformers_version = "4.26"``)."""
    out: dict[str, str] = {}
    for tree in trees:
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = stmt.value.value
    return out


def _estimators(trees: list[ast.Module]) -> Iterator[ast.Call]:
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name == "HuggingFace":
                    yield node


@lru_cache(maxsize=1024)
def sagemaker_entry_points(directory: str) -> tuple[tuple[str, str], ...]:
    """``(absolute path of the entry point, transformers version)`` of the SageMaker Hugging Face
    estimators that the notebooks and scripts of a directory create with literal arguments."""
    out = []
    for _name, pieces in _files(directory, (".ipynb", ".py"), b"transformers_version"):
        trees = [t for kind, source in pieces if kind == "code" and (t := _python(source)) is not None]
        strings = _strings(trees)
        for call in _estimators(trees):
            given = {}
            for kw in call.keywords:
                v = kw.value
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    given[kw.arg] = v.value
                elif isinstance(v, ast.Name) and v.id in strings:
                    given[kw.arg] = strings[v.id]
            entry, version = given.get("entry_point"), given.get("transformers_version")
            unknown_dir = "source_dir" not in given and any(k.arg == "source_dir" for k in call.keywords)
            if entry and version and not unknown_dir:
                script = os.path.join(directory, given.get("source_dir", ""), entry)
                out.append((os.path.normpath(script), version))
    return tuple(out)


def container_transformers(path: str) -> str | None:
    """The transformers release of the SageMaker Hugging Face container that runs this script, when
    an estimator next to it or in the directory above names it as its entry point."""
    script = os.path.normpath(os.path.abspath(path))  # noqa: PTH100
    here = os.path.dirname(script)
    versions = {v for d in (here, os.path.dirname(here))
                for entry, v in sagemaker_entry_points(d) if entry == script}
    return versions.pop() if len(versions) == 1 else None  # estimators that disagree: unknown
