"""Pitfalls of notebook 09: which mistakes raise, the largest batch that fits, bf16 rounding of weight
updates, and gradient accumulation over micro-batches of unequal token counts."""

import contextlib
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from datasets import Dataset
from transformers import PreTrainedModel, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # terminal colours in some transformers messages


@dataclass
class Outcome:
    """What happened when a possibly mistaken action ran."""

    raised: str | None
    """``"ErrorType: first line of the message"``, or None if it ran."""
    result: object = None
    warnings: list[str] = field(default_factory=list)
    """Python warnings and transformers log warnings emitted while it ran."""

    @property
    def silent(self) -> bool:
        """It ran without an error or a warning."""
        return self.raised is None and not self.warnings

    def describe(self) -> str:
        text = self.raised or f"ran: {self.result}"
        if self.warnings:
            text += f" ({len(self.warnings)} warning(s): {'; '.join(self.warnings)})"
        return text


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = ANSI_ESCAPE.sub("", record.getMessage()).strip()
        self.into.append(message.splitlines()[0][:200] if message else "")


@contextlib.contextmanager
def _warnings_collected() -> Iterator[list[str]]:
    """Collect Python warnings and transformers' log warnings (even where its logs were quietened)."""
    collected: list[str] = []
    handler = _Collect(collected)
    library = transformers.utils.logging
    verbosity = library.get_verbosity()
    root = library.get_logger()  # the "transformers" logger that every module logger propagates to
    printing = any(h is library._default_handler for h in root.handlers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library.set_verbosity_warning()
        if printing:
            library.disable_default_handler()  # collect the warnings, do not print them as well
        root.addHandler(handler)
        try:
            yield collected
        finally:
            root.removeHandler(handler)
            if printing:
                library.enable_default_handler()
            library.set_verbosity(verbosity)
            collected.extend(f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in caught)


def outcome(action: Callable[[], object]) -> Outcome:
    """Run ``action`` and record its result or error and every warning it emits.

    Errors are caught on purpose: the point is to find out which mistakes raise and which pass
    silently. (On CUDA some, like an out-of-range class id, are device-side asserts that leave the
    process unusable: run those on the CPU.)
    """
    with _warnings_collected() as collected:
        try:
            result, raised = action(), None
        except Exception as error:  # recorded, not handled: which mistakes raise is the measurement
            result, raised = None, f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return Outcome(raised, result, collected)


def logits(
    model: PreTrainedModel, batch: Mapping[str, torch.Tensor], autocast_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The model's logits for ``batch`` (moved to the model's device), in inference mode and optionally
    under autocast, as fp32 on the CPU."""
    device = next(model.parameters()).device
    autocast = torch.autocast(
        device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None
    )
    with torch.inference_mode(), autocast:
        return model(**{key: value.to(device) for key, value in batch.items()}).logits.float().cpu()


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device out-of-memory error (``torch.OutOfMemoryError`` or its message)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error)


@dataclass
class BatchSearch:
    largest: int
    """The largest batch size that ran (0 if none did)."""
    tried: list[tuple[int, bool]] = field(default_factory=list)
    """Every ``(batch size, fitted)`` in the order tried."""


def largest_batch_size(fits: Callable[[int], bool], *, start: int = 1, limit: int = 4096) -> BatchSearch:
    """Largest batch size in ``[start, limit]`` for which ``fits(batch)`` is true, in O(log limit) tries.

    Doubles from ``start`` until a batch fails (or ``limit``), then bisects between the last batch that
    fitted and the first that failed. ``fits`` must be monotone: if a batch fits, every smaller one does.
    """
    tried: list[tuple[int, bool]] = []

    def attempt(batch: int) -> bool:
        ok = bool(fits(batch))
        tried.append((batch, ok))
        return ok

    if not attempt(start):
        return BatchSearch(0, tried)
    good, bad = start, None
    while bad is None and good < limit:
        candidate = min(2 * good, limit)
        if attempt(candidate):
            good = candidate
        else:
            bad = candidate
    if bad is None:
        return BatchSearch(good, tried)
    while bad - good > 1:
        middle = (good + bad) // 2
        if attempt(middle):
            good = middle
        else:
            bad = middle
    return BatchSearch(good, tried)


def oom_probe(step: Callable[[int], None], device: torch.device) -> Callable[[int], bool]:
    """Turn ``step(batch)`` into ``fits(batch)``: True if it ran, False on out-of-memory (other errors raise).

    Memory is released after every try, so a failed batch does not shrink the next one's budget.
    """

    def fits(batch: int) -> bool:
        try:
            step(batch)
            return True
        except RuntimeError as error:
            if not is_out_of_memory(error):
                raise
            return False
        finally:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.empty_cache()

    return fits


def lost_update_fraction(
    before: torch.Tensor, after: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> float:
    """Of the elements that an update changed, the fraction that would not change at all if the weights
    were stored in ``dtype``: ``round(round(before) + (after - before)) == round(before)``.

    ``before`` and ``after`` are full-precision (fp32) weights around one optimizer step.
    """
    delta = (after - before).float()
    changed = delta != 0
    if not changed.any():
        return 0.0
    stored = before.to(dtype)
    lost = changed & ((stored.float() + delta).to(dtype) == stored)
    return lost.sum().item() / changed.sum().item()


@dataclass
class PrecisionRun:
    losses: list[float]
    """Training loss of every step."""
    lost_updates: list[float]
    """Per step, of the parameter elements with a non-zero gradient, the fraction whose update was lost
    to bf16 rounding: actually lost (bf16 weights), or that would be lost if the fp32 weights were
    stored in bf16 (fp32 master weights, see :func:`lost_update_fraction`)."""


def train_in_precision(
    model: PreTrainedModel,
    batches: Sequence[dict[str, torch.Tensor]],
    *,
    pure_bf16: bool,
    learning_rate: float,
) -> PrecisionRun:
    """Train ``model`` (on its device) one AdamW step per batch, either with its weights in bf16 and no
    autocast (``pure_bf16``: what a bf16 checkpoint loaded without ``dtype`` gives) or with fp32 master
    weights under bf16 autocast (what ``bf16=True`` in ``TrainingArguments`` does)."""
    device = next(model.parameters()).device
    if pure_bf16:
        model.to(torch.bfloat16)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    run = PrecisionRun([], [])
    for batch in batches:
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=not pure_bf16):
            loss = model(**batch).loss
        loss.backward()  # noqa: BPL001  the caller seeds: this helper builds no model or data
        stepped = [p for p in model.parameters() if p.grad is not None and bool(p.grad.any())]
        before = [p.detach().clone() for p in stepped]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        flat_before = torch.cat([b.flatten() for b in before])
        flat_after = torch.cat([p.detach().flatten() for p in stepped])
        if pure_bf16:  # elements that the step left unchanged although their gradient was not zero
            run.lost_updates.append((flat_before == flat_after).float().mean().item())
        else:
            run.lost_updates.append(lost_update_fraction(flat_before, flat_after))
        run.losses.append(loss.item())
    model.eval()
    return run


def relative_difference(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``||value - reference|| / ||reference||``."""
    return ((value - reference).norm() / reference.norm()).item()


def _flat_gradient(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.detach().flatten().float() for p in model.parameters() if p.grad is not None])


def predicted_tokens(labels: torch.Tensor) -> int:
    """Positions a causal LM's loss averages over: labels shifted by one, ignoring -100."""
    return int((labels[:, 1:] != -100).sum())


def accumulated_gradient(
    model: PreTrainedModel, micro_batches: Sequence[dict[str, torch.Tensor]], *, token_weighted: bool
) -> torch.Tensor:
    """The gradient of a causal LM accumulated over ``micro_batches`` (flattened, fp32).

    Each micro-batch's loss is the mean over its own predicted tokens. The common recipe divides it by
    the number of micro-batches; that reproduces the full batch's token mean only when every
    micro-batch predicts the same number of tokens. ``token_weighted`` instead weights each by its
    share of the predicted tokens, which is exact for any split.
    """
    device = next(model.parameters()).device
    total = sum(predicted_tokens(batch["labels"]) for batch in micro_batches)
    model.zero_grad(set_to_none=True)
    for batch in micro_batches:
        loss = model(**{key: value.to(device) for key, value in batch.items()}).loss
        weight = predicted_tokens(batch["labels"]) / total if token_weighted else 1 / len(micro_batches)
        (loss * weight).backward()
    gradient = _flat_gradient(model)
    model.zero_grad(set_to_none=True)
    return gradient


class _GradientAtStep(TrainerCallback):
    """Keeps the gradient as it is just before the first optimizer step."""

    def __init__(self):
        self.gradient: torch.Tensor | None = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.gradient is None:
            self.gradient = _flat_gradient(model).cpu()


def trainer_gradient(
    model: PreTrainedModel,
    dataset: Dataset,
    collator: Callable,
    *,
    batch_size: int,
    accumulation_steps: int,
    seed: int,
    output_dir: str | Path,
) -> torch.Tensor:
    """The gradient ``Trainer`` applies in its first optimizer step of ``batch_size`` rows per micro-batch
    and ``accumulation_steps`` micro-batches (flattened, fp32, full precision, no clipping).

    With the same seed the sampler yields the same rows, so ``batch_size * accumulation_steps`` equal
    to the data set's size puts every row into the one step, however it is split.
    """
    catch = _GradientAtStep()
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=1,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation_steps,
        learning_rate=1e-3,
        max_grad_norm=0.0,  # no clipping: the gradient as accumulated
        bf16=False,
        fp16=False,
        save_strategy="no",
        dataloader_pin_memory=next(model.parameters()).device.type == "cuda",
        seed=seed,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = Trainer(  # noqa: BPL405  one step to read its gradient, nothing to validate
        model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[catch]
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()  # noqa: BPL001  the caller builds (and seeds) the model; the seed here orders the data
    if catch.gradient is None:
        raise RuntimeError("Trainer made no optimizer step")
    return catch.gradient
