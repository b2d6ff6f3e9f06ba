"""Training-speed experiments: one Trainer run per recipe, step clocks that do not stall the GPU,
padding statistics, torch.compile graph counts, optimizer-step timing and a profiler table."""

import dataclasses
import gc
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from utils import measure, models, numerics, training
from utils.numerics import SDPA_BACKENDS, NumericState
from utils.topics import trials

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
PADDINGS = ("max_length", "dynamic", "group_by_length")
ATTENTIONS = ("eager", "sdpa")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One training configuration; every field is one factor of the speed experiments."""

    precision: str = "fp32"  # fp32 (TF32 off), tf32, bf16 (autocast), fp16 (autocast + gradient scaler)
    padding: str = "max_length"  # max_length (static), dynamic (per batch), group_by_length (+ dynamic)
    attention: str = "eager"  # eager or sdpa
    optim: str = "adamw_torch"  # adamw_torch (unfused) or adamw_torch_fused
    batch_size: int = 16
    workers: int = 0  # data loader worker processes; pinned memory goes with them on CUDA
    compile: bool = False
    pad_to_multiple_of: int | None = None
    nan_inf_filter: bool = True  # Trainer's check of every step's loss, which waits for the GPU each step
    cudnn_attention: bool = True  # SDPA may pick cuDNN kernels on CUDA (off: flash or memory-efficient)

    def __post_init__(self):
        for name, allowed in (
            ("precision", PRECISIONS),
            ("padding", PADDINGS),
            ("attention", ATTENTIONS),
            ("optim", OPTIMIZERS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError(f"batch_size must be positive and workers not negative: {self}")

    def changed(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def cuda_only(self) -> str | None:
        """Why this recipe cannot run without CUDA, or None."""
        if self.precision == "tf32":
            return "TF32 is a tensor-core mode of NVIDIA GPUs"
        if self.precision == "fp16":
            return "fp16 autocast with a gradient scaler needs CUDA here"
        if not self.cudnn_attention:
            return "cuDNN attention is a backend of NVIDIA GPUs"
        return None

    def numeric_state(self) -> NumericState:
        """The global flags this recipe trains under: TF32 only in the tf32 recipe, every SDPA backend
        unless cuDNN attention is switched off."""
        backends = tuple(b for b in SDPA_BACKENDS if self.cudnn_attention or b != "cudnn")
        return NumericState(tf32=self.precision == "tf32", sdpa_backends=backends)


@dataclasses.dataclass
class RecipeData:
    """What every recipe trains and is evaluated on.

    ``train_static`` is padded to max length in ``map`` (the static-padding anti-pattern);
    ``train_dynamic`` is truncated only and padded per batch by the collator.
    """

    tokenizer: PreTrainedTokenizerBase
    train_static: Dataset
    train_dynamic: Dataset
    test: Dataset
    num_labels: int
    model_dir: str | None = None


def real_lengths(dataset: Dataset) -> np.ndarray:
    return np.array([int(np.sum(mask)) for mask in dataset["attention_mask"]])


class StepClock(TrainerCallback):
    """Times every optimizer step without synchronising inside the loop.

    On CUDA it records an event at the start of training and after each step; the intervals between
    events are the step periods as the GPU saw them (a CPU-bound step leaves the GPU idle, which the
    events capture too). One synchronisation at the end reads them out.
    """

    def __init__(self, device: torch.device):
        self.cuda = torch.device(device).type == "cuda"
        self.marks: list = []

    def _mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def on_train_begin(self, args, state, control, **kwargs):
        self.marks = []
        self._mark()

    def on_step_end(self, args, state, control, **kwargs):
        self._mark()

    def step_seconds(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in zip(self.marks, self.marks[1:], strict=False)]
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]


def split_warmup(step_seconds: list[float], warmup: int) -> tuple[float, float]:
    """Seconds of the steady steps (after ``warmup``) and the warm-up overhead: the time of the
    warm-up steps beyond what steady steps of median length would have taken (compilation, caches)."""
    warmup = min(warmup, len(step_seconds) - 1)
    steady = step_seconds[warmup:]
    typical = statistics.median(steady)
    overhead = max(0.0, sum(step_seconds[:warmup]) - warmup * typical)
    return sum(steady), overhead


def padding_stats(loader) -> dict[str, float]:
    """Samples, real (non-pad) and padded token counts over one pass of a training data loader."""
    samples = real = total = 0
    for batch in loader:
        samples += batch["attention_mask"].shape[0]
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    return {
        "samples": samples,
        "real_tokens": real,
        "padded_tokens": total,
        "padding_efficiency": real / max(total, 1),
    }


def graph_count() -> int:
    """Graphs that torch.compile has built in this process so far (each compile or recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _training_arguments(recipe: Recipe, *, epochs, learning_rate, seed, output_dir, compile_backend, cuda):
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        per_device_train_batch_size=recipe.batch_size,
        learning_rate=learning_rate * (recipe.batch_size / 16) ** 0.5,
        lr_scheduler_type="linear",
        warmup_steps=0.1,
        bf16=recipe.precision == "bf16",
        fp16=recipe.precision == "fp16",
        use_cpu=not cuda,
        optim=recipe.optim,
        train_sampling_strategy="group_by_length" if recipe.padding == "group_by_length" else "random",
        dataloader_num_workers=recipe.workers,
        dataloader_pin_memory=cuda and recipe.workers > 0,
        dataloader_persistent_workers=recipe.workers > 0,
        dataloader_drop_last=True,  # full batches only: a last short batch would recompile a compiled model
        torch_compile=recipe.compile,
        torch_compile_backend=compile_backend if recipe.compile else None,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        logging_nan_inf_filter=recipe.nan_inf_filter,
        seed=seed,
        report_to="none",
        disable_tqdm=True,
    )


def train_recipe(
    recipe: Recipe,
    data: RecipeData,
    *,
    epochs: float,
    learning_rate: float,
    seed: int,
    output_dir: str,
    warmup_steps: int = 5,
    compile_backend: str = "inductor",
) -> dict:
    """Fine-tune the pretrained model with one recipe and measure it.

    Every recipe starts from the same numeric state (:meth:`Recipe.numeric_state`, set with torch's
    own flags and checked when training begins) and from a model seeded with ``seed``. Steady
    throughput counts the steps after ``warmup_steps``; compilation and other one-off costs land in
    the warm-up overhead and in the end-to-end rate, which divides all samples by the training wall
    time. The learning rate scales with the square root of the batch size relative to 16.
    Accuracy is measured the same way for every recipe: fp32, eager, no TF32.
    """
    device = training.device()
    cuda = device.type == "cuda"
    gc.collect()  # the previous recipe's trainer and model
    if cuda:
        torch.cuda.empty_cache()
    numerics.ensure(recipe.numeric_state(), reset_compiled=recipe.compile)
    set_seed(seed)
    model = models.load_model(
        AutoModelForSequenceClassification,
        data.model_dir,
        num_labels=data.num_labels,
        attn_implementation=recipe.attention,
    )
    args = _training_arguments(
        recipe,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
        output_dir=output_dir,
        compile_backend=compile_backend,
        cuda=cuda,
    )
    clock, state_check = StepClock(device), numerics.CheckAtTrainBegin(recipe.numeric_state())
    trainer = Trainer(  # noqa: BPL405  throughput measurement
        model=model,
        args=args,
        train_dataset=data.train_static if recipe.padding == "max_length" else data.train_dynamic,
        data_collator=DataCollatorWithPadding(data.tokenizer, pad_to_multiple_of=recipe.pad_to_multiple_of),
        processing_class=data.tokenizer,
        callbacks=[clock, state_check],
    )
    trainer.remove_callback(PrinterCallback)
    pad = padding_stats(trainer.get_train_dataloader())
    graphs_before = graph_count()
    with measure.peak_memory(device) as peak, measure.timed(device) as wall:
        trainer.train()
    graphs = graph_count() - graphs_before
    numerics.ensure(NumericState())
    return {
        **throughput(clock.step_seconds(), recipe.batch_size, warmup_steps, wall.seconds, pad),
        "accuracy": trials.accuracy(model, data.test, DataCollatorWithPadding(data.tokenizer)),
        "peak memory (GiB)": (peak.cuda_bytes if cuda else peak.rss_bytes) / 2**30,
        "graphs compiled": graphs,
        "FLOPs per real token": measure.training_flops(model, 1, pad["real_tokens"] / pad["samples"]),
        "numeric state": state_check.reading,
    }


def throughput(step_seconds: list[float], batch_size: int, warmup_steps: int, wall: float, pad: dict) -> dict:
    """Steady and end-to-end rates of a training run from its step times and one epoch's padding stats.

    Real tokens per sample come from one pass over the data (``pad``), whatever the number of epochs.
    """
    steady, overhead = split_warmup(step_seconds, warmup_steps)
    steady_steps = len(step_seconds) - min(warmup_steps, len(step_seconds) - 1)
    samples_per_s = steady_steps * batch_size / steady
    return {
        "samples/s": samples_per_s,
        "end-to-end samples/s": len(step_seconds) * batch_size / wall,
        "real tokens/s": samples_per_s * pad["real_tokens"] / pad["samples"],
        "padding efficiency": pad["padding_efficiency"],
        "steady step (s)": steady / steady_steps,
        "warm-up overhead (s)": overhead,
        "train wall (s)": wall,
        "steps": len(step_seconds),
    }


def break_even_steps(overhead_seconds: float, step_seconds: float, baseline_step_seconds: float) -> float:
    """Steps after which a one-off cost (compilation) is paid back by faster steps; inf if never."""
    saving = baseline_step_seconds - step_seconds
    return overhead_seconds / saving if saving > 0 else math.inf


@dataclasses.dataclass(frozen=True)
class StepArm:
    """Hand-written training steps (forward, backward, AdamW) of a randomly initialised encoder of a
    standard shape on one fixed batch of random tokens without padding: what the model costs on the
    device, without Trainer, data loading or logging."""

    shape: str
    batch_size: int
    seq_len: int
    attention: str = "eager"
    bf16: bool = False
    fused: bool = False  # fused AdamW kernel; else the multi-tensor foreach implementation
    compile_layers: bool = False  # torch.compile each encoder layer (regional compilation)


@dataclasses.dataclass
class StepSpeed:
    arm: StepArm
    timings: list[measure.StepTimes]  # one per repetition
    flops_per_step: float
    step: Callable[[], None]  # one more training step, for the profiler

    def step_seconds(self) -> list[float]:
        return [timing.seconds_per_step for timing in self.timings]

    def mfu(self, peak_flops: float) -> list[float]:
        return [self.flops_per_step / seconds / peak_flops for seconds in self.step_seconds()]


def step_speed(
    arm: StepArm,
    *,
    num_labels: int,
    seed: int,
    steps: int,
    warmup: int,
    repeats: int,
    compile_backend: str = "inductor",
) -> StepSpeed:
    """Time ``repeats`` rounds of ``steps`` training steps of ``arm`` (each after ``warmup`` steps),
    in plain fp32 numerics (TF32 off) with bf16 autocast where the arm asks for it."""
    device = training.device()
    numerics.ensure(NumericState(), reset_compiled=arm.compile_layers)
    set_seed(seed)
    config = models.bert_config(arm.shape, num_labels=num_labels, attn_implementation=arm.attention)
    model = AutoModelForSequenceClassification.from_config(config).to(device)
    if arm.compile_layers:
        for layer in model.base_model.encoder.layer:
            layer.compile(backend=compile_backend)
    generator = torch.Generator().manual_seed(seed)
    shape = (arm.batch_size, arm.seq_len)
    batch = {
        "input_ids": torch.randint(1000, config.vocab_size, shape, generator=generator),
        "attention_mask": torch.ones(shape, dtype=torch.long),
        "labels": torch.randint(0, num_labels, (arm.batch_size,), generator=generator),
    }
    batch = {key: value.to(device) for key, value in batch.items()}
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-5, **({"fused": True} if arm.fused else {"foreach": True})
    )
    autocast = torch.bfloat16 if arm.bf16 else None
    timings = [
        measure.time_training_steps(
            model, batch, steps=steps, warmup=warmup, optimizer=optimizer, autocast_dtype=autocast
        )
        for _ in range(repeats)
    ]

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=arm.bf16):
            model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    flops = measure.training_flops(model, arm.batch_size * arm.seq_len, arm.seq_len)
    return StepSpeed(arm, timings, flops, step)


def optimizer_step_seconds(model: torch.nn.Module, *, steps: int = 10, **adamw_kwargs) -> float:
    """Median seconds of one AdamW step over ``model``'s parameters with random gradients."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.AdamW(params, lr=1e-5, **adamw_kwargs)
    device = params[0].device
    optimizer.step()
    times = []
    for _ in range(steps):
        with measure.timed(device) as timing:
            optimizer.step()
        times.append(timing.seconds)
    for p in params:
        p.grad = None
    return statistics.median(times)


def top_ops(
    step: Callable[[], None], device: torch.device, *, steps: int = 3, rows: int = 12
) -> pd.DataFrame:
    """The ops that take the most time over ``steps`` calls of ``step``: GPU kernels on CUDA, CPU ops
    (self time) otherwise; ``share`` is of the total over all of them."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    step()
    measure.synchronize(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        measure.synchronize(device)
    events = prof.key_averages()
    if cuda:  # the kernels themselves: an op's device time is also listed under the kernels it launched
        kernels = [event for event in events if event.device_type == torch.autograd.DeviceType.CUDA]
        events = kernels or list(events)
    attribute = "self_device_time_total" if cuda else "self_cpu_time_total"

    def self_time(event) -> float:
        return float(getattr(event, attribute, 0.0) or 0.0)

    total = sum(self_time(event) for event in events) or 1.0
    table = pd.DataFrame(
        [
            {
                "op": event.key,
                "calls": event.count,
                "ms per step": self_time(event) / 1e3 / steps,
                "share": self_time(event) / total,
            }
            for event in events
        ]
    )
    return table.sort_values("ms per step", ascending=False).head(rows).reset_index(drop=True)


def op_family(name: str) -> str:
    """A coarse class of a profiler op name: matrix multiply, attention, optimizer or other."""
    lowered = name.lower()
    # Attention first: fused attention kernels carry matrix-product words in their names too.
    if any(key in lowered for key in ("flash", "attention", "fmha", "sdpa")):
        return "attention"
    if any(key in lowered for key in ("gemm", "matmul", "mm", "linear", "cutlass", "sm90_xmma", "nvjet")):
        return "matmul"
    if any(key in lowered for key in ("adam", "foreach", "multi_tensor")):
        return "optimizer"
    return "other (elementwise, norms, copies)"


def length_batches(
    dataset: Dataset, collator, *, count: int, batch_size: int, quantile: float = 0.5
) -> list[dict[str, torch.Tensor]]:
    """``count`` consecutive batches of examples sorted by length, from the ``quantile`` of lengths on:
    what length grouping feeds a model. Padded lengths differ slightly from batch to batch."""
    order = np.argsort(real_lengths(dataset), kind="stable")
    count = max(1, min(count, len(order) // batch_size))
    batch_size = min(batch_size, len(order))
    first = min(int(quantile * len(order)), len(order) - count * batch_size)
    columns = [
        c for c in ("input_ids", "attention_mask", "token_type_ids", "label") if c in dataset.column_names
    ]
    batches = []
    for start in range(first, first + count * batch_size, batch_size):
        rows = dataset.select(order[start : start + batch_size].tolist())
        batches.append(collator([{c: row[c] for c in columns} for row in rows]))
    return batches


def compiled_training(
    model: torch.nn.Module,
    batches: list[dict[str, torch.Tensor]],
    *,
    dynamic: bool | None,
    backend: str,
    autocast_dtype: torch.dtype | None = None,
) -> dict:
    """Train one step on each batch through ``torch.compile(model, dynamic=dynamic)``; count the graphs
    built and time the steps (the first steps of each new shape include compilation)."""
    torch._dynamo.reset()
    device = next(model.parameters()).device
    compiled = torch.compile(model, dynamic=dynamic, backend=backend)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    before = graph_count()
    times = []
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with measure.timed(device) as timing:
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = compiled(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        times.append(timing.seconds)
    shapes = len({tuple(b["input_ids"].shape) for b in batches})
    return {"distinct shapes": shapes, "graphs compiled": graph_count() - before, "total (s)": sum(times)}
