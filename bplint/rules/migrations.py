"""API migrations: arguments removed in transformers 5 and datasets 3, deprecated torch.cuda.amp."""

from __future__ import annotations

import ast
from typing import Any

from bplint.analysis import Context, dotted
from bplint.registry import ERROR, WARNING, Fix, Rule, register
from bplint.rules._facts import training_args
from bplint.rules._requirements import package_range

NOTEBOOK = "notebooks/09_pitfalls.ipynb"

# TrainingArguments fields removed in transformers 5: (replacement keyword or None, advice).
ARGS_RENAMED = {"evaluation_strategy": "eval_strategy", "no_cuda": "use_cpu"}
ARGS_REMOVED = {
    "group_by_length": "use train_sampling_strategy='group_by_length'",
    "warmup_ratio": "pass the fraction as warmup_steps (a float below 1 is a fraction of the total steps)",
    "overwrite_output_dir": "remove it (the output directory is reused as is)",
    "logging_dir": "set the TENSORBOARD_LOGGING_DIR environment variable",
}
LOADERS_RENAMED = {"use_auth_token": "token", "torch_dtype": "dtype"}
LOADERS_REMOVED = {
    "load_in_8bit": "pass quantization_config=BitsAndBytesConfig(load_in_8bit=True)",
    "load_in_4bit": "pass quantization_config=BitsAndBytesConfig(load_in_4bit=True)",
}
# The transformers release that introduced each new name: renaming is safe only on it or later.
INTRODUCED = {"eval_strategy": "4.41", "use_cpu": "4.32", "processing_class": "4.46", "token": "4.31",
              "dtype": "4.56"}
# Libraries with loaders of their own that take arguments of the same names (diffusers pipelines
# still take torch_dtype=, unsloth's loader load_in_4bit=).
OTHER_LOADERS = ("diffusers", "unsloth", "peft", "sentence_transformers", "setfit", "optimum", "auto_gptq",
                 "vllm", "gliner", "span_marker")


def rename_fix(ctx: Context, kw: ast.keyword, new: str) -> Fix:
    """Rename a keyword; safe only when the document runs with a transformers that has the new name."""
    old = kw.arg or ""
    safe = package_range(ctx, "transformers").at_least(INTRODUCED[new])
    title = f"rename {old}= to {new}="
    if not safe:
        title += f" (needs transformers {INTRODUCED[new]} or later)"
    return Fix([(kw.lineno, kw.col_offset, kw.lineno, kw.col_offset + len(old), new)], safe=safe, title=title)


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def transformers_api(ctx: Context, func: ast.AST) -> bool:
    """The callee is part of transformers: resolved through its imports, or a name the document
    never binds while it imports no other library with loaders of the same shape."""
    q = ctx.qualname(func)
    if q is None:
        return False
    if q.partition(".")[0] == "transformers":
        return True
    root = _root(func)
    return isinstance(root, ast.Name) and ctx.binding(root) is None and not ctx.semantic.uses(*OTHER_LOADERS)


@register
class RemovedTransformersArgument(Rule):
    code = "BPL501"
    name = "removed-transformers-argument"
    summary = "Argument removed or renamed in transformers 5"
    severity = ERROR
    notebook = NOTEBOOK
    node_types = (ast.Call,)
    triggers = (
        tuple(ARGS_RENAMED)
        + tuple(ARGS_REMOVED)
        + tuple(LOADERS_RENAMED)
        + tuple(LOADERS_REMOVED)
        + ("tokenizer",)
    )
    explanation = """
## What it does
Reports keyword arguments that transformers 5 removed or renamed:

| where | old | new |
| --- | --- | --- |
| `TrainingArguments` and TRL configs | `evaluation_strategy=` | `eval_strategy=` (fixable) |
| | `no_cuda=` | `use_cpu=` (fixable) |
| | `group_by_length=` | `train_sampling_strategy="group_by_length"` |
| | `warmup_ratio=` | `warmup_steps=` with a float below 1 |
| | `overwrite_output_dir=`, `logging_dir=` | removed |
| `*Trainer(...)` | `tokenizer=` | `processing_class=` (fixable) |
| transformers' `from_pretrained`, `pipeline`, `model.push_to_hub` | `use_auth_token=` | `token=` (fixable) |
| | `torch_dtype=` | `dtype=` (fixable; deprecated) |
| | `load_in_8bit=`, `load_in_4bit=` | `quantization_config=BitsAndBytesConfig(...)` |

Only transformers' own API is checked: calls resolved through the imports to `transformers`
(or names the document never binds, when it imports no other library with such loaders).
diffusers pipelines, unsloth's loader and other libraries that keep these names are not reported.

Version-aware: nothing is reported when the document runs with transformers below 5, as its own
context says: the notebook's install commands (`!pip install transformers==4.38.2`), else the
requirement files next to the script and in the directories above it up to the project root
(`==4.x`, `<5`, `~=4.x`, `>=4.40,<5` in `constraints*.txt`, `requirements*.txt`, `pyproject.toml`).

A rename is a safe fix only when the document runs with a transformers release that has the new
name (`eval_strategy` 4.41, `use_cpu` 4.32, `processing_class` 4.46, `token` 4.31, `dtype` 4.56),
as its pins say; otherwise the fix is offered as unsafe (`--unsafe-fixes`), since it would break
the code on an older release.

## Why is this bad?
`TrainingArguments` is a dataclass: an unknown keyword is a `TypeError` at start-up. A loader
passes unknown keywords on to the model config, where they are ignored: `load_in_8bit=True`
silently loads the full-precision model, `use_auth_token` no longer authenticates.

## Example
```python
args = TrainingArguments("out", evaluation_strategy="epoch", no_cuda=True)
trainer = Trainer(model=model, args=args, tokenizer=tok)
```

Use instead:
```python
args = TrainingArguments("out", eval_strategy="epoch", use_cpu=True)
trainer = Trainer(model=model, args=args, processing_class=tok)
```

## How to fix
`bplint --fix` renames the keywords marked fixable when the new keyword is not passed as well;
the others need a decision (see the table).
"""

    def visit(self, node: ast.Call) -> None:
        if not node.keywords or package_range(self.ctx, "transformers").below("5"):
            return
        ctx = self.ctx
        name = ctx.callee(node)[1] or ""
        present = {kw.arg for kw in node.keywords}
        if training_args(ctx, node) is not None:
            self._arguments(node, present)
        elif name.endswith("Trainer") and name[:1].isupper() and transformers_api(ctx, node.func):
            kw = ctx.kwarg(node, "tokenizer")
            if kw is not None:
                explicit = kw in node.keywords and "processing_class" not in present
                self.report(kw, "Trainer(tokenizer=) was removed in transformers 5: use processing_class=",
                            fix=rename_fix(ctx, kw, "processing_class") if explicit else None)
        elif ((name == "from_pretrained" and isinstance(node.func, ast.Attribute)) or name == "pipeline") \
                and transformers_api(ctx, node.func):
            self._loader(node, name, present)
        elif name == "push_to_hub" and isinstance(node.func, ast.Attribute) and \
                (ctx.origin(node.func.value) or "").startswith(("transformers.", "peft.")):
            self._loader(node, name, present)  # model.push_to_hub(use_auth_token=...) of a transformers model

    def _arguments(self, node: ast.Call, present: set[str | None]) -> None:
        for kw in node.keywords:
            if kw.arg in ARGS_RENAMED:
                new = ARGS_RENAMED[kw.arg]
                self.report(kw, f"{kw.arg}= was removed in transformers 5: use {new}=",
                            fix=rename_fix(self.ctx, kw, new) if new not in present else None)
            elif kw.arg in ARGS_REMOVED:
                self.report(kw, f"{kw.arg}= was removed in transformers 5: {ARGS_REMOVED[kw.arg]}")

    def _loader(self, node: ast.Call, name: str, present: set[str | None]) -> None:
        for kw in node.keywords:
            if kw.arg in LOADERS_RENAMED:
                new = LOADERS_RENAMED[kw.arg]
                what = "is deprecated" if kw.arg == "torch_dtype" else "was removed"
                self.report(kw, f"{kw.arg}= {what} in transformers 5: use {new}=",
                            fix=rename_fix(self.ctx, kw, new) if new not in present else None)
            elif kw.arg in LOADERS_REMOVED and name == "from_pretrained":
                self.report(kw, f"{kw.arg}= was removed in transformers 5 and is ignored: "
                            f"{LOADERS_REMOVED[kw.arg]}")


@register
class DatasetsLoadMetric(Rule):
    code = "BPL502"
    name = "datasets-load-metric"
    summary = "datasets.load_metric was removed: use evaluate.load"
    severity = ERROR
    notebook = NOTEBOOK
    node_types = (ast.Call, ast.ImportFrom)
    triggers = ("load_metric",)
    explanation = """
## What it does
Reports `datasets.load_metric(...)` and `from datasets import load_metric` (not reported when the
project pins datasets below 3).

## Why is this bad?
`load_metric` was removed in datasets 3.0: the import fails with `ImportError`, typically at
the end of a training script, when the metrics are computed.

## Example
```python
from datasets import load_metric
metric = load_metric("accuracy")
```

Use instead:
```python
import evaluate
metric = evaluate.load("accuracy")
```

## How to fix
Install `evaluate` and replace `load_metric(name)` with `evaluate.load(name)`.
"""

    def visit(self, node: Any) -> None:
        if package_range(self.ctx, "datasets").below("3"):
            return
        if type(node) is ast.ImportFrom:
            if node.module == "datasets" and any(a.name == "load_metric" for a in node.names):
                self.report(node, "datasets.load_metric was removed in datasets 3: use evaluate.load")
        elif isinstance(node.func, ast.Attribute) and self.ctx.callee(node)[0] == "datasets.load_metric":
            self.report(node.func, "datasets.load_metric was removed in datasets 3: use evaluate.load")


@register
class DeprecatedCudaAmp(Rule):
    code = "BPL503"
    name = "deprecated-cuda-amp"
    summary = "torch.cuda.amp.autocast / GradScaler are deprecated: use torch.amp"
    severity = WARNING
    notebook = "notebooks/04_performance.ipynb"
    node_types = (ast.Call,)
    triggers = ("cuda.amp",)
    explanation = """
## What it does
Reports calls of `torch.cuda.amp.autocast(...)` and `torch.cuda.amp.GradScaler(...)`, also through
`from torch.cuda.amp import autocast`.

## Why is this bad?
Both are deprecated since torch 2.4 (a `FutureWarning` at every call) in favour of the
device-generic `torch.amp` API, and will be removed.

## Example
```python
with torch.cuda.amp.autocast(dtype=torch.bfloat16):
    loss = model(**batch).loss
scaler = torch.cuda.amp.GradScaler()
```

Use instead:
```python
with torch.amp.autocast("cuda", dtype=torch.bfloat16):
    loss = model(**batch).loss
scaler = torch.amp.GradScaler("cuda")
```

## How to fix
Use `torch.amp.autocast("cuda", ...)` and `torch.amp.GradScaler("cuda", ...)`. `--unsafe-fixes`
rewrites the spelled-out `torch.cuda.amp.X(` form.
"""

    def visit(self, node: ast.Call) -> None:
        q, name = self.ctx.callee(node)
        if q not in (
            "torch.cuda.amp.autocast",
            "torch.cuda.amp.GradScaler",
            "torch.cuda.amp.autocast_mode.autocast",
            "torch.cuda.amp.grad_scaler.GradScaler",
        ):
            return
        self.report(node.func, f'torch.cuda.amp.{name} is deprecated: use torch.amp.{name}("cuda", ...)',
                    fix=_torch_amp_fix(node, str(name)))


def _torch_amp_fix(node: ast.Call, name: str) -> Fix | None:
    """``torch.cuda.amp.X(kw=...)`` -> ``torch.amp.X("cuda", kw=...)``, only for the spelled-out form
    without positional arguments (the old first positional is ``enabled``/``init_scale``)."""
    func = node.func
    if dotted(func) not in ("torch.cuda.amp.autocast", "torch.cuda.amp.GradScaler") or node.args:
        return None
    end_line, end_col = func.end_lineno or func.lineno, func.end_col_offset or func.col_offset
    title = f'use torch.amp.{name}("cuda", ...)'
    if node.keywords and node.keywords[0].arg is not None:
        k = node.keywords[0]
        return Fix([(func.lineno, func.col_offset, end_line, end_col, f"torch.amp.{name}"),
                    (k.lineno, k.col_offset, k.lineno, k.col_offset, '"cuda", ')], safe=False, title=title)
    if not node.keywords and node.end_lineno == end_line:
        return Fix([(func.lineno, func.col_offset, end_line, node.end_col_offset or end_col,
                     f'torch.amp.{name}("cuda")')], safe=False, title=title)
    return None
