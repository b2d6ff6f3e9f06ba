"""The process-wide numeric settings that change speed and results, set and checked per experiment arm.

TF32, cuDNN, the scaled-dot-product-attention backends, deterministic algorithms and autocast are
global flags: what one arm sets, the next arm inherits. transformers makes this easy to get wrong:
``transformers.utils.enable_tf32`` is wrapped in ``functools.lru_cache``, so a second call with an
argument it has already seen does nothing, and ``TrainingArguments`` calls it (``tf32=``, and
``torch_compile=True`` switches TF32 on by itself). An arm therefore states the whole
:class:`NumericState` it wants, :func:`ensure` sets torch's own flags, reads them back and returns
what was read, and :class:`CheckAtTrainBegin` asserts it again once ``Trainer`` has set itself up.
"""

import dataclasses
from typing import Any

import torch
from transformers import TrainerCallback

SDPA_BACKENDS = ("flash", "efficient", "cudnn", "math")
_SDPA_SWITCHES = {
    "flash": (torch.backends.cuda.flash_sdp_enabled, torch.backends.cuda.enable_flash_sdp),
    "efficient": (
        torch.backends.cuda.mem_efficient_sdp_enabled,
        torch.backends.cuda.enable_mem_efficient_sdp,
    ),
    "cudnn": (torch.backends.cuda.cudnn_sdp_enabled, torch.backends.cuda.enable_cudnn_sdp),
    "math": (torch.backends.cuda.math_sdp_enabled, torch.backends.cuda.enable_math_sdp),
}


class NumericStateError(RuntimeError):
    """The flags torch reports differ from the state an arm asked for."""


@dataclasses.dataclass(frozen=True)
class NumericState:
    """What an arm runs under. The defaults are torch's plain fp32 behaviour with every SDPA backend."""

    tf32: bool = False  # fp32 matrix products and cuDNN convolutions in TF32 (tensor cores)
    sdpa_backends: tuple[str, ...] = SDPA_BACKENDS  # the SDPA kernels torch may choose from
    cudnn_benchmark: bool = False  # cuDNN autotuning per input shape
    deterministic: bool = False  # torch.use_deterministic_algorithms and cuDNN's deterministic mode

    def __post_init__(self):
        unknown = sorted(set(self.sdpa_backends) - set(SDPA_BACKENDS))
        if unknown:
            raise ValueError(f"unknown SDPA backend(s) {unknown}; known: {', '.join(SDPA_BACKENDS)}")

    def changed(self, **changes: Any) -> "NumericState":
        return dataclasses.replace(self, **changes)

    def expected(self) -> dict[str, Any]:
        """The readings of :func:`read` that this state fixes."""
        precision = "tf32" if self.tf32 else "ieee"
        return {
            "matmul_fp32_precision": precision,
            "cudnn_conv_fp32_precision": precision,
            "sdpa_backends": sorted(self.sdpa_backends),
            "cudnn_benchmark": self.cudnn_benchmark,
            "cudnn_deterministic": self.deterministic,
            "deterministic_algorithms": self.deterministic,
            "autocast": False,
        }


def apply(state: NumericState) -> None:
    """Set torch's flags to ``state`` through torch's own API (never through transformers' cached helper)."""
    precision = "tf32" if state.tf32 else "ieee"
    backends = torch.backends
    # The TF32 switches form a tree; set every node so that no child keeps an older value of its own.
    backends.fp32_precision = precision
    backends.cuda.matmul.fp32_precision = precision
    backends.cudnn.fp32_precision = precision
    backends.cudnn.conv.fp32_precision = precision
    backends.cudnn.rnn.fp32_precision = precision
    for name, (_, enable) in _SDPA_SWITCHES.items():
        enable(name in state.sdpa_backends)
    backends.cudnn.benchmark = state.cudnn_benchmark
    backends.cudnn.deterministic = state.deterministic
    torch.use_deterministic_algorithms(state.deterministic)


def read() -> dict[str, Any]:
    """The numeric flags as torch reports them now (the new precision API only: reading the legacy
    ``allow_tf32`` flags after the new API was used raises)."""
    backends = torch.backends
    return {
        "matmul_fp32_precision": backends.cuda.matmul.fp32_precision,
        "cudnn_conv_fp32_precision": backends.cudnn.conv.fp32_precision,
        "sdpa_backends": sorted(name for name, (enabled, _) in _SDPA_SWITCHES.items() if enabled()),
        "cudnn_benchmark": backends.cudnn.benchmark,
        "cudnn_deterministic": backends.cudnn.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "autocast": torch.is_autocast_enabled("cuda") or torch.is_autocast_enabled("cpu"),
    }


def check(state: NumericState) -> dict[str, Any]:
    """Read the flags and raise :class:`NumericStateError` where they differ from ``state``."""
    actual = read()
    wrong = {key: (want, actual[key]) for key, want in state.expected().items() if actual[key] != want}
    if wrong:
        details = ", ".join(
            f"{key}: wanted {want!r}, torch reports {got!r}" for key, (want, got) in wrong.items()
        )
        raise NumericStateError(f"numeric state differs from the arm's: {details}")
    return actual


def ensure(state: NumericState, *, reset_compiled: bool = False) -> dict[str, Any]:
    """Apply ``state``, check it and return the reading to record with the arm's result.

    ``reset_compiled`` also drops torch.compile's caches, so a compiled arm pays its own compilation.
    """
    if reset_compiled:
        torch._dynamo.reset()
    apply(state)
    return check(state)


class CheckAtTrainBegin(TrainerCallback):
    """Re-apply and check the arm's state when ``Trainer`` starts training.

    ``TrainingArguments`` may have changed TF32 while it was built, so the state is set again here,
    after every library set-up, and what torch reports is kept in :attr:`reading`.
    """

    def __init__(self, state: NumericState):
        self.state = state
        self.reading: dict[str, Any] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.reading = ensure(self.state)
