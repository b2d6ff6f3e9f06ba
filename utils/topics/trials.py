"""Short fine-tuning trials in a plain PyTorch loop.

Notebooks that train dozens of small models (sweeps, ablations) use this loop instead of
``Trainer``: it has no per-run start-up cost, records the learning rate, loss and gradient norm of
every step without synchronising the device each step, and states every choice as an argument.
It does what ``Trainer`` does by default: AdamW (fused on CUDA) without weight decay on biases and
LayerNorm weights, a warm-up + decay schedule stepped every step, gradient clipping, and bf16 autocast.
"""

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from datasets import Dataset
from transformers import get_scheduler

from utils import measure
from utils.topics.preprocessing import group_by_length_order

SAMPLERS = ("random", "sequential", "group_by_length")


@dataclass
class TrainLog:
    """What one training run did: per-step loss, learning rate and gradient norm (before clipping)."""

    steps: int
    seconds: float
    samples: int
    tokens: int
    real_tokens: int
    losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def pad_fraction(self) -> float:
        return 1 - self.real_tokens / self.tokens if self.tokens else 0.0

    @property
    def diverged(self) -> bool:
        return not all(math.isfinite(loss) for loss in self.losses)


def batch_order(
    dataset: Dataset, batch_size: int, seed: int, epoch: int = 0, sampler: str = "random"
) -> list[int]:
    """Example indices of one epoch: shuffled, in order, or shuffled and grouped by length."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
    if sampler == "sequential":
        return list(range(len(dataset)))
    if sampler == "group_by_length":
        lengths = [len(ids) for ids in dataset["input_ids"]]
        return group_by_length_order(lengths, batch_size, seed + epoch)
    return np.random.default_rng(seed + epoch).permutation(len(dataset)).tolist()


def iterate_batches(
    dataset: Dataset,
    collator: Callable,
    batch_size: int,
    *,
    seed: int,
    sampler: str = "random",
    drop_last: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Collated batches, epoch after epoch without end; each epoch has its own seeded order."""
    if len(dataset) == 0:
        raise ValueError("cannot draw batches from an empty dataset")
    rows = dataset.to_list()
    epoch = 0
    while True:
        order = batch_order(dataset, batch_size, seed, epoch, sampler)
        stop = len(order) - len(order) % batch_size if drop_last and len(order) >= batch_size else len(order)
        for start in range(0, stop, batch_size):
            yield collator([rows[i] for i in order[start : start + batch_size]])
        epoch += 1


def _optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=learning_rate, fused=fused)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")


def train(
    model: torch.nn.Module,
    dataset: Dataset,
    collator: Callable,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    scheduler: str = "linear",
    warmup: float = 0.1,
    weight_decay: float = 0.0,
    max_grad_norm: float | None = 1.0,
    bf16: bool = False,
    sampler: str = "random",
) -> TrainLog:
    """Train ``model`` (already on its device) for ``steps`` optimizer steps; return the per-step log.

    ``warmup`` is a fraction of ``steps``; ``scheduler`` is a transformers scheduler name
    (``"constant"`` with warm-up means ``"constant_with_warmup"``); ``max_grad_norm=None`` turns
    clipping off (the norm is still recorded). The wall time covers batching and all device work.
    """
    device = next(model.parameters()).device
    torch.manual_seed(seed)  # dropout draws from the global generator: same seed, same trial
    optimizer = _optimizer(model, learning_rate, weight_decay)
    warmup_steps = round(warmup * steps)
    if scheduler == "constant" and warmup_steps:
        scheduler = "constant_with_warmup"
    schedule = get_scheduler(scheduler, optimizer, num_warmup_steps=warmup_steps, num_training_steps=steps)
    batches = iterate_batches(dataset, collator, batch_size, seed=seed, sampler=sampler)
    clip = max_grad_norm if max_grad_norm is not None else math.inf
    losses, norms, rates = [], [], []
    samples = tokens = real = 0
    model.train()
    with measure.timed(device) as timing:
        for _ in range(steps):
            batch = next(batches)
            samples += batch["input_ids"].shape[0]
            tokens += batch["input_ids"].numel()
            real += int(batch["attention_mask"].sum())
            batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
            rates.append(schedule.get_last_lr()[0])
            with _autocast(device, bf16):
                loss = model(**batch).loss
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
    return TrainLog(
        steps=steps,
        seconds=timing.seconds,
        samples=samples,
        tokens=tokens,
        real_tokens=real,
        losses=torch.stack(losses).float().tolist(),
        learning_rates=rates,
        grad_norms=torch.stack(norms).float().tolist(),
    )


def _pad_columns(arrays: Sequence[np.ndarray], value: float) -> np.ndarray:
    width = max(array.shape[1] for array in arrays)
    return np.concatenate(
        [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=value) for a in arrays]
    )


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: Dataset,
    collator: Callable,
    *,
    batch_size: int = 128,
    bf16: bool = False,
    outputs: Sequence[str] = ("logits",),
) -> dict[str, np.ndarray]:
    """Named model outputs over ``dataset`` in order, as float32 arrays.

    Per-token outputs (QA start/end logits) of batches padded to different lengths are padded
    on the right with -1e4 so that they stack; decoding ignores positions outside the context.
    """
    device = next(model.parameters()).device
    model.eval()
    rows = dataset.remove_columns([c for c in ("label", "labels") if c in dataset.column_names]).to_list()
    collected = {name: [] for name in outputs}
    for start in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collator(rows[start : start + batch_size]).items()}
        with _autocast(device, bf16):
            result = model(**batch)
        for name in outputs:
            collected[name].append(result[name].float().cpu().numpy())
    return {
        name: _pad_columns(parts, -1e4) if parts[0].ndim == 2 and name != "logits" else np.concatenate(parts)
        for name, parts in collected.items()
    }


def accuracy(
    model: torch.nn.Module, dataset: Dataset, collator: Callable, *, batch_size: int = 128, bf16: bool = False
) -> float:
    """Share of ``dataset`` rows whose arg-max class equals the ``label`` column."""
    logits = predict(model, dataset, collator, batch_size=batch_size, bf16=bf16)["logits"]
    return float((logits.argmax(-1) == np.asarray(dataset["label"])).mean())
