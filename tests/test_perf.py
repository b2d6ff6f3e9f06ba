import math

import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification

from utils import models
from utils.topics import perf


def test_split_warmup_separates_compile_time():
    steady, overhead = perf.split_warmup([5.0, 1.2, 1.0, 1.0, 1.0, 1.0], warmup=2)
    assert steady == 4.0
    assert abs(overhead - (6.2 - 2 * 1.0)) < 1e-9


def test_recipe_changes_one_factor_and_knows_cuda_only_arms():
    naive = perf.Recipe()
    assert naive.changed(precision="bf16") == perf.Recipe(precision="bf16")
    assert naive.cuda_only() is None
    assert perf.Recipe(precision="tf32").cuda_only() and perf.Recipe(precision="fp16").cuda_only()
    assert perf.Recipe(cudnn_attention=False).cuda_only()


@pytest.mark.parametrize(
    "field, value", [("precision", "bf61"), ("padding", "none"), ("attention", "flash"), ("optim", "sgd")]
)
def test_recipe_refuses_unknown_options(field, value):
    with pytest.raises(ValueError, match=f"{field} must be one of"):
        perf.Recipe(**{field: value})


def test_recipe_numeric_state():
    assert perf.Recipe(precision="tf32").numeric_state().tf32
    assert not perf.Recipe(precision="bf16").numeric_state().tf32
    assert "cudnn" not in perf.Recipe(cudnn_attention=False).numeric_state().sdpa_backends
    assert "cudnn" in perf.Recipe().numeric_state().sdpa_backends


def test_break_even_steps():
    assert perf.break_even_steps(60.0, step_seconds=0.08, baseline_step_seconds=0.10) == pytest.approx(3000)
    assert perf.break_even_steps(60.0, step_seconds=0.10, baseline_step_seconds=0.10) == math.inf


def test_real_tokens_per_sample_come_from_one_epoch_whatever_the_epochs(tmp_path):
    # Eight examples of lengths 3, 5, 7 and 9 (twice): 6 real tokens per sample, trained for 3 epochs.
    tokenizer = models.load_tokenizer()
    model_dir = tmp_path / "tiny"
    BertForSequenceClassification(
        tiny_bert_config(vocab_size=tokenizer.vocab_size, num_labels=2)
    ).save_pretrained(model_dir)
    ids = [list(range(1000, 1000 + n)) for n in (3, 5, 7, 9) * 2]
    rows = Dataset.from_dict(
        {"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids], "label": [0, 1] * 4}
    )
    data = perf.RecipeData(tokenizer, rows, rows, rows, num_labels=2, model_dir=str(model_dir))
    result = perf.train_recipe(
        perf.Recipe(padding="dynamic", batch_size=4),
        data,
        epochs=3,
        learning_rate=1e-4,
        seed=0,
        output_dir=str(tmp_path / "out"),
        warmup_steps=1,
    )
    assert result["steps"] == 6
    assert result["real tokens/s"] / result["samples/s"] == pytest.approx(6.0)
    assert result["numeric state"]["matmul_fp32_precision"] == "ieee"
    assert 0 <= result["accuracy"] <= 1


def test_padding_stats_counts_real_tokens():
    loader = [{"attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])}]
    stats = perf.padding_stats(loader)
    assert stats == {"samples": 2, "real_tokens": 3, "padded_tokens": 6, "padding_efficiency": 0.5}


def test_op_family():
    assert perf.op_family("aten::mm") == "matmul"
    assert perf.op_family("pytorch_flash::flash_fwd_kernel") == "attention"
    assert perf.op_family("aten::_fused_adamw_") == "optimizer"
    assert perf.op_family("aten::layer_norm").startswith("other")


def test_top_ops_on_cpu():
    model = torch.nn.Linear(32, 32)
    x = torch.randn(8, 32)

    def step():
        model(x).sum().backward()

    table = perf.top_ops(step, torch.device("cpu"), steps=2, rows=5)
    assert 0 < len(table) <= 5 and table["ms per step"].is_monotonic_decreasing
    assert table["share"].between(0, 1).all()
    assert any(perf.op_family(op) == "matmul" for op in table["op"]), list(table["op"])


def test_length_batches_have_growing_lengths():
    from datasets import Dataset

    rows = [[1] * n for n in range(3, 43)]
    dataset = Dataset.from_dict({"input_ids": rows, "attention_mask": rows, "label": [0] * len(rows)})

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        return {
            "input_ids": torch.tensor(
                [f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]
            )
        }

    batches = perf.length_batches(dataset, collate, count=3, batch_size=4, quantile=0.5)
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths) and len(set(widths)) == 3


def test_step_speed_times_each_repetition_and_counts_flops():
    arm = perf.StepArm("MiniLM-L6", batch_size=2, seq_len=16, attention="sdpa")
    speed = perf.step_speed(arm, num_labels=3, seed=0, steps=2, warmup=1, repeats=2)
    assert len(speed.timings) == 2 and all(seconds > 0 for seconds in speed.step_seconds())
    # About 10.9M matrix-product parameters (22.7M less the embedding tables), 32 tokens, 6 layers, width 384.
    attention = 12 * 6 * 384 * 16 * 32
    assert 6 * 10e6 * 32 + attention < speed.flops_per_step < 6 * 12e6 * 32 + attention
    assert all(mfu > 0 for mfu in speed.mfu(peak_flops=1e12))
    speed.step()
