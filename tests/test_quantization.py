import pytest
import torch
from tiny_models import tiny_bert_config
from transformers import (
    AutoModelForSequenceClassification,
    BertForSequenceClassification,
    set_seed,
)

from utils.topics import quantization


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    set_seed(0)
    config = tiny_bert_config(
        vocab_size=200,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    path = tmp_path_factory.mktemp("tiny-bert")
    model.save_pretrained(path)
    inputs = {"input_ids": torch.randint(5, 200, (4, 16), generator=torch.Generator().manual_seed(0))}
    return path, model, inputs


def test_quantize_int8_round_trip():
    weight = torch.randn(8, 16)
    q, scale = quantization.quantize_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (8,)
    assert q.abs().max() == 127  # the largest entry of each row maps to ±127
    assert torch.allclose(q.float() * scale[:, None], weight, atol=float(scale.max()) / 2 + 1e-7)


def test_quantizer_loads_nonzero_weights_and_close_logits(tiny_bert):
    path, reference, inputs = tiny_bert
    model = AutoModelForSequenceClassification.from_pretrained(
        path, quantization_config=quantization.Int8WeightOnlyConfig(), dtype=torch.float32
    )
    layers = quantization.int8_layers(model)
    linear = {name for name, module in reference.named_modules() if isinstance(module, torch.nn.Linear)}
    assert set(layers) == linear - {"classifier"}  # every linear layer but the head (kept in float)
    assert all(layer.weight.dtype == torch.int8 and layer.weight.any() for layer in layers.values())
    report = quantization.check_quantized_model(model, reference, inputs)
    assert report["ok"], report
    assert report["logits_relative_error"] < 0.05
    assert quantization.weight_bytes(model) < quantization.weight_bytes(reference)


def test_legacy_hooks_load_zeros_and_the_check_catches_it(tiny_bert):
    path, reference, inputs = tiny_bert
    model = AutoModelForSequenceClassification.from_pretrained(
        path, quantization_config=quantization.LegacyHooksInt8Config(), dtype=torch.float32
    )
    layers = quantization.int8_layers(model)
    assert layers and all(
        not layer.weight.any() for layer in layers.values()
    )  # loaded without error, all zero
    report = quantization.check_quantized_model(model, reference, inputs)
    assert not report["ok"]
    assert report["zero_weight_layers"] == len(layers)


def test_loader_hooks_report_current_api():
    hooks = quantization.loader_hooks()
    assert hooks["param_needs_quantization"] and hooks["get_quantize_ops"]
    assert not hooks["check_quantized_param"] and not hooks["create_quantized_param"]
    assert hooks["update_tp_plan"] != hooks["update_parallel_plan"]  # one API or the other


def test_register_is_idempotent():
    quantization.register()
    quantization.register()


def test_linear_bytes_of_int8_layers_are_about_a_quarter_of_fp32(tiny_bert):
    path, reference, _ = tiny_bert
    model = AutoModelForSequenceClassification.from_pretrained(
        path, quantization_config=quantization.Int8WeightOnlyConfig(), dtype=torch.float32
    )
    head = quantization.weight_bytes(reference.classifier)  # kept in float
    ratio = (quantization.linear_bytes(model) - head) / (quantization.linear_bytes(reference) - head)
    assert 0.25 < ratio < 0.35  # int8 weights, fp32 scales and biases
    assert quantization.linear_bytes(reference) < quantization.weight_bytes(reference)  # embeddings left out
