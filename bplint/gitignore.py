# ruff: noqa: PTH100, PTH110, PTH112, PTH113, PTH118, PTH120, PTH123
# os.path on purpose: pathlib costs start-up time and per-file overhead on large trees.
"""``.gitignore`` files, read as git reads them, for file discovery.

Inside a git work tree, the ``.gitignore`` of every directory from the top of the work tree down
to a file (and ``.git/info/exclude``) decide whether it is ignored: patterns without a slash match
a name at any depth, patterns with one are anchored to their file's directory, ``dir/`` matches
directories only, ``!`` re-includes, ``*``/``?``/``[...]`` do not cross ``/``, ``**`` does, and
the last matching pattern wins (deeper files after shallower ones).
"""

from __future__ import annotations

import os
import re

Pattern = tuple[re.Pattern[str], bool, bool]  # (regex on the path relative to its base, negated, dirs only)
RuleSet = tuple[str, list[Pattern]]  # (base directory, absolute and normalised; its patterns)


def _translate(glob: str) -> str:
    out = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**", i):
            before = i == 0 or glob[i - 1] == "/"
            after = i + 2 == n or glob[i + 2] == "/"
            if before and after:
                if i + 2 == n:  # trailing /**: everything inside
                    out.append(".*")
                    i += 2
                else:  # **/ : zero or more directories
                    out.append("(?:.*/)?")
                    i += 3
                continue
            out.append("[^/]*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = glob.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = glob[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse(text: str) -> list[Pattern]:
    """Patterns of a ``.gitignore`` file."""
    patterns = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        while line.endswith(" ") and not line.endswith("\\ "):
            line = line[:-1]
        negated = line.startswith("!")
        if negated or line.startswith(("\\!", "\\#")):
            line = line[1:]
        dirs_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        rx = re.compile(("^" if anchored else "^(?:.*/)?") + body + "$")
        patterns.append((rx, negated, dirs_only))
    return patterns


def _read(path: str) -> list[Pattern]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse(fh.read(1_000_000))
    except OSError:
        return []


def work_tree(start: str) -> str | None:
    """Top directory of the git work tree that contains ``start``, or None outside git."""
    d = os.path.abspath(start)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def rules_for(directory: str) -> list[RuleSet]:
    """The rule sets that apply inside ``directory``: info/exclude and every .gitignore from the top
    of its work tree down to it (empty outside a git work tree)."""
    d = os.path.abspath(directory)
    top = work_tree(d)
    if top is None:
        return []
    rules: list[RuleSet] = []
    git_dir = os.path.join(top, ".git")
    exclude = _read(os.path.join(git_dir, "info", "exclude")) if os.path.isdir(git_dir) else []
    if exclude:
        rules.append((top, exclude))
    chain = []
    while True:
        chain.append(d)
        if d == top:
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    for base in reversed(chain):
        rules.extend(own_rules(base))
    return rules


def own_rules(directory: str) -> list[RuleSet]:
    """The rule set of the ``.gitignore`` in ``directory`` itself, if any."""
    path = os.path.join(directory, ".gitignore")
    if not os.path.isfile(path):
        return []
    patterns = _read(path)
    return [(os.path.abspath(directory), patterns)] if patterns else []


def ignored(rules: list[RuleSet], path: str, is_dir: bool) -> bool:
    """Whether git ignores ``path`` (absolute) under these rule sets."""
    result = False
    for base, patterns in rules:
        if not path.startswith(base + os.sep):
            continue
        rel = path[len(base) + 1:].replace(os.sep, "/")
        for rx, negated, dirs_only in patterns:
            if dirs_only and not is_dir:
                continue
            if rx.match(rel):
                result = not negated
    return result
