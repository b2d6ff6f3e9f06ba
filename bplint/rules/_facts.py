"""Shared facts about training code (trainers, seeds, models, precision), collected once per file."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from bplint.registry import Location

TRAINER_SUFFIX = "Trainer"
NN_LAYERS = frozenset({
    "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "RNN", "LSTM", "GRU",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "MultiheadAttention",
})
MODEL_BASES = frozenset({"Module", "PreTrainedModel", "LightningModule", "PeftModel"})
NOT_MODEL_SUFFIXES = ("Tokenizer", "TokenizerFast", "Config", "Processor", "FeatureExtractor",
                      "ImageProcessor", "ImageProcessorFast", "VideoProcessor", "Pipeline")
NOT_MODEL_PREFIXES = ("DataCollator", "Trainer", "TF", "Flax")
NOT_SEEDS = frozenset({"random.seed", "numpy.random.seed"})
LOW_PRECISION = frozenset({"bfloat16", "float16", "half", "bf16", "fp16"})
FULL_PRECISION = frozenset({"float32", "float"})
QUANTIZATION = frozenset({"quantization_config", "load_in_4bit", "load_in_8bit"})
# Task heads that fine-tuning adds to a pretrained body: from_pretrained initialises them at random
# (the checkpoint of a base model has no such head). Other classes load every weight from the
# checkpoint (AutoModel, *ForCausalLM, *ForConditionalGeneration...).
NEW_HEADS = (
    "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice",
    "ForImageClassification", "ForAudioClassification", "ForAudioFrameClassification", "ForAudioXVector",
    "ForCTC", "ForObjectDetection", "ForSemanticSegmentation", "ForInstanceSegmentation",
    "ForUniversalSegmentation", "ForVideoClassification", "ForKeypointDetection", "ForDepthEstimation",
)
# Training-argument classes: transformers' own (with bf16/fp16 fields), and TRL's configs.
TRANSFORMERS_ARGS = frozenset({"TrainingArguments", "Seq2SeqTrainingArguments"})
TRL_CONFIGS = frozenset({
    "SFTConfig", "DPOConfig", "ORPOConfig", "KTOConfig", "CPOConfig", "GRPOConfig", "RewardConfig",
    "PPOConfig", "RLOOConfig", "OnlineDPOConfig", "GKDConfig", "PRMConfig", "BCOConfig", "XPOConfig",
    "NashMDConfig", "GOLDConfig", "DistillationConfig",
})
TRAINING_ARGS = TRANSFORMERS_ARGS | TRL_CONFIGS
# Libraries whose Trainer seeds the run itself (transformers' Trainer.__init__ and its subclasses).
SEEDING_TRAINERS = ("transformers", "trl", "sentence_transformers", "setfit")
NO_OPTION = object()  # the file defines no --seed option
UNKNOWN_DEFAULT = object()  # its default is not a literal


def order(ctx: Any, node: ast.AST) -> tuple[int, int, int]:
    return (ctx.cell or 0, node.lineno, node.col_offset)  # type: ignore[attr-defined]


_FOR_TASK = re.compile(r"For[A-Z]")


def is_model_receiver(name: str | None) -> bool:
    """True for model classes (``AutoModel*``, ``*Model``, ``*ForSequenceClassification``...)."""
    if not name or name.endswith(NOT_MODEL_SUFFIXES) or name.startswith(NOT_MODEL_PREFIXES):
        return False
    return "Model" in name or _FOR_TASK.search(name) is not None


def training_args(ctx: Any, call: ast.Call) -> str | None:
    """Library of a training-arguments call (``transformers`` or ``trl``), None for anything else
    (setfit's ``TrainingArguments`` has no precision or strategy fields)."""
    q, name = ctx.callee(call)
    if name not in TRAINING_ARGS or q is None:
        return None
    lib = q.partition(".")[0]
    if q == name:  # not imported in this document: guess from what it imports
        if name in TRL_CONFIGS:
            return "trl"
        setfit_only = ctx.semantic.uses("setfit") and not ctx.semantic.uses("transformers")
        return None if setfit_only else "transformers"
    return lib if lib in ("transformers", "trl") else None


def spelled(node: ast.AST) -> str | None:
    """The name an expression is spelled with: ``x`` of ``x``, ``y`` of ``a.b.y``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _is_model_name(ctx: Any, node: ast.AST) -> bool:
    """A model given by its name or path (``"org/name"``, ``model_args.model_name_or_path``)."""
    if isinstance(ctx.value(node), str):
        return True
    return (spelled(node) or "").endswith(("name_or_path", "model_id", "model_name", "model_path"))


class Event(NamedTuple):
    order: tuple[int, int, int]
    loc: Location
    scope: ast.AST | None


def first(event: Event) -> tuple[int, int, int]:
    """Sort key of events: source order (cell, line, column)."""
    return event.order


def where(event: Event) -> str:
    """``line 12``, or ``cell 3, line 2`` in a notebook."""
    loc = event.loc
    return f"cell {loc.cell}, line {loc.line}" if loc.cell else f"line {loc.line}"


class TrainingFacts:
    """Collects training, seeding and model-building facts of a file, once, for several rules."""

    node_types = (ast.Call, ast.ClassDef, ast.Constant, ast.If, ast.Assign, ast.For, ast.AsyncFor, ast.While)

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.trainer_names: set[str] = set()  # names assigned a trainer anywhere (fallback for other scopes)
        self.trainer_classes: set[str] = set()  # classes of the file derived from a library trainer
        self.local_classes: set[str] = set()  # other classes of the file named *Trainer
        self.model_classes: set[str] = set()
        self.trainer_builds_model = False  # model= given as a name or path: the trainer loads it (TRL)
        self.trainers: list[Event] = []  # trainer constructions without model_init (they get a built model)
        self.model_init_trainers = 0  # trainer constructions with model_init (they build it after seeding)
        self.seeding_trainer = False  # a trainer that seeds in its constructor (transformers and subclasses)
        self.train_events: list[Event] = []
        self.backward: list[Event] = []
        self.plain_backward: list[Event] = []  # loss.backward(), not accelerator.backward(loss)
        self.steps: list[Event] = []
        self.seeds: list[Event] = []
        self.models: list[Event] = []
        self.seed_guards: list[tuple[int, int, int]] = []  # (cell, first, last line) of `if args.seed ...:`
        self.loops: list[tuple[int, int, int]] = []  # (cell, first, last line) of for/while loops
        self.seed_default: object = NO_OPTION  # default of an argparse --seed option defined here
        self.cuda = False
        self.autocast = False
        self.low_precision = False  # .half(), dtype=bfloat16, a model loaded in bf16/fp16 or quantised
        self.accelerator = False
        self._steps: dict[type, Callable[[Any], None]] = {
            ast.Constant: self._constant, ast.ClassDef: self._class, ast.If: self._if, ast.Call: self._call,
            ast.Assign: self._assign, ast.For: self._loop, ast.AsyncFor: self._loop, ast.While: self._loop}

    def visit(self, node: ast.AST) -> None:
        self._steps[type(node)](node)

    def finish(self) -> None:
        pass

    # -- steps -------------------------------------------------------------------------------------
    def _constant(self, node: ast.Constant) -> None:
        v = node.value
        if type(v) is str and v[:4] == "cuda" and (v == "cuda" or v[4:5] == ":") and len(v) < 9:
            self.cuda = True

    def _class(self, node: ast.ClassDef) -> None:
        trainer_base = False
        for b in node.bases:
            bn = self.ctx.last_name(b) or ""
            if bn in MODEL_BASES or bn.endswith("PreTrainedModel") or bn in self.model_classes:
                self.model_classes.add(node.name)
            if bn in self.trainer_classes or (bn.endswith(TRAINER_SUFFIX) and bn not in self.local_classes):
                trainer_base = True
        if trainer_base:
            self.trainer_classes.add(node.name)
        elif node.name.endswith(TRAINER_SUFFIX):
            self.local_classes.add(node.name)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        self.loops.append((self.ctx.cell or 0, node.lineno, node.end_lineno or node.lineno))

    def _assign(self, node: ast.Assign) -> None:
        if self.is_trainer_ctor(node.value):
            for tg in node.targets:
                if isinstance(tg, ast.Name):
                    self.trainer_names.add(tg.id)
                elif isinstance(tg, ast.Attribute):
                    self.trainer_names.add(tg.attr)

    def _if(self, node: ast.If) -> None:
        """``if args.seed is not None:`` / ``if args.seed:``: a seed set only when one is given."""
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot) \
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None:
            test = test.left
        if "seed" in (spelled(test) or "").lower() and node.body:
            self.seed_guards.append((self.ctx.cell or 0, node.body[0].lineno, node.body[-1].end_lineno or 0))

    def is_trainer_ctor(self, call: ast.AST | None) -> bool:
        if not isinstance(call, ast.Call):
            return False
        name = self.ctx.callee(call)[1]
        if not name or name in self.local_classes:
            return False
        return name.endswith(TRAINER_SUFFIX) or name in self.trainer_classes

    def _through_accelerator(self, recv: ast.AST) -> bool:
        """``accelerator.backward(loss)``: Accelerate applies its mixed precision there."""
        origin = self.ctx.origin(recv) or ""
        return origin.endswith("Accelerator") or "accelerator" in (spelled(recv) or "").lower()

    def trains(self, recv: ast.AST) -> bool:
        """The receiver of ``.train()``/``.fit()`` is a trainer (built here, or bound to one)."""
        if self.is_trainer_ctor(recv):
            return True
        b = self.ctx.binding(recv)
        if b is not None and self.is_trainer_ctor(b.expr):
            return True
        return spelled(recv) in self.trainer_names

    def _call(self, node: ast.Call) -> None:
        ctx = self.ctx
        q, name = ctx.callee(node)
        if not name:
            return
        if self.is_trainer_ctor(node):
            self._trainer(node, q)
        func = node.func
        if isinstance(func, ast.Attribute) and self._method(node, func, name):
            return
        self._function(node, q, name)

    def _trainer(self, node: ast.Call, q: str | None) -> None:
        ctx = self.ctx
        if ctx.kwarg(node, "model_init") is not None:
            self.model_init_trainers += 1
        else:
            self.trainers.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))
        lib = (q or "").partition(".")[0]
        if lib in SEEDING_TRAINERS or (self.ctx.callee(node)[1] in self.trainer_classes) or q == "Trainer":
            self.seeding_trainer = True
        m = ctx.kwarg(node, "model")
        if m is not None and _is_model_name(ctx, m.value):
            self.trainer_builds_model = True

    def _method(self, node: ast.Call, func: ast.Attribute, name: str) -> bool:
        """Facts of ``x.name(...)``; True when the call is fully accounted for."""
        ctx = self.ctx
        recv = func.value
        if name in ("train", "fit") and self.trains(recv):
            self.train_events.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))
            return True
        if name == "backward":
            event = Event(order(ctx, node), ctx.loc(node), ctx.scope)
            self.backward.append(event)
            if not self._through_accelerator(recv):
                self.plain_backward.append(event)
            return True
        if name == "step":
            low = (spelled(recv) or "").lower()
            if "optim" in low or low in ("opt", "optimiser") or "scaler" in low:
                self.steps.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))
            return True
        if name in ("from_pretrained", "from_config"):
            self._loaded_model(node, name, recv)
            return True
        if name == "cuda":
            self.cuda = True
        elif name in ("half", "bfloat16"):
            self.low_precision = True
        return False

    def _loaded_model(self, node: ast.Call, name: str, recv: ast.AST) -> None:
        ctx = self.ctx
        cls = ctx.last_name(recv) if isinstance(recv, ast.Name | ast.Attribute) else None
        if not is_model_receiver(cls):
            return
        kwargs, _ = ctx.kwargs(node)
        for key in ("dtype", "torch_dtype"):
            kw = kwargs.get(key)
            # any dtype but float32 (bf16, fp16, "auto": the checkpoint's, one chosen at run time)
            if kw is not None and self._dtype_name(kw.value) not in FULL_PRECISION:
                self.low_precision = True
        if any(kwargs.get(k) is not None and ctx.value(kwargs[k].value) is not False for k in QUANTIZATION):
            self.low_precision = True
        # from_config starts from random weights; from_pretrained only for a new task head
        if name == "from_config" or (cls is not None and cls.endswith(NEW_HEADS)):
            self.models.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))

    def _dtype_name(self, value: ast.expr, depth: int = 0) -> str | None:
        """``bfloat16`` of ``torch.bfloat16``, ``"bfloat16"`` or a name bound to either; None when not
        literal."""
        if isinstance(value, ast.Attribute):
            return value.attr
        if isinstance(value, ast.Name) and depth < 8:
            b = self.ctx.binding(value)
            if b is not None and b.expr is not None:
                return self._dtype_name(b.expr, depth + 1)
        text = self.ctx.str_value(value)
        return text if isinstance(text, str) else None

    def _function(self, node: ast.Call, q: str | None, name: str) -> None:
        ctx = self.ctx
        low = name.lower()
        if "seed" in low or name == "enable_full_determinism":
            if q not in NOT_SEEDS and name != "add_argument":
                self.seeds.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))
            return
        if name == "add_argument":
            self._argument(node)
        elif name in ("autocast", "GradScaler"):
            self.autocast = True
        elif name == "Accelerator":
            self.accelerator = True
        elif name == "BitsAndBytesConfig":
            self.low_precision = True
        elif (q and q.startswith("torch.nn.") and name in NN_LAYERS) or name in self.model_classes or \
                name == "get_peft_model" or (q and q.startswith("transformers.") and is_model_receiver(name)):
            # a layer, a module of the file, adapters, or a transformers model built from its config
            self.models.append(Event(order(ctx, node), ctx.loc(node), ctx.scope))
        for kw in node.keywords:
            v = kw.value
            if isinstance(v, ast.Attribute) and v.attr in LOW_PRECISION:
                self.low_precision = True

    def _argument(self, node: ast.Call) -> None:
        """``parser.add_argument("--seed", ..., default=...)``: the seed a run gets by default."""
        if any(isinstance(a, ast.Constant) and a.value in ("--seed", "--random_seed", "--random-seed")
               for a in node.args):
            kw = self.ctx.kwarg(node, "default")
            self.seed_default = None if kw is None else self.ctx.value(kw.value, UNKNOWN_DEFAULT)

    # -- conclusions ---------------------------------------------------------------------------
    def training(self) -> Location | None:
        """Location of the first training call, or None when the file does not train."""
        if self.train_events:
            return min(self.train_events, key=first).loc
        if self.backward and self.steps:
            return min(self.backward, key=first).loc
        return None

    @property
    def model_init(self) -> bool:
        """Every trainer of the file builds its model with model_init (after seeding)."""
        return self.model_init_trainers > 0 and not self.trainers

    def hand_loop(self) -> bool:
        return bool(self.backward and self.steps)

    def in_loop(self, event: Event) -> bool:
        """The event happens inside a for/while loop (a training loop, not a single debugging step)."""
        cell = event.loc.cell or 0
        return any(c == cell and a <= event.loc.line <= b for c, a, b in self.loops)

    def guarded(self, seed: Event) -> bool:
        """The seed call runs only when a seed option was given (``if args.seed is not None:``)."""
        cell = seed.loc.cell or 0
        return any(c == cell and a <= seed.loc.line <= b for c, a, b in self.seed_guards)
