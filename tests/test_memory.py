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


def test_measure_training_memory_counts_what_the_step_keeps():
    model, measured = memory.measure_training_memory(
        lambda: (tiny_bert(), memory.make_optimizer(tiny_bert(), "adamw")), batch()
    )
    params = sum(p.numel() for p in model.parameters())
    assert measured["weights"] == measured["gradients"] == 4 * params
    assert measured["activations"] > 0
    assert measured["held"] is None and measured["peak"] is None  # no CUDA allocator here


def test_measure_training_memory_takes_the_last_step_with_optimizer_states():
    def build():
        model = tiny_bert()
        return model, memory.make_optimizer(model, "adamw")

    _, measured = memory.measure_training_memory(build, batch())
    assert measured["optimizer states"] >= 2 * measured["weights"]


def test_checkpointing_keeps_fewer_activations_and_recomputes_in_backward():
    plain, checkpointed = tiny_bert(), tiny_bert()
    memory.enable_checkpointing(checkpointed)
    saved = {}
    for name, model in (("plain", plain), ("checkpointed", checkpointed)):
        with memory.saved_for_backward(model) as bytes_saved:
            model(**batch()).loss.backward()
        saved[name] = bytes_saved.bytes
    assert saved["checkpointed"] < 0.5 * saved["plain"]
    parts = memory.time_step_parts(
        checkpointed, batch(), optimizer=torch.optim.SGD(checkpointed.parameters(), lr=0.1), steps=3, warmup=1
    )
    assert set(parts) == {"forward", "backward", "optimizer", "step"}
    assert parts["step"] >= max(parts["forward"], parts["backward"], parts["optimizer"])


def test_accumulated_gradients_with_divided_loss_equal_the_big_batch():
    model = tiny_bert(hidden_dropout_prob=0.0)
    big = batch(8, 16)
    micro = [{k: v[i : i + 2] for k, v in big.items()} for i in range(0, 8, 2)]
    full = memory.accumulated_gradients(model, [big], 1.0)
    divided = memory.accumulated_gradients(model, micro, 1 / 4)
    undivided = memory.accumulated_gradients(model, micro, 1.0)
    assert float((divided - full).norm() / full.norm()) < 1e-5
    assert abs(float(undivided.norm() / full.norm()) - 4) < 1e-3


def test_batch_fits_reports_out_of_memory_and_leaves_no_gradients(monkeypatch):
    model = tiny_bert()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert memory.batch_fits(model, optimizer, 2, 8, seed=0, autocast_dtype=None)
    assert all(p.grad is None for p in model.parameters())

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(model, "forward", out_of_memory)
    assert not memory.batch_fits(model, optimizer, 2, 8, seed=0, autocast_dtype=None)


def test_random_batches_repeat_with_the_seed():
    one, two = (memory.random_batch(2, 8, 2000, seed=3, device=torch.device("cpu")) for _ in range(2))
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert one["input_ids"].min() >= 1000
