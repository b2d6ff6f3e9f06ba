"""Measurement: wall time with device synchronisation, peak memory, throughput and MFU."""

import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued device work, so that a host clock read afterwards includes it."""
    if torch.device(device or "cpu").type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    seconds: float = 0.0


@contextlib.contextmanager
def timed(device: torch.device | str | None = None) -> Iterator[Timing]:
    """Time a block; device work queued inside it is waited for at both ends."""
    timing = Timing()
    synchronize(device)
    start = time.perf_counter()
    try:
        yield timing
    finally:
        synchronize(device)
        timing.seconds = time.perf_counter() - start


def _rss_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def _reset_rss_peak() -> bool:
    # Writing "5" resets the kernel's high-water mark of this process (Linux >= 4.0); elsewhere
    # the peak covers the whole process lifetime, which `PeakMemory.rss_is_lifetime` reports.
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _status_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@dataclass
class PeakMemory:
    cuda_bytes: int | None = None
    rss_bytes: int = 0
    rss_is_lifetime: bool = False


@contextlib.contextmanager
def peak_memory(device: torch.device | str | None = None) -> Iterator[PeakMemory]:
    """Peak CUDA memory allocated by tensors and peak process RSS inside the block."""
    device = torch.device(device or "cpu")
    peak = PeakMemory()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    reset = _reset_rss_peak()
    try:
        yield peak
    finally:
        if device.type == "cuda":
            synchronize(device)
            peak.cuda_bytes = torch.cuda.max_memory_allocated(device)
        hwm = _status_hwm_bytes() if reset else None
        peak.rss_bytes = hwm if hwm is not None else _rss_peak_bytes()
        peak.rss_is_lifetime = hwm is None


def real_tokens(attention_mask: torch.Tensor) -> int:
    """Tokens that are not padding."""
    return int(attention_mask.sum())


def matmul_parameters(model: torch.nn.Module) -> int:
    """Parameters that take part in matrix products: all but embedding tables (a lookup does no FLOPs).

    An output projection tied to the input embedding (GPT-2's ``lm_head``) is a matrix product and counts.
    """
    lookups = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:
        lookups.discard(id(output.weight))
    return sum(p.numel() for p in model.parameters() if id(p) not in lookups)


def training_flops(model: torch.nn.Module, tokens: float, seq_len: float) -> float:
    """Model FLOPs of one forward and backward pass over ``tokens`` tokens in sequences of ``seq_len``.

    6 per matrix-product parameter and token, plus 12 * layers * hidden size * sequence length per
    token for the attention scores (Chowdhery et al., 2022, appendix B). Embedding tables are left
    out; with a tied output projection (GPT-2), that matrix is counted once, as a matrix product.
    The one estimator of the suite: every MFU divides this by a measured matmul rate.
    """
    config = model.config
    per_token = 6 * matmul_parameters(model) + 12 * config.num_hidden_layers * config.hidden_size * seq_len
    return tokens * per_token


def matmul_peak_flops(
    device: torch.device | str,
    dtype: torch.dtype = torch.bfloat16,
    size: int | None = None,
    repeats: int = 20,
) -> float:
    """Measured matrix-multiply rate (FLOP/s) of this device in ``dtype``: the denominator of MFU.

    Random operands (zeros run faster than real data), warm-up first, median of ``repeats``.
    """
    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 1024)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        with timed(device) as timing:
            a @ b
        times.append(timing.seconds)
    return 2 * size**3 / statistics.median(times)


@dataclass
class StepTimes:
    """Result of :func:`time_training_steps`."""

    seconds_per_step: float
    samples_per_s: float
    tokens_per_s: float
    real_tokens_per_s: float
    peak: PeakMemory
    step_seconds: list[float] = field(default_factory=list)
    # Host time to issue each step, until the step's Python returns and before waiting for the device:
    # close to the step time, the host sets the pace and the device waits for work.
    issue_seconds: list[float] = field(default_factory=list)


def time_training_steps(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    *,
    steps: int,
    warmup: int = 2,
    optimizer: torch.optim.Optimizer | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> StepTimes:
    """Time full training steps (forward, backward, optimizer) on one fixed batch already on the device.

    Warm-up steps run first and are not counted; the median step time is reported.
    """
    device = next(model.parameters()).device
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    times, issue_times = [], []
    with peak_memory(device) as peak:
        for _ in range(steps):
            with timed(device) as timing:
                issue_start = time.perf_counter()
                step()
                issue_times.append(time.perf_counter() - issue_start)
            times.append(timing.seconds)
    seconds = statistics.median(times)
    input_ids = batch["input_ids"]
    mask = batch.get("attention_mask", torch.ones_like(input_ids))
    return StepTimes(
        seconds_per_step=seconds,
        samples_per_s=input_ids.shape[0] / seconds,
        tokens_per_s=input_ids.numel() / seconds,
        real_tokens_per_s=real_tokens(mask) / seconds,
        peak=peak,
        step_seconds=times,
        issue_seconds=issue_times,
    )


def forward_seconds(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    *,
    repeats: int,
    autocast_dtype: torch.dtype | None = None,
) -> list[float]:
    """Seconds of each of ``repeats`` inference forward passes over ``inputs`` (already on the model's
    device), after one untimed pass; device work is waited for at both ends of each."""
    device = next(model.parameters()).device
    times = []
    with (
        torch.no_grad(),
        torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None),
    ):
        model(**inputs)
        for _ in range(repeats):
            with timed(device) as timing:
                model(**inputs)
            times.append(timing.seconds)
    return times
