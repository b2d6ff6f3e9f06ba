import math

import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_bert_config
from transformers import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    set_seed,
)

from utils.topics import preprocessing, trials


@pytest.fixture(scope="module")
def setup():
    texts = ["alpha beta gamma", "beta beta", "gamma delta alpha beta", "delta"] * 8
    tokenizer = preprocessing.train_wordpiece(texts, vocab_size=40)
    data = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(len(texts))]})
    data = data.map(lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    config = tiny_bert_config(vocab_size=64, max_position_embeddings=512)
    return data, DataCollatorWithPadding(tokenizer), config


def test_train_logs_every_step_and_follows_the_schedule(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    log = trials.train(model, data, collator, steps=10, batch_size=4, learning_rate=1e-3, seed=0, warmup=0.2)
    assert len(log.losses) == len(log.grad_norms) == len(log.learning_rates) == 10
    assert log.learning_rates[0] == 0.0 and log.learning_rates[2] == pytest.approx(1e-3)
    assert log.samples == 40 and 0 <= log.pad_fraction < 1 and log.samples_per_s > 0
    assert all(math.isfinite(n) and n > 0 for n in log.grad_norms) and not log.diverged


def test_same_seed_same_run_and_clipping_bounds_updates(setup):
    data, collator, config = setup
    logs = []
    for clip in (1.0, 1.0, 1e-6):
        set_seed(0)
        model = BertForSequenceClassification(config)
        before = [p.detach().clone() for p in model.parameters()]
        logs.append(
            trials.train(
                model,
                data,
                collator,
                steps=3,
                batch_size=4,
                learning_rate=1e-2,
                seed=0,
                max_grad_norm=clip,
                scheduler="constant",
                warmup=0.0,
            )
        )
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert logs[0].losses == logs[1].losses
    assert logs[0].grad_norms[0] == pytest.approx(logs[2].grad_norms[0])


def test_predict_and_accuracy(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    logits = trials.predict(model, data, collator, batch_size=5)["logits"]
    assert logits.shape == (len(data), 2)
    assert 0 <= trials.accuracy(model, data, collator) <= 1


def test_batch_order_samplers(setup):
    data, _, _ = setup
    assert trials.batch_order(data, 4, seed=0, sampler="sequential") == list(range(len(data)))
    for sampler in ("random", "group_by_length"):
        assert sorted(trials.batch_order(data, 4, seed=0, sampler=sampler)) == list(range(len(data)))
    assert trials.batch_order(data, 4, seed=0, epoch=0) != trials.batch_order(data, 4, seed=0, epoch=1)
    with pytest.raises(ValueError):
        trials.batch_order(data, 4, seed=0, sampler="bogus")
    with pytest.raises(ValueError):
        next(trials.iterate_batches(data.select([]), collator=None, batch_size=4, seed=0))


def test_predict_pads_per_token_outputs_across_batches(setup):
    data, collator, config = setup
    lengths = [len(ids) for ids in data["input_ids"]]
    data = data.select(sorted(range(len(data)), key=lengths.__getitem__))  # short batches first
    lengths = sorted(lengths)
    set_seed(0)
    model = BertForQuestionAnswering(config)
    outputs = trials.predict(model, data, collator, batch_size=5, outputs=("start_logits", "end_logits"))
    assert outputs["start_logits"].shape == outputs["end_logits"].shape == (len(data), lengths[-1])
    first_width = max(lengths[:5])
    assert first_width < lengths[-1]
    assert (outputs["start_logits"][:5, first_width:] == -1e4).all()
    assert (outputs["start_logits"][:5, :first_width] > -1e4).all()
