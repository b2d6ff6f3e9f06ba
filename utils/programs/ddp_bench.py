"""Data-parallel training experiments: a script that ``torchrun`` starts once per process, and its launcher.

One process per GPU (NCCL), or per CPU process (gloo) where there is no GPU::

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m utils.programs.ddp_bench \\
        --out runs/ddp/ws2 --tasks sampler,throughput --config '{"steps": 5}'

Every rank writes its results to ``<out>/rank<R>.json`` after each task, so the launching process
(:func:`launch`) collects them from files; only rank 0 prints. Tasks:

- ``sampler``: ``DistributedSampler`` indices per rank and epoch, with and without ``set_epoch``.
- ``seeding``: per-rank seeds, and DDP broadcasting rank 0's weights at construction.
- ``trainer_args``: what ``TrainingArguments`` reports inside a distributed launch.
- ``equivalence``: gradients of ``no_sync`` accumulation against one pass over the global batch.
- ``checkpoint``: rank 0 alone saves the model.
- ``throughput``: DDP training steps at a fixed per-device batch, with optional variants
  (``find_unused_parameters=True``, gradient accumulation with and without ``no_sync``).
- ``unused``: what ``find_unused_parameters`` is for: a model with a parameter the loss never uses.
- ``fsdp``: a decoder sharded with FSDP2 (``fully_shard``): peak memory and throughput per device.
- ``ddp_large``: the same decoder under DDP; running out of memory is recorded as a result.
"""

import argparse
import contextlib
import copy
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from utils import REPO_ROOT

TASKS = (
    "sampler",
    "seeding",
    "trainer_args",
    "equivalence",
    "checkpoint",
    "throughput",
    "unused",
    "fsdp",
    "ddp_large",
)
VARIANTS = ("ddp", "find_unused", "accum_sync", "accum_no_sync")
LOG_PREFIX = "[rank "  # torch's own warnings start "[rank0]:"
# NVLink multicast (NVLS) stays off in every process this module starts.
CHILD_ENV = {"NCCL_NVLS_ENABLE": "0"}


@dataclass
class BenchConfig:
    """Sizes of every task; the notebook's profiles choose them."""

    seed: int = 42
    # throughput: a BERT shape from utils.models.BERT_SHAPES, per-device batch and sequence length
    shape: str = "MiniLM-L6"
    shape_overrides: dict = field(default_factory=dict)  # e.g. {"num_hidden_layers": 2} for a smaller model
    batch: int = 4
    seq_len: int = 64
    steps: int = 5
    warmup: int = 2
    variants: list[str] = field(default_factory=lambda: ["ddp"])
    accum_steps: int = 4  # micro-batches of batch // accum_steps for the accumulation variants
    # equivalence and the small demonstrations: a BERT shape, micro-batch, accumulation steps
    small_shape: str = "MiniLM-L6"
    small_overrides: dict = field(default_factory=lambda: {"num_hidden_layers": 2, "vocab_size": 1024})
    small_batch: int = 2
    small_seq_len: int = 16
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


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _free(ctx: Context) -> None:
    import gc

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
        "has_distributed_type_argument": "distributed_type" in {f.name for f in _fields(args)},
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "train_batch_size": args.train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "global_batch": args.train_batch_size * args.world_size * args.gradient_accumulation_steps,
    }


def _fields(args) -> tuple:
    import dataclasses

    return dataclasses.fields(args)


def task_equivalence(ctx: Context) -> dict:
    """``no_sync`` accumulation over micro-batches gives the gradient of one pass over the global batch.

    fp32 without dropout; every rank builds the same global batch and trains on its own slice in
    ``accum_steps`` micro-batches (loss divided by ``accum_steps``); DDP averages over ranks on the
    last one. A plain copy of the model takes one step on the whole global batch as the reference.
    """
    cfg = ctx.config
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # plain fp32
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
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    return {
        "global_batch": global_batch,
        "micro_batch": micro,
        "accum_steps": accum,
        "relative_difference": (diff / ref) ** 0.5,
        "max_abs_difference": max_abs,
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


def _accumulation_step(ddp, optimizer, data, accum, no_sync, autocast_dtype, device_type):
    micro = data["input_ids"].shape[0] // accum
    for i in range(accum):
        piece = {k: v[i * micro : (i + 1) * micro] for k, v in data.items()}
        sync = ddp.no_sync() if no_sync and i < accum - 1 else contextlib.nullcontext()
        with sync:
            with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = ddp(**piece).loss / accum
            loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def task_throughput(ctx: Context) -> dict:
    """DDP training steps (forward, backward with gradient all-reduce, AdamW) at a fixed per-device batch."""
    from utils.models import count_parameters

    cfg = ctx.config
    result = {}
    for variant in cfg.variants:
        torch.manual_seed(cfg.seed)
        model = _bert(ctx, cfg.shape, cfg.shape_overrides)
        data = _bert_batch(model, cfg.batch, cfg.seq_len, cfg.seed + ctx.rank)  # each rank its own data
        ddp = _ddp(ctx, model, find_unused_parameters=variant == "find_unused")
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-5)
        accum = cfg.accum_steps if variant.startswith("accum") else 1
        _reset_peak(ctx.device)

        def step(ddp=ddp, optimizer=optimizer, data=data, accum=accum, no_sync=variant == "accum_no_sync"):
            _accumulation_step(ddp, optimizer, data, accum, no_sync, ctx.autocast_dtype, ctx.device.type)

        timing = _timed_steps(ctx, step, cfg.steps, cfg.warmup)
        result[variant] = {
            **timing,
            "accum_steps": accum,
            "micro_batch": cfg.batch // accum,
            "samples_per_s_per_device": cfg.batch / timing["seconds_per_step"],
            "peak_bytes": _peak_bytes(ctx.device),
            "parameters": count_parameters(model),
        }
        ctx.log(f"{variant}: {1e3 * timing['seconds_per_step']:.1f} ms per step of {cfg.batch} per device")
        del ddp, model, optimizer
        _free(ctx)
    return result


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
        "oom": False,
    }


def _llama_task(ctx: Context, wrap: str) -> dict:
    """Running out of memory is a result. No collective follows it here, so each rank's result is
    written before anything could wait on a rank that stopped early."""
    try:
        result = _llama_run(ctx, wrap)
    except torch.OutOfMemoryError as error:
        result = {"oom": True, "error": str(error).strip().splitlines()[0][:300]}
    _free(ctx)
    speed = "out of memory" if result["oom"] else f"{1e3 * result['seconds_per_step']:.0f} ms per step"
    ctx.log(f"{wrap}: {speed}")
    return result


def task_fsdp(ctx: Context) -> dict:
    return _llama_task(ctx, "fsdp")


def task_ddp_large(ctx: Context) -> dict:
    return _llama_task(ctx, "ddp")


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
            results["tasks"][task] = globals()[f"task_{task}"](ctx)
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
    """Results of one torchrun launch: one dict per rank, rank 0's output, wall time."""

    world_size: int
    ranks: list[dict]
    output: str
    seconds: float
    error: str | None = None

    def task(self, name: str) -> list[dict]:
        """One task's result on every rank (ranks that did not finish it are left out)."""
        return [rank["tasks"][name] for rank in self.ranks if name in rank["tasks"]]


def child_env() -> dict[str, str]:
    """The parent's environment (launch settings such as NCCL's stay) plus this repository on the path."""
    env = dict(os.environ)
    env.update(CHILD_ENV)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def command(world_size: int, out: Path, tasks: list[str], config: BenchConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={world_size}",
        "-m",
        "utils.programs.ddp_bench",
        "--out",
        str(out),
        "--tasks",
        ",".join(tasks),
        "--config",
        json.dumps(asdict(config)),
    ]


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
    for stale in out.glob("rank*.json"):
        stale.unlink()
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
    seconds = time.perf_counter() - start
    ranks = [json.loads(path.read_text()) for path in sorted(out.glob("rank*.json"))]
    ranks.sort(key=lambda rank: rank["rank"])
    error = None
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        failed = [f"rank {rank['rank']}: {rank['error']}" for rank in ranks if "error" in rank]
        error = "\n".join([f"torchrun with {world_size} processes failed ({code})", *failed, tail])
        if check:
            raise RuntimeError(error)
    log = "\n".join(line for line in output.splitlines() if line.startswith(LOG_PREFIX))
    return Launch(world_size, ranks, log, seconds, error)


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
