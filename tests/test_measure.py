import time

import pytest
import torch
from tiny_models import tiny_bert_config, tiny_gpt2_config
from transformers import BertForSequenceClassification, GPT2LMHeadModel

from utils import measure


def test_timed_covers_the_block():
    with measure.timed() as timing:
        time.sleep(0.05)
    assert timing.seconds >= 0.05


def test_peak_rss_sees_a_large_allocation():
    with measure.peak_memory() as before:
        pass
    with measure.peak_memory() as peak:
        block = torch.ones(64 * 2**20, dtype=torch.float32)  # 256 MiB, touched
        del block
    assert peak.cuda_bytes is None
    if not peak.rss_is_lifetime:
        assert peak.rss_bytes - before.rss_bytes >= 200 * 2**20


def test_real_tokens_ignore_padding():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    assert measure.real_tokens(mask) == 4


def test_matmul_parameters_leave_out_embedding_tables():
    model = BertForSequenceClassification(tiny_bert_config(max_position_embeddings=20))
    tables = (100 + 20 + 2) * 16  # word, position and token-type embeddings of width 16
    assert measure.matmul_parameters(model) == sum(p.numel() for p in model.parameters()) - tables


def test_a_tied_output_projection_counts_as_a_matrix_product():
    config = tiny_gpt2_config(n_positions=8)
    model = GPT2LMHeadModel(config)
    assert model.lm_head.weight is model.transformer.wte.weight
    total = sum(p.numel() for p in model.parameters())  # the tied matrix is listed once
    assert measure.matmul_parameters(model) == total - 8 * 16  # only the position table is a lookup


def test_training_flops_formula():
    model = BertForSequenceClassification(tiny_bert_config())
    per_token = 6 * measure.matmul_parameters(model) + 12 * 1 * 16 * 5  # one layer, width 16, length 5
    assert measure.training_flops(model, tokens=10, seq_len=5) == 10 * per_token


def test_matmul_peak_is_a_positive_rate():
    assert measure.matmul_peak_flops("cpu", torch.float32, size=128, repeats=3) > 0


def test_time_training_steps_reports_consistent_rates():
    torch.manual_seed(0)
    config = tiny_bert_config(hidden_size=32, intermediate_size=64)
    model = BertForSequenceClassification(config)
    batch = {
        "input_ids": torch.randint(0, 100, (4, 8)),
        "attention_mask": torch.tensor([[1] * 8] * 2 + [[1] * 4 + [0] * 4] * 2),
        "labels": torch.tensor([0, 1, 0, 1]),
    }
    before = [p.detach().clone() for p in model.parameters()]
    result = measure.time_training_steps(model, batch, steps=3, warmup=1)
    assert len(result.step_seconds) == len(result.issue_seconds) == 3
    # on a CPU work runs as it is issued: issuing a step is the step, within the timer's own overhead
    assert all(
        0 < issue <= step for issue, step in zip(result.issue_seconds, result.step_seconds, strict=True)
    )
    assert result.samples_per_s == pytest.approx(4 / result.seconds_per_step)
    assert result.real_tokens_per_s == pytest.approx(24 / result.seconds_per_step)
    assert result.tokens_per_s == pytest.approx(32 / result.seconds_per_step)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_forward_seconds_times_each_pass_after_a_warm_up():
    calls = []

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x):
            calls.append(torch.is_grad_enabled())
            return self.linear(x)

    times = measure.forward_seconds(Counting(), {"x": torch.ones(1, 2)}, repeats=3)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert calls == [False] * 4  # one untimed pass, three timed ones, no autograd
