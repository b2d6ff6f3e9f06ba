"""Training setup: static padding, evaluation and checkpoint selection, conflicting flags, determinism."""

from __future__ import annotations

import ast
from typing import Any

from bplint.analysis import MISSING, Context, has_star_args
from bplint.registry import ERROR, WARNING, Location, Rule, register
from bplint.rules._facts import SEEDING_TRAINERS, TrainingFacts, order, spelled, training_args


def strategy(ctx: Context, call: ast.Call, name: str, absent: object) -> object:
    """A ``*_strategy`` argument, also under its legacy name (``evaluation_strategy``): its literal
    value, ``absent`` when not given, MISSING when not literal."""
    legacy = {"eval_strategy": "evaluation_strategy"}.get(name)
    if legacy and ctx.kwarg(call, name) is None and ctx.kwarg(call, legacy) is not None:
        name = legacy
    return ctx.kw_value(call, name, absent)


def _tokenizer_like(name: str) -> bool:
    low = name.lower()
    return "tok" in low or "processor" in low or "encode" in low


@register
class StaticPadding(Rule):
    code = "BPL401"
    name = "static-padding"
    summary = "padding='max_length' in preprocessing although batches are collated later"
    severity = WARNING
    notebook = "notebooks/02_data_preprocessing.ipynb"
    node_types = (ast.Call, ast.Name, ast.Attribute)
    triggers = ("max_length",)

    @classmethod
    def wanted(cls, text: str) -> bool:
        # a notebook's text is JSON: its double quotes are escaped
        return any(q in text for q in ('"max_length"', "'max_length'", '\\"max_length\\"'))
    explanation = """
## What it does
Reports a tokenizer call (a callee named like `tokenizer`, `tok`, `processor`, `*encode*`) with
the literal `padding="max_length"` in a file that also builds batches later: a `*Trainer(...)`, a
`DataCollator*` or a `DataLoader`. A call with `return_tensors=` feeds a model directly and is not
reported, unless it is part of a dataset's preprocessing (inside a function or lambda given to
`.map(...)`).

## Why is this bad?
Every example is padded to the model's maximum length once, in `map`, and every batch then
carries that padding through the model: with typical short texts most of the compute (often
3-10x) is spent on pad tokens. A collator can pad each batch only to its own longest sequence.

## Example
```python
ds = ds.map(lambda b: tok(b["text"], truncation=True, padding="max_length"), batched=True)
trainer = Trainer(model=model, args=args, train_dataset=ds)
```

Use instead:
```python
ds = ds.map(lambda b: tok(b["text"], truncation=True), batched=True)
collator = DataCollatorWithPadding(tok, pad_to_multiple_of=8)
trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
```

## How to fix
Drop `padding="max_length"` from preprocessing (keep `truncation=True`) and pad per batch with
`DataCollatorWithPadding` (`pad_to_multiple_of=8` keeps tensor cores busy). With bf16 SDPA on
NVIDIA GPUs, cuDNN attention builds a plan for every new shape; length-grouped batches then want a
coarser multiple (64 in the notebook's H100 run) so that only a few lengths occur. Static padding is
right only where shapes must be fixed (TPU/XLA, `torch.compile` without dynamic shapes).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[tuple[Location, bool, ast.AST | None]] = []  # (where, returns tensors, scope)
        self.mapped: set[object] = set()  # functions (by name) and lambdas (by id) given to .map(...)
        self.batched = False

    def visit(self, node: Any) -> None:
        t = type(node)
        if t is ast.Call:
            name = self.ctx.callee(node)[1] or ""
            if name.endswith("Trainer") or name.startswith("DataCollator") or name == "DataLoader":
                self.batched = True
            if name == "map" and node.args:
                fn = node.args[0]
                self.mapped.add(id(fn) if isinstance(fn, ast.Lambda) else spelled(fn))
            kw = self.ctx.kwarg(node, "padding")
            if kw is not None and self.ctx.value(kw.value) == "max_length" and _tokenizer_like(name):
                tensors = self.ctx.kwarg(node, "return_tensors") is not None
                self.pending.append((self.ctx.loc(kw), tensors, self.ctx.scope))
        elif t is ast.Name:
            if node.id.startswith("DataCollator"):
                self.batched = True
        elif node.attr.startswith("DataCollator"):
            self.batched = True

    def _preprocessing(self, scope: ast.AST | None) -> bool:
        if isinstance(scope, ast.Lambda):
            return id(scope) in self.mapped
        return isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef) and scope.name in self.mapped

    def finish(self) -> None:
        if not self.batched:
            return
        for loc, tensors, scope in self.pending:
            if tensors and not self._preprocessing(scope):
                continue  # tensors for a model, not a dataset
            self.report(
                loc,
                "padding='max_length' pads every example to the maximum length although batches are "
                "collated later: pad per batch with DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)",
            )


@register
class BestModelStrategyMismatch(Rule):
    code = "BPL402"
    name = "best-model-strategy-mismatch"
    summary = (
        "load_best_model_at_end=True with save and eval strategies that differ: TrainingArguments raises"
    )
    severity = ERROR
    notebook = "notebooks/09_pitfalls.ipynb"
    node_types = (ast.Call,)
    triggers = ("load_best_model_at_end",)
    explanation = """
## What it does
Reports `TrainingArguments(load_best_model_at_end=True, ...)` whose literal `eval_strategy` and
`save_strategy` differ (unless `save_strategy="best"`), or, with both `"steps"`, whose literal
integer `save_steps` is not a multiple of `eval_steps`. Missing strategies take the library
defaults (`eval_strategy="no"`, `save_strategy="steps"`) only when the call has no `**kwargs`.

## Why is this bad?
`TrainingArguments.__post_init__` raises `ValueError` for these combinations: the script fails
when it starts, or, worse, after the data preprocessing that preceded it, on the GPU node.

## Example
```python
args = TrainingArguments("out", eval_strategy="epoch", save_strategy="steps", load_best_model_at_end=True)
```

Use instead:
```python
args = TrainingArguments("out", eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True)
```

## How to fix
Use the same strategy for saving and evaluation (and `save_steps` a multiple of `eval_steps`),
or `save_strategy="best"`.
"""

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        if training_args(ctx, node) is None:
            return
        if ctx.kw_value(node, "load_best_model_at_end", False) is not True:
            return
        star = has_star_args(node)
        ev = strategy(ctx, node, "eval_strategy", MISSING if star else "no")
        sv = strategy(ctx, node, "save_strategy", MISSING if star else "steps")
        if not isinstance(ev, str) or not isinstance(sv, str) or sv == "best":
            return
        if ev != sv:
            self.report(
                node.func,
                f"load_best_model_at_end=True needs matching strategies, but eval_strategy={ev!r} "
                f"and save_strategy={sv!r}: TrainingArguments raises ValueError",
            )
            return
        if ev == "steps":
            es = ctx.kw_value(node, "eval_steps", MISSING)
            ss = ctx.kw_value(node, "save_steps", MISSING if star else 500)
            if type(es) is int and type(ss) is int and es >= 1 and ss >= 1 and ss % es:
                self.report(
                    node.func,
                    f"load_best_model_at_end=True needs save_steps to be a multiple of eval_steps, "
                    f"but save_steps={ss} and eval_steps={es}: TrainingArguments raises ValueError",
                )


@register
class Fp16AndBf16(Rule):
    code = "BPL403"
    name = "fp16-and-bf16"
    summary = "fp16=True together with bf16=True"
    severity = ERROR
    notebook = "notebooks/04_performance.ipynb"
    node_types = (ast.Call,)
    triggers = ("fp16",)
    explanation = """
## What it does
Reports a call (TrainingArguments, a TRL config, any function) that passes both the literal
`fp16=True` and `bf16=True`.

## Why is this bad?
The two mixed-precision modes exclude each other: `TrainingArguments` refuses the combination
at start-up, and code that passes both flags on to its own setup has no defined precision.

## Example
```python
args = TrainingArguments("out", fp16=True, bf16=True)
```

Use instead:
```python
args = TrainingArguments("out", bf16=True)
```

## How to fix
Keep `bf16=True` on Ampere or newer GPUs, `fp16=True` on older ones; decide at run time with
`bf16=torch.cuda.is_bf16_supported(), fp16=not torch.cuda.is_bf16_supported()` if needed.
"""

    def visit(self, node: ast.Call) -> None:
        if self.ctx.builds_keywords(node):
            return
        if self.ctx.kw_value(node, "fp16") is True and self.ctx.kw_value(node, "bf16") is True:
            self.report(node.func, "fp16=True and bf16=True exclude each other: keep one of them")


@register
class CheckpointingWithCache(Rule):
    code = "BPL404"
    name = "gradient-checkpointing-with-cache"
    summary = "gradient checkpointing together with use_cache=True"
    severity = WARNING
    notebook = "notebooks/06_quantization_memory.ipynb"
    node_types = (ast.Call, ast.Assign)
    triggers = ("use_cache",)

    @classmethod
    def wanted(cls, text: str) -> bool:
        return "gradient_checkpointing" in text
    explanation = """
## What it does
Reports a literal `use_cache=True` given as a setting (a keyword of `from_pretrained`,
`from_config`, a `*Config(...)` or training arguments, or an assignment to `*.use_cache`; not a
forward or `generate` call that uses the cache on purpose) in a file that turns gradient
checkpointing on (`gradient_checkpointing=True` or
`.gradient_checkpointing_enable()`), unless it comes after the last training call (turning the
cache back on for generation).

## Why is this bad?
The key/value cache is useless in training and incompatible with checkpointing: the model
recomputes activations in the backward pass, the cache would keep them. transformers switches the
cache off with a warning at every forward pass; code that relies on the cache being on (or a
custom model that does not switch it off) keeps the memory that checkpointing was meant to save.

## Example
```python
model = AutoModelForCausalLM.from_pretrained("org/model", use_cache=True)
model.gradient_checkpointing_enable()
```

Use instead:
```python
model = AutoModelForCausalLM.from_pretrained("org/model", use_cache=False)
model.gradient_checkpointing_enable()
```

## How to fix
Pass `use_cache=False` when training with gradient checkpointing; turn the cache on again
(`model.config.use_cache = True`) for generation after training.
"""

    collectors = (TrainingFacts,)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.cache: list[Any] = []  # (order, location)
        self.checkpointing = False

    def visit(self, node: Any) -> None:
        ctx = self.ctx
        if type(node) is ast.Assign:
            if ctx.value(node.value) is True and any(
                isinstance(t, ast.Attribute) and t.attr == "use_cache" for t in node.targets
            ):
                self.cache.append((order(ctx, node), ctx.loc(node)))
            return
        if (
            ctx.callee(node)[1] == "gradient_checkpointing_enable"
            or ctx.kw_value(node, "gradient_checkpointing") is True
        ):
            self.checkpointing = True
        kw = ctx.kwarg(node, "use_cache")
        name = ctx.callee(node)[1] or ""
        # a setting of the model or its config, not a forward/generate call that uses the cache
        setting = name.endswith(("from_pretrained", "from_config", "Config", "Arguments")) or \
            training_args(ctx, node) is not None
        if kw is not None and setting and ctx.value(kw.value) is True:
            self.cache.append((order(ctx, node), ctx.loc(kw)))

    def finish(self) -> None:
        if not self.checkpointing:
            return
        events = self.ctx.collector(TrainingFacts).train_events + self.ctx.collector(TrainingFacts).backward
        last_training = max((e.order for e in events), default=None)
        for at, loc in self.cache:
            if last_training is not None and at > last_training:
                continue  # the cache switched back on for generation after training
            self.report(
                loc,
                "use_cache=True with gradient checkpointing: the cache is switched off anyway "
                "and wastes memory; pass use_cache=False for training",
            )


# TRL trainers that learn from rewards of samples generated during training: the reward curve is
# their measure of progress, a held-out set is not what the rule asks of them. Matched anywhere in
# the class name: TRL also ships variants such as AsyncGRPOTrainer.
ONLINE_RL = ("GRPO", "PPO", "RLOO", "OnlineDPO", "XPO", "NashMD")


def hf_trainer(ctx: Context, node: ast.Call) -> str | None:
    """Name of a transformers-style trainer built by this call (transformers, TRL, setfit,
    sentence-transformers, or a subclass of the file's own), else None (Lightning, a class of the
    file's own that is not derived from a library trainer)."""
    facts = ctx.collector(TrainingFacts)
    if not facts.is_trainer_ctor(node):
        return None
    q, name = ctx.callee(node)
    lib = (q or "").partition(".")[0]
    if lib in SEEDING_TRAINERS or name in facts.trainer_classes or q == name:
        return name
    return None


@register
class TrainingWithoutEvaluation(Rule):
    code = "BPL405"
    name = "training-without-evaluation"
    summary = "Trainer trains without an evaluation set, or with one that is never evaluated"
    severity = WARNING
    notebook = "notebooks/03_hyperparameter_tuning.ipynb"
    node_types = (ast.Call, ast.Attribute)
    collectors = (TrainingFacts,)
    triggers = ("Trainer",)

    @classmethod
    def wanted(cls, text: str) -> bool:
        return "train(" in text
    explanation = """
## What it does
In a file that calls `trainer.train()`, reports a `*Trainer(...)` built without `eval_dataset`
(nor sentence-transformers' `evaluator=`; no `**kwargs`, fewer than five positional arguments),
or, when the file has exactly one
`TrainingArguments(...)` with a literal `eval_strategy="no"` or none at all (and no `**kwargs`,
no later `args.eval_strategy = ...`), a Trainer that gets an `eval_dataset` which is then never
evaluated during training (the legacy `evaluation_strategy=` counts as `eval_strategy=`). A file
that calls `.evaluate(...)` itself, or a trainer's `.predict(...)`, is not reported, nor are
Trainers built inside test functions
(`def test_*`), which check that training runs, classes named `*Trainer` that the file defines
without deriving them from a library trainer, Lightning's `Trainer` (it validates through `fit()`),
and TRL's online reinforcement-learning trainers (GRPO, PPO, RLOO, online DPO, XPO, Nash-MD),
whose progress is the reward of the samples they generate.

## Why is this bad?
Without evaluation during training nothing tells over-fitting, a diverging run or a bad learning
rate apart from a good run until it is over; the last checkpoint is taken whatever its quality.

## Example
```python
args = TrainingArguments("out", num_train_epochs=3)
trainer = Trainer(model=model, args=args, train_dataset=train)
trainer.train()
```

Use instead:
```python
args = TrainingArguments("out", num_train_epochs=3, eval_strategy="epoch")
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val)
trainer.train()
```

## How to fix
Hold out a validation split, pass it as `eval_dataset` and set `eval_strategy="epoch"` (or
`"steps"` with `eval_steps`).
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.trainers: list[Any] = []  # (loc, has_eval)
        self.args: list[Any] = []  # eval strategy literal, or MISSING when unknown
        self.assigned = False
        self.evaluated = False

    def visit(self, node: Any) -> None:
        ctx = self.ctx
        if type(node) is ast.Attribute:
            if node.attr in ("eval_strategy", "evaluation_strategy") and isinstance(node.ctx, ast.Store):
                self.assigned = True
            return
        name = ctx.callee(node)[1]
        func = node.func
        if isinstance(func, ast.Attribute) and (name == "evaluate" or (
                name == "predict" and ctx.collector(TrainingFacts).trains(func.value))):
            self.evaluated = True  # the file evaluates the model itself, after training
        elif training_args(ctx, node) is not None:
            self.args.append(MISSING if has_star_args(node) else strategy(ctx, node, "eval_strategy", "no"))
        elif (trainer := hf_trainer(ctx, node)) and not any(rl in trainer for rl in ONLINE_RL):
            if any(getattr(s, "name", "").startswith("test") for s in ctx.scopes):
                return  # a test checks that training runs, not what it learns
            if ctx.opaque_kwargs(node) or has_star_args(node) or len(node.args) >= 5:
                return
            evaluates = any(ctx.kwarg(node, k) is not None for k in ("eval_dataset", "evaluator"))
            self.trainers.append((ctx.loc(node.func), evaluates))

    def finish(self) -> None:
        if not self.ctx.collector(TrainingFacts).train_events or self.evaluated:
            return
        never = len(self.args) == 1 and self.args[0] == "no" and not self.assigned
        for loc, has_eval in self.trainers:
            if not has_eval:
                self.report(
                    loc,
                    "Trainer without eval_dataset trains blind: hold out a validation split and pass "
                    "eval_dataset= with eval_strategy='epoch'",
                )
            elif never:
                self.report(
                    loc,
                    "eval_dataset is never evaluated during training (eval_strategy is 'no'): set "
                    "eval_strategy='epoch' or 'steps' in the training arguments",
                )


@register
class EvaluationWithoutSelection(Rule):
    code = "BPL406"
    name = "evaluation-without-checkpoint-selection"
    summary = "Evaluation during training, but neither load_best_model_at_end nor EarlyStoppingCallback"
    severity = WARNING
    notebook = "notebooks/03_hyperparameter_tuning.ipynb"
    node_types = (ast.Call, ast.Name, ast.Attribute)
    collectors = (TrainingFacts,)
    triggers = ("eval_strategy", "evaluation_strategy")
    explanation = """
## What it does
Reports `TrainingArguments(...)` with a literal `eval_strategy` (or the legacy
`evaluation_strategy`) other than `"no"`, without any
`load_best_model_at_end=` and without `**kwargs` that bplint cannot read, in a file that never
mentions `EarlyStoppingCallback` nor assigns `*.load_best_model_at_end`. A file whose trainers all
lack an `eval_dataset` is not reported: nothing is evaluated there (BPL405 reports it).

## Why is this bad?
The run measures the validation metric at every evaluation and then keeps the weights of the
last step anyway, however much worse they are than the best checkpoint seen; without early
stopping it also keeps spending GPU time after the metric stopped improving.

## Example
```python
args = TrainingArguments("out", eval_strategy="epoch", num_train_epochs=10)
```

Use instead:
```python
args = TrainingArguments("out", eval_strategy="epoch", save_strategy="epoch", num_train_epochs=10,
                         load_best_model_at_end=True, metric_for_best_model="eval_loss")
trainer = Trainer(..., callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
```

## How to fix
Pass `load_best_model_at_end=True` with matching `save_strategy` and a `metric_for_best_model`,
and add `EarlyStoppingCallback`. Passing `load_best_model_at_end=False` records that keeping the
last checkpoint is intended.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []
        self.selected = False
        self.evaluating_trainers = 0  # trainers given an eval_dataset
        self.blind_trainers = 0  # trainers without one: nothing is evaluated (BPL405's concern)

    def visit(self, node: Any) -> None:
        t = type(node)
        if t is ast.Name:
            if node.id == "EarlyStoppingCallback":
                self.selected = True
            return
        if t is ast.Attribute:
            if node.attr == "EarlyStoppingCallback" or (
                node.attr == "load_best_model_at_end" and isinstance(node.ctx, ast.Store)
            ):
                self.selected = True
            return
        ctx = self.ctx
        if hf_trainer(ctx, node):
            if ctx.kwarg(node, "eval_dataset") is not None or ctx.opaque_kwargs(node) or len(node.args) >= 5:
                self.evaluating_trainers += 1
            else:
                self.blind_trainers += 1
            return
        if training_args(ctx, node) is None or ctx.opaque_kwargs(node) or has_star_args(node):
            return
        ev = strategy(ctx, node, "eval_strategy", "no")
        if isinstance(ev, str) and ev != "no" and ctx.kwarg(node, "load_best_model_at_end") is None:
            self.pending.append(ctx.loc(node.func))

    def finish(self) -> None:
        if self.selected or (self.blind_trainers and not self.evaluating_trainers):
            return  # no trainer of the file gets an evaluation set: nothing is evaluated
        for loc in self.pending:
            self.report(
                loc,
                "evaluation runs but the last checkpoint is kept whatever its metric: pass "
                "load_best_model_at_end=True (and metric_for_best_model) or add EarlyStoppingCallback",
            )


# Training arguments parsed from the command line or a file can set full_determinism at run time.
ARG_PARSERS = frozenset({"HfArgumentParser", "TrlParser", "parse_args_into_dataclasses", "parse_yaml_file",
                         "parse_json_file", "parse_dict"})


@register
class NoDeterminism(Rule):
    code = "BPL409"
    name = "training-without-determinism"
    summary = (
        "Project asks for bitwise reproducibility, but training does not enable deterministic algorithms"
    )
    severity = WARNING
    notebook = "notebooks/08_reproducibility.ipynb"
    opt_in = True
    enabled_by = "deterministic"
    node_types = (ast.Call,)
    collectors = (TrainingFacts,)
    triggers = ("train(", "fit(", "backward")  # the file trains
    explanation = """
## What it does
Opt-in: runs when `deterministic = true` is set in `[tool.bplint]` or the code is selected
explicitly (`--extend-select BPL409`). Reports a file that trains but never calls
`torch.use_deterministic_algorithms(...)`, `enable_full_determinism(...)`,
`set_seed(..., deterministic=True)` nor passes `full_determinism=` to TrainingArguments. A file
that parses its training arguments (`HfArgumentParser`, `TrlParser`) is not reported:
`--full_determinism` can be given at run time.

## Why is this bad?
A seed fixes the random numbers, not the arithmetic: cuDNN autotuning, atomics in scatter/index
kernels and cuBLAS workspaces make two runs with the same seed differ in the last bits, and the
differences grow over training. A project that promises bitwise-identical runs needs the
deterministic kernels.

## Example
```python
set_seed(42)
trainer.train()
```

Use instead:
```python
enable_full_determinism(42)   # or TrainingArguments(..., full_determinism=True)
trainer.train()
```

## How to fix
Call `transformers.enable_full_determinism(seed)` (sets `CUBLAS_WORKSPACE_CONFIG`, cuDNN flags and
`torch.use_deterministic_algorithms(True)`), or pass `full_determinism=True`. Expect slower kernels.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.deterministic = False

    def visit(self, node: ast.Call) -> None:
        name = self.ctx.callee(node)[1]
        if (
            name in ("use_deterministic_algorithms", "enable_full_determinism")
            or name in ARG_PARSERS
            or self.ctx.kwarg(node, "full_determinism") is not None
            or (name == "set_seed" and self.ctx.kwarg(node, "deterministic") is not None)
        ):
            self.deterministic = True

    def finish(self) -> None:
        where = self.ctx.collector(TrainingFacts).training()
        if where is not None and not self.deterministic:
            self.report(
                where,
                "training without deterministic algorithms is not bitwise reproducible: call "
                "enable_full_determinism(seed) or pass full_determinism=True",
            )
