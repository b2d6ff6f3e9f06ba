import numpy as np

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


def test_bf16_flag_is_false_without_cuda():
    import torch

    assert training.bf16_supported() == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
