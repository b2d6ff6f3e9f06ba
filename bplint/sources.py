# ruff: noqa: PTH119, PTH120, PTH123
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Reading documents: Python files, notebooks (magics neutralised), requirement files, pyproject."""

from __future__ import annotations

import os
import re

LINE_SPLIT = re.compile(r"\r\n|\r|\n")
MAX_FILE_SIZE = 5 * 1024 * 1024

REQ_FILE_RE = re.compile(r"^(requirements|constraints)[\w.\-]*\.txt$", re.IGNORECASE)


def file_kind(path: str, explicit: bool = False) -> str | None:
    """Kind of document a path holds, or None when bplint does not lint it."""
    base = os.path.basename(path)
    low = base.lower()
    if low.endswith(".py"):
        return "python"
    if low.endswith(".ipynb"):
        return "notebook"
    if base == "pyproject.toml":
        return "pyproject"
    if REQ_FILE_RE.match(base):
        return "requirements"
    if low.endswith(".txt") and os.path.basename(os.path.dirname(path)) == "requirements":
        return "requirements"
    if explicit and "." not in base:
        try:
            with open(path, "rb") as fh:
                head = fh.read(128)
        except OSError:
            return None
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            return "python"
    return None


def split_lines(text: str) -> list[str]:
    return LINE_SPLIT.split(text)


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def decode(data: bytes) -> str:
    """Decode source bytes (UTF-8, BOM, or a PEP 263 coding cookie). Raises ValueError."""
    if b"\x00" in data:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        for line in data.split(b"\n", 2)[:2]:
            m = _COOKIE.match(line)
            if m:
                try:
                    return data.decode(m.group(1).decode("ascii"))
                except (LookupError, UnicodeDecodeError):
                    break
        raise ValueError(f"cannot decode as UTF-8 (byte {exc.start})") from None


# -- notebooks --------------------------------------------------------------------------------
PY_BODY_CELL_MAGICS = frozenset({
    "time", "timeit", "capture", "prun", "debug", "memit", "mprun", "px", "pypy", "python", "python3",
    "cache", "skip", "tensorflow_version", "autoreload", "snakeviz", "heat", "lprun",
})
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system", "shell"})

_ASSIGN_MAGIC = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)[!%]")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.\[\]()]+\?{1,2})\s*$")


class Cell:
    __slots__ = ("index", "lines", "py_source")

    def __init__(self, index: int, lines: list[str], py_source: str | None) -> None:
        self.index = index
        self.lines = lines
        self.py_source = py_source


class Install:
    """A ``pip install`` command: its packages with positions (line, col, token, cell)."""

    __slots__ = ("cell", "constrained", "packages")

    def __init__(self, cell: int | None, packages: list, constrained: bool) -> None:
        self.cell = cell
        self.packages = packages
        self.constrained = constrained


def _shell_words(cmd: str) -> list[str]:
    import shlex

    try:
        return shlex.split(cmd, comments=True)
    except ValueError:
        return cmd.split()


_PIP_VALUE_OPTS = frozenset({
    "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
    "--find-links", "-t", "--target", "--prefix", "--root", "--platform", "--python-version",
    "--implementation", "--abi", "--src", "--upgrade-strategy", "--progress-bar", "--log", "--cache-dir",
    "--trusted-host", "--proxy", "--timeout", "--retries", "--exists-action", "--config-settings", "-C",
    "--global-option", "--no-binary", "--only-binary", "--index", "--report", "--python", "--group",
})


def parse_install(command: str) -> tuple[list[tuple[str, bool]], bool] | None:
    """Packages of a pip install command line (``(spec, editable)`` pairs) and whether it has -c.

    Returns None when the command is not a pip install.
    """
    words = _shell_words(command)
    i = 0
    if words[:1] == ["uv"]:
        i = 1
    if i < len(words) and re.match(r"^(pip3?(\.\d+)?|.*python[\d.]*|\{sys\.executable\}|"
                                   r"\$\(which python\d?\))$", words[i]):
        if words[i].startswith(("pip", "pip3")):
            i += 1
        elif words[i + 1:i + 3] == ["-m", "pip"]:
            i += 3
        else:
            return None
    else:
        return None
    if i >= len(words) or words[i] != "install":
        return None
    out: list[tuple[str, bool]] = []
    constrained = False
    it = iter(words[i + 1:])
    for w in it:
        if w in ("-e", "--editable"):
            out.append((next(it, ""), True))
        elif w.startswith("-"):
            if w in ("-c", "--constraint") or (w.startswith(("--constraint=", "-c")) and w != "-c"):
                constrained = True
            if w in _PIP_VALUE_OPTS:
                next(it, None)
        elif w in ("&&", "||", ";", "|"):
            break
        else:
            out.append((w, False))
    return out, constrained


def _install_from(cmd: str, line_no: int, line: str, cell: int | None) -> Install | None:
    parsed = parse_install(cmd)
    if parsed is None:
        return None
    specs, constrained = parsed
    pkgs = []
    pos = 0
    for spec, editable in specs:
        col = line.find(spec, pos)
        if col < 0:
            col = max(line.find(spec.split("[")[0].split("=")[0], pos), 0)
        else:
            pos = col + len(spec)
        pkgs.append((spec, editable, line_no, col))
    return Install(cell, pkgs, constrained)


def neutralise_cell(lines: list[str], cell: int | None, installs: list) -> str | None:
    """Python source of a code cell with IPython syntax replaced, same line numbers.

    Returns None when the cell is not Python (``%%bash``, ``%%html``...); pip install commands
    found are appended to ``installs``.
    """
    out = list(lines)
    start = 0
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if len(first) > 2 else ""
        if magic in SHELL_CELL_MAGICS:
            for n, line in enumerate(lines[1:], start=2):
                inst = _install_from(line.strip(), n, line, cell)
                if inst:
                    installs.append(inst)
            return None
        if magic not in PY_BODY_CELL_MAGICS:
            return None
        out[0] = ""
        start = 1
    continuation = False
    for idx in range(start, len(lines)):
        line = lines[idx]
        if continuation:
            out[idx] = ""
            continuation = line.rstrip().endswith("\\")
            continue
        stripped = line.lstrip()
        if not stripped or (stripped[0] not in "!%?" and "?" not in stripped and "=" not in stripped):
            continue
        indent = line[: len(line) - len(stripped)]
        if stripped[0] in "!%":
            cmd = stripped.lstrip("!%")
            inst = _install_from(cmd.rstrip("\\ "), idx + 1, line, cell)
            if inst:
                installs.append(inst)
            out[idx] = indent + "pass"
            continuation = line.rstrip().endswith("\\")
            continue
        m = _ASSIGN_MAGIC.match(line)
        if m:
            out[idx] = m.group(1) + "None"
            continuation = line.rstrip().endswith("\\")
        elif _HELP.match(line):
            out[idx] = indent + "pass"
    return "\n".join(out)


def notebook_cells(nb) -> list[tuple[int, object]]:
    """``(1-based index among all cells, source)`` of the code cells. Raises ValueError."""
    if not isinstance(nb, dict):
        raise ValueError("not a notebook (top level is not a JSON object)")
    cells = nb.get("cells")
    if cells is None and isinstance(nb.get("worksheets"), list):  # nbformat 3
        cells = []
        for ws in nb["worksheets"]:
            if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
                for c in ws["cells"]:
                    if isinstance(c, dict) and "input" in c:
                        c = {"cell_type": c.get("cell_type"), "source": c.get("input")}
                    cells.append(c)
    if not isinstance(cells, list):
        raise ValueError("not a notebook (no 'cells' list)")
    out = []
    for n, c in enumerate(cells, start=1):
        if isinstance(c, dict) and c.get("cell_type") == "code":
            out.append((n, c.get("source", "")))
    return out


_SOURCE_KEY = re.compile(r'^([ \t]*)"source": \[[ \t]*$')


def notebook_line_map(text: str, nb) -> dict[int, tuple[int, list[int]]]:
    """Where each code cell's source lines are in the ``.ipynb`` file, for the standard layout.

    Returns ``{cell: (first file line, [column of each source line's text])}`` for notebooks
    written with one JSON string per source line (as Jupyter and nbformat write them), and an
    empty dict for any other layout (checked line by line, never guessed).
    """
    import json

    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return {}
    raw = split_lines(text)
    starts = [n for n, line in enumerate(raw, start=1) if line.endswith("[") and _SOURCE_KEY.match(line)]
    out: dict[int, tuple[int, list[int]]] = {}
    pos = 0
    for index, cell in enumerate(cells, start=1):
        source = cell.get("source") if isinstance(cell, dict) else None
        if not isinstance(source, list) or not source:
            continue
        if pos >= len(starts):
            return {}
        base = starts[pos] + 1
        pos += 1
        cols = []
        for k, piece in enumerate(source):
            if base - 1 + k >= len(raw):
                return {}
            line = raw[base - 1 + k]
            body = line.strip().removesuffix(",")
            if body not in (json.dumps(piece), json.dumps(piece, ensure_ascii=False)):
                return {}
            cols.append(len(line) - len(line.lstrip()) + 1)
        out[index] = (base, cols)
    return out


def cell_text(source) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


# -- requirement files ----------------------------------------------------------------------
_COMMENT = re.compile(r"(^|\s)#.*$")


def requirement_lines(text: str) -> list[tuple[int, int, str]]:
    """Logical requirement lines ``(line, col, text)`` with comments and continuations removed."""
    out = []
    pending = ""
    start, col = 0, 0
    for n, raw in enumerate(split_lines(text), start=1):
        line = _COMMENT.sub("", raw)
        if not pending:
            start, col = n, len(raw) - len(raw.lstrip())
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            out.append((start, col, full))
    if pending.strip():
        out.append((start, col, pending.strip()))
    return out


def requirement_spec(line: str) -> tuple[str, bool] | None:
    """The requirement of a requirement-file line (``(spec, editable)``), or None for options."""
    if line.startswith(("-e", "--editable")):
        rest = line[2:] if line.startswith("-e") else line[len("--editable"):]
        return rest.lstrip("= \t").strip(), True
    if line.startswith("-"):
        return None
    # per-requirement options (--hash, --config-settings) follow the requirement
    spec = re.split(r"\s+--?[A-Za-z]", line, maxsplit=1)[0].strip()
    return spec, False


_HEX40 = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$", re.IGNORECASE)
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_VCS = ("git+", "hg+", "svn+", "bzr+")


def _vcs_ref(url: str) -> str | None:
    url = url.split("#", 1)[0]
    rest = url.split("://", 1)[-1]
    path = rest.split("/", 1)[1] if "/" in rest else ""
    return path.rsplit("@", 1)[1] if "@" in path else None


def unpinned_reason(spec: str, editable: bool = False) -> str | None:
    """Why a requirement is not pinned to an exact version, or None (pinned, or not a package)."""
    spec = spec.strip().strip("'\"")
    if not spec:
        return None
    url = None
    if " @ " in spec or re.match(r"^[A-Za-z0-9._\-\[\], ]+@\s*\w+\+?\w*://", spec):
        url = spec.split("@", 1)[1].strip().split(";", 1)[0].strip()
    elif spec.startswith(_VCS) or "://" in spec:
        url = spec
    if url is not None:
        if url.startswith(_VCS):
            ref = _vcs_ref(url)
            if ref is None or not _HEX40.match(ref):
                what = f"'@{ref}'" if ref else "no revision"
                return f"VCS requirement with {what}: pin a full commit hash (@<40-hex sha>)"
        return None
    if editable or spec.startswith((".", "/", "~", "\\", "file:")) or re.match(r"^[A-Za-z]:[\\/]", spec):
        return None
    if spec.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")) or "/" in spec.split(";")[0]:
        return None
    m = _NAME.match(spec)
    if not m:
        return None
    name, _extras, rest = m.groups()
    rest = rest.split(";", 1)[0].strip().strip("()").strip()
    if not rest:
        return f"'{name}' has no version pin: pin an exact version ({name}==X.Y.Z)"
    parts = [p.strip() for p in rest.split(",")]
    for p in parts:
        if p.startswith("===") or (p.startswith("==") and "*" not in p):
            return None
    return f"'{name}{rest}' is a range, not an exact pin: pin an exact version ({name}==X.Y.Z)"


def find_string_position(text: str, value: str, start: int) -> tuple[int, int, int]:
    """Line, column and index of a quoted TOML string after ``start`` (best effort)."""
    best = -1
    for q in ('"', "'"):
        i = text.find(q + value + q, start)
        if i >= 0 and (best < 0 or i < best):
            best = i
    if best < 0:
        return 1, 0, start
    line = text.count("\n", 0, best) + 1
    col = best - (text.rfind("\n", 0, best) + 1)
    return line, col, best + len(value)
