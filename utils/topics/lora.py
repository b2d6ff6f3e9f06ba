"""LoRA adapters with peft (notebook 11): adapters on a frozen base, the learning rate and rank they want,
merging them into the base, and adapters saved alone with the base they were trained on pinned by hash.

peft stores an adapter as ``adapter_model.safetensors`` and ``adapter_config.json``. The config names
the base (``base_model_name_or_path``, and ``revision`` when one was given), but loading checks
nothing: an adapter loads onto any model whose module names and shapes match. :func:`save_adapter`
therefore writes a manifest of the base's files next to the adapter, and :func:`load_adapter` refuses
a base that does not match it.
"""

import copy
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from utils import measure
from utils.topics import integrity

BASE_MANIFEST = "base_manifest.json"


def lora_model(
    base: PreTrainedModel,
    *,
    r: int = 8,
    alpha: float = 16,
    targets: str | Sequence[str] | None = None,
    dropout: float = 0.1,
    task_type: str | None = "SEQ_CLS",
) -> PeftModel:
    """``base`` with LoRA adapters of rank ``r`` on ``targets`` (peft's default for the architecture when
    ``None``; ``"all-linear"`` for every linear layer but the output layer); the base is frozen.

    ``task_type="SEQ_CLS"`` makes peft train and save the new classification head (``modules_to_save``);
    ``task_type=None`` leaves that head frozen at its random initialisation and out of the saved adapter.
    """
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets) if isinstance(targets, list | tuple) else targets,
        task_type=task_type,
    )
    return get_peft_model(base, config)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameters (a 4-bit weight counts as the number of values it stores)."""
    params = list(model.parameters())
    return {
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "total": sum(p.numel() for p in params),
    }


def best_runs(runs: pd.DataFrame, *, by: Sequence[str], metric: str = "validation accuracy") -> pd.DataFrame:
    """The row with the highest ``metric`` of every group ``by`` (ties: the first row, i.e. the lowest
    learning rate when ``runs`` is sorted by it)."""
    return runs.loc[runs.groupby(list(by), sort=False)[metric].idxmax()].reset_index(drop=True)


def at_edge(best: pd.DataFrame, rates: Sequence[float], *, label: str) -> list[str]:
    """``"<label> (seed <seed>)"`` for every row of ``best`` whose ``learning rate`` is the lowest or the
    highest of ``rates``: the sweep cannot tell whether a rate beyond it would have done better."""
    ends = (min(rates), max(rates))
    return [
        f"{row[label]} (seed {row['seed']})" for _, row in best.iterrows() if row["learning rate"] in ends
    ]


def collapse_note(runs: pd.DataFrame, *, label: str) -> str:
    """A sentence naming the runs of ``runs`` whose ``collapsed`` column is true (they predicted a single
    class on the test split), by their ``label`` column, seed and learning rate; empty when none did.

    A gap between two arms where one collapsed measures the collapse, not the setting the arms differ in.
    """
    collapsed = runs[runs["collapsed"].astype(bool)]
    if collapsed.empty:
        return ""
    arms = []
    for name, group in collapsed.groupby(label, sort=False):
        runs_at = zip(group["seed"], group["learning rate"], strict=True)
        where = ", ".join(f"seed {seed} at {rate:g}" for seed, rate in runs_at)
        arms.append(f"{name} ({where}; test accuracy {group['test accuracy'].mean():.3f})")
    return "collapsed to a single predicted class on the test split: " + "; ".join(arms)


def decades_from(ratio: float, target: float) -> float:
    """How far ``ratio`` is from ``target`` in decades: ``|log10(ratio / target)|``."""
    if ratio <= 0 or target <= 0:
        raise ValueError("ratios must be positive")
    return abs(math.log10(ratio / target))


def steps_in(seconds: float, seconds_per_step: float) -> int:
    """Whole optimizer steps that fit into ``seconds`` at ``seconds_per_step`` (at least one)."""
    if seconds_per_step <= 0:
        raise ValueError("seconds_per_step must be positive")
    return max(1, math.floor(seconds / seconds_per_step))


def merged_copy(model: PeftModel) -> PreTrainedModel:
    """A copy of ``model`` with its adapters folded into the base weights (``W + scale · B A``), as a plain
    transformers model without peft layers; ``model`` itself stays unmerged."""
    return copy.deepcopy(model).merge_and_unload()


@torch.no_grad()
def logits(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """fp32 logits of ``model`` in eval mode (dropout off), on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    return model(**{k: v.to(device) for k, v in inputs.items()}).logits.float().cpu()


def relative_difference(actual: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest reference value."""
    return float((actual - reference).abs().max() / reference.abs().max().clamp(min=1e-12))


@torch.inference_mode()
def forward_seconds(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], *, repeats: int, calls: int = 5, warmup: int = 3
) -> list[float]:
    """Seconds of one forward pass, ``repeats`` times: each the median of ``calls`` synchronised calls,
    after ``warmup`` untimed calls. ``inputs`` must be on the model's device."""
    if repeats < 1 or calls < 1:
        raise ValueError("repeats and calls must be at least 1")
    model.eval()
    device = next(model.parameters()).device
    for _ in range(warmup):
        model(**inputs)
    rounds = []
    for _ in range(repeats):
        times = []
        for _ in range(calls):
            with measure.timed(device) as timing:
                model(**inputs)
            times.append(timing.seconds)
        rounds.append(statistics.median(times))
    return rounds


def folder_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def save_adapter(model: PeftModel, directory: str | Path, base_dir: str | Path) -> dict[str, int]:
    """Save only the adapter (safetensors) with a manifest of the base folder it was trained on.

    Returns the size in bytes of every file written.
    """
    directory = Path(directory)
    model.save_pretrained(directory)  # adapter weights and config only; safetensors by default
    integrity.write_manifest(base_dir, directory / BASE_MANIFEST)
    return {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}


def load_adapter(base: PreTrainedModel, directory: str | Path, base_dir: str | Path) -> PeftModel:
    """The adapter in ``directory`` on ``base``, after checking that ``base_dir`` (where ``base`` was
    loaded from) holds the files the adapter was trained on; raises ``integrity.IntegrityError`` if not."""
    integrity.verify(base_dir, Path(directory) / BASE_MANIFEST)
    return PeftModel.from_pretrained(base, directory)
