"""Reproducibility: exact version pins in requirement files, notebook installs and pyproject."""

from __future__ import annotations

import bisect
import re

from bplint.registry import WARNING, Location, Rule, register
from bplint.rules._requirements import requirement_spec, unpinned_reason

NOTEBOOK = "notebooks/08_reproducibility.ipynb"

_FIX = """
## How to fix
Pin exact versions (`transformers==5.24.0`), a VCS requirement to a full commit hash
(`git+https://github.com/org/repo@<40-hex sha>`), or apply a constraints file that pins them
(`pip install -c constraints.txt ...`; install commands with `-c` are not reported). Generate pins
with `pip freeze` or `pip-compile` from a working environment.
"""


@register
class UnpinnedRequirement(Rule):
    code = "BPL101"
    name = "unpinned-requirement"
    summary = "Requirement without an exact version pin (==)"
    severity = WARNING
    notebook = NOTEBOOK
    kinds = frozenset({"requirements"})
    explanation = """
## What it does
Reports lines of `requirements*.txt` / `constraints*.txt` (and `.txt` files in a `requirements/`
directory) that do not pin an exact version with `==` (without `*`) or `===`, and VCS URLs without
a full commit hash. Options (`-r`, `-c`, `--index-url`...), local paths, `-e .` and archive URLs
are not packages and are not reported. `-r` includes are not followed (lint those files too).

## Why is this bad?
`transformers>=4.40` installs whatever is newest on the day the job starts. Arguments get renamed
or removed between releases (`evaluation_strategy`, `no_cuda`, `Trainer(tokenizer=)` are gone in
transformers 5), defaults change (`dtype="auto"`, the default optimizer): a run that worked last
month breaks, or silently trains differently.

## Example
```text
transformers>=4.40
torch
git+https://github.com/huggingface/peft@main
```

Use instead:
```text
transformers==5.24.0
torch==2.13.0
git+https://github.com/huggingface/peft@0123456789abcdef0123456789abcdef01234567
```
""" + _FIX

    def finish(self) -> None:
        for line, col, text in self.ctx.requirements:
            spec = requirement_spec(text)
            if spec is None:
                continue
            reason = unpinned_reason(*spec)
            if reason:
                where = Location(line, col, line, col + len(text))
                self.ctx.add(self.code, f"Unpinned requirement: {reason}", where, char_columns=True)


@register
class UnpinnedNotebookInstall(Rule):
    code = "BPL102"
    name = "unpinned-notebook-install"
    summary = "Notebook installs a package without an exact version pin"
    severity = WARNING
    notebook = NOTEBOOK
    kinds = frozenset({"notebook"})
    explanation = """
## What it does
Reports packages of notebook install commands (`%pip install`, `!pip install`, `!pip3 install`,
`!python -m pip install`, `!uv pip install`, and `pip install` lines of `%%bash` cells) that are not
pinned to an exact version. Options such as `-q`, `-U` and their values are skipped; a command with
`-c <constraints>` is not reported; arguments built from variables (`{pkg}`, `$PKG`) and `pip`
itself (`pip install -U pip`) are skipped.

## Why is this bad?
A notebook is re-run weeks later by someone else: `!pip install transformers` then installs a
different release whose renamed arguments or new defaults break or silently change the run.

## Example
```python
%pip install -q transformers datasets>=3
```

Use instead:
```python
%pip install -q transformers==5.24.0 datasets==5.2.0
```
""" + _FIX

    def finish(self) -> None:
        for inst in self.ctx.installs:
            if inst.constrained:
                continue
            for spec, editable, line, col in inst.packages:
                if "{" in spec or "$" in spec or spec.lower() in ("pip", "pip3"):
                    continue  # built from variables, or upgrading the installer itself
                reason = unpinned_reason(spec, editable)
                if reason:
                    where = Location(line, col, line, col + len(spec), cell=inst.cell)
                    self.ctx.add(self.code, f"Unpinned install: {reason}", where, char_columns=True)


@register
class UnpinnedPyprojectDependency(Rule):
    code = "BPL103"
    name = "unpinned-pyproject-dependency"
    summary = "pyproject.toml dependency of an application without an exact version pin"
    severity = WARNING
    notebook = NOTEBOOK
    kinds = frozenset({"pyproject"})
    explanation = """
## What it does
Reports `[project] dependencies` and `[project.optional-dependencies]` entries of `pyproject.toml`
without an exact pin, when the project is an application (`pin-policy = "application"`, the
default). With `pin-policy = "library"` ranges are accepted (a library must not over-constrain its
users; pin through a constraints or lock file instead) and only VCS URLs without a commit hash are
reported.

## Why is this bad?
An application (a training job) installed from open ranges gets different versions on every
fresh install, so the same commit trains differently, or not at all, a month later.

## Example
```toml
[project]
dependencies = ["transformers>=5", "torch"]
```

Use instead:
```toml
[project]
dependencies = ["transformers==5.24.0", "torch==2.13.0"]
```
""" + _FIX

    def finish(self) -> None:
        data = self.ctx.pyproject
        project = data.get("project") if isinstance(data, dict) else None
        if not isinstance(project, dict):
            return
        library = self.ctx.options.get("pin_policy") == "library"
        groups = [("dependencies", project.get("dependencies"))]
        extras = project.get("optional-dependencies")
        if isinstance(extras, dict):
            groups += [(f"optional-dependencies.{k}", v) for k, v in extras.items()]
        strings = _StringPositions(self.ctx.text)
        for group, deps in groups:
            if not isinstance(deps, list):
                continue
            for dep in deps:
                if not isinstance(dep, str):
                    continue
                line, col = strings.next(dep)
                reason = unpinned_reason(dep)
                if reason and (not library or reason.startswith("VCS")):
                    self.ctx.add(self.code, f"Unpinned dependency in {group}: {reason}",
                                 Location(line, col, line, col + len(dep) + 2), char_columns=True)


_TOML_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'([^\'\n]*)\'')


class _StringPositions:
    """Positions of the quoted strings of a TOML text after ``[project``, handed out in order: one
    scan of the text, and constant work per dependency however many there are."""

    def __init__(self, text: str) -> None:
        start = max(text.find("[project"), 0)
        self.offsets: dict[str, list[tuple[int, int]]] = {}  # value -> (order, offset) of each string
        for n, m in enumerate(_TOML_STRING.finditer(text, start)):
            value = m.group(1) if m.group(1) is not None else m.group(2)
            self.offsets.setdefault(value, []).append((n, m.start()))
        self.taken: dict[str, int] = {}
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        self.pos = -1  # order of the last string handed out

    def next(self, value: str) -> tuple[int, int]:
        """Line and column of the next string equal to ``value`` (1, 0 when there is none)."""
        found = self.offsets.get(value, [])
        k = self.taken.get(value, 0)
        while k < len(found) and found[k][0] <= self.pos:
            k += 1
        if k == len(found):
            return 1, 0
        self.taken[value] = k + 1
        order, offset = found[k]
        self.pos = order
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1]
