"""Data-parallel training experiments: a script that ``torchrun`` starts once per process, and its launchers.

One process per GPU (NCCL), or per CPU process (gloo) where there is no GPU::

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m utils.programs.ddp_bench \\
        --out runs/ddp/ws2 --tasks sampler,throughput --config '{"steps": 5}'

The same script runs on several machines ("nodes") through torchrun's rendezvous; :func:`launch_nodes`
starts one torchrun per node on this host, as each node of a cluster would (``--nnodes``,
``--node-rank``, ``--rdzv-backend=c10d``, ``--rdzv-endpoint``).

Every rank writes its results to ``<out>/rank<R>.json`` after each task, so the launching process
collects them from files; only rank 0 prints. Tasks (``TASKS``):

- ``sampler``: ``DistributedSampler`` indices per rank and epoch, with and without ``set_epoch``.
- ``seeding``: per-rank seeds, and DDP broadcasting rank 0's weights at construction.
- ``trainer_args``: what ``TrainingArguments`` reports inside a distributed launch.
- ``equivalence``: gradients of ``no_sync`` accumulation against one pass over the global batch.
- ``checkpoint``: rank 0 alone saves the model; every rank compares it with its own weights.
- ``unused``: what ``find_unused_parameters`` is for: a model with a parameter the loss never uses.
- ``replica``: a small model trained from a seed on data chosen by global rank, its final weights
  saved: launches of one world size end with the same weights, however their processes are placed.
- ``interconnect``: all-reduce time over a range of message sizes (the link's bandwidth).
- ``throughput``: BERT training steps under each arm of ``ARMS`` (DDP settings, no synchronisation
  at all, accumulation), the arms interleaved in timing rounds.
- ``decompose``: where a DDP step's time goes: phase timings, DDP's own timers of its backward
  computation and all-reduce, the device's kernels (CUDA), and DDP's buckets all-reduced alone.
- ``fsdp``: a decoder sharded with FSDP2 (``fully_shard``): peak memory and throughput per device.
- ``ddp_large``: the same decoder under DDP; running out of memory is recorded as a result.
"""

import argparse
import contextlib
import copy
import dataclasses
import datetime
import functools
import gc
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from utils import REPO_ROOT

LOG_PREFIX = "[rank "  # torch's own warnings start "[rank0]:"
# NVLink multicast (NVLS) stays off in NCCL, PyTorch's symmetric memory and NVSHMEM, in every process
# this module starts: a program that uses it can take a shared host's GPUs out of service.
CHILD_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
NODE_ENV = "DDP_BENCH_NODE"  # which of launch_nodes' torchrun launches a process belongs to


@dataclass(frozen=True)
class Arm:
    """One way to run the same BERT training step; :data:`ARMS` names the ones measured."""

    ddp: bool = True  # False: the bare model, gradients never synchronised (compute alone)
    batch_scale: int = 1  # per-device batch = BenchConfig.batch * batch_scale
    bucket_cap_mb: float = 25.0  # DDP's default
    gradient_as_bucket_view: bool = False  # with zero_grad(set_to_none=False), as it needs
    static_graph: bool = False
    find_unused_parameters: bool = False
    compress_grads: bool = False  # all-reduce 16-bit gradients: bf16 hook on NCCL, fp16 hook on gloo
    nccl_max_ctas: int | None = None  # cap the thread blocks (SMs) NCCL uses per collective
    accumulate: bool = False  # BenchConfig.accum_steps micro-batches per optimizer step
    no_sync: bool = False  # with accumulate: no all-reduce on all micro-batches but the last


ARMS = {
    "ddp": Arm(),
    "local": Arm(ddp=False),
    "ddp_4x_batch": Arm(batch_scale=4),
    "local_4x_batch": Arm(ddp=False, batch_scale=4),
    "bucket_5mb": Arm(bucket_cap_mb=5),
    "bucket_100mb": Arm(bucket_cap_mb=100),
    "grad_bucket_view": Arm(gradient_as_bucket_view=True),
    "static_graph": Arm(static_graph=True),
    "compressed_grads": Arm(compress_grads=True),
    "nccl_8_ctas": Arm(nccl_max_ctas=8),
    "tuned": Arm(gradient_as_bucket_view=True, static_graph=True, compress_grads=True),
    "find_unused": Arm(find_unused_parameters=True),
    "accum_sync": Arm(accumulate=True),
    "accum_no_sync": Arm(accumulate=True, no_sync=True),
}
DECOMPOSED_ARMS = ("ddp", "local", "ddp_4x_batch", "local_4x_batch")  # DDP and compute alone, two batches


@dataclass
class BenchConfig:
    """Sizes of every task; the notebook's profiles choose them."""

    seed: int = 42
    # throughput and decompose: a BERT shape from utils.models.BERT_SHAPES, per-device batch, length
    shape: str = "MiniLM-L6"
    shape_overrides: dict = field(default_factory=dict)  # e.g. {"num_hidden_layers": 2} for a smaller model
    batch: int = 4
    seq_len: int = 64
    arms: list[str] = field(default_factory=lambda: ["ddp"])
    rounds: int = 1  # timing rounds; every round runs each arm once, in a rotated order
    steps: int = 5  # timed steps per arm and round
    warmup: int = 2  # untimed steps after each (re)wrap: DDP rebuilds its buckets after the first
    process_warmup: int = 2  # untimed steps before the first arm: CUDA context, library handles
    accum_steps: int = 4  # micro-batches of batch // accum_steps for the accumulation arms
    profile_steps: int = 3  # steps of the decomposition, under the profiler on CUDA
    # interconnect, and the all-reduce of DDP's buckets alone
    sweep_mb: list[float] = field(default_factory=lambda: [0.25, 1.0, 4.0])
    comm_repeats: int = 5
    # equivalence, replica and the small demonstrations: a BERT shape, micro-batch, accumulation steps
    small_shape: str = "MiniLM-L6"
    small_overrides: dict = field(default_factory=lambda: {"num_hidden_layers": 2, "vocab_size": 1024})
    small_batch: int = 2
    small_seq_len: int = 16
    replica_steps: int = 3
    # sampler
    dataset_size: int = 16
    epochs: int = 3
    # fsdp and ddp_large: a Llama decoder
    llama: dict = field(
        default_factory=lambda: dict(
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=1024,
        )
    )
    llama_batch: int = 2
    llama_seq_len: int = 64
    llama_steps: int = 3
    llama_warmup: int = 1
    timeout_s: int = 300  # collective timeout: a stuck rank ends the run instead of hanging it

    def __post_init__(self):
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arm(s) {unknown}; known: {', '.join(ARMS)}")


# ---------------------------------------------------------------------------- process side


@dataclass
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    config: BenchConfig
    out: Path

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def nccl(self) -> bool:
        return dist.get_backend() == "nccl"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        cuda = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda else None

    def log(self, message: str) -> None:
        """Print on rank 0 only: one line per event, not one per process."""
        if self.is_main:
            print(f"{LOG_PREFIX}{self.rank}/{self.world_size}] {message}", flush=True)


def setup(config: BenchConfig, out: Path) -> Context:
    """Join the process group that torchrun describes in the environment (NCCL on GPUs, else gloo)."""
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    timeout = datetime.timedelta(seconds=config.timeout_s)
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timeout, device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", timeout=timeout)
    return Context(rank, world_size, local_rank, device, config, out)


def _numeric_state() -> dict:
    """Every task starts from torch's plain numeric state (TF32 off, all SDPA backends) and records it."""
    from utils import numerics

    return numerics.ensure(numerics.NumericState())


def _ddp(ctx: Context, model: torch.nn.Module, **kwargs) -> torch.nn.parallel.DistributedDataParallel:
    device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **kwargs)


def _bert(ctx: Context, shape: str, overrides: dict, *, dropout: bool = True) -> torch.nn.Module:
    from transformers import BertForSequenceClassification

    from utils.models import bert_config

    overrides = {**overrides, "num_labels": 2}
    if not dropout:
        overrides.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with ctx.device:  # initialise on the device: BERT-large takes seconds on a CPU, every launch
        return BertForSequenceClassification(bert_config(shape, **overrides))


def _bert_batch(model, batch: int, seq_len: int, seed: int) -> dict[str, torch.Tensor]:
    """Random tokens and labels (no padding), on the model's device."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    batch_ = {
        "input_ids": torch.randint(0, vocab, (batch, seq_len), generator=generator),
        "labels": torch.randint(0, 2, (batch,), generator=generator),
    }
    return {key: value.to(device) for key, value in batch_.items()}


def _checksum(model: torch.nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.double().sum() for p in model.parameters()))


def _peak_bytes(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def _reset_peak(device: torch.device, *, release_cache: bool = True) -> None:
    """Start a new peak at what is allocated now; ``release_cache`` also hands cached blocks back."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if release_cache:
            torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _free(ctx: Context) -> None:
    gc.collect()
    if ctx.device.type == "cuda":
        torch.cuda.empty_cache()


def _timed_steps(ctx: Context, step, steps: int, warmup: int) -> dict:
    """Run ``step`` warm-up plus ``steps`` times; median seconds per step (device synchronised)."""
    from utils.measure import timed

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        with timed(ctx.device) as timing:
            step()
        times.append(timing.seconds)
    return {"seconds_per_step": statistics.median(times), "step_seconds": times}


def _all_ranks_agree(ctx: Context, ok: bool) -> bool:
    """Whether ``ok`` holds on every rank: all ranks then take the same branch (and the same collectives)."""
    flag = torch.tensor([int(ok)], device=ctx.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def task_sampler(ctx: Context) -> dict:
    """Indices each rank sees per epoch, with and without ``sampler.set_epoch(epoch)``."""
    from torch.utils.data import DistributedSampler

    dataset = list(range(ctx.config.dataset_size))
    result = {}
    for use_set_epoch in (True, False):
        # rank and world size come from the process group
        sampler = DistributedSampler(dataset, shuffle=True, seed=ctx.config.seed)
        epochs = []
        for epoch in range(ctx.config.epochs):
            if use_set_epoch:
                sampler.set_epoch(epoch)
            epochs.append(list(sampler))
        result["set_epoch" if use_set_epoch else "no_set_epoch"] = epochs
    return result


def task_seeding(ctx: Context) -> dict:
    """Per-rank seeds give per-rank random streams; DDP copies rank 0's weights to every rank."""
    seed = ctx.config.seed + ctx.rank
    torch.manual_seed(seed)
    model = _bert(ctx, ctx.config.small_shape, ctx.config.small_overrides)
    before = _checksum(model)
    ddp = _ddp(ctx, model)  # broadcasts rank 0's parameters and buffers
    after = _checksum(ddp.module)
    mask = torch.nn.functional.dropout(torch.ones(8), p=0.5).tolist()
    del ddp, model
    return {"seed": seed, "checksum_before_ddp": before, "checksum_after_ddp": after, "dropout_mask": mask}


def task_trainer_args(ctx: Context) -> dict:
    """What ``TrainingArguments`` says about the launch, read inside every process."""
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(ctx.out / "trainer"),
        per_device_train_batch_size=ctx.config.batch,
        gradient_accumulation_steps=ctx.config.accum_steps,
        use_cpu=ctx.device.type == "cpu",
        bf16=ctx.autocast_dtype is not None,
        seed=ctx.config.seed,
        report_to="none",
        disable_tqdm=True,
    )
    return {
        "world_size": args.world_size,
        "process_index": args.process_index,
        "n_gpu": args.n_gpu,
        "parallel_mode": str(args.parallel_mode.value),
        "distributed_type": str(args.distributed_state.distributed_type.value),
        "has_distributed_type_argument": "distributed_type" in {f.name for f in dataclasses.fields(args)},
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "train_batch_size": args.train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "global_batch": args.train_batch_size * args.world_size * args.gradient_accumulation_steps,
    }


def task_equivalence(ctx: Context) -> dict:
    """``no_sync`` accumulation over micro-batches gives the gradient of one pass over the global batch.

    fp32 (TF32 off) without dropout; every rank builds the same global batch and trains on its own
    slice in ``accum_steps`` micro-batches (loss divided by ``accum_steps``); DDP averages over ranks
    on the last one. A plain copy of the model takes one step on the whole global batch as the reference.
    """
    cfg = ctx.config
    numeric_state = _numeric_state()
    torch.manual_seed(cfg.seed)
    model = _bert(ctx, cfg.small_shape, cfg.small_overrides, dropout=False)
    reference = copy.deepcopy(model)
    ddp = _ddp(ctx, model)
    micro, accum = cfg.small_batch, cfg.accum_steps
    global_batch = micro * accum * ctx.world_size
    data = _bert_batch(model, global_batch, cfg.small_seq_len, cfg.seed)
    shard = {k: v[ctx.rank * micro * accum : (ctx.rank + 1) * micro * accum] for k, v in data.items()}
    for i in range(accum):
        piece = {k: v[i * micro : (i + 1) * micro] for k, v in shard.items()}
        sync = contextlib.nullcontext() if i == accum - 1 else ddp.no_sync()
        with sync:
            (ddp(**piece).loss / accum).backward()
    reference(**data).loss.backward()
    diff = ref = 0.0
    max_abs = 0.0
    for p, q in zip(ddp.module.parameters(), reference.parameters(), strict=True):
        diff += float((p.grad - q.grad).double().pow(2).sum())
        ref += float(q.grad.double().pow(2).sum())
        max_abs = max(max_abs, float((p.grad - q.grad).abs().max()))
    del ddp, model, reference
    return {
        "global_batch": global_batch,
        "micro_batch": micro,
        "accum_steps": accum,
        "relative_difference": (diff / ref) ** 0.5,
        "max_abs_difference": max_abs,
        "numeric_state": numeric_state,
    }


def task_checkpoint(ctx: Context) -> dict:
    """Train two steps, then rank 0 alone writes the weights (safetensors); the others wait at a barrier."""
    from safetensors.torch import load_file, save_file

    cfg = ctx.config
    torch.manual_seed(cfg.seed)
    ddp = _ddp(ctx, _bert(ctx, cfg.small_shape, cfg.small_overrides))
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-4)
    for step in range(2):
        data = _bert_batch(ddp.module, cfg.small_batch, cfg.small_seq_len, cfg.seed + 100 * ctx.rank + step)
        loss = ddp(**data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ctx.log(f"step {step + 1}: loss {loss.item():.4f} (rank 0's shard)")
    path = ctx.out / "checkpoint" / "model.safetensors"
    wrote = False
    if ctx.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in ddp.module.state_dict().items()}, str(path))
        wrote = True
        ctx.log(f"saved {path.name}")
    dist.barrier()
    # every rank holds the same weights, so every rank can check the one file against its own copy
    saved = load_file(str(path))
    matches = all(torch.equal(saved[k].cpu(), v.cpu()) for k, v in ddp.module.state_dict().items())
    del ddp, optimizer
    return {"wrote_checkpoint": wrote, "checkpoint_matches_own_weights": matches}


class _TwoHeads(torch.nn.Module):
    """A model whose second head the loss never uses (as in a multi-task model on a one-task batch)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(16, 16)
        self.used = torch.nn.Linear(16, 1)
        self.unused = torch.nn.Linear(16, 1)

    def forward(self, x):
        return self.used(torch.relu(self.body(x))).mean()


def task_unused(ctx: Context) -> dict:
    """Without ``find_unused_parameters`` DDP waits for a gradient that never comes and raises."""
    result = {}
    x = torch.randn(4, 16, device=ctx.device)
    for flag in (False, True):
        torch.manual_seed(ctx.config.seed)
        ddp = _ddp(ctx, _TwoHeads().to(ctx.device), find_unused_parameters=flag)
        try:
            for _ in range(2):
                ddp(x).backward()
            result[f"find_unused_{flag}"] = "ok"
        except RuntimeError as error:
            result[f"find_unused_{flag}"] = str(error).strip().splitlines()[0]
        del ddp
    dist.barrier()
    return result


REPLICA_WEIGHTS = Path("replica") / "weights.safetensors"


def task_replica(ctx: Context) -> dict:
    """A small BERT (fp32, no dropout, eager attention) trained ``replica_steps`` steps from the seed;
    each rank's data depends on its global rank only, so any launch of this world size (one node or
    several) must end with the same weights. Rank 0 saves them to ``<out>/replica/weights.safetensors``:
    on a cluster, ``--out`` must be storage that every node sees (or only rank 0's node keeps them)."""
    from safetensors.torch import save_file

    cfg = ctx.config
    numeric_state = _numeric_state()
    torch.manual_seed(cfg.seed)
    overrides = {**cfg.small_overrides, "attn_implementation": "eager"}  # no atomics in its backward
    model = _bert(ctx, cfg.small_shape, overrides, dropout=False)
    ddp = _ddp(ctx, model)
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-3)
    losses = []
    for step in range(cfg.replica_steps):
        data = _bert_batch(model, cfg.small_batch, cfg.small_seq_len, cfg.seed + 1000 * step + ctx.rank)
        loss = ddp(**data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    path = ctx.out / REPLICA_WEIGHTS
    if ctx.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
    dist.barrier()
    launch = {
        key.lower(): os.environ.get(key)
        for key in ("GROUP_RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", NODE_ENV)
    }
    launch.update(
        host=socket.gethostname(),
        device=str(ctx.device),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        pid=os.getpid(),
    )
    del ddp, model, optimizer
    return {"losses": losses, "launch": launch, "numeric_state": numeric_state}


def _comm_seconds(ctx: Context, elements: list[int], dtype: torch.dtype, repeats: int) -> list[float]:
    """Seconds to all-reduce one buffer of each size in turn, as DDP does with its buckets, ``repeats``
    times after one untimed pass (communicator set-up, algorithm choice)."""
    from utils.measure import timed

    buffers = [torch.zeros(max(1, n), dtype=dtype, device=ctx.device) for n in elements]
    for buffer in buffers:
        dist.all_reduce(buffer)
    times = []
    for _ in range(repeats):
        with timed(ctx.device) as timing:
            for buffer in buffers:
                dist.all_reduce(buffer)
        times.append(timing.seconds)
    del buffers
    return times


def task_interconnect(ctx: Context) -> dict:
    """All-reduce time of one fp32 message per size in ``sweep_mb`` (the link, without a model)."""
    cfg = ctx.config
    sizes = []
    for megabytes in cfg.sweep_mb:
        elements = int(megabytes * 2**20) // 4
        seconds = _comm_seconds(ctx, [elements], torch.float32, cfg.comm_repeats)
        sizes.append({"bytes": 4 * elements, "seconds": seconds})
    _free(ctx)
    return {"sizes": sizes}


class _PhaseClock:
    """Marks in a training step: CUDA events on the current stream (no waiting inside the step), or
    the host clock on a CPU, where work runs as it is issued."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device
        self.marks: list[tuple[str, object]] = []
        self.mark("start")

    def mark(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def phases(self) -> dict[str, float]:
        """Seconds between consecutive marks, summed by the later mark's name, and ``step`` in all."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
        phases: dict[str, float] = {}
        for (_, before), (name, after) in itertools.pairwise(self.marks):
            seconds = before.elapsed_time(after) / 1e3 if self.cuda else after - before
            phases[name] = phases.get(name, 0.0) + seconds  # micro-batches add up
        phases["step"] = sum(phases.values())
        return phases


class _BertBench:
    """One BERT model and optimizer that every arm wraps in turn (in DDP with the arm's settings, or
    not at all), so that arms differ only in how gradients are synchronised. Each rank trains on its
    own fixed batch per per-device batch size."""

    def __init__(self, ctx: Context):
        cfg = ctx.config
        self.ctx = ctx
        torch.manual_seed(cfg.seed)
        self.model = _bert(ctx, cfg.shape, cfg.shape_overrides)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-5)
        self.wrapped: torch.nn.Module | None = None
        self._batches: dict[int, dict[str, torch.Tensor]] = {}
        self._capped_groups: dict[int, object] = {}

    def batch(self, arm: Arm) -> dict[str, torch.Tensor]:
        cfg = self.ctx.config
        if arm.batch_scale not in self._batches:
            size, seed = cfg.batch * arm.batch_scale, cfg.seed + self.ctx.rank  # each rank its own data
            self._batches[arm.batch_scale] = _bert_batch(self.model, size, cfg.seq_len, seed)
        return self._batches[arm.batch_scale]

    def unsupported(self, arm: Arm) -> str | None:
        """Why ``arm`` cannot run in this launch, or None."""
        if arm.nccl_max_ctas and not self.ctx.nccl:
            return "NCCL only (the thread-block cap is an NCCL communicator setting)"
        if arm.accumulate and self.ctx.config.batch % self.ctx.config.accum_steps:
            cfg = self.ctx.config
            return f"batch {cfg.batch} does not split into {cfg.accum_steps} micro-batches"
        return None

    def _capped_group(self, max_ctas: int):
        """A process group whose NCCL communicator uses at most ``max_ctas`` thread blocks (one per SM)."""
        if max_ctas not in self._capped_groups:
            options = dist.ProcessGroupNCCL.Options()
            options.config.max_ctas = max_ctas
            self._capped_groups[max_ctas] = dist.new_group(backend="nccl", pg_options=options)
        return self._capped_groups[max_ctas]

    def wrap(self, arm: Arm) -> None:
        if not arm.ddp:
            self.wrapped = self.model
            return
        group = self._capped_group(arm.nccl_max_ctas) if arm.nccl_max_ctas else None
        ddp = _ddp(
            self.ctx,
            self.model,
            process_group=group,
            bucket_cap_mb=arm.bucket_cap_mb,
            gradient_as_bucket_view=arm.gradient_as_bucket_view,
            static_graph=arm.static_graph,
            find_unused_parameters=arm.find_unused_parameters,
        )
        if arm.compress_grads:
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

            hook = default_hooks.bf16_compress_hook if self.ctx.nccl else default_hooks.fp16_compress_hook
            ddp.register_comm_hook(group, hook)
        self.wrapped = ddp

    def try_wrap(self, arm: Arm) -> str | None:
        """Wrap and take one step; on an error on any rank, unwrap everywhere and return the error."""
        error = None
        try:
            self.wrap(arm)
            self.step(arm)  # communicators start lazily: their errors surface in the first step
        except Exception as exception:  # a setting this torch or NCCL lacks is a result, not a crash
            error = _first_line(exception)
        if _all_ranks_agree(self.ctx, error is None):
            return None
        self.unwrap()
        gc.collect()  # a half-built wrapper may live on in a reference cycle, gradient hooks and all
        return error or "failed on another rank"

    def unwrap(self) -> None:
        """Drop the DDP wrapper, whose reducer removes its gradient hooks as it goes, and every gradient.

        The allocator keeps its cached blocks for the next arm: releasing them would make every arm
        pay for fresh device allocations in its first steps."""
        for parameter in self.model.parameters():
            parameter.grad = None
        wrapper = (
            weakref.ref(self.wrapped) if self.wrapped is not None and self.wrapped is not self.model else None
        )
        self.wrapped = None
        if wrapper is not None and wrapper() is not None:
            gc.collect()  # a reference cycle still holds the wrapper
        if wrapper is not None and wrapper() is not None:
            raise RuntimeError(
                "a DDP wrapper outlived its arm: its gradient hooks would fire in the next one"
            )

    def step(self, arm: Arm, clock: _PhaseClock | None = None) -> None:
        """One optimizer step of the wrapped model; ``clock`` marks forward, backward and optimizer."""
        ctx, data = self.ctx, self.batch(arm)
        accum = ctx.config.accum_steps if arm.accumulate else 1
        micro = data["input_ids"].shape[0] // accum
        dtype = ctx.autocast_dtype
        for i in range(accum):
            piece = {k: v[i * micro : (i + 1) * micro] for k, v in data.items()}
            skip_sync = arm.ddp and arm.no_sync and i < accum - 1
            with self.wrapped.no_sync() if skip_sync else contextlib.nullcontext():
                with torch.autocast(ctx.device.type, dtype=dtype, enabled=dtype is not None):
                    loss = self.wrapped(**piece).loss / accum
                if clock:
                    clock.mark("forward")
                loss.backward()
                if clock:
                    clock.mark("backward")
        self.optimizer.step()
        # Gradients that are views of DDP's buckets must stay allocated, or DDP copies them again.
        self.optimizer.zero_grad(set_to_none=not arm.gradient_as_bucket_view)
        if clock:
            clock.mark("optimizer")

    def warm_up(self, steps: int) -> None:
        """Untimed steps of the bare model: CUDA context, library handles and the allocator's pools."""
        self.wrap(ARMS["local"])
        for _ in range(steps):
            self.step(ARMS["local"])
        self.unwrap()


def task_throughput(ctx: Context) -> dict:
    """Training steps (forward, backward with any all-reduce, AdamW) of every arm in ``config.arms``.

    Every round runs each arm once, in an order rotated by one per round, so that drift over the run
    falls on all arms alike: wrap, ``warmup`` untimed steps, ``steps`` timed ones (device synchronised).
    """
    from utils.models import count_parameters

    cfg = ctx.config
    numeric_state = _numeric_state()
    bench = _BertBench(ctx)
    arms = {name: ARMS[name] for name in cfg.arms}
    skipped = {name: reason for name, arm in arms.items() if (reason := bench.unsupported(arm))}
    bench.warm_up(cfg.process_warmup)
    runnable = [name for name in arms if name not in skipped]
    results = {name: {"round_seconds": [], "step_seconds": [], "peak_bytes": None} for name in runnable}
    for round_index in range(cfg.rounds):
        shift = round_index % max(1, len(runnable))
        for name in runnable[shift:] + runnable[:shift]:
            if name in skipped:
                continue
            arm = arms[name]
            _reset_peak(ctx.device, release_cache=False)
            error = bench.try_wrap(arm)
            if error:
                skipped[name] = error
                results.pop(name)
                continue
            timing = _timed_steps(ctx, functools.partial(bench.step, arm), cfg.steps, max(0, cfg.warmup - 1))
            peak = _peak_bytes(ctx.device)
            bench.unwrap()
            entry = results[name]
            entry["round_seconds"].append(timing["seconds_per_step"])
            entry["step_seconds"] += timing["step_seconds"]
            entry["peak_bytes"] = max(entry["peak_bytes"] or 0, peak or 0) or None
    for name, entry in results.items():
        arm = arms[name]
        entry["per_device_batch"] = cfg.batch * arm.batch_scale
        entry["accum_steps"] = cfg.accum_steps if arm.accumulate else 1
        entry["settings"] = asdict(arm)
        ctx.log(f"{name}: {1e3 * statistics.median(entry['round_seconds']):.1f} ms per step")
    result = {
        "arms": results,
        "skipped": skipped,
        "parameters": count_parameters(bench.model),
        "numeric_state": numeric_state,
    }
    del bench
    _free(ctx)
    return result


@dataclass
class _KernelRecording:
    kernels: list[tuple[float, float, bool]] = field(default_factory=list)
    error: str | None = None


@contextlib.contextmanager
def _device_kernels(ctx: Context):
    """Record the device's kernels, copies and memsets in the block as ``(start_us, end_us, is_comm)``
    (NCCL kernels are communication). Nothing is recorded where there is no CUDA device; a profiler
    that fails leaves its error instead of ending the run."""
    recording = _KernelRecording()
    if ctx.device.type != "cuda":
        yield recording
        return
    from torch.profiler import ProfilerActivity, profile

    # Device activity only: recording every CPU op would slow the steps it measures.
    profiler = profile(activities=[ProfilerActivity.CUDA])
    try:
        profiler.__enter__()
    except Exception as error:
        recording.error, profiler = _first_line(error), None
    try:
        yield recording
    finally:
        torch.cuda.synchronize(ctx.device)
        if profiler is not None:
            try:
                profiler.__exit__(None, None, None)
                for event in profiler.events():
                    if event.device_type == torch.autograd.DeviceType.CUDA:
                        span = event.time_range
                        recording.kernels.append(
                            (float(span.start), float(span.end), "nccl" in event.name.lower())
                        )
            except Exception as error:
                recording.error, recording.kernels = _first_line(error), []


DDP_TIMERS = {  # DDP's own timers (CUDA events on a GPU), nanoseconds, of its last sampled step
    "forward": "forward_compute_time",
    "backward_compute": "backward_compute_time",
    "comm_span": "backward_comm_time",
    "comm_overlapped": "backward_compute_comm_overlap_time",
}


def _ddp_timers(ddp) -> dict[str, float]:
    """Seconds of the step just taken by DDP's reducer: forward; backward computation up to the last
    gradient; all-reduce from the first bucket's start to the last one's end; the part of that span
    during backward computation, and what is left after it."""
    ddp.logger.set_runtime_stats_and_log()  # DDP itself does this at the next forward
    data = ddp._get_ddp_logging_data()
    timers = {name: data.get(key, 0) / 1e9 for name, key in DDP_TIMERS.items()}
    timers["comm_after_backward"] = max(0.0, timers["comm_span"] - timers["comm_overlapped"])
    return timers


def _bucket_bytes(ddp) -> list[int]:
    """Sizes of DDP's gradient buckets in the order they are all-reduced (after the first step's rebuild)."""
    data = ddp._get_ddp_logging_data()
    sizes = data.get("rebuilt_bucket_sizes") or data.get("bucket_sizes") or ""
    return [int(size) for size in str(sizes).split(",") if size.strip()]


def _mean_dict(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.fmean(row[key] for row in rows) for key in rows[0]}


def task_decompose(ctx: Context) -> dict:
    """Where a DDP step's time goes, against the same step without DDP (compute alone), at both
    per-device batches of :data:`DECOMPOSED_ARMS`.

    For every arm, ``profile_steps`` steps after a warm-up: phase times (forward, backward,
    optimizer) from CUDA events, and on CUDA the device kernels (NCCL kernels apart from the rest)
    from the PyTorch profiler. For DDP also its reducer's own timers (backward computation, all-reduce
    span, overlap, and the all-reduce left after backward), and its bucket sizes: the same buckets are
    then all-reduced alone, in fp32 and in the 16-bit type of the compressing hook.
    """
    from utils.topics.distributed import kernel_activity

    cfg = ctx.config
    numeric_state = _numeric_state()
    bench = _BertBench(ctx)
    bench.warm_up(cfg.process_warmup)
    result: dict = {"numeric_state": numeric_state}
    for name in DECOMPOSED_ARMS:
        arm = ARMS[name]
        bench.wrap(arm)
        for _ in range(max(2, cfg.warmup)):  # DDP rebuilds its buckets after the first step
            bench.step(arm)
        if arm.ddp:
            bench.wrapped._set_ddp_runtime_logging_sample_rate(1)
        phases, timers = [], []
        with _device_kernels(ctx) as recording:
            for _ in range(cfg.profile_steps):
                clock = _PhaseClock(ctx.device)
                bench.step(arm, clock)
                phases.append(clock.phases())
                if arm.ddp:
                    timers.append(_ddp_timers(bench.wrapped))
        entry = {
            "phases": _mean_dict(phases),
            "phase_steps": phases,
            "kernels": kernel_activity(recording.kernels, cfg.profile_steps) if recording.kernels else None,
            "profiler_error": recording.error,
        }
        if arm.ddp:
            entry.update(ddp_timers=_mean_dict(timers), timer_steps=timers)
            result["bucket_bytes"] = _bucket_bytes(bench.wrapped)  # one model: the same buckets
        bench.unwrap()
        result[name] = entry
    del bench
    _free(ctx)
    elements = [size // 4 for size in result["bucket_bytes"]]  # fp32 gradients
    half = torch.bfloat16 if ctx.nccl else torch.float16  # what the compressing hook sends
    result["buckets_alone"] = {
        "fp32": _comm_seconds(ctx, elements, torch.float32, cfg.comm_repeats),
        "16-bit": _comm_seconds(ctx, elements, half, cfg.comm_repeats),
    }
    _free(ctx)
    return result


def _llama(ctx: Context):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**ctx.config.llama, max_position_embeddings=max(ctx.config.llama_seq_len, 128))
    with ctx.device:  # initialise directly on the device: no full copy on the host
        return LlamaForCausalLM(config)


def _llama_batch(ctx: Context) -> dict[str, torch.Tensor]:
    cfg = ctx.config
    generator = torch.Generator().manual_seed(cfg.seed + ctx.rank)
    ids = torch.randint(0, cfg.llama["vocab_size"], (cfg.llama_batch, cfg.llama_seq_len), generator=generator)
    ids = ids.to(ctx.device)
    return {"input_ids": ids, "labels": ids}


def _llama_run(ctx: Context, wrap: str) -> dict:
    from utils.models import count_parameters

    cfg = ctx.config
    _numeric_state()
    torch.manual_seed(cfg.seed)
    model = _llama(ctx)
    parameters = count_parameters(model)
    autocast_dtype = ctx.autocast_dtype
    if wrap == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # bf16 compute with fp32 master weights and fp32 gradient reduction, like autocast under DDP
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        kwargs = {"mp_policy": policy} if autocast_dtype is not None else {}
        for layer in model.model.layers:
            fully_shard(layer, **kwargs)
        fully_shard(model, **kwargs)
        wrapped, autocast_dtype = model, None
    else:
        # A rank that runs out of memory inside backward leaves the others waiting in an all-reduce:
        # a group with a short timeout ends such a wait instead of the whole run's timeout.
        group = dist.new_group(timeout=datetime.timedelta(seconds=min(60, cfg.timeout_s)))
        wrapped = _ddp(ctx, model, process_group=group)
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-5)
    data = _llama_batch(ctx)
    _reset_peak(ctx.device)  # the peak of training: model states, activations, communication buffers

    def step():
        with torch.autocast(ctx.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = wrapped(**data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timing = _timed_steps(ctx, step, cfg.llama_steps, cfg.llama_warmup)
    tokens = cfg.llama_batch * cfg.llama_seq_len
    return {
        **timing,
        "parameters": parameters,
        "tokens_per_s_per_device": tokens / timing["seconds_per_step"],
        "peak_bytes": _peak_bytes(ctx.device),
        "device_bytes": torch.cuda.get_device_properties(ctx.device).total_memory
        if ctx.device.type == "cuda"
        else None,
        "oom": False,
    }


def _llama_task(ctx: Context, wrap: str) -> dict:
    """Running out of memory is a result. No collective follows it here, so each rank's result is
    written before anything could wait on a rank that stopped early."""
    try:
        result = _llama_run(ctx, wrap)
    except torch.OutOfMemoryError as error:
        result = {"oom": True, "error": str(error).strip().splitlines()[0][:300]}
        if ctx.device.type == "cuda":
            result["device_bytes"] = torch.cuda.get_device_properties(ctx.device).total_memory
    _free(ctx)
    speed = "out of memory" if result["oom"] else f"{1e3 * result['seconds_per_step']:.0f} ms per step"
    ctx.log(f"{wrap}: {speed}")
    return result


def task_fsdp(ctx: Context) -> dict:
    return _llama_task(ctx, "fsdp")


def task_ddp_large(ctx: Context) -> dict:
    return _llama_task(ctx, "ddp")


TASKS: dict[str, Callable[[Context], dict]] = {
    "sampler": task_sampler,
    "seeding": task_seeding,
    "trainer_args": task_trainer_args,
    "equivalence": task_equivalence,
    "checkpoint": task_checkpoint,
    "unused": task_unused,
    "replica": task_replica,
    "interconnect": task_interconnect,
    "throughput": task_throughput,
    "decompose": task_decompose,
    "fsdp": task_fsdp,
    "ddp_large": task_ddp_large,
}


def _write(ctx: Context, results: dict) -> None:
    path = ctx.out / f"rank{ctx.rank}.json"
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for rank<R>.json")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    parser.add_argument("--config", default="{}", help="BenchConfig fields as JSON")
    args = parser.parse_args(argv)
    tasks = [task for task in args.tasks.split(",") if task]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s): {', '.join(unknown)}")
    config = BenchConfig(**json.loads(args.config))
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = setup(config, args.out)
    results = {
        "rank": ctx.rank,
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "backend": dist.get_backend(),
        "config": asdict(config),
        "tasks": {},
    }
    try:
        for task in tasks:
            start = time.perf_counter()
            results["tasks"][task] = TASKS[task](ctx)
            results["tasks"][task]["task_seconds"] = time.perf_counter() - start
            _write(ctx, results)
    except Exception as error:
        results["error"] = f"{task}: {type(error).__name__}: {error}"
        _write(ctx, results)
        raise
    finally:
        dist.destroy_process_group()
    return 0


# ---------------------------------------------------------------------------- launcher side


@dataclass
class Launch:
    """Results of one launch (one torchrun, or one per node): one dict per rank, rank 0's output,
    wall time."""

    world_size: int
    out: Path  # the folder the ranks wrote to
    ranks: list[dict]
    output: str
    seconds: float
    error: str | None = None

    def task(self, name: str) -> list[dict]:
        """One task's result on every rank (ranks that did not finish it are left out)."""
        return [rank["tasks"][name] for rank in self.ranks if name in rank["tasks"]]


def child_env() -> dict[str, str]:
    """The parent's environment (launch settings such as NCCL's stay), NVLink multicast off, one thread."""
    env = dict(os.environ)
    env.update(CHILD_ENV)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _program(out: Path, tasks: list[str], config: BenchConfig) -> list[str]:
    return [
        "-m",
        "utils.programs.ddp_bench",
        "--out",
        str(out),
        "--tasks",
        ",".join(tasks),
        "--config",
        json.dumps(asdict(config)),
    ]


def command(world_size: int, out: Path, tasks: list[str], config: BenchConfig) -> list[str]:
    """torchrun on one machine: ``--standalone`` starts its own rendezvous on a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={world_size}",
        *_program(out, tasks, config),
    ]


def node_command(
    node_rank: int,
    nodes: int,
    procs_per_node: int,
    endpoint: str,
    run_id: str,
    out: Path,
    tasks: list[str],
    config: BenchConfig,
    *,
    join_timeout: int = 120,
) -> list[str]:
    """torchrun for one node of a multi-node job: the same command on every node but ``--node-rank``.

    The c10d rendezvous runs in a TCP store at ``endpoint`` (host:port), which the agent on that host
    starts and the others join; global ranks are handed out when all ``nodes`` have joined.
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={nodes}",
        f"--node-rank={node_rank}",
        f"--nproc-per-node={procs_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
        f"--rdzv-id={run_id}",
        f"--rdzv-conf=join_timeout={join_timeout}",
        *_program(out, tasks, config),
    ]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now (the operating system's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _clear(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("rank*.json"):
        stale.unlink()


def _collect(out: Path, world_size: int, outputs: list[str], codes: list[int], seconds: float, check: bool):
    ranks = [json.loads(path.read_text()) for path in sorted(out.glob("rank*.json"))]
    ranks.sort(key=lambda rank: rank["rank"])
    error = None
    if any(code != 0 for code in codes):
        tails = ["\n".join(output.strip().splitlines()[-15:]) for output in outputs]
        failed = [f"rank {rank['rank']}: {rank['error']}" for rank in ranks if "error" in rank]
        error = "\n".join([f"torchrun with {world_size} processes failed ({codes})", *failed, *tails])
        if check:
            raise RuntimeError(error)
    log = "\n".join(line for output in outputs for line in output.splitlines() if line.startswith(LOG_PREFIX))
    return Launch(world_size, out, ranks, log, seconds, error)


def launch(
    world_size: int,
    tasks: list[str],
    config: BenchConfig,
    out: str | Path,
    *,
    timeout: float = 900,
    check: bool = True,
) -> Launch:
    """Run the tasks in ``world_size`` processes with torchrun and collect every rank's JSON.

    A failed launch raises ``RuntimeError`` with the end of its output, or with ``check=False``
    returns what the ranks wrote before it failed and the error; a task that did not finish on a
    rank is missing from that rank's results.
    """
    out = Path(out)
    _clear(out)
    start = time.perf_counter()
    try:
        process = subprocess.run(
            command(world_size, out, tasks, config),
            env=child_env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, code = process.stdout + process.stderr, process.returncode
    except subprocess.TimeoutExpired as expired:
        output, code = f"{expired.stdout or ''}{expired.stderr or ''}\ntimed out after {timeout} s", -1
    return _collect(out, world_size, [output], [code], time.perf_counter() - start, check)


def node_devices(nodes: int, procs_per_node: int) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each node: consecutive GPUs of this host (of those this process
    may use), as each machine of a cluster sees only its own; ``None`` for each where there is no GPU."""
    if not torch.cuda.is_available():
        return [None] * nodes
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    if len(ids) < nodes * procs_per_node:
        raise ValueError(
            f"{nodes} nodes of {procs_per_node} GPUs need {nodes * procs_per_node}; {len(ids)} here"
        )
    return [",".join(ids[n * procs_per_node : (n + 1) * procs_per_node]) for n in range(nodes)]


def launch_nodes(
    nodes: int,
    procs_per_node: int,
    tasks: list[str],
    config: BenchConfig,
    out: str | Path,
    *,
    timeout: float = 600,
    check: bool = True,
) -> Launch:
    """Run the tasks as a job of ``nodes`` nodes on this host: one torchrun per node, started together,
    joined by a c10d rendezvous on 127.0.0.1; each node sees its own GPUs. The ranks write to one
    ``out`` folder, as nodes of a cluster would to shared storage."""
    out = Path(out)
    _clear(out)
    endpoint, run_id = f"127.0.0.1:{free_port()}", f"ddp-bench-{os.getpid()}-{time.time_ns()}"
    start = time.perf_counter()
    processes, logs = [], []
    for node, devices in enumerate(node_devices(nodes, procs_per_node)):
        env = {**child_env(), NODE_ENV: str(node)}
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices
        log = (out / f"node{node}.log").open("w+", encoding="utf-8")
        cmd = node_command(node, nodes, procs_per_node, endpoint, run_id, out, tasks, config)
        processes.append(
            subprocess.Popen(
                cmd, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        logs.append(log)
    deadline = start + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(1.0, deadline - time.perf_counter())))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # this torchrun and its workers (own session)
                os.killpg(process.pid, signal.SIGTERM)
            codes.append(process.wait())
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    return _collect(out, nodes * procs_per_node, outputs, codes, time.perf_counter() - start, check)


def rank_log_lines(output: str) -> dict[str, int]:
    """How many lines of a launch's output each rank printed (by the ``[rank R/N]`` prefix)."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        if line.startswith(LOG_PREFIX):
            rank = line[len(LOG_PREFIX) :].split("/", 1)[0]
            counts[rank] = counts.get(rank, 0) + 1
    return counts


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4, ... up to ``limit`` (the world sizes of a scaling sweep)."""
    sizes, size = [], 1
    while size <= max(limit, 1):
        sizes.append(size)
        size *= 2
    return sizes


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
