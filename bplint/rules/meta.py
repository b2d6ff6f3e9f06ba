"""Findings produced by the engine itself."""

from bplint.registry import ERROR, WARNING, Rule, register


@register
class ParseError(Rule):
    code = "BPL000"
    name = "parse-error"
    summary = "File could not be read or parsed; it was not linted"
    severity = ERROR
    kinds = frozenset()
    explanation = """
## What it does
Reports a file (or a notebook cell) that bplint could not read or parse: a syntax error, invalid
notebook JSON, invalid TOML, bytes that are not UTF-8 (and no coding cookie), a binary file (NUL
bytes) or a file larger than the size limit (5 MB).

## Why is this bad?
Nothing in that file (or cell) was checked, so its pitfalls go unnoticed, and a script that does
not parse fails at the start of a GPU job anyway.

## Example
```python
trainer.train(
```

## How to fix
Fix the syntax (the message gives the line and the reason), save the notebook as valid JSON, or
exclude files that are not meant to be linted (`extend-exclude` in `[tool.bplint]`). Parse errors
of one cell do not stop the other cells of a notebook from being linted.
"""


@register
class InternalError(Rule):
    code = "BPL900"
    name = "internal-error"
    summary = "A rule failed on this file; the other rules still ran"
    severity = ERROR
    kinds = frozenset()
    explanation = """
## What it does
Reports that a bplint rule raised an unexpected error on this file. The rule is skipped for the
file; all other rules still run and the run does not abort.

## Why is this bad?
The failing rule did not check the file, so some pitfalls may be missed.

## Example
Any file that triggers a bug in a rule.

## How to fix
Report the file (or a minimal reproduction) to the bplint maintainers. Meanwhile ignore the code
for the file with `per-file-ignores` or `# bplint: disable=BPL900`.
"""


@register
class UnusedNoqa(Rule):
    code = "BPL901"
    name = "unused-noqa"
    summary = "noqa comment with bplint codes that suppress nothing (opt-in)"
    severity = WARNING
    kinds = frozenset()
    opt_in = True
    explanation = """
## What it does
Opt-in (select `BPL901` explicitly). Reports `# noqa: BPL...` comments whose bplint codes
suppress no finding on their line (codes of rules that are not enabled for the file are left
alone), and codes that name no bplint rule. Bare `# noqa` comments and other linters' codes
(`E501`) are not checked: another linter may need them. The fix removes the unused codes, or the
whole comment when none is left and nothing follows it on the line.

## Why is this bad?
A stale suppression hides the next real finding on that line, and misleads a reader into
thinking the line is a known exception.

## Example
```python
state = torch.load(path, weights_only=True)  # noqa: BPL203
```

Use instead:
```python
state = torch.load(path, weights_only=True)
```

## How to fix
Remove the unused codes (`bplint --extend-select BPL901 --fix`).
"""
