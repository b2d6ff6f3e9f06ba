# ruff: noqa: PTH100, PTH109, PTH112, PTH113, PTH118, PTH119, PTH120, PTH123
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""Configuration: ``[tool.bplint]`` of the nearest pyproject.toml, merged with command-line options."""

from __future__ import annotations

import fnmatch
import os
from typing import Any

from bplint.registry import all_rules, is_valid_selector
from bplint.selection import Selection

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", "env", ".env", "__pycache__", "build", "dist",
    "node_modules", ".tox", ".nox", "site-packages", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".bplint_cache", ".eggs", "*.egg-info", "_build", ".direnv", "__pypackages__",
    ".hypothesis", ".pixi", ".git-rewrite",
)
PIN_POLICIES = ("application", "library")
MAX_CONFIG = 5 * 1024 * 1024
# key -> (type, meaning) of every [tool.bplint] setting; the opt-in switches come from the rules.
SETTINGS: dict[str, type] = {
    "select": list, "extend-select": list, "ignore": list, "per-file-ignores": dict, "exclude": list,
    "extend-exclude": list, "cpu-only": bool, "pin-policy": str, "respect-gitignore": bool,
}


class UsageError(Exception):
    """Bad command line or configuration: exit code 2."""


def switches() -> set[str]:
    """Configuration keys that turn opt-in rules on (``deterministic`` for BPL409)."""
    return {r.enabled_by for r in all_rules() if r.enabled_by}


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
               dict: "a table"}


def _type_name(value: object) -> str:
    t = value if isinstance(value, type) else type(value)
    return _TYPE_NAMES.get(t, t.__name__)


def _str_list(value: object, key: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{source}: '{key}' must be a list of strings, not {_type_name(value)}")
    return value


def _codes(values: list[str], key: str, source: str) -> list[str]:
    out = []
    for v in values:
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
                    if "tool.bplint" in fh.read(MAX_CONFIG):
                        return cand, d
            except OSError:
                pass
        parent = os.path.dirname(d)
        if parent == d:
            return None, first_root or os.getcwd()
        d = parent


def read_table(path: str) -> dict[str, Any]:
    import tomllib

    from bplint.sources import read_bytes

    try:
        data = tomllib.loads(read_bytes(path).decode("utf-8"))
    except ValueError as exc:  # unreadable, too large, not a regular file, not UTF-8, invalid TOML
        raise UsageError(f"invalid configuration file {path}: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: 'tool' must be a table")
    # a pyproject.toml keeps the settings in [tool.bplint]; another TOML file may have them at the top
    table = tool.get("bplint", {} if os.path.basename(path) == "pyproject.toml" else data)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.bplint] must be a table")
    return table


class Config:
    """Settings of a run: rule selection, file selection and the options the rules read."""

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
        self.respect_gitignore = True
        self.switches: dict[str, bool] = {}
        self._selection: Selection | None = None

    def apply_table(self, table: dict[str, Any], source: str) -> None:
        known = {**SETTINGS, **dict.fromkeys(switches(), bool)}
        for key, value in table.items():
            if key not in known:
                raise UsageError(f"{source}: unknown configuration key '{key}' in [tool.bplint] "
                                 f"(known keys: {', '.join(sorted(known))})")
            want = known[key]
            if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
                raise UsageError(f"{source}: '{key}' must be {_type_name(want)}, not {_type_name(value)}")
        if "select" in table:
            self.select = _codes(_str_list(table["select"], "select", source), "select", source)
        if "extend-select" in table:
            self.extend_select = _codes(_str_list(table["extend-select"], "extend-select", source),
                                        "extend-select", source)
        if "ignore" in table:
            self.ignore = _codes(_str_list(table["ignore"], "ignore", source), "ignore", source)
        if "exclude" in table:
            self.exclude = _str_list(table["exclude"], "exclude", source)
        if "extend-exclude" in table:
            self.extend_exclude = _str_list(table["extend-exclude"], "extend-exclude", source)
        if "per-file-ignores" in table:
            self.per_file_ignores = [
                (pat, _codes(_str_list(codes, f"per-file-ignores.{pat}", source), f"per-file-ignores.{pat}",
                             source))
                for pat, codes in table["per-file-ignores"].items()]
        if "cpu-only" in table:
            self.cpu_only = table["cpu-only"]
        if "pin-policy" in table:
            if table["pin-policy"] not in PIN_POLICIES:
                raise UsageError(f"{source}: 'pin-policy' must be one of {', '.join(PIN_POLICIES)}, "
                                 f"not {table['pin-policy']!r}")
            self.pin_policy = table["pin-policy"]
        if "respect-gitignore" in table:
            self.respect_gitignore = table["respect-gitignore"]
        for key in switches():
            if key in table:
                self.switches[key] = table[key]

    # -- selection ---------------------------------------------------------------------------
    @property
    def selection(self) -> Selection:
        """The one rule selection of the run (used for reporting, ``--fix`` and ``--add-noqa``)."""
        if self._selection is None:
            self._selection = Selection(self.select, self.extend_select, self.ignore, self.per_file_ignores,
                                        self.switches)
        return self._selection

    def excluded_by(self, rel: str) -> str | None:
        """The ``exclude``/``extend-exclude`` pattern that excludes a path (relative to the root)."""
        base = rel.rsplit("/", 1)[-1]
        for raw in (*self.exclude, *self.extend_exclude):
            pat = raw.rstrip("/")
            if pat.startswith("./"):
                pat = pat[2:]
            if (fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat) or rel.startswith(pat + "/")
                    or fnmatch.fnmatch(rel, pat + "/*")):
                return raw
        return None

    def options(self) -> dict[str, Any]:
        """Settings that change what the rules find (part of the cache key)."""
        return {"cpu_only": self.cpu_only, "pin_policy": self.pin_policy}


def load_config(args: Any, first_path: str) -> Config:
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
    if args.respect_gitignore is not None:
        cfg.respect_gitignore = args.respect_gitignore
    return cfg
