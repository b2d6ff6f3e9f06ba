import pytest
import torch
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification, set_seed

from utils.topics import memory


def tiny_bert(attention="sdpa", **overrides):
    set_seed(0)
    config = tiny_bert_config(
        vocab_size=500,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
        attn_implementation=attention,
        **overrides,
    )
    return BertForSequenceClassification(config).train()


def batch(size=4, seq=32):
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(5, 500, (size, seq), generator=generator),
        "attention_mask": torch.ones(size, seq, dtype=torch.long),
        "labels": torch.randint(0, 3, (size,), generator=generator),
    }


def test_tensor_bytes_counts_shared_storage_once():
    base = torch.zeros(10, 10)
    assert memory.tensor_bytes([base, base.t(), base[0]]) == 400


@pytest.mark.parametrize("optimizer", memory.OPTIMIZERS)
def test_static_prediction_matches_measured_exactly(optimizer):
    model = tiny_bert()
    opt = memory.make_optimizer(model, optimizer)
    model(**batch()).loss.backward()
    opt.step()
    measured = memory.static_bytes(model, opt)
    predicted = memory.predict_training_bytes(
        model, 4, 32, precision="fp32", optimizer=optimizer, attention="sdpa", device_type="cpu"
    )
    assert measured["weights"] == predicted["weights"]
    assert measured["gradients"] == predicted["gradients"]
    # AdamW also keeps a 4-byte step counter per parameter tensor
    assert abs(measured["optimizer states"] - predicted["optimizer states"]) <= 8 * len(
        list(model.parameters())
    )


@pytest.mark.parametrize("precision", ["fp32", "bf16 weights"])
@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_activation_prediction_close_to_saved_tensors(precision, attention):
    model = tiny_bert(attention)
    if precision == "bf16 weights":
        model = model.to(torch.bfloat16)
    with memory.saved_for_backward(model) as saved:
        loss = model(**batch()).loss
    predicted = memory.predict_activation_bytes(
        model.config, 4, 32, precision=precision, attention=attention, device_type="cpu"
    )
    assert saved.bytes > 0
    assert abs(saved.bytes / predicted - 1) < 0.2
    loss.backward()


def test_saved_bytes_exclude_parameters():
    model = torch.nn.Linear(100, 100)
    x = torch.randn(3, 100, requires_grad=True)
    with memory.saved_for_backward(model) as saved:
        model(x).sum()
    assert saved.bytes == x.numel() * 4  # the input only, not the weight


def test_largest_fitting_finds_threshold():
    found, trials = memory.largest_fitting(lambda n: n <= 37, start=1)
    assert found == 37
    assert len(trials) < 15
    assert memory.largest_fitting(lambda n: False, start=4) == (0, [(4, False)])
