"""Inference and hand-written loops: gradients in inference, train mode, zero_grad, data loading."""

from __future__ import annotations

import ast
from typing import Any

from bplint.analysis import Context, dotted
from bplint.registry import WARNING, Rule, register
from bplint.rules._facts import MODEL_BASES, TrainingFacts, first, is_model_receiver
from bplint.semantic import SAME_OBJECT_METHODS

NO_GRAD = frozenset({"no_grad", "inference_mode"})
PREDICT = frozenset({"argmax", "softmax", "topk", "log_softmax", "sigmoid", "decode", "batch_decode"})
TRAINING_MARKS = frozenset({"backward", "step", "zero_grad", "train", "manual_backward", "clip_grad_norm_"})


def is_test_file(path: str) -> bool:
    """Test modules (``test_*.py``, ``*_test.py``, ``conftest.py``): throughput does not matter there."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py"


def _is_no_grad(ctx: Context, expr: ast.AST) -> bool:
    if isinstance(expr, ast.Call):
        expr = expr.func
    name = ctx.last_name(expr) if isinstance(expr, ast.Name | ast.Attribute) else None
    return name in NO_GRAD


def _derives_model(ctx: Context, cls: ast.ClassDef, depth: int = 0) -> bool:
    for base in cls.bases:
        name = ctx.last_name(base) or ""
        if name in MODEL_BASES or name.endswith("PreTrainedModel"):
            return True
        local = ctx.local_class(base)
        if local is not None and depth < 8 and _derives_model(ctx, local, depth + 1):
            return True
    return False


def is_model_value(ctx: Context, expr: ast.AST | None, depth: int = 0) -> bool:
    """The expression builds a PyTorch model: ``AutoModel*.from_pretrained(...)``, a ``*_model(...)``
    factory, ``get_peft_model``, ``torch.compile(model)``, an instance of a ``nn.Module`` subclass
    of the file (through ``.to()``/``.eval()`` and aliases). Data collators, tokenizers, pipelines
    and TensorFlow/Flax classes are not models."""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and \
            expr.func.attr in SAME_OBJECT_METHODS:
        expr = expr.func.value
    if depth > 8:
        return False
    if isinstance(expr, ast.Name | ast.Attribute):
        b = ctx.binding(expr)
        return b is not None and b.expr is not None and is_model_value(ctx, b.expr, depth + 1)
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr in ("from_pretrained", "from_config"):
        recv = func.value
        return isinstance(recv, ast.Name | ast.Attribute) and is_model_receiver(ctx.last_name(recv))
    if ctx.qualname(func) == "torch.compile":
        return bool(expr.args) and is_model_value(ctx, expr.args[0], depth + 1)
    local = ctx.local_class(func)
    if local is not None:
        return _derives_model(ctx, local)
    name = ctx.last_name(func) if isinstance(func, ast.Name | ast.Attribute) else None
    return name is not None and (name.endswith("_model") or is_model_receiver(name))


def is_model(ctx: Context, node: ast.AST) -> bool:
    """A callee that is a model: bound to a model value, or spelled ``model``/``self.model`` where
    nothing says otherwise (a parameter, a name bound elsewhere)."""
    b = ctx.binding(node)
    if b is not None and b.expr is not None:
        return is_model_value(ctx, b.expr)
    if isinstance(node, ast.Name):
        return node.id == "model"
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
        node.value.id == "self" and node.attr == "model"


@register
class InferenceWithoutNoGrad(Rule):
    code = "BPL601"
    name = "inference-without-no-grad"
    summary = "Model called for predictions outside torch.no_grad() / torch.inference_mode()"
    severity = WARNING
    notebook = "notebooks/10_text_generation.ipynb"
    node_types = (ast.Call, ast.Assign, ast.With, ast.FunctionDef, ast.AsyncFunctionDef)
    triggers = tuple(PREDICT)

    @classmethod
    def wanted(cls, text: str) -> bool:
        return "model" in text
    explanation = """
## What it does
Reports a forward call of a PyTorch model (`model(...)`, `self.model(...)`, a name bound to
`AutoModel*.from_pretrained(...)`, to a `nn.Module` subclass of the file or to the result of a
`*_model(...)` function; not a data collator, tokenizer, pipeline or TensorFlow model) in a
function, or at module level, whose outputs are turned into predictions (`argmax`, `softmax`,
`topk`, `sigmoid`, `decode`, directly or through the names they are assigned to) when the call
is not inside `with torch.no_grad()` / `torch.inference_mode()` (or a function decorated with
them) and the same scope does no training (`backward`, `step`, `zero_grad`, `.train()`, no
`loss`). TensorFlow and JAX code is not checked.
`model.generate(...)` is not reported: it disables gradients itself, nor are test modules
(`test_*.py`, `*_test.py`, `conftest.py`), where the memory of a small forward pass does not matter.

## Why is this bad?
Outside `no_grad` autograd records the graph of every forward pass and keeps all activations
alive until the outputs are dropped: inference uses several times the memory (often running out
on large batches) and is slower.

## Example
```python
def predict(texts):
    logits = model(**tok(texts, return_tensors="pt", padding=True)).logits
    return logits.argmax(-1)
```

Use instead:
```python
@torch.inference_mode()
def predict(texts):
    logits = model(**tok(texts, return_tensors="pt", padding=True)).logits
    return logits.argmax(-1)
```

## How to fix
Wrap inference in `with torch.inference_mode():` (or `torch.no_grad()`), or decorate the function.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.protected: set[int] = set()
        self.scopes: dict[int, dict[str, Any]] = {}

    def _protect(self, body: list[ast.stmt]) -> None:
        for st in body:
            for n in ast.walk(st):
                if type(n) is ast.Call:
                    self.protected.add(id(n))

    def _scope(self) -> dict[str, Any]:
        key = id(self.ctx.scope)
        s = self.scopes.get(key)
        if s is None:
            # calls: unprotected forward calls (id, location); assigned: the assignments of this
            # scope (by node id; which of them hold forward outputs is asked only when a prediction
            # uses the name); predicted: forward calls whose outputs reach argmax/softmax/decode...
            s = self.scopes[key] = {"calls": [], "assigned": set(), "predicted": set(), "train": False}
        return s

    def _model_calls(self, expr: ast.AST) -> set[int]:
        return {id(n) for n in ast.walk(expr) if type(n) is ast.Call and is_model(self.ctx, n.func)}

    def visit(self, node: Any) -> None:
        t = type(node)
        ctx = self.ctx
        if t is ast.Assign:
            scope = self._scope()
            if any(isinstance(tg, ast.Name) and "loss" in tg.id for tg in node.targets):
                scope["train"] = True
            scope["assigned"].add(id(node))
            return
        if t is ast.With:
            if any(_is_no_grad(ctx, item.context_expr) for item in node.items):
                self._protect(node.body)
            return
        if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            if any(_is_no_grad(ctx, d) for d in node.decorator_list):
                self._protect(node.body)
            return
        func = node.func
        name = func.attr if type(func) is ast.Attribute else (func.id if type(func) is ast.Name else None)
        if name in TRAINING_MARKS:
            self._scope()["train"] = True
        elif name in PREDICT:
            scope = self._scope()
            for n in ast.walk(node):
                b = ctx.binding(n) if type(n) is ast.Name else None
                # a name assigned earlier in this scope: the forward calls of its value are predicted
                if b is not None and isinstance(b.node, ast.Assign) and id(b.node) in scope["assigned"]:
                    scope["predicted"].update(self._model_calls(b.node.value))
            scope["predicted"].update(self._model_calls(node))
        elif id(node) not in self.protected and is_model(ctx, func):
            self._scope()["calls"].append((id(node), ctx.loc(node)))

    def finish(self) -> None:
        if is_test_file(self.ctx.path) or not self.ctx.semantic.torch_only:
            return
        for s in self.scopes.values():
            if s["train"]:
                continue
            predicting = [loc for key, loc in s["calls"] if key in s["predicted"]]
            if predicting:
                self.report(
                    predicting[0],
                    "model forward pass for predictions outside torch.no_grad(): autograd "
                    "keeps every activation; wrap it in torch.inference_mode()",
                )


@register
class GenerateInTrainMode(Rule):
    code = "BPL602"
    name = "inference-in-train-mode"
    summary = "generate() after model.train() without model.eval()"
    severity = WARNING
    notebook = "notebooks/10_text_generation.ipynb"
    node_types = (ast.Call,)
    triggers = ("generate",)
    explanation = """
## What it does
Reports `X.generate(...)` that follows `X.train()` in the same function (or at module level, in
notebook cell order) with no `X.eval()` (or `X.train(False)`) in between, on the same object: a
model assigned again to `X` (loaded from a checkpoint, in eval mode) starts afresh.

## Why is this bad?
`generate` does not switch the model to eval mode: dropout stays active, so the outputs are
noisy and differ from run to run, and validation samples taken during training look worse than
the model is.

## Example
```python
model.train()
for batch in loader:
    ...
samples = model.generate(**prompt, max_new_tokens=50)
```

Use instead:
```python
model.eval()
samples = model.generate(**prompt, max_new_tokens=50)
model.train()
```

## How to fix
Call `model.eval()` before generating (and `model.train()` again before training resumes).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.mode: dict[Any, Any] = {}

    def visit(self, node: ast.Call) -> None:
        func = node.func
        if type(func) is not ast.Attribute or func.attr not in ("train", "eval", "generate"):
            return
        recv = dotted(func.value)
        if recv is None:
            return
        # the object, not its spelling: a model loaded again into the same name starts in eval mode
        binding = self.ctx.binding(func.value)
        key = (id(self.ctx.scope), recv, id(binding) if binding is not None else None)
        if func.attr == "train":
            on = self.ctx.value(node.args[0], None) if node.args else True
            self.mode[key] = "train" if on is True else ("eval" if on is False else None)
        elif func.attr == "eval" and not node.args:
            self.mode[key] = "eval"
        elif func.attr == "generate" and self.mode.get(key) == "train":
            self.report(
                func,
                "generate() after .train() without .eval(): dropout is active during generation; "
                "call .eval() first",
            )


@register
class MissingZeroGrad(Rule):
    code = "BPL603"
    name = "missing-zero-grad"
    summary = "Training loop with backward() and step() but no zero_grad()"
    severity = WARNING
    notebook = "notebooks/09_pitfalls.ipynb"
    node_types = (ast.Call, ast.Attribute)
    collectors = (TrainingFacts,)
    triggers = ("backward",)
    explanation = """
## What it does
Reports a hand-written training loop (`.backward()` and an `optimizer.step()` inside a `for` or
`while` loop) in a file that never
calls `zero_grad()` (on the optimizer or the model) nor assigns `param.grad = None`.

## Why is this bad?
Gradients accumulate in `.grad` across backward calls: without resetting them every step
applies the sum of all gradients so far, the effective learning rate grows with the step count
and training diverges or silently trains worse.

## Example
```python
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
```

Use instead:
```python
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
```

## How to fix
Call `optimizer.zero_grad(set_to_none=True)` after each optimizer step (with gradient
accumulation: after each step, not after each micro-batch).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.zeroed = False

    def visit(self, node: Any) -> None:
        t = type(node)
        if t is ast.Attribute:
            if node.attr in ("zero_grad", "grad") and (
                node.attr == "zero_grad" or isinstance(node.ctx, ast.Store)
            ):
                self.zeroed = True
        elif self.ctx.callee(node)[1] in ("zero_grad", "zero_grad_"):
            self.zeroed = True

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        if not facts.hand_loop() or self.zeroed:
            return
        in_loop = [e for e in sorted(facts.steps, key=first) if facts.in_loop(e)]
        if in_loop:
            self.report(
                in_loop[0].loc,
                "optimizer.step() without zero_grad(): gradients accumulate across steps; call "
                "optimizer.zero_grad(set_to_none=True) after each step",
            )


def _dataloader(ctx: Context, node: ast.Call) -> bool:
    q, name = ctx.callee(node)
    return name == "DataLoader" and (q or "").startswith(("torch.utils.data", "DataLoader"))


@register
class ShuffleWithoutGenerator(Rule):
    code = "BPL701"
    name = "shuffle-without-generator"
    summary = "Shuffled DataLoader with workers but no generator= or worker_init_fn="
    severity = WARNING
    notebook = "notebooks/08_reproducibility.ipynb"
    node_types = (ast.Call,)
    collectors = (TrainingFacts,)
    triggers = ("DataLoader",)
    explanation = """
## What it does
Reports `torch.utils.data.DataLoader(...)` with the literal `shuffle=True` and a literal
`num_workers` above 0 that passes neither `generator=` nor `worker_init_fn=` (nor a `sampler=`,
nor `**kwargs`). Files that use an `Accelerator` are not reported: `accelerator.prepare()` seeds
and synchronises the samplers' generators.

## Why is this bad?
The shuffle order and the workers' base seed are then drawn from the global torch RNG at the
moment the iterator is created: any change that consumes random numbers before it (another
model init, a dropout call, a new augmentation) changes the data order and the augmentations of
every later epoch, so runs that should be comparable are not.

## Example
```python
loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=4)
```

Use instead:
```python
g = torch.Generator().manual_seed(seed)
loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=4, generator=g,
                    worker_init_fn=seed_worker)
```

## How to fix
Pass a seeded `torch.Generator` as `generator=` (and a `worker_init_fn` that seeds `random` and
`numpy` from `torch.initial_seed()` if the dataset uses them).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []

    def finish(self) -> None:
        if self.ctx.collector(TrainingFacts).accelerator:
            return  # accelerator.prepare() synchronises and seeds the samplers' generators
        for loc in self.pending:
            self.report(
                loc,
                "shuffled DataLoader with workers and no generator=: the data order depends on "
                "the global RNG state; pass generator=torch.Generator().manual_seed(seed)",
            )

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        if not _dataloader(ctx, node) or ctx.opaque_kwargs(node):
            return
        shuffle = ctx.kwarg(node, "shuffle")
        workers = ctx.kwarg(node, "num_workers")
        if shuffle is None or ctx.value(shuffle.value, None) is not True or workers is None:
            return
        n = ctx.value(workers.value, None)
        if type(n) is not int or n <= 0:
            return
        if any(ctx.kwarg(node, k) is not None for k in ("generator", "worker_init_fn", "sampler")):
            return
        self.pending.append(ctx.loc(node.func))


@register
class DataLoaderWithoutWorkers(Rule):
    code = "BPL702"
    name = "dataloader-without-workers"
    summary = "DataLoader loads in the main process (num_workers=0) in GPU training"
    severity = WARNING
    notebook = "notebooks/04_performance.ipynb"
    opt_in = True
    node_types = (ast.Call,)
    collectors = (TrainingFacts,)
    triggers = ("DataLoader",)

    @classmethod
    def wanted(cls, text: str) -> bool:
        return any(t in text for t in ("train(", "fit(", "backward"))
    explanation = """
## What it does
Opt-in (select `BPL702` explicitly). Reports `DataLoader(...)` without `num_workers` (or with the
literal 0), without `**kwargs`, in a file that trains (a Trainer or a hand-written loop) on the
GPU (`.cuda()`, `"cuda"`). Test modules (`test_*.py`, `*_test.py`, `conftest.py`) are not
reported.

## Why is this bad?
With no workers, loading, decoding and collation run in the training process between steps,
and the GPU waits: data-heavy pipelines (images, audio, on-the-fly tokenization) lose much of
their throughput. Tokenized text datasets are often fast enough, hence opt-in.

## Example
```python
loader = DataLoader(ds, batch_size=32, shuffle=True)
```

Use instead:
```python
loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=4, pin_memory=True,
                    persistent_workers=True)
```

## How to fix
Pass `num_workers` (a few per GPU), `pin_memory=True` and `persistent_workers=True`.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []

    def visit(self, node: ast.Call) -> None:
        if not _dataloader(self.ctx, node) or self.ctx.opaque_kwargs(node) or len(node.args) > 5:
            return
        kw = self.ctx.kwarg(node, "num_workers")
        if kw is None or self.ctx.value(kw.value, None) == 0:
            self.pending.append(self.ctx.loc(node.func))

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        if is_test_file(self.ctx.path) or self.ctx.options.get("cpu_only"):
            return
        if facts.cuda and facts.training() is not None:
            for loc in self.pending:
                self.report(
                    loc,
                    "DataLoader without workers in GPU training: the GPU waits for data loading; "
                    "pass num_workers=4, pin_memory=True, persistent_workers=True",
                )
