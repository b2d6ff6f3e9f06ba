"""Short fine-tuning trials in a plain PyTorch loop, and a runner that remembers them by their settings.

Notebooks that train dozens of small models (sweeps, ablations) use this loop instead of
``Trainer``: it has no per-run start-up cost, records the learning rate, loss, gradient norm and
padded length of every step without synchronising the device each step, and states every choice
as an argument. It does what ``Trainer`` does by default: AdamW (fused on CUDA) without weight
decay on biases and LayerNorm weights, a warm-up + decay schedule stepped every step, gradient
clipping, and bf16 autocast.
"""

import inspect
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import get_scheduler, set_seed

from utils import measure
from utils.topics.preprocessing import group_by_length_order

SAMPLERS = ("random", "sequential", "group_by_length")


@dataclass
class TrainLog:
    """What one training run did, step by step. ``seconds`` and ``timed_samples`` cover the timed
    steps only (all but the first ``untimed_steps``); the gradient norm is taken before clipping."""

    steps: int
    seconds: float
    samples: int
    timed_samples: int
    tokens: int
    real_tokens: int
    losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    padded_lengths: list[int] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.timed_samples / self.seconds

    @property
    def pad_fraction(self) -> float:
        return 1 - self.real_tokens / self.tokens if self.tokens else 0.0

    @property
    def distinct_shapes(self) -> int:
        return len(set(self.padded_lengths))

    @property
    def diverged(self) -> bool:
        return not all(math.isfinite(loss) for loss in self.losses)

    def final_loss(self, share: float = 0.1) -> float:
        """Mean training loss over the last ``share`` of the steps (at least one)."""
        return float(np.mean(self.losses[-max(1, round(share * self.steps)) :]))


def batch_order(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int = 0, sampler: str = "random"
) -> list[int]:
    """Example indices of one epoch over examples of ``lengths``: shuffled, in order, or shuffled and
    grouped by length."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
    if sampler == "sequential":
        return list(range(len(lengths)))
    if sampler == "group_by_length":
        return group_by_length_order(lengths, batch_size, seed + epoch)
    return np.random.default_rng(seed + epoch).permutation(len(lengths)).tolist()


def iterate_batches(
    dataset: Dataset,
    collator: Callable,
    batch_size: int,
    *,
    seed: int,
    sampler: str = "random",
    drop_last: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Collated batches, epoch after epoch without end; each epoch has its own seeded order.

    The rows are read from the dataset here, before the first batch is asked for, so that a timed
    loop does not pay for it.
    """
    if len(dataset) == 0:
        raise ValueError("cannot draw batches from an empty dataset")
    rows = dataset.to_list()
    lengths = [len(row["input_ids"]) for row in rows]

    def batches():
        epoch = 0
        while True:
            order = batch_order(lengths, batch_size, seed, epoch, sampler)
            usable = (
                len(order) - len(order) % batch_size if drop_last and len(order) >= batch_size else len(order)
            )
            for start in range(0, usable, batch_size):
                yield collator([rows[i] for i in order[start : start + batch_size]])
            epoch += 1

    return batches()


def _optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=learning_rate, fused=fused)


def _schedule(optimizer: torch.optim.Optimizer, name: str, warmup: float, steps: int):
    warmup_steps = round(warmup * steps)
    if name == "constant" and warmup_steps:
        name = "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=steps)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")


def _step(model, batch, optimizer, max_grad_norm: float | None, bf16: bool):
    """One optimizer step on ``batch``; returns the loss and the gradient norm before clipping, as
    device tensors (reading them would make the host wait for the device)."""
    device = next(model.parameters()).device
    batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    with _autocast(device, bf16):
        loss = model(**batch).loss
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(), max_grad_norm if max_grad_norm is not None else math.inf
    )
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach(), norm


class _Clock:
    """Wall time from :meth:`start` to :meth:`stop`, device work included (synchronised at both ends)."""

    def __init__(self, device: torch.device):
        self.device, self.started, self.seconds = device, None, 0.0

    @property
    def running(self) -> bool:
        return self.started is not None

    def start(self) -> None:
        measure.synchronize(self.device)
        self.started = time.perf_counter()

    def stop(self) -> None:
        measure.synchronize(self.device)
        self.seconds = time.perf_counter() - self.started


class _Record:
    """The per-step log of a run, kept on the device until the run ends."""

    def __init__(self):
        self.samples = self.timed_samples = self.tokens = self.real_tokens = 0
        self.learning_rates, self.padded_lengths, self.losses, self.norms = [], [], [], []

    def batch(self, batch: dict[str, torch.Tensor], learning_rate: float, timed: bool) -> None:
        rows, length = batch["input_ids"].shape
        self.samples += rows
        self.timed_samples += rows if timed else 0
        self.tokens += rows * length
        self.real_tokens += int(batch["attention_mask"].sum())
        self.learning_rates.append(learning_rate)
        self.padded_lengths.append(length)

    def result(self, loss: torch.Tensor, norm: torch.Tensor) -> None:
        self.losses.append(loss)
        self.norms.append(norm)

    def log(self, seconds: float) -> TrainLog:
        return TrainLog(
            steps=len(self.losses),
            seconds=seconds,
            samples=self.samples,
            timed_samples=self.timed_samples,
            tokens=self.tokens,
            real_tokens=self.real_tokens,
            losses=torch.stack(self.losses).float().tolist(),
            learning_rates=self.learning_rates,
            grad_norms=torch.stack(self.norms).float().tolist(),
            padded_lengths=self.padded_lengths,
        )


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
    sampler: str = "random",
    bf16: bool = False,
    untimed_steps: int = 0,
) -> TrainLog:
    """Train ``model`` (already on its device) for ``steps`` optimizer steps; return the per-step log.

    ``warmup`` is a fraction of ``steps``; ``scheduler`` is a transformers scheduler name
    (``"constant"`` with warm-up means ``"constant_with_warmup"``); ``max_grad_norm=None`` turns
    clipping off (the norm is still recorded). The clock starts after ``untimed_steps`` steps (the
    first steps pay one-off costs: kernels and plans for new shapes, allocations) and covers
    batching and all device work from then on.
    """
    if not 0 <= untimed_steps < steps:
        raise ValueError(f"untimed_steps must be in [0, steps), not {untimed_steps} of {steps}")
    torch.manual_seed(seed)  # dropout draws from the global generator: same seed, same trial
    optimizer = _optimizer(model, learning_rate, weight_decay)
    schedule = _schedule(optimizer, scheduler, warmup, steps)
    batches = iterate_batches(dataset, collator, batch_size, seed=seed, sampler=sampler)
    clock, record = _Clock(next(model.parameters()).device), _Record()
    model.train()
    for step in range(steps):
        if step == untimed_steps:
            clock.start()
        batch = next(batches)
        record.batch(batch, schedule.get_last_lr()[0], timed=clock.running)
        record.result(*_step(model, batch, optimizer, max_grad_norm, bf16))
        schedule.step()
    clock.stop()
    return record.log(clock.seconds)


def repeated_passes(
    model: torch.nn.Module, dataset: Dataset, collator: Callable, *, passes: int, **train_args: Any
) -> list[TrainLog]:
    """``passes`` training runs over the very same batches (same seed, same order, same shapes).

    The first pass meets every batch shape for the first time; later passes find whatever the
    libraries built per shape (cuDNN attention plans, cuBLAS heuristics) already cached, so they
    show the steady speed a long run reaches.
    """
    return [train(model, dataset, collator, **train_args) for _ in range(passes)]


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


@dataclass(frozen=True)
class ClassifierScore:
    """How a classifier did on a labelled split: its accuracy, and how many distinct classes it predicted
    there against how many the labels hold."""

    accuracy: float
    predicted_classes: int
    label_classes: int

    @property
    def collapsed(self) -> bool:
        """Whether it predicted one class for every row of a split whose labels hold several: its accuracy
        is then that class's share of the split, whatever else it learnt. A run can end here with a
        finite loss (too high a learning rate drives the head to the majority class)."""
        return self.predicted_classes == 1 and self.label_classes > 1


def score_logits(logits: np.ndarray, labels: Sequence[int]) -> ClassifierScore:
    """:class:`ClassifierScore` of arg-max predictions from ``logits`` (rows × classes) against ``labels``."""
    labels = np.asarray(labels)
    if len(logits) != len(labels) or not len(labels):
        raise ValueError(f"need one row of logits per label, got {len(logits)} rows for {len(labels)} labels")
    predictions = np.asarray(logits).argmax(-1)
    return ClassifierScore(
        accuracy=float((predictions == labels).mean()),
        predicted_classes=len(np.unique(predictions)),
        label_classes=len(np.unique(labels)),
    )


def classifier_score(
    model: torch.nn.Module, dataset: Dataset, collator: Callable, *, batch_size: int = 128, bf16: bool = False
) -> ClassifierScore:
    """Accuracy of ``model`` on ``dataset`` (its ``label`` column) and the classes it predicted there."""
    logits = predict(model, dataset, collator, batch_size=batch_size, bf16=bf16)["logits"]
    return score_logits(logits, dataset["label"])


def accuracy(
    model: torch.nn.Module, dataset: Dataset, collator: Callable, *, batch_size: int = 128, bf16: bool = False
) -> float:
    """Share of ``dataset`` rows whose arg-max class equals the ``label`` column."""
    return classifier_score(model, dataset, collator, batch_size=batch_size, bf16=bf16).accuracy


# The settings a trial is named by: the training data's name, then train()'s own arguments
# (their defaults are read from its signature, so that a trial that states a default equals one
# that leaves it out).
_RECIPE_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(train).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("bf16", "untimed_steps")
}


@dataclass
class _Data:
    train: Dataset
    evaluate: dict[str, Dataset]
    collator: Callable


class TrialRunner:
    """Fine-tune fresh copies of a model with shared defaults and remember each trial by its settings.

    ``new_model`` returns a fresh model on its device (the seed is set before it is called, so the
    new head's weights follow the trial's seed). Data sets are registered by name with
    :meth:`add_data`: a training set, the sets each trial is scored on afterwards, and the collator
    that pads them. A trial is named by its settings (``defaults`` overridden); a configuration that
    several experiments need runs once.
    """

    def __init__(
        self,
        new_model: Callable[[], torch.nn.Module],
        *,
        defaults: dict[str, Any],
        bf16: bool = False,
        untimed_steps: int = 0,
    ):
        unknown = sorted(set(defaults) - set(_RECIPE_DEFAULTS) - {"data"})
        if unknown:
            raise ValueError(
                f"unknown trial setting(s) {unknown}; known: data, {', '.join(_RECIPE_DEFAULTS)}"
            )
        self.new_model, self.bf16, self.untimed_steps = new_model, bf16, untimed_steps
        self.defaults = {"data": inspect.Parameter.empty, **_RECIPE_DEFAULTS, **defaults}
        self.data: dict[str, _Data] = {}
        self.results: dict[tuple, dict[str, Any]] = {}
        self.logs: dict[tuple, TrainLog] = {}

    def add_data(
        self, name: str, train_set: Dataset, evaluate: dict[str, Dataset], collator: Callable
    ) -> None:
        self.data[name] = _Data(train_set, evaluate, collator)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The full settings of a trial: the defaults with ``overrides`` applied."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ValueError(f"unknown trial setting(s) {unknown}")
        settings = {**self.defaults, **overrides}
        missing = sorted(name for name, value in settings.items() if value is inspect.Parameter.empty)
        if missing:
            raise ValueError(f"trial setting(s) {missing} have no default: pass them")
        return settings

    def key(self, **overrides: Any) -> tuple:
        return tuple(sorted(self.settings(**overrides).items(), key=lambda item: item[0]))

    def run(self, **overrides: Any) -> dict[str, Any]:
        """The trial's settings and results (``<name> accuracy`` per evaluation set, final loss,
        samples/s, train seconds, pad share, tokens per step, whether the loss diverged); trained
        only the first time."""
        key = self.key(**overrides)
        if key not in self.results:
            settings = dict(key)
            data = self.data[settings["data"]]
            set_seed(settings["seed"])
            model = self.new_model()
            recipe = {name: settings[name] for name in _RECIPE_DEFAULTS}
            log = train(
                model, data.train, data.collator, **recipe, bf16=self.bf16, untimed_steps=self.untimed_steps
            )
            scores = {
                f"{name} accuracy": accuracy(model, rows, data.collator, bf16=self.bf16)
                for name, rows in data.evaluate.items()
            }
            self.results[key] = {
                **settings,
                **scores,
                "final loss": log.final_loss(),
                "samples/s": log.samples_per_s,
                "train seconds": log.seconds,
                "pad share": log.pad_fraction,
                "tokens per step": log.tokens / log.steps,
                "diverged": log.diverged,
            }
            self.logs[key] = log
        return self.results[key]

    def log(self, **overrides: Any) -> TrainLog:
        """The per-step log of a trial that has run."""
        return self.logs[self.key(**overrides)]
