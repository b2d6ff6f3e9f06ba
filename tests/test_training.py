import numpy as np
import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification, Trainer, TrainingArguments

from utils import data, models, training


def test_accuracy_of_argmax():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert training.accuracy((logits, np.array([1, 0, 0]))) == {"accuracy": 2 / 3}


def test_history_picks_one_quantity():
    log = [{"step": 1, "loss": 2.0}, {"step": 1, "eval_accuracy": 0.5}, {"step": 2, "loss": 1.0}]
    assert training.history(log, "loss") == ([1, 2], [2.0, 1.0])
    assert training.history(log, "eval_accuracy") == ([1], [0.5])


def test_tokenize_truncates_and_keeps_labels():
    bbc = data.load_bbc_news("headline")
    encoded = training.tokenize(bbc["validation"].select(range(8)), models.load_tokenizer(), max_length=6)
    assert set(encoded.column_names) == {"label", "input_ids", "token_type_ids", "attention_mask"}
    assert max(len(ids) for ids in encoded["input_ids"]) == 6


@pytest.mark.parametrize(
    "cuda, bf16, expected", [(False, True, False), (True, False, False), (True, True, True)]
)
def test_bf16_only_on_a_cuda_device_with_native_bf16(monkeypatch, cuda, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert training.bf16_supported() is expected


def test_fixed_budget_trainer_trains_exactly_the_steps_and_evaluates_on_schedule(tmp_path):
    torch.manual_seed(0)
    tokenizer = models.load_tokenizer()
    model = BertForSequenceClassification(tiny_bert_config(vocab_size=tokenizer.vocab_size))
    rows = Dataset.from_dict({"input_ids": [[101, 2000 + i, 102] for i in range(16)], "label": [0, 1] * 8})
    trainer = training.fixed_budget_trainer(
        model,
        tokenizer,
        output_dir=tmp_path,
        train_dataset=rows,
        eval_dataset=rows,
        steps=6,
        batch_size=4,
        learning_rate=1e-3,
        seed=0,
        eval_every=3,
    )
    trainer.train()
    assert trainer.state.global_step == 6
    assert training.history(trainer.state.log_history, "eval_accuracy")[0] == [3, 6]
    assert not any(tmp_path.glob("checkpoint-*"))


def test_unwrap_mixed_precision_gives_the_model_its_fp32_forward_back(tmp_path):
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config())
    rows = Dataset.from_dict({"input_ids": [[1, 20 + i, 2] for i in range(8)], "labels": [0, 1] * 4})
    arguments = TrainingArguments(
        tmp_path, max_steps=1, per_device_train_batch_size=4, bf16=True, use_cpu=True, report_to="none"
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=rows)
    trainer.train()
    model.eval()
    inputs = torch.tensor([[1, 20, 21, 22, 2]])
    with torch.no_grad():
        as_trained = model(input_ids=inputs).logits
        reference = type(model).forward(model, input_ids=inputs).logits  # the class's own forward, fp32
    assert as_trained.dtype == torch.float32  # the wrapper casts its bf16 result back: it looks like fp32
    assert not torch.equal(as_trained, reference)
    assert training.unwrap_mixed_precision(trainer) is model
    with torch.no_grad():
        assert torch.equal(model(input_ids=inputs).logits, reference)


def test_fixed_budget_trainer_stops_early_and_loads_the_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    tokenizer = models.load_tokenizer()
    model = BertForSequenceClassification(tiny_bert_config(vocab_size=tokenizer.vocab_size))
    rows = Dataset.from_dict({"input_ids": [[101, 2000 + i, 102] for i in range(16)], "label": [0, 1] * 8})
    common = dict(output_dir=tmp_path, train_dataset=rows, steps=20, batch_size=4, seed=0, eval_every=2)
    # A learning rate of zero leaves the validation loss where it is: it never improves after the
    # first evaluation, so patience 2 ends training at the third one.
    trainer = training.fixed_budget_trainer(
        model, tokenizer, eval_dataset=rows, learning_rate=0.0, early_stopping_patience=2, **common
    )
    trainer.train()
    assert trainer.state.global_step == 6
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2")
    assert (tmp_path / "checkpoint-2").is_dir()
    assert len(list(tmp_path.glob("checkpoint-*"))) <= 2  # the best and at most the latest
    with pytest.raises(ValueError, match="validation data set"):
        training.fixed_budget_trainer(
            model, tokenizer, learning_rate=0.0, early_stopping_patience=2, **common
        )
