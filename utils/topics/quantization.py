"""A custom int8 weight-only quantizer written for the transformers 5 loading API, and the checks that
prove a quantizer really loaded the checkpoint.

transformers 5 quantizes while it loads: for every checkpoint tensor it asks the quantizer
``param_needs_quantization(model, name)`` and, if so, runs the ``ConversionOps`` returned by
``get_quantize_ops()``, whose ``convert`` returns the quantized tensor and its companions (here a scale).
The 4.x hooks ``check_quantized_param`` / ``create_quantized_param`` are never called: a quantizer
written with them (``LegacyHooksInt8Quantizer`` below, kept as the counter-example) loads all-zero
weights without an error. :func:`check_quantized_model` catches that.

Works on transformers 5.17 and 5.24 (the parallel-plan and pre-quantized loading hooks moved between
them; :func:`loader_hooks` reports which ones the installed version has) and on CPU: the linear layer
dequantizes its int8 weight on the fly in ``forward``.
"""

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.core_model_loading import ConversionOps
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import (
    AUTO_QUANTIZATION_CONFIG_MAPPING,
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)
from transformers.utils.quantization_config import QuantizationConfigMixin

METHOD = "int8_weight_only"
HEADS = ["classifier", "qa_outputs", "lm_head", "score"]
LEGACY_METHOD = "int8_weight_only_legacy_hooks"
# Hooks that a 4.x-style guide asks for and the ones transformers 5 calls (checked on the installed version).
HOOKS = (
    "param_needs_quantization",
    "get_quantize_ops",
    "check_quantized_param",
    "create_quantized_param",
    "update_tp_plan",
    "update_parallel_plan",
    "get_load_operations",
)


def loader_hooks() -> dict[str, bool]:
    """Which quantizer hooks the installed transformers defines on ``HfQuantizer``."""
    return {hook: hasattr(HfQuantizer, hook) for hook in HOOKS}


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight ≈ q * scale[:, None]`` with ``q`` in [-127, 127]."""
    weight = weight.float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


class Int8WeightOnlyConfig(QuantizationConfigMixin):
    """Config of :class:`Int8WeightOnlyQuantizer`; ``modules_to_not_convert`` names modules kept in float."""

    def __init__(self, modules_to_not_convert: list[str] | None = None, **kwargs):
        self.quant_method = METHOD
        self.modules_to_not_convert = modules_to_not_convert


class Int8Linear(nn.Module):
    """A linear layer holding an int8 weight and one float scale per output channel.

    Built on the meta device before loading with a *float* placeholder weight: the loader casts a
    checkpoint tensor to the placeholder's dtype, and an int8 placeholder would turn it into zeros
    before the quantize op saw it (transformers 5.17). ``forward`` dequantizes on the fly.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=dtype), requires_grad=False)
        self.weight_scale = nn.Parameter(torch.empty(out_features, dtype=torch.float32), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(x.dtype) * self.weight_scale.to(x.dtype)[:, None]
        return F.linear(x, weight, None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weight={self.weight.dtype}"


class Int8Quantize(ConversionOps):
    """The load-time op: one float checkpoint weight in, its int8 values and scale out."""

    def __init__(self, hf_quantizer: HfQuantizer):
        self.hf_quantizer = hf_quantizer

    def convert(
        self, input_dict: dict, full_layer_name: str | None = None, **kwargs
    ) -> dict[str, torch.Tensor]:
        name, value = next(iter(input_dict.items()))
        value = value[0] if isinstance(value, list) else value
        full_layer_name = full_layer_name or name
        q, scale = quantize_int8(value)
        return {full_layer_name: q, f"{full_layer_name}_scale": scale}


def replace_linear_layers(
    model: nn.Module, skip: list[str], dtype: torch.dtype, prefix: str = ""
) -> list[str]:
    """Swap every ``nn.Linear`` whose qualified name does not contain a ``skip`` entry; return the names."""
    replaced = []
    for name, child in model.named_children():
        qualified = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Linear) and not any(part in qualified for part in skip):
            with torch.device("meta"):
                new = Int8Linear(child.in_features, child.out_features, child.bias is not None, dtype)
            setattr(model, name, new)
            replaced.append(qualified)
        else:
            replaced += replace_linear_layers(child, skip, dtype, qualified)
    return replaced


class Int8WeightOnlyQuantizer(HfQuantizer):
    """int8 symmetric per-channel weight-only quantization on load, for the transformers 5 loader."""

    requires_calibration = False
    # transformers >= 5.24: how a float weight is serialised (parallel plans, pre-quantized loading).
    serialized_names: ClassVar[dict[str, list[str]]] = {"weight": ["weight", "weight_scale"]}

    def __init__(self, quantization_config: Int8WeightOnlyConfig, **kwargs):
        super().__init__(quantization_config, **kwargs)
        self.converted: list[str] = []

    def _process_model_before_weight_loading(self, model: PreTrainedModel, **kwargs):
        skip = self.quantization_config.modules_to_not_convert
        if skip is None:  # task heads stay in float, as transformers' own default intends
            skip = HEADS + [
                name.removesuffix(".bias") for name in self.get_modules_to_not_convert(model, None, None)
            ]
        skip = skip + list(model._keep_in_fp32_modules or [])
        dtype = kwargs.get("dtype") or model.dtype
        if not dtype.is_floating_point:
            dtype = torch.float32
        self.converted = replace_linear_layers(model, skip, dtype)
        return model

    def param_needs_quantization(self, model: PreTrainedModel, param_name: str, **kwargs) -> bool:
        module_name, _, tensor_name = param_name.rpartition(".")
        if tensor_name != "weight" or self.pre_quantized:
            return False
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            return False
        return isinstance(module, Int8Linear)

    def get_quantize_ops(self) -> ConversionOps:
        return Int8Quantize(self)

    @property
    def quantized_element_size(self) -> float:  # transformers >= 5.24: device_map="auto" sizes with it
        return 1.0

    def _process_model_after_weight_loading(self, model: PreTrainedModel, **kwargs):
        return model

    def is_serializable(self, *args, **kwargs) -> bool:
        return False

    @property
    def is_trainable(self) -> bool:
        return False


class LegacyHooksInt8Config(Int8WeightOnlyConfig):
    def __init__(self, modules_to_not_convert: list[str] | None = None, **kwargs):
        super().__init__(modules_to_not_convert)
        self.quant_method = LEGACY_METHOD


class LegacyHooksInt8Quantizer(Int8WeightOnlyQuantizer):
    """The counter-example: quantization written in the 4.x hooks that transformers 5 never calls.

    The placeholder weight is int8, as a 4.x guide declares it; no ``param_needs_quantization`` says
    yes, so the loader casts each float weight to int8 (values in (-1, 1) become 0) and never calls
    the hooks below. Loading succeeds; only the load report's MISSING ``weight_scale`` entries hint at it.
    """

    def _process_model_before_weight_loading(self, model: PreTrainedModel, **kwargs):
        super()._process_model_before_weight_loading(model, **kwargs)
        for module in model.modules():
            if isinstance(module, Int8Linear):
                module.weight = nn.Parameter(
                    torch.empty_like(module.weight, dtype=torch.int8), requires_grad=False
                )
        return model

    def param_needs_quantization(self, model: PreTrainedModel, param_name: str, **kwargs) -> bool:
        return HfQuantizer.param_needs_quantization(self, model, param_name, **kwargs)

    def check_quantized_param(self, model, param_value, param_name, state_dict, **kwargs) -> bool:
        return param_name.endswith(".weight")  # 4.x hook: never called by transformers 5

    def create_quantized_param(self, model, param_value, param_name, target_device, *args, **kwargs):
        module_name, _, _ = param_name.rpartition(".")  # 4.x hook: never called by transformers 5
        module = model.get_submodule(module_name)
        q, scale = quantize_int8(param_value)
        module.weight = nn.Parameter(q.to(target_device), requires_grad=False)
        module.weight_scale = nn.Parameter(scale.to(target_device), requires_grad=False)


def register() -> None:
    """Register both configs and quantizers once (transformers refuses a name registered twice)."""
    for method, config, quantizer in (
        (METHOD, Int8WeightOnlyConfig, Int8WeightOnlyQuantizer),
        (LEGACY_METHOD, LegacyHooksInt8Config, LegacyHooksInt8Quantizer),
    ):
        if method not in AUTO_QUANTIZATION_CONFIG_MAPPING:
            register_quantization_config(method)(config)
        if method not in AUTO_QUANTIZER_MAPPING:
            register_quantizer(method)(quantizer)


register()


def int8_layers(model: nn.Module) -> dict[str, Int8Linear]:
    return {name: module for name, module in model.named_modules() if isinstance(module, Int8Linear)}


def check_quantized_model(
    quantized: nn.Module,
    reference: nn.Module,
    inputs: dict[str, torch.Tensor],
    *,
    max_relative_error: float = 0.05,
) -> dict:
    """The checks that a quantizer loaded the checkpoint: int8 layers exist, every int8 weight has
    non-zero values and finite positive scales, the dequantized weights match the reference model's
    weights, and the logits on ``inputs`` are close (relative L2 error of the logits).

    ``ok`` is True only if all hold. Returns the numbers for a report.
    """
    layers = int8_layers(quantized)
    reference_weights = dict(reference.named_parameters())
    zero_layers, bad_scales, weight_errors = [], [], []
    for name, layer in layers.items():
        if layer.weight.dtype != torch.int8 or not layer.weight.any():
            zero_layers.append(name)
        scale = layer.weight_scale.float()
        if not (torch.isfinite(scale).all() and (scale > 0).all()):
            bad_scales.append(name)
        original = reference_weights.get(f"{name}.weight")
        if original is not None:
            dequantized = layer.weight.detach().float() * scale.detach()[:, None]
            original = original.detach().float().to(dequantized.device)
            weight_errors.append(float((dequantized - original).norm() / original.norm().clamp(min=1e-12)))
    quantized.eval(), reference.eval()
    with torch.no_grad():
        device = next(quantized.parameters()).device
        logits_q = quantized(**{k: v.to(device) for k, v in inputs.items()}).logits.float().cpu()
        device = next(reference.parameters()).device
        logits_r = reference(**{k: v.to(device) for k, v in inputs.items()}).logits.float().cpu()
    logit_error = float((logits_q - logits_r).norm() / logits_r.norm().clamp(min=1e-12))
    max_weight_error = max(weight_errors, default=float("nan"))
    return {
        "int8_layers": len(layers),
        "zero_weight_layers": len(zero_layers),
        "bad_scale_layers": len(bad_scales),
        "max_weight_relative_error": max_weight_error,
        "logits_relative_error": logit_error,
        "argmax_agreement": float((logits_q.argmax(-1) == logits_r.argmax(-1)).float().mean()),
        "ok": bool(
            layers
            and not zero_layers
            and not bad_scales
            and max_weight_error <= max_relative_error
            and logit_error <= max_relative_error
        ),
    }


def weight_bytes(model: nn.Module) -> int:
    """Bytes of all parameters and buffers (int8 weights count one byte each)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def linear_bytes(model: nn.Module) -> int:
    """Bytes of the linear layers alone (float or int8: weights, scales and biases), the part a
    weight-only quantizer shrinks."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, Int8Linear))]
    return sum(weight_bytes(layer) for layer in layers)
