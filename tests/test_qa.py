import numpy as np
import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_bert_config
from transformers import BertForQuestionAnswering, set_seed

from utils import data, models
from utils.topics import qa


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer()


def test_normalize_answer_follows_squad():
    assert qa.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert qa.normalize_answer("an apple a day") == "apple day"


def test_scores_take_the_best_reference(squad_file):
    examples = data.read_squad_file(squad_file)
    assert qa.squad_scores({"q1": "1889", "q2": "in Paris"}, examples) == {"exact_match": 100.0, "f1": 100.0}
    scores = qa.squad_scores({"q1": "in 1889 it", "q2": "London"}, examples)
    assert scores["exact_match"] == 0.0
    precision, recall = 1 / 3, 1.0  # one of three predicted tokens, the only true token
    assert scores["f1"] == pytest.approx(100 * (2 * precision * recall / (precision + recall)) / 2)


def test_train_labels_point_at_the_answer(tokenizer, squad_file):
    examples = data.read_squad_file(squad_file)[:]
    features = qa.prepare_train_features(examples, tokenizer, max_length=64, stride=None)
    for index, (start, end) in enumerate(
        zip(features["start_positions"], features["end_positions"], strict=True)
    ):
        text = tokenizer.decode(features["input_ids"][index][start : end + 1])
        assert text == examples["answers"][index]["text"][0].lower()


def test_sliding_windows_keep_answers_that_truncation_loses(tokenizer, squad_file):
    squad = data.read_squad_file(squad_file)
    # A long context pushes the answer far beyond the first window.
    padding = "Filler sentence about nothing in particular. " * 40
    long = squad.map(
        lambda row: {
            "context": padding + row["context"],
            "answers": {
                "text": row["answers"]["text"],
                "answer_start": [s + len(padding) for s in row["answers"]["answer_start"]],
            },
        }
    )[:]
    truncated = qa.prepare_train_features(long, tokenizer, max_length=128, stride=None)
    windowed = qa.prepare_train_features(long, tokenizer, max_length=128, stride=32)
    assert all(start == 0 for start in truncated["start_positions"])
    assert len(windowed["input_ids"]) > len(long["id"])
    assert sum(start > 0 for start in windowed["start_positions"]) >= len(long["id"])


def test_decoding_recovers_gold_spans(tokenizer, squad_file):
    examples = data.read_squad_file(squad_file)
    features = examples.map(
        qa.prepare_eval_features,
        batched=True,
        remove_columns=examples.column_names,
        fn_kwargs=dict(tokenizer=tokenizer, max_length=64, stride=16),
    )
    train = qa.prepare_train_features(examples[:], tokenizer, max_length=64, stride=16)
    length = max(len(ids) for ids in features["input_ids"])
    start_logits = np.full((len(features), length), -10.0)
    end_logits = np.full((len(features), length), -10.0)
    for index, (start, end) in enumerate(zip(train["start_positions"], train["end_positions"], strict=True)):
        start_logits[index, start] = end_logits[index, end] = 10.0
    predictions = qa.decode_answers(examples, features, start_logits, end_logits)
    assert predictions["q1"] == "1889"
    assert qa.squad_scores(predictions, examples)["exact_match"] == 100.0


class GoldSpans(torch.nn.Module):
    """Stands in for a QA model that points its start and end logits at each window's gold span (the
    CLS position where the window misses the answer); it knows a window by its tokens."""

    def __init__(self, train_features: dict):
        super().__init__()
        self.device_anchor = torch.nn.Parameter(torch.zeros(1))
        spans = zip(train_features["start_positions"], train_features["end_positions"], strict=True)
        self.spans = {tuple(ids): span for ids, span in zip(train_features["input_ids"], spans, strict=True)}

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        start, end = torch.full(input_ids.shape, -10.0), torch.full(input_ids.shape, -10.0)
        for row, (ids, mask) in enumerate(zip(input_ids, attention_mask, strict=True)):
            first, last = self.spans[tuple(ids[mask.bool()].tolist())]
            start[row, first] = end[row, last] = 10.0
        return {"start_logits": start, "end_logits": end}


def test_score_decodes_the_model_outputs_over_all_windows(tokenizer, squad_file):
    examples = data.read_squad_file(squad_file)
    windows = qa.features(examples, qa.prepare_eval_features, tokenizer, 24, 8)
    model = GoldSpans(qa.prepare_train_features(examples[:], tokenizer, max_length=24, stride=8))
    assert len(windows) > len(examples)  # some answers lie only in a later window
    for batch_size in (1, 2, 128):  # batches of windows of different lengths, padded and stacked
        scores = qa.score(model, examples, windows, tokenizer, batch_size=batch_size)
        assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_split_by_title_holds_out_whole_articles():
    rows = [{"id": str(i), "title": f"t{i % 5}", "question": "q", "context": "c"} for i in range(20)]
    examples = Dataset.from_list(rows)
    train, held_out = qa.split_by_title(examples, every=2)
    assert set(held_out["title"]) == {"t0", "t2", "t4"} and set(train["title"]) == {"t1", "t3"}
    assert len(train) + len(held_out) == len(examples)


def test_answers_past_the_first_window_and_scores_of_a_model(tokenizer, squad_file):
    examples = data.read_squad_file(squad_file)
    assert qa.answers_past_first_window(examples, tokenizer, max_length=64) == 0.0
    # The first question's context is cut right after the question: its answer lies past the window.
    question_tokens = len(tokenizer(examples["question"][0])["input_ids"])
    assert qa.answers_past_first_window(examples.select([0]), tokenizer, question_tokens + 3) == 1.0
    windows = qa.features(examples, qa.prepare_eval_features, tokenizer, 24, 8)
    first_only = qa.features(examples, qa.prepare_eval_features, tokenizer, 24, None)
    assert len(windows) > len(first_only) == len(examples)
    set_seed(0)
    model = BertForQuestionAnswering(tiny_bert_config(vocab_size=tokenizer.vocab_size))
    scores = qa.score(model, examples, windows, tokenizer)
    assert set(scores) == {"exact_match", "f1"} and 0 <= scores["exact_match"] <= scores["f1"] <= 100
