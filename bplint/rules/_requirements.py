# ruff: noqa: PTH100, PTH118, PTH120, PTH208
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Requirements and versions: what a requirement pins, and which versions of a package a document
runs with.

A document runs with the versions its own context allows, nearest first:

1. the install commands of the notebook itself (``!pip install transformers==4.28.0``);
2. requirement files next to it, then in each parent directory up to the project root
   (``requirements*.txt``, ``constraints*.txt``, ``pyproject.toml`` dependencies);

and bplint knows a version only as far as these say (``>=4.40`` gives a lowest version and no
highest). Rules ask ``package_range(ctx, "transformers")``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from bplint.registry import document_context

_HEX40 = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$", re.IGNORECASE)
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_SPEC = re.compile(r"(===|==|~=|<=|<|>=|>|!=)\s*v?(\d+(?:\.\d+)*)(\.\*)?")
WATCHED = ("transformers", "datasets", "trl", "torch", "peft", "accelerate", "diffusers")


# -- one requirement ----------------------------------------------------------------------------
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


def _vcs_ref(url: str) -> str | None:
    url = url.split("#", 1)[0]
    rest = url.split("://", 1)[-1]
    path = rest.split("/", 1)[1] if "/" in rest else ""
    return path.rsplit("@", 1)[1] if "@" in path else None


def _url(spec: str) -> str | None:
    if " @ " in spec or re.match(r"^[A-Za-z0-9._\-\[\], ]+@\s*\w+\+?\w*://", spec):
        return spec.split("@", 1)[1].strip().split(";", 1)[0].strip()
    if spec.startswith(_VCS) or "://" in spec:
        return spec
    return None


def _local(spec: str, editable: bool) -> bool:
    """A path or an archive, not a package on an index."""
    if editable or spec.startswith((".", "/", "~", "\\", "file:")) or re.match(r"^[A-Za-z]:[\\/]", spec):
        return True
    return spec.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")) or "/" in spec.split(";")[0]


def name_and_specifiers(spec: str) -> tuple[str, str] | None:
    """``(normalised name, specifiers)`` of a requirement on a package index (not a URL or path)."""
    spec = spec.strip().strip("'\"")
    if not spec or _url(spec) is not None or _local(spec, False):
        return None
    m = _NAME.match(spec)
    if not m:
        return None
    name, _extras, rest = m.groups()
    return name.lower().replace("_", "-"), rest.split(";", 1)[0].strip().strip("()").strip()


def unpinned_reason(spec: str, editable: bool = False) -> str | None:
    """Why a requirement is not pinned to an exact version, or None (pinned, or not a package)."""
    spec = spec.strip().strip("'\"")
    if not spec:
        return None
    url = _url(spec)
    if url is not None:
        if url.startswith(_VCS):
            ref = _vcs_ref(url)
            if ref is None or not _HEX40.match(ref):
                what = f"'@{ref}'" if ref else "no revision"
                return f"VCS requirement with {what}: pin a full commit hash (@<40-hex sha>)"
        return None
    if _local(spec, editable):
        return None
    m = _NAME.match(spec)
    if not m:
        return None
    name, _extras, rest = m.groups()
    rest = rest.split(";", 1)[0].strip().strip("()").strip()
    if not rest:
        return f"'{name}' has no version pin: pin an exact version ({name}==X.Y.Z)"
    for p in (p.strip() for p in rest.split(",")):
        if p.startswith("===") or (p.startswith("==") and "*" not in p):
            return None
    return f"'{name}{rest}' is a range, not an exact pin: pin an exact version ({name}==X.Y.Z)"


# -- versions -----------------------------------------------------------------------------------
def version_tuple(text: str) -> tuple[int, ...]:
    """``"4.46.0"`` -> ``(4, 46)``: numeric components, trailing zeros dropped, so that 5 == 5.0."""
    parts = [int(p) for p in re.findall(r"\d+", text.split("+")[0])[:4]]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class VersionRange:
    """Versions a specifier set allows: a lowest version and a highest (inclusive or not)."""

    __slots__ = ("high", "high_inclusive", "low")

    def __init__(self, low: tuple[int, ...] | None = None, high: tuple[int, ...] | None = None,
                 high_inclusive: bool = False) -> None:
        self.low = low
        self.high = high
        self.high_inclusive = high_inclusive

    @classmethod
    def parse(cls, specifiers: str) -> VersionRange:
        r = cls()
        for op, ver, star in _SPEC.findall(specifiers):
            v = version_tuple(ver)
            if op in (">=", ">", "~=") or (op in ("==", "===") and not star):
                r.low = v if r.low is None else max(r.low, v)
            if op in ("==", "===") and not star:
                r._cap(v, True)
            elif op == "==" and star:  # ==4.* : below 5
                r.low = v if r.low is None else max(r.low, v)
                r._cap((*v[:-1], v[-1] + 1) if v else (1,), False)
            elif op == "~=":  # ~=4.40 : below 5; ~=4.40.1 : below 4.41
                parts = [int(p) for p in re.findall(r"\d+", ver)]
                if len(parts) >= 2:
                    head = parts[:-1]
                    r._cap(version_tuple(".".join(map(str, (*head[:-1], head[-1] + 1)))), False)
            elif op == "<":
                r._cap(v, False)
            elif op == "<=":
                r._cap(v, True)
        return r

    def _cap(self, v: tuple[int, ...], inclusive: bool) -> None:
        if self.high is None or v < self.high or (v == self.high and not inclusive):
            self.high, self.high_inclusive = v, inclusive

    @property
    def known(self) -> bool:
        return self.low is not None or self.high is not None

    def below(self, version: str) -> bool:
        """Every allowed version is older than ``version``."""
        if self.high is None:
            return False
        v = version_tuple(version)
        return self.high < v or (self.high == v and not self.high_inclusive)

    def at_least(self, version: str) -> bool:
        """Every allowed version is ``version`` or newer."""
        return self.low is not None and self.low >= version_tuple(version)

    def to_list(self) -> list[Any]:
        return [list(self.low) if self.low is not None else None,
                list(self.high) if self.high is not None else None, self.high_inclusive]

    @classmethod
    def from_list(cls, data: list[Any]) -> VersionRange:
        low, high, inclusive = data
        return cls(None if low is None else tuple(low), None if high is None else tuple(high), inclusive)


def ranges(specs: list[str]) -> dict[str, VersionRange]:
    """Version ranges of the watched packages among requirement specs (the last one wins)."""
    out: dict[str, VersionRange] = {}
    for spec in specs:
        parsed = name_and_specifiers(spec)
        if parsed is not None and parsed[0] in WATCHED:
            out[parsed[0]] = VersionRange.parse(parsed[1])
    return out


def package_range(ctx: Any, package: str) -> VersionRange:
    """Versions of ``package`` a document runs with: its own install commands, else the requirement
    files around it (see the module docstring); an empty range when nothing says."""
    own = ranges([spec for inst in ctx.installs for spec, editable, _, _ in inst.packages if not editable])
    if package in own:
        return own[package]
    pins = ctx.options.get("pins") or {}
    return VersionRange.from_list(pins[package]) if package in pins else VersionRange()


# -- requirement files around a document ---------------------------------------------------------
def _specs_in(path: str, name: str) -> list[str]:
    from bplint.sources import read_bytes, requirement_lines

    try:
        text = read_bytes(path).decode("utf-8", "replace")
    except ValueError:
        return []
    low = text.lower()
    if not any(package in low for package in WATCHED):
        return []  # nothing that a rule asks about: spare parsing a long dependency list
    if name == "pyproject.toml":
        import tomllib

        try:
            project = tomllib.loads(text).get("project")
        except tomllib.TOMLDecodeError:
            return []
        if not isinstance(project, dict):
            return []
        deps = project.get("dependencies")
        specs = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        extras = project.get("optional-dependencies")
        if isinstance(extras, dict):
            groups = [g for g in extras.values() if isinstance(g, list)]
            specs += [d for group in groups for d in group if isinstance(d, str)]
        return specs
    out = []
    for _line, _col, line in requirement_lines(text):
        spec = requirement_spec(line)
        if spec is not None and not spec[1]:
            out.append(spec[0])
    return out


@lru_cache(maxsize=1024)
def _directory_ranges(directory: str) -> tuple[tuple[str, list[Any]], ...]:
    """Ranges pinned by the requirement files of one directory (constraints before requirements)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return ()
    files = [n for n in names
             if n.lower().endswith(".txt") and n.lower().startswith(("requirements", "constraints"))]
    files.sort(key=lambda n: not n.lower().startswith("constraints"))
    if "pyproject.toml" in names:
        files.append("pyproject.toml")
    found: dict[str, VersionRange] = {}
    for name in files:
        for pkg, r in ranges(_specs_in(os.path.join(directory, name), name)).items():
            found.setdefault(pkg, r)
    return tuple((pkg, r.to_list()) for pkg, r in sorted(found.items()))


@document_context
def pins(path: str, root: str) -> dict[str, Any]:
    """Version ranges from the requirement files in the document's directory and its parents up to
    the project root, nearest first."""
    d = os.path.dirname(os.path.abspath(path))
    root = os.path.abspath(root)
    out: dict[str, list[Any]] = {}
    while True:
        for pkg, r in _directory_ranges(d):
            out.setdefault(pkg, r)
        if d == root or not d.startswith(root + os.sep):
            break
        d = os.path.dirname(d)
    return {"pins": out}
