import math

import numpy as np
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
    assert len(log.losses) == len(log.grad_norms) == len(log.learning_rates) == len(log.padded_lengths) == 10
    assert log.learning_rates[0] == 0.0 and log.learning_rates[2] == pytest.approx(1e-3)
    assert log.samples == log.timed_samples == 40 and 0 <= log.pad_fraction < 1 and log.samples_per_s > 0
    assert all(math.isfinite(n) and n > 0 for n in log.grad_norms) and not log.diverged
    assert log.distinct_shapes == len(set(log.padded_lengths)) >= 2  # the texts have different lengths
    assert log.final_loss(0.2) == pytest.approx(sum(log.losses[-2:]) / 2)


def test_untimed_steps_leave_the_first_steps_off_the_clock(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    log = trials.train(
        model, data, collator, steps=5, batch_size=4, learning_rate=1e-3, seed=0, untimed_steps=2
    )
    assert (log.samples, log.timed_samples) == (20, 12)
    assert log.samples_per_s == pytest.approx(12 / log.seconds)
    with pytest.raises(ValueError):
        trials.train(
            model, data, collator, steps=2, batch_size=4, learning_rate=1e-3, seed=0, untimed_steps=2
        )


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


def test_repeated_passes_see_the_same_batches(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    passes = trials.repeated_passes(
        model,
        data,
        collator,
        passes=2,
        steps=4,
        batch_size=4,
        learning_rate=1e-3,
        seed=3,
        sampler="group_by_length",
    )
    assert len(passes) == 2
    assert passes[0].padded_lengths == passes[1].padded_lengths
    assert passes[0].real_tokens == passes[1].real_tokens


def test_predict_and_accuracy(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    logits = trials.predict(model, data, collator, batch_size=5)["logits"]
    assert logits.shape == (len(data), 2)
    assert 0 <= trials.accuracy(model, data, collator) <= 1


def test_score_logits_counts_predicted_classes_and_names_a_single_class_collapse():
    labels = [0, 1, 2, 2]
    spread = trials.score_logits(np.eye(3)[[0, 1, 2, 0]], labels)
    assert (spread.accuracy, spread.predicted_classes, spread.label_classes) == (0.75, 3, 3)
    assert not spread.collapsed
    one_class = trials.score_logits(np.tile([0.1, 0.2, 0.9], (4, 1)), labels)
    assert one_class.predicted_classes == 1 and one_class.collapsed
    assert one_class.accuracy == 0.5  # the predicted class's share of the labels
    two_classes = trials.score_logits(np.eye(3)[[2, 2, 2, 1]], labels)
    assert two_classes.predicted_classes == 2 and not two_classes.collapsed
    # one class in the labels: predicting it everywhere is right, not a collapse
    assert not trials.score_logits(np.tile([1.0, 0.0], (3, 1)), [0, 0, 0]).collapsed
    with pytest.raises(ValueError):
        trials.score_logits(np.eye(3), [0, 1])


def test_classifier_score_of_a_model_that_predicts_one_class(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # the head ignores its input and always favours class 1
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 5.0]))
    score = trials.classifier_score(model, data, collator, batch_size=5)
    assert score.collapsed and score.predicted_classes == 1 and score.label_classes == 2
    assert score.accuracy == pytest.approx(sum(data["label"]) / len(data))
    assert trials.accuracy(model, data, collator) == score.accuracy


def test_accuracy_scores_the_arg_max_class_in_eval_mode(setup):
    data, collator, config = setup
    set_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # a head that always says class 1, whatever the input
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 1.0]))
    model.train()
    ones = sum(label == 1 for label in data["label"]) / len(data)
    assert trials.accuracy(model, data, collator, batch_size=5) == ones == 0.5
    assert not model.training


def test_batch_order_samplers():
    lengths = [3, 9, 1, 7, 5, 2, 8, 4] * 4
    assert trials.batch_order(lengths, 4, seed=0, sampler="sequential") == list(range(len(lengths)))
    for sampler in ("random", "group_by_length"):
        assert sorted(trials.batch_order(lengths, 4, seed=0, sampler=sampler)) == list(range(len(lengths)))
    assert trials.batch_order(lengths, 4, seed=0, epoch=0) != trials.batch_order(lengths, 4, seed=0, epoch=1)
    with pytest.raises(ValueError):
        trials.batch_order(lengths, 4, seed=0, sampler="bogus")


def test_iterate_batches_drops_the_last_partial_batch_and_refuses_empty_data(setup):
    data, collator, _ = setup
    batches = trials.iterate_batches(data.select(range(10)), collator, 4, seed=0, sampler="sequential")
    first_epoch = [next(batches)["input_ids"].shape[0] for _ in range(2)]
    assert first_epoch == [4, 4]
    assert next(batches)["input_ids"].shape[0] == 4  # the next epoch starts; rows 8 and 9 were dropped
    with pytest.raises(ValueError):
        trials.iterate_batches(data.select([]), collator=None, batch_size=4, seed=0)


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
    assert (outputs["start_logits"][:5, :first_width] > -1e4).all()
    assert (outputs["start_logits"][:5, first_width:] == -1e4).all()


def test_trial_runner_trains_once_per_configuration_and_follows_the_seed(setup):
    data, collator, config = setup
    built = []

    def new_model():
        built.append(1)
        return BertForSequenceClassification(config)

    runner = trials.TrialRunner(
        new_model, defaults=dict(data="toy", seed=0, steps=3, batch_size=4, learning_rate=1e-3)
    )
    runner.add_data("toy", data, {"train": data}, collator)
    first = runner.run()
    assert runner.run(warmup=0.1, max_grad_norm=1.0) is first  # stating a default names the same trial
    assert len(built) == 1
    assert 0 <= first["train accuracy"] <= 1 and first["steps"] == 3 and not first["diverged"]
    assert runner.log().steps == 3
    other = runner.run(seed=1)
    assert len(built) == 2 and other["final loss"] != first["final loss"]
    again = trials.TrialRunner(
        new_model, defaults=dict(data="toy", seed=0, steps=3, batch_size=4, learning_rate=1e-3)
    )
    again.add_data("toy", data, {"train": data}, collator)
    assert again.run()["final loss"] == first["final loss"]  # the seed fixes the new model and the run
    with pytest.raises(ValueError):
        runner.run(momentum=0.9)
    with pytest.raises(ValueError):
        trials.TrialRunner(new_model, defaults=dict(data="toy", seed=0, steps=3, batch_size=4)).run()


def test_trial_runner_without_default_data_needs_it_per_trial(setup):
    data, collator, config = setup
    runner = trials.TrialRunner(
        lambda: BertForSequenceClassification(config),
        defaults=dict(seed=0, steps=2, batch_size=4, learning_rate=1e-3),
    )
    runner.add_data("toy", data, {}, collator)
    assert runner.run(data="toy")["data"] == "toy"
    with pytest.raises(ValueError):
        runner.run()
