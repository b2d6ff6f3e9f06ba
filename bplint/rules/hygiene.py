"""Secrets, saving and notebook hygiene."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from bplint.registry import ERROR, WARNING, Location, Rule, register
from bplint.secrets import HF_TOKEN_PATTERN as HF_TOKEN


def _output_texts(output: dict[str, Any]) -> Iterator[str]:
    for key in ("text", "data", "traceback", "evalue"):
        v = output.get(key)
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            yield from (x for x in v if isinstance(x, str))
        elif isinstance(v, dict):
            for x in v.values():
                if isinstance(x, str):
                    yield x
                elif isinstance(x, list):
                    yield from (y for y in x if isinstance(y, str))


@register
class HardcodedHubToken(Rule):
    code = "BPL801"
    name = "hardcoded-hub-token"
    summary = "Hugging Face access token written into the code or a notebook output"
    severity = ERROR
    notebook = "notebooks/07_security.ipynb"
    node_types = (ast.Constant,)
    triggers = ("hf_",)

    @classmethod
    def wanted(cls, text: str) -> bool:
        return HF_TOKEN.search(text) is not None
    explanation = """
## What it does
Reports string literals that contain a Hugging Face access token (`hf_` followed by 30 or more
letters and digits): `token="hf_..."`, `login(token="hf_...")`,
`os.environ["HF_TOKEN"] = "hf_..."`. In notebooks, cell outputs are searched too (a printed
environment, a `login()` echo, an error message); such a finding points at line 1 of the cell
whose output holds the token.

## Why is this bad?
A token in a committed file or a shared notebook is a leaked credential: anyone who can read
the repository can read, write or delete the owner's models and datasets, private ones included.
Removing it in a later commit does not remove it from the history.

## Example
```python
login(token="hf_...")  # the real token, 37 characters
```

Use instead:
```python
login()  # reads HF_TOKEN from the environment or the cached login
```

## How to fix
Revoke the token on huggingface.co (Settings, Access Tokens), read it from the environment
(`HF_TOKEN`) or `huggingface-cli login`, and clear notebook outputs before committing.
"""

    def visit(self, node: ast.Constant) -> None:
        if type(node.value) is str and "hf_" in node.value and HF_TOKEN.search(node.value):
            self.report(
                node,
                "hard-coded Hugging Face token: revoke it and read it from the HF_TOKEN environment "
                "variable instead",
            )

    def finish(self) -> None:
        nb = self.ctx.notebook
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return
        for index, cell in enumerate(nb["cells"], start=1):
            outputs = cell.get("outputs") if isinstance(cell, dict) else None
            if not isinstance(outputs, list):
                continue
            for out in outputs:
                if isinstance(out, dict) and any(HF_TOKEN.search(t) for t in _output_texts(out)):
                    self.report(
                        Location(1, 0, cell=index),
                        f"Hugging Face token in the output of cell {index}: revoke it and clear the output",
                        cell=index,
                    )
                    break


def _is_model_expr(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        n = node.id
    elif isinstance(node, ast.Attribute):
        n = node.attr
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
        f = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        return f == "unwrap_model"
    else:
        return False
    return n in ("model", "net", "module") or n.endswith("_model")


@register
class TorchSaveModule(Rule):
    code = "BPL802"
    name = "torch-save-whole-model"
    summary = "torch.save(model) pickles the whole module: save a state_dict"
    severity = WARNING
    notebook = "notebooks/07_security.ipynb"
    node_types = (ast.Call,)
    triggers = ("save",)
    explanation = """
## What it does
Reports `torch.save(x, ...)` whose first argument is a model object (a name `model`, `net`,
`*_model`, an attribute `.model`, or `accelerator.unwrap_model(...)`) rather than its
`.state_dict()`.

## Why is this bad?
Saving the module pickles the class by reference: loading needs the same code at the same import
path, breaks on refactoring, and requires `torch.load(weights_only=False)`, which can execute
code (see BPL203). A state dict (or safetensors) holds tensors only.

## Example
```python
torch.save(model, "model.pt")
```

Use instead:
```python
torch.save(model.state_dict(), "model.pt")   # or model.save_pretrained("out")
```

## How to fix
Save `model.state_dict()`, or `save_pretrained()` for transformers models (safetensors).
"""

    def visit(self, node: ast.Call) -> None:
        if self.ctx.callee(node)[0] != "torch.save" or not node.args:
            return
        if _is_model_expr(node.args[0]):
            self.report(
                node,
                "torch.save() of a whole module pickles its class: save model.state_dict() or use "
                "save_pretrained()",
            )


@register
class NotebookOutOfOrder(Rule):
    code = "BPL803"
    name = "notebook-out-of-order"
    summary = "Notebook cells were executed out of order"
    severity = WARNING
    notebook = "notebooks/08_reproducibility.ipynb"
    kinds = frozenset({"notebook"})
    explanation = """
## What it does
Reports a committed notebook whose code cells' execution counts go down from top to bottom (cells
never run, with no count, are skipped). The finding points at the first cell whose count is smaller
than that of a cell above it. The same count twice in a row means the kernel was restarted between
the cells (after an install, in Colab) and is not reported.

## Why is this bad?
The saved outputs came from a different order than the one a reader (or CI) runs: a cell may use
a variable defined further down or overwritten later, and "Run All" from a fresh kernel may fail
or give other results than the ones shown.

## Example
```text
[3] load data      [1] build model      [2] train
```

Use instead:
```text
[1] load data      [2] build model      [3] train     (Restart & Run All)
```

## How to fix
Restart the kernel and run all cells from the top before committing (or clear all outputs).
"""

    def finish(self) -> None:
        nb = self.ctx.notebook
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return
        last = None
        for index, cell in enumerate(nb["cells"], start=1):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            n = cell.get("execution_count")
            if type(n) is not int:
                continue
            if last is not None and n < last:  # the same count again: a kernel restart, not disorder
                self.report(
                    Location(1, 0, cell=index),
                    f"cell {index} ran as [{n}] after a cell above ran as [{last}]: "
                    "restart the kernel and run all cells in order before committing",
                    cell=index,
                )
                return
            last = n
