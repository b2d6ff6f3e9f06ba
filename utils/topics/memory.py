"""Training memory: a predictive model (weights + gradients + optimizer states + activations) for BERT-style
encoders, the measurements to check it against, what gradient checkpointing costs, and a search for the
largest batch that fits."""

import contextlib
import gc
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from transformers import AutoModelForSequenceClassification, set_seed

from utils import measure, models

PRECISIONS = ("fp32", "bf16 autocast", "bf16 weights")
OPTIMIZERS = ("adamw", "sgd momentum", "adafactor")


def _storage_key(tensor: torch.Tensor) -> tuple[int, int]:
    storage = tensor.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


def tensor_bytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views of one storage count once)."""
    seen = {}
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            key = _storage_key(tensor)
            seen[key] = key[1]
    return sum(seen.values())


def static_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Measured bytes of weights, gradients and optimizer states (tensors held between steps)."""
    params = list(model.parameters())
    states = [value for state in (optimizer.state.values() if optimizer else []) for value in state.values()]
    return {
        "weights": tensor_bytes(params),
        "gradients": tensor_bytes(p.grad for p in params if p.grad is not None),
        "optimizer states": tensor_bytes(states),
    }


@dataclass
class SavedBytes:
    bytes: int = 0


@contextlib.contextmanager
def saved_for_backward(model: torch.nn.Module | None = None) -> Iterator[SavedBytes]:
    """Bytes of the distinct tensors autograd saves for the backward pass inside the block (activations).

    Tensors that share storage with ``model``'s parameters (a weight or its transpose) are not
    activations and are skipped; casts of them (autocast's bf16 weight copies) are new storage and
    count, because they live until the backward pass like activations.
    """
    result = SavedBytes()
    params = {_storage_key(p) for p in model.parameters()} if model is not None else set()
    seen: dict[tuple[int, int], int] = {}

    def pack(tensor):
        if tensor.device.type != "meta":
            key = _storage_key(tensor)
            if key not in params:
                seen[key] = key[1]
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield result
    result.bytes = sum(seen.values())


def matmul_parameter_count(model: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def optimizer_state_bytes(model: torch.nn.Module, optimizer: str, state_bytes: int = 4) -> int:
    """Predicted optimizer state: AdamW keeps two moments per parameter, SGD with momentum one, and
    Adafactor (without first moment) one row and one column vector per matrix, a full vector otherwise."""
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adamw":
        return sum(2 * p.numel() for p in params) * state_bytes
    if optimizer == "sgd momentum":
        return sum(p.numel() for p in params) * state_bytes
    if optimizer == "adafactor":
        return (
            sum((sum(p.shape[:-1]) + p.shape[-1]) if p.dim() >= 2 else p.numel() for p in params)
            * state_bytes
        )
    raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")


def predict_activation_bytes(
    config, batch_size: int, seq_len: int, *, precision: str, attention: str, device_type: str = "cuda"
) -> int:
    """Bytes of activations a BERT-style encoder saves for backward (attention dropout off).

    Per layer and token (h hidden, i intermediate, a heads, s sequence): the inputs of the Q/K/V,
    output and feed-forward projections, Q, K and V, the GELU input and output, one byte per dropout
    mask and the LayerNorm inputs; eager attention adds the softmax output (a·s per token), SDPA does
    not. Element sizes: fp32 4 bytes; bf16 2; under bf16 autocast the projections save bf16 copies
    (one per Q/K/V projection), the residual stream and LayerNorm stay fp32, softmax runs in fp32 and
    its output is cast to bf16 again for the product with V. Autocast also keeps bf16 copies of the
    projection weights until backward. A dropout mask takes one byte on CUDA (bool) and the element
    size of its input on CPU. After Korthikanti et al. (2022), "Reducing activation recomputation".
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    h, i, a = config.hidden_size, config.intermediate_size, config.num_attention_heads
    e = 4 if precision == "fp32" else 2  # compute dtype
    r = 2 if precision == "bf16 weights" else 4  # residual stream and LayerNorm
    mixed = precision == "bf16 autocast"
    qkv_inputs = 3 * e if mixed else r
    mlp_input = e if mixed else r
    mask, embedding_mask = (1, 1) if device_type == "cuda" else (e, r)
    per_token = (
        qkv_inputs
        + 3 * e
        + e
        + mask
        + r  # attention: projection inputs, Q K V, context, dropout mask, LN input
        + mlp_input
        + 2 * e * i / h
        + mask
        + r  # feed-forward: input, GELU in and out (i wide), mask, LN input
    ) * h
    if attention == "eager":
        per_token += a * seq_len * ((4 + 2) if mixed else e)
    tokens = batch_size * seq_len
    embeddings = tokens * h * (r + embedding_mask)  # LayerNorm input and dropout mask
    return int(config.num_hidden_layers * tokens * per_token + embeddings)


def predict_training_bytes(
    model: torch.nn.Module,
    batch_size: int,
    seq_len: int,
    *,
    precision: str,
    optimizer: str,
    attention: str,
    device_type: str = "cuda",
) -> dict[str, int]:
    """Predicted bytes of weights, gradients, optimizer states and activations of one training step."""
    params = sum(p.numel() for p in model.parameters())
    weight = 2 if precision == "bf16 weights" else 4
    activations = predict_activation_bytes(
        model.config, batch_size, seq_len, precision=precision, attention=attention, device_type=device_type
    )
    if precision == "bf16 autocast":
        activations += 2 * matmul_parameter_count(model)  # bf16 weight copies kept for backward
    return {
        "weights": params * weight,
        "gradients": params * weight,
        "optimizer states": optimizer_state_bytes(model, optimizer, state_bytes=weight),
        "activations": activations,
    }


def make_optimizer(model: torch.nn.Module, name: str) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-5)
    if name == "sgd momentum":
        return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(model.parameters(), lr=1e-3, scale_parameter=False, relative_step=False, beta1=None)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def free_device_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def largest_fitting(fits: Callable[[int], bool], start: int = 1, limit: int = 1 << 16) -> tuple[int, list]:
    """The largest ``n`` in [start, limit] with ``fits(n)``, assuming fitting is monotone: double until
    it fails, then bisect. Returns it (0 if even ``start`` fails) and the ``(n, fits)`` trials."""
    trials = []

    def attempt(n: int) -> bool:
        ok = fits(n)
        trials.append((n, ok))
        return ok

    if not attempt(start):
        return 0, trials
    good, bad = start, None
    while bad is None and good < limit:
        candidate = min(good * 2, limit)
        if attempt(candidate):
            good = candidate
        else:
            bad = candidate
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        if attempt(middle):
            good = middle
        else:
            bad = middle
    return good, trials


def autocast(device_type: str, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``dtype``, or a disabled autocast (plain fp32) for ``None``."""
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)


def encoder(shape: str, *, seed: int, device: torch.device, attention: str = "sdpa", **overrides):
    """A randomly initialised BERT-style classifier of a standard ``shape`` (5 labels) on ``device``,
    with attention dropout off, as :func:`predict_activation_bytes` assumes."""
    set_seed(seed)
    config = models.bert_config(
        shape, num_labels=5, attn_implementation=attention, attention_probs_dropout_prob=0.0, **overrides
    )
    return AutoModelForSequenceClassification.from_config(config).to(device)


def random_batch(
    batch_size: int, seq_len: int, vocab_size: int, *, seed: int, device: torch.device, num_labels: int = 5
) -> dict[str, torch.Tensor]:
    """Random token ids (no padding; above the special tokens) and labels, the same for the same ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {
        "input_ids": torch.randint(
            min(1000, vocab_size // 2), vocab_size, (batch_size, seq_len), generator=generator
        ),
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "labels": torch.randint(0, num_labels, (batch_size,), generator=generator),
    }
    return {key: value.to(device) for key, value in tensors.items()}


def measure_training_memory(
    build: Callable[[], tuple[torch.nn.Module, torch.optim.Optimizer]],
    batch: dict[str, torch.Tensor],
    *,
    autocast_dtype: torch.dtype | None = None,
    steps: int = 2,
) -> tuple[torch.nn.Module, dict[str, int | None]]:
    """Build a model and optimizer with ``build()``, train ``steps`` steps on ``batch`` (the first creates
    the optimizer states) and measure the last one.

    Returns the model and: ``activations`` (bytes autograd saved for backward), the bytes of the
    weights, gradients and optimizer states counted tensor by tensor, and on CUDA ``held`` (what the
    allocator holds after the step beyond what it held before ``build()``: weights, gradients and
    states as the device sees them) and ``peak`` (the most allocated during the last step).
    """
    device = batch["input_ids"].device
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else None
    model, optimizer = build()
    model.train()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with saved_for_backward(model) as saved, measure.peak_memory(device) as peak:
            with autocast(device.type, autocast_dtype):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
    del loss
    held = torch.cuda.memory_allocated(device) - before if cuda else None
    return model, {
        "activations": saved.bytes,
        **static_bytes(model, optimizer),
        "held": held,
        "peak": peak.cuda_bytes,
    }


def time_step_parts(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    autocast_dtype: torch.dtype | None = None,
    steps: int = 10,
    warmup: int = 2,
) -> dict[str, float]:
    """Median seconds of the forward pass, the backward pass, the optimizer step and the whole step,
    each part timed on its own (with device synchronisation around it), over ``steps`` training steps
    after ``warmup``. With gradient checkpointing the recomputed forward passes fall in ``backward``."""
    device = batch["input_ids"].device
    model.train()
    parts: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": [], "step": []}
    for index in range(warmup + steps):
        with measure.timed(device) as forward, autocast(device.type, autocast_dtype):
            loss = model(**batch).loss
        with measure.timed(device) as backward:
            loss.backward()
        with measure.timed(device) as update:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if index >= warmup:
            times = (forward.seconds, backward.seconds, update.seconds)
            for name, seconds in zip(("forward", "backward", "optimizer"), times, strict=True):
                parts[name].append(seconds)
            parts["step"].append(sum(times))
    return {name: statistics.median(values) for name, values in parts.items()}


def enable_checkpointing(model) -> None:
    """Gradient checkpointing, non-reentrant: ``activation_checkpointing_enable`` where transformers has
    it (the newer name), ``gradient_checkpointing_enable`` otherwise (5.17)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def accumulated_gradients(model: torch.nn.Module, batches: list[dict], scale: float) -> torch.Tensor:
    """All parameter gradients, flattened, after one backward pass per batch with the loss times ``scale``."""
    model.zero_grad(set_to_none=True)
    for micro in batches:
        (model(**micro).loss * scale).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def batch_fits(
    model, optimizer, batch_size: int, seq_len: int, *, seed: int, autocast_dtype=torch.bfloat16
) -> bool:
    """Whether one full training step at ``batch_size`` × ``seq_len`` runs without an out-of-memory
    error; memory is released either way, so the next try starts from the same state."""
    device = next(model.parameters()).device
    batch = None
    try:
        batch = random_batch(
            batch_size,
            seq_len,
            model.config.vocab_size,
            seed=seed,
            device=device,
            num_labels=model.config.num_labels,
        )
        with autocast(device.type, autocast_dtype):
            model(**batch).loss.backward()
        optimizer.step()
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        del batch
        optimizer.zero_grad(set_to_none=True)
        free_device_memory()
