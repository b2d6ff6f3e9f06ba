"""Library quantization on load (notebook 11): bitsandbytes LLM.int8 and NF4 and torchao weight-only
int8/int4 through transformers' ``quantization_config``; the memory a quantized model really holds;
randomly initialised decoders built directly on the device; and why a classification model with a new
head fails to load with ``BitsAndBytesConfig`` in transformers 5.

Why the head fails. ``BitsAndBytesConfig`` swaps every ``nn.Linear`` for a bitsandbytes layer before the
checkpoint is read, except the modules transformers keeps in float (``get_keys_to_not_convert``: tied
weights, the output embeddings and "the last module"). transformers 5 (the source of 5.0, 5.17 and 5.24
reads the same) names the last module by its last *parameter* with ``.weight`` removed, so a head whose
last parameter is a bias is listed as ``classifier.bias``, which matches no module, and the head is
converted too (4.x removed ``.bias`` as well). The loader quantizes only tensors it reads from the
checkpoint: a head missing from the checkpoint (a new task head) is materialised as a plain float
``Parameter`` inside the bitsandbytes layer, and the first forward fails: ``Linear4bit`` asserts
``weight.shape[1] == 1`` (its packed layout) and ``Linear8bitLt`` reads ``weight.CB``, which a plain
``Parameter`` lacks. ``llm_int8_skip_modules=[<head>]`` keeps the head in float.

bitsandbytes and torchao are imported inside the functions that need them: the notebooks' CPU
environment does not install them.
"""

import importlib.metadata
import importlib.util
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig, PreTrainedModel

from utils import measure
from utils.topics.memory import free_device_memory

LIBRARIES = ("peft", "bitsandbytes", "torchao")
T = TypeVar("T")

# Llama-style decoder shapes (TinyLlama's for 1.1B): hidden size, layers, heads, key/value heads, MLP width.
DECODER_SHAPES = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
    ),
    "1.1B": dict(
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        vocab_size=32000,
    ),
}

# Bytes per weight of a quantized linear layer, from the storage formats (weights and their scales):
# LLM.int8: int8 values and one fp32 scale per output row; torchao int8: int8 and one bf16 scale per row;
# NF4 (double quantization): 4 bits, an 8-bit absmax per block of 64 and an fp32 one per 256 blocks;
# torchao int4: 4 bits and a bf16 scale and zero point per group of 128.
PER_ROW = {"bnb int8": 4, "torchao int8": 2}
PER_WEIGHT = {
    "bnb int8": 1.0,
    "torchao int8": 1.0,
    "bnb nf4": 0.5 + 1 / 64 + 4 / (64 * 256),
    "torchao int4": 0.5 + 4 / 128,
}


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def bnb_config(
    bits: int, *, compute_dtype: torch.dtype = torch.bfloat16, skip_modules: list[str] | None = None
) -> BitsAndBytesConfig:
    """LLM.int8 (``bits=8``) or NF4 with double quantization (``bits=4``, the QLoRA recipe).

    ``skip_modules`` replaces transformers' default list of modules kept in float (``None`` keeps it).
    """
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip_modules)
    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
            llm_int8_skip_modules=skip_modules,
        )
    raise ValueError(f"bits must be 8 or 4, not {bits}")


def torchao_config(kind: str, *, group_size: int = 128, skip_modules: list[str] | None = None):
    """transformers' ``TorchAoConfig`` for torchao's int8 (per-row) or int4 (per-group) weight-only
    quantization. int4 uses the tinygemm layout (``tile_packed_to_4d``), whose kernel ships with torch's
    CUDA build (compute capability 8.0 or newer); torchao's default int4 layout needs the separate
    ``mslk`` kernels package."""
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig
    from transformers import TorchAoConfig

    configs = {
        "int8": Int8WeightOnlyConfig,
        "int4": lambda: Int4WeightOnlyConfig(group_size=group_size, int4_packing_format="tile_packed_to_4d"),
    }
    if kind not in configs:
        raise ValueError(f"kind must be one of {', '.join(configs)}, not {kind!r}")
    return TorchAoConfig(quant_type=configs[kind](), modules_to_not_convert=skip_modules)


def describe_error(error: BaseException) -> str:
    """``Type: message``, with the failing source line when the message is empty (a bare ``assert``)."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not message:
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            frame = frames[-1]
            where = "/".join(Path(frame.filename).parts[-3:])
            message = f"at {where}:{frame.lineno}: {frame.line}"
    return f"{type(error).__name__}: {message[:300]}"


def guarded(run: Callable[[], T]) -> tuple[T | None, str]:
    """``(run(), "")``, or ``(None, the error)`` when it raised: an arm that fails on this machine (a
    kernel a library lacks for this GPU, a device it does not support) is recorded as data and the
    notebook goes on."""
    try:
        return run(), ""
    except Exception as error:  # the failure is the measurement
        return None, describe_error(error)


@dataclass
class Attempt:
    """How far a load-and-run attempt got: ``stage`` is ``"load"``, ``"forward"`` or ``"ok"``."""

    stage: str
    error: str = ""
    model: torch.nn.Module | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.stage == "ok"


def attempt(load: Callable[[], torch.nn.Module], inputs: dict[str, torch.Tensor]) -> Attempt:
    """Load a model and run one forward pass on ``inputs``; an exception becomes data, never a crash."""
    try:
        model = load()
    except Exception as error:  # what the library raises is the result here
        return Attempt("load", describe_error(error))
    try:
        device = next(model.parameters()).device
        with torch.inference_mode():
            model(**{k: v.to(device) for k, v in inputs.items()})
    except Exception as error:
        return Attempt("forward", describe_error(error), model)
    return Attempt("ok", "", model)


def float_weights_in_bnb_layers(model: torch.nn.Module) -> dict[str, str]:
    """bitsandbytes layers whose weight is a plain float tensor instead of quantized data:
    ``{module name: dtype}``. Such a layer fails at its first forward pass."""
    import bitsandbytes as bnb

    expected = {bnb.nn.Linear4bit: bnb.nn.Params4bit, bnb.nn.Linear8bitLt: bnb.nn.Int8Params}
    found = {}
    for name, module in model.named_modules():
        for layer, parameter in expected.items():
            if isinstance(module, layer) and not isinstance(module.weight, parameter):
                found[name] = str(module.weight.dtype).removeprefix("torch.")
    return found


def default_skip_modules(model: PreTrainedModel) -> list[str]:
    """The names transformers keeps out of quantization when ``llm_int8_skip_modules`` is not given."""
    from transformers.quantizers.base import get_keys_to_not_convert

    return sorted(get_keys_to_not_convert(model))


def missing_modules(missing_keys: Iterable[str]) -> list[str]:
    """Modules that own the parameters a checkpoint did not have (``output_loading_info``'s missing keys)."""
    return sorted({key.rpartition(".")[0] for key in missing_keys})


def _tensors_of(value, depth: int = 0) -> Iterable[torch.Tensor]:
    """The tensors that hold ``value``'s data: a plain tensor itself, the inner tensors of a wrapper
    subclass (torchao's quantized tensors), and the tensors a bitsandbytes weight keeps beside its data
    (LLM.int8's row scales ``SCB``, NF4's ``quant_state`` with its block absmax and code book)."""
    if depth > 4 or value is None:
        return
    if isinstance(value, torch.Tensor):
        flatten = getattr(type(value), "__tensor_flatten__", None)
        if flatten is not None and type(value) is not torch.nn.Parameter:
            names, _ = value.__tensor_flatten__()
            for name in names:
                yield from _tensors_of(getattr(value, name), depth + 1)
        else:
            yield value
        for extra in vars(value).values() if hasattr(value, "__dict__") else ():
            yield from _tensors_of(extra, depth + 1)
    elif hasattr(value, "absmax"):  # a bitsandbytes QuantState (nested for double quantization)
        for extra in vars(value).values():
            yield from _tensors_of(extra, depth + 1)


def storage_bytes(model: torch.nn.Module) -> int:
    """Bytes of the distinct storages that hold ``model``'s parameters and buffers, quantized data and
    scales included. ``get_memory_footprint`` counts each parameter as ``numel × element_size`` of the
    tensor it sees, which for a torchao tensor subclass is the original (bf16) size."""
    seen = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        for inner in _tensors_of(tensor):
            if inner.device.type == "meta":
                continue
            storage = inner.untyped_storage()
            seen[(storage.data_ptr(), inner.device.type)] = storage.nbytes()
    return sum(seen.values())


def predicted_weight_bytes(model: torch.nn.Module, method: str, skip: Iterable[str] = ()) -> float:
    """Weight bytes of ``model`` (a bf16 model) after quantizing every ``nn.Linear`` except those whose
    name ends with an entry of ``skip`` with ``method`` (a key of ``PER_WEIGHT``, or ``"bf16"``), from the
    storage formats alone."""
    skip = tuple(skip)
    total = sum(p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values())
    if method == "bf16":
        return float(total)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not (skip and name.endswith(skip)):
            weight = module.weight
            total += weight.numel() * (PER_WEIGHT[method] - weight.element_size())
            total += weight.shape[0] * PER_ROW.get(method, 0)
    return float(total)


@dataclass
class LoadMemory:
    """Device memory a load left allocated (``allocated``) and its peak while loading, with the load's
    wall time. Both bytes are ``None`` off CUDA, where no allocator counts them."""

    seconds: float
    allocated: int | None = None
    peak: int | None = None


def load_measured(
    load: Callable[[], torch.nn.Module], device: torch.device
) -> tuple[torch.nn.Module, LoadMemory]:
    """Run ``load`` and measure what it left on ``device``: CUDA allocator bytes before and after."""
    free_device_memory()
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else 0
    with measure.peak_memory(device) as peak, measure.timed(device) as timing:
        model = load()
    if not cuda:
        return model, LoadMemory(timing.seconds)
    free_device_memory()
    after = torch.cuda.memory_allocated(device)
    return model, LoadMemory(timing.seconds, after - before, peak.cuda_bytes - before)


def copy_bandwidth(device: torch.device, size: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second that one device-to-device copy moves (read plus write), the best of ``repeats``:
    about how fast a memory-bound kernel can read weights."""
    source = torch.empty(size, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    best = float("inf")
    for _ in range(repeats):
        with measure.timed(device) as timing:
            target.copy_(source)
        best = min(best, timing.seconds)
    return 2 * size / best


def decoder_config(shape: str, **overrides) -> LlamaConfig:
    """A Llama-style decoder config of a size in ``DECODER_SHAPES``; untied output layer, no KV cache."""
    if shape not in DECODER_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(DECODER_SHAPES)}")
    return LlamaConfig(**{**DECODER_SHAPES[shape], "use_cache": False, **overrides})


def build_decoder(
    config: LlamaConfig, device: torch.device, dtype: torch.dtype = torch.bfloat16
) -> PreTrainedModel:
    """A randomly initialised causal LM created directly on ``device`` in ``dtype``: no fp32 copy on the
    CPU first (a 1.1B model would take 4.4 GB of host memory and seconds of copying)."""
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def enable_checkpointing(model: torch.nn.Module) -> None:
    """Activation checkpointing (non-reentrant) under the name the installed transformers has:
    ``activation_checkpointing_enable`` since 5.2x, ``gradient_checkpointing_enable`` before."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def random_tokens(batch: int, length: int, vocab_size: int, device: torch.device, seed: int) -> dict:
    """A language-modelling batch of random token ids (labels are the inputs)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (batch, length), generator=generator).to(device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def fp16_amp_steps(model: torch.nn.Module, batch: dict, *, steps: int, learning_rate: float = 1e-4) -> dict:
    """Train ``steps`` steps with fp16 autocast and a gradient scaler, as ``Trainer(fp16=True)`` does.

    Returns the steps completed and the error that stopped training, if any: the scaler refuses to
    unscale gradients of fp16 parameters ("Attempting to unscale FP16 gradients").
    """
    device = next(model.parameters()).device
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
    scaler = torch.amp.GradScaler(device.type)
    model.train()
    completed = 0
    try:
        for _ in range(steps):
            with torch.autocast(device.type, dtype=torch.float16):
                loss = model(**batch).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            completed += 1
    except Exception as error:
        return {"completed": completed, "error": describe_error(error)}
    return {"completed": completed, "error": ""}


def trainable_dtypes(model: torch.nn.Module) -> dict[str, int]:
    """Trainable parameters by dtype: ``{"float32": n, "bfloat16": m}``."""
    counts: dict[str, int] = {}
    for parameter in model.parameters():
        if parameter.requires_grad:
            name = str(parameter.dtype).removeprefix("torch.")
            counts[name] = counts.get(name, 0) + parameter.numel()
    return counts
