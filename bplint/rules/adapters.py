"""Parameter-efficient fine-tuning and quantized loading: task heads that BitsAndBytesConfig quantizes,
4-bit bases trained without preparation, LoRA configs that leave a new head untrained, adapters saved
with torch.save."""

from __future__ import annotations

import ast

from bplint.analysis import Context, keyword
from bplint.registry import WARNING, Location, Rule, register
from bplint.rules._facts import TrainingFacts

NOTEBOOK = "notebooks/11_peft_quantization.ipynb"
# Model classes that put a new, randomly initialised head on a base checkpoint.
TASK_HEADS = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
              "ForMultipleChoice")
PEFT_CLASSES = ("PeftModel", "AutoPeftModel")
_DEPTH = 4  # alias chains (``a = b``) followed at most this deep


class Bindings:
    """The expression each plain name was assigned last, as seen at any point of the single pass.

    A binding takes effect at the end of its statement, so ``model = get_peft_model(model, config)``
    still reads the earlier ``model`` inside its own right-hand side. Scopes are not told apart.
    """

    node_types = (ast.Assign, ast.AnnAssign)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.names: dict[str, list[tuple[tuple[int, int, int], ast.expr]]] = {}

    def visit(self, node: ast.Assign | ast.AnnAssign) -> None:
        if node.value is None:
            return
        end = (self.ctx.cell or 0, node.end_lineno or node.lineno, node.end_col_offset or 0)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                self.names.setdefault(target.id, []).append((end, node.value))

    def finish(self) -> None:
        pass

    def value(self, node: ast.AST | None, depth: int = 0) -> ast.AST | None:
        """``node`` itself, or for a name the expression it was last assigned before ``node``."""
        if not isinstance(node, ast.Name):
            return node
        at = (self.ctx.cell or 0, node.lineno, node.col_offset)
        found = None
        for end, value in self.names.get(node.id, ()):
            if end <= at:
                found = value
        if isinstance(found, ast.Name) and depth < _DEPTH:
            return self.value(found, depth + 1)
        return found


def _star_kwargs(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords)


def _name(ctx: Context, node: ast.AST | None) -> str:
    return (ctx.callee(node)[1] or "") if isinstance(node, ast.Call) else ""


def _receiver(ctx: Context, call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name | ast.Attribute):
        return ctx.last_name(func.value) or ""
    return ""


def _first_argument(call: ast.Call, name: str) -> ast.AST | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    kw = keyword(call, name)
    return kw.value if kw is not None else None


def _is_true(ctx: Context, call: ast.Call, name: str) -> bool:
    kw = keyword(call, name)
    return kw is not None and ctx.value(kw.value, None) is True


def _missing(ctx: Context, call: ast.Call, name: str) -> bool:
    """``name`` is not passed (or passed as a literal ``None``) and no ``**kwargs`` could pass it."""
    kw = keyword(call, name)
    if kw is not None:
        return isinstance(kw.value, ast.Constant) and kw.value.value is None
    return not _star_kwargs(call)


def kbit_config(ctx: Context, bindings: Bindings, node: ast.AST | None) -> ast.Call | None:
    """The ``BitsAndBytesConfig(load_in_4bit=True | load_in_8bit=True, ...)`` call ``node`` stands for."""
    value = bindings.value(node)
    if (
        isinstance(value, ast.Call)
        and _name(ctx, value) == "BitsAndBytesConfig"
        and (_is_true(ctx, value, "load_in_4bit") or _is_true(ctx, value, "load_in_8bit"))
    ):
        return value
    return None


def kbit_load(ctx: Context, bindings: Bindings, node: ast.AST | None) -> bool:
    """``node`` is (or names) a ``from_pretrained`` call that loads a 4-bit or 8-bit bitsandbytes model."""
    value = bindings.value(node)
    if not isinstance(value, ast.Call) or _name(ctx, value) != "from_pretrained":
        return False
    kw = keyword(value, "quantization_config")
    return kw is not None and kbit_config(ctx, bindings, kw.value) is not None


def peft_model(ctx: Context, bindings: Bindings, node: ast.AST | None) -> bool:
    """``node`` is (or names) a model with PEFT adapters: ``get_peft_model(...)`` or a
    ``PeftModel*.from_pretrained(...)`` / ``AutoPeftModel*.from_pretrained(...)``."""
    value = bindings.value(node)
    if not isinstance(value, ast.Call):
        return False
    name = _name(ctx, value)
    if name == "get_peft_model":
        return True
    return name == "from_pretrained" and _receiver(ctx, value).startswith(PEFT_CLASSES)


@register
class QuantizedTaskHead(Rule):
    code = "BPL304"
    name = "bnb-quantized-task-head"
    summary = "BitsAndBytesConfig on a classification or QA model without llm_int8_skip_modules"
    severity = WARNING
    notebook = NOTEBOOK
    node_types = (ast.Call,)
    collectors = (Bindings,)
    triggers = ("BitsAndBytesConfig",)
    explanation = """
## What it does
Reports `*ForSequenceClassification`, `*ForTokenClassification`, `*ForQuestionAnswering` and
`*ForMultipleChoice` `.from_pretrained(...)` calls whose `quantization_config` is a
`BitsAndBytesConfig(load_in_4bit=True, ...)` or `(load_in_8bit=True, ...)` (inline, or a name
assigned one) that does not pass `llm_int8_skip_modules` (and has no `**kwargs`).

## Why is this bad?
transformers keeps "the last module" out of quantization by default, but transformers 5 (the source
of 5.0, 5.17 and 5.24) names that module by its last parameter with only `.weight` removed: a head
ending in a bias is listed as `classifier.bias`, which matches no module, so the head is quantized
too. A head that the checkpoint lacks (a base checkpoint loaded for a new task) is then created as a
plain float weight inside a bitsandbytes layer, and the first forward pass fails: `AssertionError` in
4-bit, `AttributeError: 'Parameter' object has no attribute 'CB'` in 8-bit. A checkpoint that
contains the head loads it quantized with the other layers. Notebook 11 runs both.

## Example
```python
bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5, quantization_config=bnb)
```

Use instead:
```python
bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", llm_int8_skip_modules=["classifier"])
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5, quantization_config=bnb)
```

## How to fix
Name the head's module in `llm_int8_skip_modules` (`classifier` for BERT-style models, `score` for
decoders, `qa_outputs` for QA). The list replaces the default one: for a decoder add its output layer
(`lm_head`) too. To train the head with LoRA, list it in `modules_to_save` (what
`task_type="SEQ_CLS"` does).
"""

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        if ctx.callee(node)[1] != "from_pretrained" or not _receiver(ctx, node).endswith(TASK_HEADS):
            return
        kw = keyword(node, "quantization_config")
        config = kbit_config(ctx, ctx.collector(Bindings), kw.value) if kw is not None else None
        if config is not None and _missing(ctx, config, "llm_int8_skip_modules"):
            self.report(
                node.func,
                "BitsAndBytesConfig without llm_int8_skip_modules quantizes the task head (transformers 5 "
                "keeps 'classifier.bias', not 'classifier'); a new head then fails at the first forward: "
                "pass llm_int8_skip_modules=['classifier'] (the head's module)",
            )


@register
class KbitTrainingWithoutPreparation(Rule):
    code = "BPL407"
    name = "kbit-training-without-preparation"
    summary = "get_peft_model on a 4-bit/8-bit base without prepare_model_for_kbit_training, then training"
    severity = WARNING
    notebook = NOTEBOOK
    node_types = (ast.Call,)
    collectors = (Bindings, TrainingFacts)
    triggers = ("get_peft_model",)
    explanation = """
## What it does
In a file that trains (`trainer.train()`, or `backward()` with `optimizer.step()`), reports
`get_peft_model(model, ...)` where `model` was loaded with a `BitsAndBytesConfig(load_in_4bit=True)`
or `(load_in_8bit=True)` (inline or through a name) and was not passed to
`prepare_model_for_kbit_training` before.

## Why is this bad?
`prepare_model_for_kbit_training` casts every weight left in 16 bits (norms, embeddings, a new head
that `modules_to_save` trains) to fp32 and sets up gradient checkpointing with input gradients.
Without it the trained head stays in fp16 or bf16: with fp16 mixed precision (`fp16=True`) the
gradient scaler stops at the first step with `ValueError: Attempting to unscale FP16 gradients.`
(notebook 11 runs it), and bf16 weights take rounded updates.

## Example
```python
model = AutoModelForSequenceClassification.from_pretrained(base, quantization_config=bnb)
model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS"))
trainer.train()
```

Use instead:
```python
model = AutoModelForSequenceClassification.from_pretrained(base, quantization_config=bnb)
model = prepare_model_for_kbit_training(model)
model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS"))
```

## How to fix
Call `model = prepare_model_for_kbit_training(model)` between loading the quantized base and
`get_peft_model` (pass `use_gradient_checkpointing=False` to keep checkpointing off). TRL's trainers
do it themselves when given `peft_config=`.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.prepared: set[str] = set()
        self.pending: list[Location] = []

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        name = ctx.callee(node)[1]
        if name == "prepare_model_for_kbit_training":
            target = _first_argument(node, "model")
            if isinstance(target, ast.Name):
                self.prepared.add(target.id)
            return
        if name != "get_peft_model":
            return
        target = _first_argument(node, "model")
        if isinstance(target, ast.Name) and target.id in self.prepared:
            return
        if kbit_load(ctx, ctx.collector(Bindings), target):
            self.pending.append(ctx.loc(node.func))

    def finish(self) -> None:
        if self.ctx.collector(TrainingFacts).training() is None:
            return
        for loc in self.pending:
            self.report(
                loc,
                "get_peft_model on a 4-bit/8-bit base without prepare_model_for_kbit_training: the layers "
                "left in 16 bits (a trained head) stay fp16/bf16, and fp16 training fails at its first "
                "step: call model = prepare_model_for_kbit_training(model) first",
            )


def _saves_nothing(config: ast.Call) -> bool:
    return keyword(config, "modules_to_save") is None


@register
class LoraWithoutTaskType(Rule):
    code = "BPL408"
    name = "lora-new-head-not-trained"
    summary = "LoraConfig without task_type or modules_to_save for a model with a new task head"
    severity = WARNING
    notebook = NOTEBOOK
    node_types = (ast.Call,)
    collectors = (Bindings,)
    triggers = ("LoraConfig",)
    explanation = """
## What it does
Reports `LoraConfig(...)` calls that pass neither `task_type` nor `modules_to_save` (and no
`**kwargs`) when the config wraps a `*ForSequenceClassification`, `*ForTokenClassification`,
`*ForQuestionAnswering` or `*ForMultipleChoice` model in `get_peft_model` (inline or through names),
or, for a config not passed to `get_peft_model` in the file, when the file builds such a model.

## Why is this bad?
Loading a base checkpoint for a task creates a new, randomly initialised head. peft trains and saves
it only when `task_type` ("SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS") puts it in `modules_to_save`.
Without it the head stays frozen at its random values while the adapters train around it, and
`save_pretrained` leaves it out of the adapter: the same adapter loaded in another process meets a
differently initialised head. Notebook 11 measures the accuracy and the logits after reloading.

## Example
```python
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16))
```

Use instead:
```python
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, task_type="SEQ_CLS"))
```

## How to fix
Pass the `task_type` of the head, or name the head in `modules_to_save=["classifier"]`. A base
checkpoint that already holds a trained head may keep it frozen: pass `modules_to_save=[]` to say so.
"""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.head = False
        self.configs: list[ast.Call] = []
        self.wrapped: list[ast.Call] = []

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        name = ctx.callee(node)[1] or ""
        if _builds_task_head(ctx, node):
            self.head = True
        elif name == "LoraConfig" and _missing(ctx, node, "task_type") and _saves_nothing(node):
            self.configs.append(node)
        elif name == "get_peft_model":
            self.wrapped.append(node)

    def finish(self) -> None:
        """A config passed to ``get_peft_model`` is judged by the model it wraps; one used elsewhere
        (a trainer's ``peft_config=``) by whether the file builds a task head at all."""
        ctx, bindings = self.ctx, self.ctx.collector(Bindings)
        judged: dict[int, bool] = {}
        for call in self.wrapped:
            passed = call.args[1] if len(call.args) > 1 else _keyword_value(call, "peft_config")
            config = bindings.value(passed)
            model = bindings.value(_first_argument(call, "model"))
            if isinstance(config, ast.Call) and isinstance(model, ast.Call):
                judged[id(config)] = judged.get(id(config), False) or _builds_task_head(ctx, model)
        for config in self.configs:
            if judged.get(id(config), self.head):
                self.report(
                    ctx.loc(config.func),
                    "LoraConfig without task_type or modules_to_save: the new task head stays frozen at its "
                    "random initialisation and is not saved with the adapter; pass task_type='SEQ_CLS' (or "
                    "the head's task)",
                )


def _keyword_value(call: ast.Call, name: str) -> ast.AST | None:
    kw = keyword(call, name)
    return kw.value if kw is not None else None


def _builds_task_head(ctx: Context, call: ast.Call) -> bool:
    """``call`` builds a model with a new task head: ``*ForSequenceClassification(...)`` or its
    ``from_pretrained`` / ``from_config``."""
    name = ctx.callee(call)[1] or ""
    return name.endswith(TASK_HEADS) or (
        name in ("from_pretrained", "from_config") and _receiver(ctx, call).endswith(TASK_HEADS)
    )


@register
class AdapterTorchSave(Rule):
    code = "BPL804"
    name = "peft-model-torch-save"
    summary = "torch.save of a PEFT model or its state_dict: saves the whole base, not the adapter"
    severity = WARNING
    notebook = NOTEBOOK
    node_types = (ast.Call,)
    collectors = (Bindings,)
    triggers = ("peft",)
    explanation = """
## What it does
Reports `torch.save(model, ...)` and `torch.save(model.state_dict(), ...)` where `model` was built
by `get_peft_model(...)` or loaded by `PeftModel.from_pretrained(...)` /
`AutoPeftModel*.from_pretrained(...)`.

## Why is this bad?
A PEFT model's state dict holds the frozen base as well as the adapter: the file is the size of the
whole model (gigabytes for a LoRA adapter of a few megabytes), it has no `adapter_config.json`, so
`PeftModel.from_pretrained` cannot load it, and saving the module itself pickles code (see BPL802).
`save_pretrained` writes the adapter alone, in safetensors, with its config (notebook 11: 306 KiB
against 87 MiB for MiniLM).

## Example
```python
model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS"))
torch.save(model.state_dict(), "adapter.pt")
```

Use instead:
```python
model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS"))
model.save_pretrained("adapter")   # adapter_model.safetensors + adapter_config.json
```

## How to fix
Save with `model.save_pretrained(directory)` and load with `PeftModel.from_pretrained(base,
directory)`; pin the base (a revision, or a hash of its files) next to the adapter, since peft loads
an adapter onto any base with matching module names.
"""

    def visit(self, node: ast.Call) -> None:
        ctx = self.ctx
        if ctx.callee(node)[0] != "torch.save" or not node.args:
            return
        saved = node.args[0]
        method = saved.func if isinstance(saved, ast.Call) else None
        state_dict = _name(ctx, saved) == "state_dict" and isinstance(method, ast.Attribute)
        target = method.value if isinstance(method, ast.Attribute) and state_dict else saved
        if peft_model(ctx, ctx.collector(Bindings), target):
            what = "a PEFT model's state_dict" if state_dict else "a PEFT model"
            self.report(
                node,
                f"torch.save of {what} writes the whole base with the adapter and no adapter_config.json: "
                "save the adapter alone with model.save_pretrained(directory)",
            )
