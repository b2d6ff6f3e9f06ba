"""Training-speed experiments: one Trainer run per recipe, step clocks that do not stall the GPU,
padding statistics, torch.compile graph counts, optimizer-step timing and a profiler table."""

import dataclasses
import gc
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
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.utils import enable_tf32

from utils import measure, models

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
PADDINGS = ("max_length", "dynamic", "group_by_length")


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
    """Real (non-pad) and padded token counts over one pass of a training data loader."""
    real = total = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    return {"real_tokens": real, "padded_tokens": total, "padding_efficiency": real / max(total, 1)}


def graph_count() -> int:
    """Graphs that torch.compile has built in this process so far (each compile or recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def matmul_parameters(model: torch.nn.Module) -> int:
    """Parameters that take part in matrix products: all but embedding tables (a lookup does no FLOPs)."""
    embedded = sum(
        p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    )
    return models.count_parameters(model) - embedded


def flops_per_token(model: torch.nn.Module, seq_len: float) -> float:
    """Training FLOPs per token: 6 per matmul parameter plus attention scores (see measure.training_flops)."""
    config = model.config
    return measure.training_flops(
        matmul_parameters(model),
        1,
        num_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        seq_len=seq_len,
    )


@torch.no_grad()
def accuracy(model, dataset: Dataset, collator, device: torch.device, batch_size: int = 128) -> float:
    """Arg-max accuracy in fp32 eager mode, so every recipe's weights are judged the same way."""
    model.eval()
    correct = 0
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]
    for start in range(0, len(dataset), batch_size):
        rows = dataset[start : start + batch_size]
        batch = collator([{c: rows[c][i] for c in columns} for i in range(len(rows["input_ids"]))])
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        correct += int((logits.argmax(-1).cpu() == torch.tensor(rows["label"])).sum())
    return correct / len(dataset)


def train_recipe(
    recipe: Recipe,
    *,
    model_dir: str | None,
    num_labels: int,
    tokenizer,
    train_static: Dataset,
    train_dynamic: Dataset,
    test: Dataset,
    epochs: float,
    learning_rate: float,
    seed: int,
    output_dir: str,
    warmup_steps: int = 5,
    compile_backend: str = "inductor",
) -> dict:
    """Fine-tune the pretrained model with one recipe and measure it.

    ``train_static`` is padded to max length in ``map`` (the static-padding anti-pattern);
    ``train_dynamic`` is truncated only, padded per batch by the collator. Throughput counts the steady
    steps after ``warmup_steps`` (compilation lands in the warm-up and is reported separately). The
    learning rate scales with the square root of the batch size relative to 16.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    gc.collect()  # the previous recipe's trainer and model
    if cuda:
        torch.cuda.empty_cache()
        enable_tf32(recipe.precision == "tf32")  # explicit in every recipe
        torch.backends.cuda.enable_cudnn_sdp(recipe.cudnn_attention)
    set_seed(seed)
    model = models.load_model(
        AutoModelForSequenceClassification,
        model_dir,
        num_labels=num_labels,
        attn_implementation=recipe.attention,
    )
    static = recipe.padding == "max_length"
    dataset = train_static if static else train_dynamic
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=recipe.pad_to_multiple_of)
    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        per_device_train_batch_size=recipe.batch_size,
        learning_rate=learning_rate * (recipe.batch_size / 16) ** 0.5,
        lr_scheduler_type="linear",
        warmup_steps=0.1,
        bf16=recipe.precision == "bf16",
        fp16=recipe.precision == "fp16",
        tf32=(recipe.precision == "tf32") if cuda else None,
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
    clock = StepClock(device)
    trainer = Trainer(  # noqa: BPL405  throughput measurement
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)
    pad = padding_stats(trainer.get_train_dataloader())
    graphs_before = graph_count()
    with measure.peak_memory(device) as peak, measure.timed(device) as wall:
        trainer.train()
    steps = clock.step_seconds()
    if cuda:
        enable_tf32(False)  # every recipe is evaluated the same way: fp32 without TF32
        torch.backends.cuda.enable_cudnn_sdp(True)
    steady, overhead = split_warmup(steps, warmup_steps)
    steady_steps = len(steps) - min(warmup_steps, len(steps) - 1)
    samples_per_s = steady_steps * recipe.batch_size / steady
    mean_real = pad["real_tokens"] / max(len(steps) * recipe.batch_size, 1)
    return {
        "samples/s": samples_per_s,
        "real tokens/s": samples_per_s * mean_real,
        "padding efficiency": pad["padding_efficiency"],
        "accuracy": accuracy(model, test, DataCollatorWithPadding(tokenizer), device),
        "peak memory (GiB)": (peak.cuda_bytes if cuda else peak.rss_bytes) / 2**30,
        "warm-up overhead (s)": overhead,
        "train wall (s)": wall.seconds,
        "graphs compiled": graph_count() - graphs_before,
        "steps": len(steps),
        "FLOPs per real token": flops_per_token(model, mean_real),
    }


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
    if any(key in lowered for key in ("gemm", "matmul", "mm", "linear", "cutlass", "sm90_xmma", "nvjet")):
        return "matmul"
    if any(key in lowered for key in ("flash", "attention", "fmha", "sdpa")):
        return "attention"
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
