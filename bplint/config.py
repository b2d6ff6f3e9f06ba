# ruff: noqa: PTH100, PTH109, PTH208, PTH112, PTH113, PTH118, PTH119, PTH120, PTH123
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Configuration: ``[tool.bplint]`` of the nearest pyproject.toml, merged with command-line options."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re

from bplint.registry import is_valid_selector, matches

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", "env", ".env", "__pycache__", "build", "dist",
    "node_modules", ".tox", ".nox", "site-packages", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".bplint_cache", ".eggs", "*.egg-info", "_build", ".direnv", "__pypackages__",
    ".hypothesis", ".pixi", ".git-rewrite",
)
KEYS = ("select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude", "cpu-only",
        "pin-policy", "deterministic")
PIN_POLICIES = ("application", "library")


class UsageError(Exception):
    """Bad command line or configuration: exit code 2."""


def _str_list(value, key: str, source: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{source}: '{key}' must be a list of strings")
    return value


def _codes(value, key: str, source: str) -> list[str]:
    out = []
    for v in _str_list(value, key, source):
        for code in v.split(","):
            code = code.strip().upper()
            if not code:
                continue
            if not is_valid_selector(code):
                raise UsageError(f"{source}: unknown rule code or prefix '{code}' in '{key}' "
                                 "(see `bplint rules`)")
            out.append(code)
    return out


def find_pyproject(start: str) -> tuple[str | None, str]:
    """Nearest pyproject.toml with a [tool.bplint] table, walking up; (path or None, project root)."""
    d = os.path.abspath(start)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    first_root = None
    while True:
        cand = os.path.join(d, "pyproject.toml")
        if os.path.isfile(cand):
            first_root = first_root or d
            try:
                with open(cand, encoding="utf-8", errors="replace") as fh:
                    if "tool.bplint" in fh.read():
                        return cand, d
            except OSError:
                pass
        parent = os.path.dirname(d)
        if parent == d:
            return None, first_root or os.getcwd()
        d = parent


def read_table(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read configuration file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"invalid TOML in configuration file {path}: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        table = data.get("tool", {}).get("bplint", {})
    else:
        table = data.get("tool", {}).get("bplint", data)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.bplint] must be a table")
    return table


class Config:
    def __init__(self) -> None:
        self.root = os.getcwd()
        self.source: str | None = None
        self.select: list[str] = ["BPL"]
        self.extend_select: list[str] = []
        self.ignore: list[str] = []
        self.per_file_ignores: list[tuple[str, list[str]]] = []
        self.exclude: list[str] = []
        self.extend_exclude: list[str] = []
        self.cpu_only = False
        self.pin_policy = "application"
        self.deterministic = False
        self._pins: dict | None = None
        self._enabled: dict[str, bool] = {}

    def apply_table(self, table: dict, source: str) -> None:
        for key in table:
            if key not in KEYS:
                raise UsageError(f"{source}: unknown configuration key '{key}' in [tool.bplint] "
                                 f"(known keys: {', '.join(KEYS)})")
        if "select" in table:
            self.select = _codes(table["select"], "select", source)
        if "extend-select" in table:
            self.extend_select = _codes(table["extend-select"], "extend-select", source)
        if "ignore" in table:
            self.ignore = _codes(table["ignore"], "ignore", source)
        if "exclude" in table:
            self.exclude = _str_list(table["exclude"], "exclude", source)
        if "extend-exclude" in table:
            self.extend_exclude = _str_list(table["extend-exclude"], "extend-exclude", source)
        if "per-file-ignores" in table:
            pfi = table["per-file-ignores"]
            if not isinstance(pfi, dict):
                raise UsageError(f"{source}: 'per-file-ignores' must be a table of glob = [codes]")
            self.per_file_ignores = [(pat, _codes(codes, f"per-file-ignores.{pat}", source))
                                     for pat, codes in pfi.items()]
        if "cpu-only" in table:
            if not isinstance(table["cpu-only"], bool):
                raise UsageError(f"{source}: 'cpu-only' must be true or false")
            self.cpu_only = table["cpu-only"]
        if "pin-policy" in table:
            if table["pin-policy"] not in PIN_POLICIES:
                raise UsageError(f"{source}: 'pin-policy' must be one of {', '.join(PIN_POLICIES)}, "
                                 f"not {table['pin-policy']!r}")
            self.pin_policy = table["pin-policy"]
        if "deterministic" in table:
            if not isinstance(table["deterministic"], bool):
                raise UsageError(f"{source}: 'deterministic' must be true or false")
            self.deterministic = table["deterministic"]

    # -- selection ---------------------------------------------------------------------------
    def enabled(self, code: str) -> bool:
        hit = self._enabled.get(code)
        if hit is None:
            on = max((matches(code, s) for s in self.select + self.extend_select), default=0)
            off = max((matches(code, s) for s in self.ignore), default=0)
            hit = on > 0 and on > off
            if hit:
                from bplint.registry import get_rule

                rule = get_rule(code)
                if rule is not None and rule.opt_in:
                    explicit = any(s.upper() == code for s in self.select + self.extend_select)
                    hit = explicit or (code == "BPL409" and self.deterministic)
            self._enabled[code] = hit
        return hit

    def ignored_for(self, rel: str) -> list[str]:
        base = rel.rsplit("/", 1)[-1]
        out = []
        for pat, codes in self.per_file_ignores:
            if (fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat)
                    or rel.startswith(pat.rstrip("/") + "/")):
                out.extend(codes)
        return out

    def is_excluded(self, rel: str) -> bool:
        base = rel.rsplit("/", 1)[-1]
        for pat in (*self.exclude, *self.extend_exclude):
            pat = pat.rstrip("/")
            if pat.startswith("./"):
                pat = pat[2:]
            if (fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat) or rel.startswith(pat + "/")
                    or fnmatch.fnmatch(rel, pat + "/*")):
                return True
        return False

    def options(self) -> dict:
        if self._pins is None:
            self._pins = project_pins(self.root)
        return {"cpu_only": self.cpu_only, "pin_policy": self.pin_policy, "deterministic": self.deterministic,
                "pins": self._pins}

    def options_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.options(), sort_keys=True).encode()).hexdigest()[:16]


_PIN = re.compile(r"^\s*[\"']?(transformers|datasets)\s*(?:\[[^\]]*\])?\s*([^\"'\n#;]*)",
                  re.IGNORECASE | re.MULTILINE)
_SPEC = re.compile(r"(==|~=|<=|<|>=|>|!=)\s*(\d+)([\d.]*)")


def _upper_major(specs: str) -> int | None:
    """Highest major version a specifier set allows (``==4.46``, ``~=4.40``, ``<5``, ``<=4.9``), or None."""
    best = None
    for op, major, rest in _SPEC.findall(specs):
        m = int(major)
        if op in (">=", ">", "!="):
            continue
        if op == "<" and rest.strip(".0") == "":
            m -= 1  # <5 or <5.0: the highest allowed major is 4
        best = m if best is None else min(best, m)
    return best


def project_pins(root: str) -> dict:
    """Major versions of transformers/datasets that the project pins (``==``, ``~=``, ``<``, ``<=``),
    read from constraints*.txt, requirements*.txt and pyproject.toml in the project root. ``<5``
    gives major 4; a bare ``>=`` tells nothing about the upper end and is ignored."""
    pins: dict = {}
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return pins
    files = [n for n in names if n.lower().startswith(("constraints", "requirements")) and n.endswith(".txt")]
    if "pyproject.toml" in names:
        files.append("pyproject.toml")
    for name in files:
        try:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as fh:
                text = fh.read(200_000)
        except OSError:
            continue
        for m in _PIN.finditer(text):
            major = _upper_major(m.group(2))
            if major is not None:
                pkg = m.group(1).lower()
                pins[pkg] = min(pins.get(pkg, major), major)
    return pins


def load_config(args, first_path: str) -> Config:
    cfg = Config()
    if args.config:
        if not os.path.isfile(args.config):
            raise UsageError(f"configuration file not found: {args.config}")
        cfg.source = args.config
        cfg.root = os.path.dirname(os.path.abspath(args.config))
        cfg.apply_table(read_table(args.config), args.config)
    else:
        source, root = find_pyproject(first_path)
        cfg.root = root
        if source:
            cfg.source = source
            cfg.apply_table(read_table(source), source)
    if args.select is not None:
        cfg.select = _codes(args.select, "--select", "command line")
    if args.extend_select:
        cfg.extend_select += _codes(args.extend_select, "--extend-select", "command line")
    if args.ignore:
        cfg.ignore += _codes(args.ignore, "--ignore", "command line")
    if args.exclude is not None:
        cfg.exclude = [p for v in args.exclude for p in v.split(",") if p]
    if args.extend_exclude:
        cfg.extend_exclude += [p for v in args.extend_exclude for p in v.split(",") if p]
    return cfg
