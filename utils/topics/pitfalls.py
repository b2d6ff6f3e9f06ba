"""Helpers for measuring common training pitfalls: the largest batch that fits, and bf16 rounding."""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


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
