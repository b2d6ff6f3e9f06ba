import pytest
import torch
from tiny_models import tiny_bert_config
from transformers import AutoModelForSequenceClassification

from utils import models
from utils.topics import validation
from utils.topics.validation import Classifier, InvalidInput, Limits, validate_texts

LIMITS = Limits(max_batch=4, max_chars=200, max_tokens=16)


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer()


def test_accepts_a_string_or_a_list_of_strings(tokenizer):
    assert validate_texts("hello world", LIMITS, tokenizer) == ["hello world"]
    assert validate_texts(("a", "b"), LIMITS) == ["a", "b"]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (None, "expected a string or a list of strings, got NoneType"),
        (b"bytes", "got bytes"),
        (42, "got int"),
        ([], "empty batch"),
        (["a"] * 5, "batch of 5 texts exceeds the limit of 4"),
        (["ok", 3], "text 1 is int"),
        (["ok", "   "], "text 1 is empty"),
        (["x" * 201], "201 characters, limit 200"),
    ],
)
def test_refuses_bad_requests_with_a_clear_message(texts, message):
    with pytest.raises(InvalidInput, match=message):
        validate_texts(texts, LIMITS)


def test_refuses_too_many_tokens_instead_of_truncating(tokenizer):
    with pytest.raises(InvalidInput, match=r"text 0 is \d+ tokens long, limit 16"):
        validate_texts("word " * 30, LIMITS, tokenizer)


def test_invalid_input_is_a_value_error():
    assert issubclass(InvalidInput, ValueError)


def test_classifier_predicts_and_validates(tokenizer):
    torch.manual_seed(0)
    config = tiny_bert_config(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_labels=3
    )
    model = AutoModelForSequenceClassification.from_config(config)
    classifier = Classifier(model, tokenizer, LIMITS, labels=["a", "b", "c"])
    predictions = classifier.predict(["short text", "another one"])
    assert [set(p) for p in predictions] == [{"label", "score"}] * 2
    assert all(p["label"] in {"a", "b", "c"} and 0 < p["score"] <= 1 for p in predictions)
    with pytest.raises(InvalidInput):
        classifier.predict("word " * 30)
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        Classifier(model, tokenizer, Limits(max_tokens=128))


def test_outcome_names_what_a_call_raised():
    assert validation.outcome(lambda: 3) == ("ok", 3)
    assert validation.outcome(lambda: validation.validate_texts([], validation.Limits())) == (
        "InvalidInput: empty batch: send at least one text",
        None,
    )
    assert validation.outcome(lambda: {}["missing"]) == ("KeyError: 'missing'", None)
