"""Shared fact collection for rules about training code (seeds, mixed precision)."""

from __future__ import annotations

import ast
import re

from bplint.analysis import keyword

TRAINER_SUFFIX = "Trainer"
NN_LAYERS = frozenset({
    "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "RNN", "LSTM", "GRU",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "MultiheadAttention",
})
MODEL_BASES = frozenset({"Module", "PreTrainedModel", "LightningModule", "PeftModel"})
NOT_MODEL_SUFFIXES = ("Tokenizer", "TokenizerFast", "Config", "Processor", "FeatureExtractor",
                      "ImageProcessor", "ImageProcessorFast", "VideoProcessor")
NOT_SEEDS = frozenset({"random.seed", "numpy.random.seed"})
LOW_PRECISION = frozenset({"bfloat16", "float16", "half"})
# Model classes whose checkpoints hold all their weights: from_pretrained initialises nothing at random.
COMPLETE_MODELS = ("ForCausalLM", "ForMaskedLM", "ForSeq2SeqLM", "LMHeadModel")


def order(ctx, node) -> tuple[int, int, int]:
    return (ctx.cell or 0, node.lineno, node.col_offset)


_FOR_TASK = re.compile(r"For[A-Z]")


def is_model_receiver(name: str | None) -> bool:
    """True for model classes (``AutoModel*``, ``*Model``, ``*ForSequenceClassification``...)."""
    if not name or name.endswith(NOT_MODEL_SUFFIXES):
        return False
    return "Model" in name or _FOR_TASK.search(name) is not None


def _is_model_name(ctx, node) -> bool:
    """A model given by its name or path (``"org/name"``, ``model_args.model_name_or_path``)."""
    if isinstance(ctx.value(node, None), str):
        return True
    last = node.attr if isinstance(node, ast.Attribute) else (node.id if isinstance(node, ast.Name) else "")
    return last.endswith(("name_or_path", "model_id", "model_name", "model_path"))


class TrainingFacts:
    """Collects training, seeding and model-building facts of a file, once, for several rules."""

    node_types = (ast.Call, ast.Assign, ast.AnnAssign, ast.ClassDef, ast.Constant)

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.trainer_names: set[str] = set()
        self.trainer_classes: set[str] = set()
        self.model_classes: set[str] = set()
        self.model_init = False
        self.trainer_builds_model = False  # model= given as a name or path: the trainer loads it (TRL)
        self.hf_trainer = False
        self.train_events: list = []  # (order, location)
        self.backward: list = []
        self.steps: list = []
        self.seeds: list = []  # (order, location, scope)
        self.models: list = []
        self.cuda = False
        self.autocast = False
        self.low_precision = False
        self.accelerator = False

    def _is_trainer_ctor(self, call: ast.AST) -> bool:
        if not isinstance(call, ast.Call):
            return False
        name = self.ctx.callee(call)[1]
        return bool(name) and (name.endswith(TRAINER_SUFFIX) or name in self.trainer_classes)

    def visit(self, node) -> None:
        ctx = self.ctx
        t = type(node)
        if t is ast.Constant:
            v = node.value
            if type(v) is str and v[:4] == "cuda" and (v == "cuda" or v[4:5] == ":") and len(v) < 9:
                self.cuda = True
            return
        if t is ast.ClassDef:
            for b in node.bases:
                bn = ctx.last_name(b) or ""
                if bn in MODEL_BASES or bn.endswith("PreTrainedModel") or bn in self.model_classes:
                    self.model_classes.add(node.name)
                if bn.endswith(TRAINER_SUFFIX) or bn in self.trainer_classes:
                    self.trainer_classes.add(node.name)
            return
        if t is ast.Assign or t is ast.AnnAssign:
            if self._is_trainer_ctor(node.value):
                targets = node.targets if t is ast.Assign else [node.target]
                for tg in targets:
                    if isinstance(tg, ast.Name):
                        self.trainer_names.add(tg.id)
                    elif isinstance(tg, ast.Attribute):
                        self.trainer_names.add(tg.attr)
            return
        # ast.Call
        func = node.func
        q, name = ctx.callee(node)
        if not name:
            return
        if self._is_trainer_ctor(node):
            if keyword(node, "model_init") is not None:
                self.model_init = True
            m = keyword(node, "model")
            if m is not None and _is_model_name(ctx, m.value):
                self.trainer_builds_model = True
            self.hf_trainer = True
        if isinstance(func, ast.Attribute):
            recv = func.value
            recv_name = recv.attr if isinstance(recv, ast.Attribute) else (
                recv.id if isinstance(recv, ast.Name) else None)
            if name in ("train", "fit") and (self._is_trainer_ctor(recv) or recv_name in self.trainer_names):
                self.train_events.append((order(ctx, node), ctx.loc(node)))
                return
            if name == "backward":
                self.backward.append((order(ctx, node), ctx.loc(node)))
                return
            if name == "step" and recv_name:
                low = recv_name.lower()
                if "optim" in low or low in ("opt", "optimiser") or "scaler" in low:
                    self.steps.append((order(ctx, node), ctx.loc(node)))
                return
            if name in ("from_pretrained", "from_config"):
                cls = ctx.last_name(recv) if isinstance(recv, ast.Name | ast.Attribute) else None
                # a complete language model loaded from a checkpoint gets no new (random) weights
                complete = name == "from_pretrained" and bool(cls) and cls.endswith(COMPLETE_MODELS)
                if is_model_receiver(cls) and not complete:
                    self.models.append((order(ctx, node), ctx.loc(node), ctx.scope))
                return
            if name == "cuda":
                self.cuda = True
            elif name in ("half", "bfloat16"):
                self.low_precision = True
        low = name.lower()
        if "seed" in low or name == "enable_full_determinism":
            if q not in NOT_SEEDS:
                self.seeds.append((order(ctx, node), ctx.loc(node), ctx.scope))
            return
        if name in ("autocast", "GradScaler"):
            self.autocast = True
            return
        if name == "Accelerator":
            self.accelerator = True
            return
        if (q and q.startswith("torch.nn.") and name in NN_LAYERS) or name in self.model_classes or \
                name == "get_peft_model":
            self.models.append((order(ctx, node), ctx.loc(node), ctx.scope))
        for kw in node.keywords:
            v = kw.value
            if isinstance(v, ast.Attribute) and v.attr in LOW_PRECISION:
                self.low_precision = True

    def finish(self) -> None:
        pass

    # -- conclusions ---------------------------------------------------------------------------
    def training(self):
        """Location of the first training call, or None when the file does not train."""
        if self.train_events:
            return min(self.train_events, key=lambda e: e[0])[1]
        if self.backward and self.steps:
            return min(self.backward, key=lambda e: e[0])[1]
        return None

    def hand_loop(self) -> bool:
        return bool(self.backward and self.steps)
