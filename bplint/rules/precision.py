"""Performance: mixed precision in Trainer arguments, Accelerate and hand-written GPU loops."""

from __future__ import annotations

import ast
import os
import re
from functools import lru_cache
from typing import Any

from bplint.analysis import Context
from bplint.registry import WARNING, Rule, document_context, register
from bplint.rules._facts import TrainingFacts, first, spelled, training_args
from bplint.rules._requirements import package_range

NOTEBOOK = "notebooks/04_performance.ipynb"
TRL_BF16_DEFAULT = "0.19"  # TRL's configs default to bf16=True (unless fp16) from this release on
PRECISION_KEYWORDS = ("mixed_precision", "fp16")  # fp16= is mixed_precision's old name in Accelerate
_LAUNCH_PRECISION = re.compile(r"^mixed_precision:\s*['\"]?(\w+)", re.MULTILINE)


@lru_cache(maxsize=1024)
def _launch_precision(directory: str) -> str | None:
    """The mixed_precision an accelerate launch config (YAML) in the directory sets, if any."""
    from bplint.sources import read_bytes

    try:
        names = sorted(os.listdir(directory))  # noqa: PTH208  (start-up time)
    except OSError:
        return None
    for name in names:
        if name.endswith((".yaml", ".yml")):
            try:
                text = read_bytes(os.path.join(directory, name), head=100_000).decode("utf-8", "replace")  # noqa: PTH118
            except ValueError:
                continue
            m = _LAUNCH_PRECISION.search(text)
            if m and "distributed_type:" in text:
                return m.group(1)
    return None


@document_context
def launch_config(path: str, root: str) -> dict[str, str | None]:
    """``accelerate launch --config_file x.yaml`` next to a script decides its precision."""
    return {"launch_precision": _launch_precision(os.path.dirname(os.path.abspath(path)))}  # noqa: PTH100, PTH120


@register
class TrainingArgsWithoutPrecision(Rule):
    code = "BPL301"
    name = "training-args-without-mixed-precision"
    summary = "TrainingArguments without bf16= or fp16=: training runs in fp32"
    severity = WARNING
    notebook = NOTEBOOK
    triggers = ("TrainingArguments", "Config")
    node_types = (ast.Call, ast.Attribute)
    explanation = """
## What it does
Reports transformers' `TrainingArguments(...)` and `Seq2SeqTrainingArguments(...)` that set
neither `bf16` nor `fp16`, and TRL configs (`SFTConfig`, `DPOConfig`...) that do not either when
the document runs with TRL older than 0.19 (later releases default to `bf16=True`). Any value counts
as a decision (`bf16=use_bf16` is fine). Not reported: other libraries' arguments of the same name
(setfit's `TrainingArguments` has no precision fields), TensorFlow code, `use_cpu=True` (or a
non-literal `use_cpu`), calls with `**kwargs` that bplint cannot read, files that assign
`args.bf16`/`args.fp16` later, files that load the model with a dtype other than float32 or
quantised (`dtype=torch.bfloat16`, `dtype="auto"`, a dtype chosen at run time,
`quantization_config=`, `.half()`), and projects configured with `cpu-only = true`.

## Why is this bad?
The default is full fp32: on a modern GPU that is typically 2-3x slower and uses more memory
than bf16 mixed precision, with no benefit to the final metric for fine-tuning.

## Example
```python
args = TrainingArguments(output_dir="out", per_device_train_batch_size=32)
```

Use instead:
```python
args = TrainingArguments(output_dir="out", per_device_train_batch_size=32, bf16=True)
```

## How to fix
Pass `bf16=True` on Ampere or newer GPUs (A100, H100, RTX 30xx+), `fp16=True` on older ones, or
decide at run time (`bf16=torch.cuda.is_bf16_supported()`). For CPU-only runs pass `use_cpu=True`
or set `cpu-only = true` in `[tool.bplint]`.
"""

    collectors = (TrainingFacts,)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []
        self.assigned = False

    def visit(self, node: Any) -> None:
        if type(node) is ast.Attribute:
            if node.attr in ("bf16", "fp16") and isinstance(node.ctx, ast.Store):
                self.assigned = True
            return
        ctx = self.ctx
        lib = training_args(ctx, node)
        if lib is None or ctx.opaque_kwargs(node):
            return
        if lib == "trl" and not package_range(ctx, "trl").below(TRL_BF16_DEFAULT):
            return  # bf16 by default
        if ctx.kwarg(node, "bf16") is not None or ctx.kwarg(node, "fp16") is not None:
            return
        cpu = ctx.kwarg(node, "use_cpu")
        if cpu is not None and ctx.value(cpu.value) is not False:
            return
        self.pending.append((ctx.loc(node.func), ctx.callee(node)[1]))

    def finish(self) -> None:
        ctx = self.ctx
        if self.assigned or ctx.options.get("cpu_only") or ctx.semantic.tensorflow:
            return
        if ctx.collector(TrainingFacts).low_precision:
            return  # the model itself is in bf16/fp16 or quantised: training does not run in fp32
        for loc, name in self.pending:
            self.report(loc, f"{name}() without bf16= or fp16= trains in fp32: pass bf16=True (Ampere+ GPUs) "
                        "or fp16=True, or use_cpu=True for CPU runs")


@register
class AcceleratorWithoutPrecision(Rule):
    code = "BPL302"
    name = "accelerator-without-mixed-precision"
    summary = "Accelerator() without mixed_precision="
    severity = WARNING
    notebook = NOTEBOOK
    triggers = ("Accelerator",)
    collectors = (TrainingFacts,)
    explanation = """
## What it does
Reports `accelerate.Accelerator(...)` without `mixed_precision=` (nor its old name `fp16=`, nor
`cpu=True` or `**kwargs` that bplint cannot read) in a file that trains through it
(`accelerator.backward(loss)`, `accelerator.accumulate(model)`, or an optimizer handed to
`prepare`), unless the project is configured with `cpu-only = true`. An accelerator that only
prepares models (to load a checkpoint or run an embedder) is not reported.
`Accelerator().device`, which only asks for the device, is not reported, nor is a script next to an
accelerate launch config (a YAML file with `distributed_type:` and `mixed_precision:`), which
decides the precision when the script runs with `accelerate launch --config_file`.

## Why is this bad?
Without the argument the precision comes from whatever `accelerate config` or
`ACCELERATE_MIXED_PRECISION` says on the machine that runs the job, usually `"no"` (fp32): the
same script is fast on one machine and 2-3x slower on another.

## Example
```python
accelerator = Accelerator()
```

Use instead:
```python
accelerator = Accelerator(mixed_precision="bf16")
```

## How to fix
Pass `mixed_precision="bf16"` (Ampere+), `"fp16"`, or `"no"` if fp32 is intended.
"""

    node_types = (ast.Call, ast.Attribute)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: list[Any] = []
        self.device_only: set[int] = set()  # Accelerator().device: asked for the device, not for training
        # Preparing models alone is also how checkpoints are loaded and embedders run for inference;
        # an optimizer handed to prepare() or gradient accumulation through the accelerator is training.
        self.trains = False

    def _optimizer(self, arg: ast.AST) -> bool:
        ctx = self.ctx
        return "optim" in (spelled(arg) or "").lower() or "optim" in (ctx.origin(arg) or "")

    def visit(self, node: Any) -> None:
        ctx = self.ctx
        if type(node) is ast.Attribute:
            if isinstance(node.value, ast.Call):
                self.device_only.add(id(node.value))
            return
        name = ctx.callee(node)[1]
        if name == "accumulate" or (name == "prepare" and any(self._optimizer(a) for a in node.args)):
            self.trains = True
            return
        if name != "Accelerator" or ctx.options.get("cpu_only") or id(node) in self.device_only:
            return
        q = ctx.callee(node)[0] or ""
        if not (q == "Accelerator" or q.startswith("accelerate")):
            return
        if ctx.opaque_kwargs(node) or any(ctx.kwarg(node, k) is not None for k in PRECISION_KEYWORDS):
            return  # decided
        if ctx.options.get("launch_precision"):
            return  # the accelerate launch config shipped next to the script decides
        cpu = ctx.kwarg(node, "cpu")
        if cpu is not None and ctx.value(cpu.value) is not False:
            return
        self.pending.append(ctx.loc(node.func))

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        if not (self.trains or len(facts.backward) > len(facts.plain_backward)):
            return  # no accelerator.backward(loss) either
        for loc in self.pending:
            self.report(loc, "Accelerator() without mixed_precision= depends on the machine's accelerate "
                        "config (usually fp32): pass mixed_precision='bf16' (or 'fp16', or 'no' on purpose)")


@register
class GpuLoopWithoutAutocast(Rule):
    code = "BPL303"
    name = "gpu-loop-without-autocast"
    summary = "GPU training loop without torch.autocast"
    severity = WARNING
    notebook = NOTEBOOK
    collectors = (TrainingFacts,)
    triggers = ("backward",)
    explanation = """
## What it does
Reports a hand-written training loop (`loss.backward()` called by the loop itself, inside a
`for`/`while`, and `optimizer.step()`; a single step to debug gradients is not a loop), in a file
that moves work to the GPU (`.cuda()`, `.to("cuda")`, `device="cuda"`,
`torch.device("cuda" ...)`) but never uses `torch.autocast` / `torch.amp.autocast` (or a
`GradScaler`) nor a low-precision model (`.half()`, `.bfloat16()`, a dtype other than float32,
a quantised model). A loop that goes through `accelerator.backward(loss)` gets Accelerate's mixed
precision (see BPL302) and is not reported. Not reported with `cpu-only = true`, nor in
TensorFlow or JAX code.

## Why is this bad?
The loop runs every matmul in fp32: on tensor-core GPUs that is typically 2-3x slower and needs
more memory than bf16 autocast.

## Example
```python
model.to("cuda")
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
```

Use instead:
```python
model.to("cuda")
for batch in loader:
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
```

## How to fix
Wrap the forward pass and the loss in `torch.autocast("cuda", dtype=torch.bfloat16)` (fp16 also
needs `torch.amp.GradScaler`), or use Accelerate with `mixed_precision="bf16"`.
"""

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        if self.ctx.options.get("cpu_only") or not facts.hand_loop() or not facts.cuda:
            return
        looping = [e for e in facts.plain_backward if facts.in_loop(e)]
        if not self.ctx.semantic.torch_only or not looping:
            return  # TensorFlow code, a single debugging step, or loops that go through an Accelerator
        if facts.autocast or facts.low_precision:
            return
        where = min(looping, key=first).loc
        self.report(where, "GPU training loop without torch.autocast runs in fp32: wrap the forward pass in "
                    "torch.autocast('cuda', dtype=torch.bfloat16)")
