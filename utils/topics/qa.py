"""Extractive question answering: features with sliding windows, answer decoding, SQuAD scores.

The feature preparation and decoding follow the transformers question-answering examples; the
scores follow the official SQuAD v1.1 evaluation script (the ``evaluate`` library fetches that
script from the Hub, which is not always reachable).
"""

import collections
import re
import string

import numpy as np
from datasets import Dataset
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from utils.topics import trials


def _windows(examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int | None):
    # With a stride, a long context becomes several overlapping windows instead of being cut off.
    return tokenizer(
        [question.lstrip() for question in examples["question"]],
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride or 0,
        return_overflowing_tokens=stride is not None,
        return_offsets_mapping=True,
        padding=False,
    )


def _sample_map(encoded, count: int) -> list[int]:
    return encoded.pop("overflow_to_sample_mapping", list(range(count)))


def prepare_train_features(
    examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int = 384, stride: int | None = 128
) -> dict:
    """Tokenise question/context pairs and label each window with the answer's token span.

    A window that does not contain the answer is labelled with the CLS position (0). ``stride=None``
    keeps only the first window of each context (the truncating baseline).
    """
    encoded = _windows(examples, tokenizer, max_length, stride)
    sample_map = _sample_map(encoded, len(examples["question"]))
    starts, ends = [], []
    for index, offsets in enumerate(encoded.pop("offset_mapping")):
        answers = examples["answers"][sample_map[index]]
        answer_start = answers["answer_start"][0]
        answer_end = answer_start + len(answers["text"][0])
        sequence_ids = encoded.sequence_ids(index)
        context = [i for i, sid in enumerate(sequence_ids) if sid == 1]
        first, last = context[0], context[-1]
        if offsets[first][0] > answer_start or offsets[last][1] < answer_end:
            starts.append(0)
            ends.append(0)
            continue
        start = first
        while start <= last and offsets[start][0] <= answer_start:
            start += 1
        end = last
        while end >= first and offsets[end][1] >= answer_end:
            end -= 1
        starts.append(start - 1)
        ends.append(end + 1)
    encoded["start_positions"] = starts
    encoded["end_positions"] = ends
    return encoded


def prepare_eval_features(
    examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int = 384, stride: int | None = 128
) -> dict:
    """Tokenise for evaluation, keeping each window's example id and the context offsets."""
    encoded = _windows(examples, tokenizer, max_length, stride)
    sample_map = _sample_map(encoded, len(examples["question"]))
    encoded["example_id"] = [examples["id"][sample] for sample in sample_map]
    encoded["offset_mapping"] = [
        [offset if sid == 1 else None for offset, sid in zip(offsets, encoded.sequence_ids(i), strict=True)]
        for i, offsets in enumerate(encoded["offset_mapping"])
    ]
    return encoded


def decode_answers(
    examples,
    features,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best: int = 20,
    max_answer_tokens: int = 30,
) -> dict[str, str]:
    """The best-scoring valid context span of each example over all of its windows."""
    windows_of = collections.defaultdict(list)
    for index, example_id in enumerate(features["example_id"]):
        windows_of[example_id].append(index)
    predictions = {}
    for example in examples:
        best_score, best_text = -np.inf, ""
        for index in windows_of[example["id"]]:
            offsets = features[index]["offset_mapping"]
            top_starts = np.argsort(start_logits[index])[-n_best:]
            top_ends = np.argsort(end_logits[index])[-n_best:]
            for start in top_starts:
                for end in top_ends:
                    if (
                        start >= len(offsets)
                        or end >= len(offsets)
                        or offsets[start] is None
                        or offsets[end] is None
                        or not 0 <= end - start < max_answer_tokens
                    ):
                        continue
                    score = start_logits[index][start] + end_logits[index][end]
                    if score > best_score:
                        best_score = score
                        best_text = example["context"][offsets[start][0] : offsets[end][1]]
        predictions[example["id"]] = best_text
    return predictions


def normalize_answer(text: str) -> str:
    """Lower case, strip punctuation, articles and extra white space (official SQuAD v1.1)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: str, truth: str) -> float:
    predicted, true = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(predicted) & collections.Counter(true)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(true)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: dict[str, str], examples) -> dict[str, float]:
    """Exact match and F1 in percent, each the best over an example's reference answers."""
    exact, f1 = [], []
    for example in examples:
        prediction = predictions.get(example["id"], "")
        truths = example["answers"]["text"]
        exact.append(max(float(normalize_answer(prediction) == normalize_answer(t)) for t in truths))
        f1.append(max(_f1(prediction, t) for t in truths))
    return {"exact_match": 100 * float(np.mean(exact)), "f1": 100 * float(np.mean(f1))}


def split_by_title(examples: Dataset, every: int = 3) -> tuple[Dataset, Dataset]:
    """Training and held-out questions, split by article: every ``every``-th title (sorted) is held
    out, so that no context is seen both in training and in evaluation."""
    held_out = set(sorted(set(examples["title"]))[::every])
    return (
        examples.filter(lambda row: row["title"] not in held_out),
        examples.filter(lambda row: row["title"] in held_out),
    )


def features(
    examples: Dataset, prepare, tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int | None
) -> Dataset:
    """``prepare`` (:func:`prepare_train_features` or :func:`prepare_eval_features`) mapped over
    ``examples``: one row per window, or per question with ``stride=None`` (first window only)."""
    return examples.map(
        prepare,
        batched=True,
        remove_columns=examples.column_names,
        fn_kwargs=dict(tokenizer=tokenizer, max_length=max_length, stride=stride),
    )


def answers_past_first_window(
    examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> float:
    """Share of ``examples`` whose answer does not lie inside the first window of ``max_length``
    tokens: without overflowing windows, these answers cannot be found."""
    first = features(examples, prepare_train_features, tokenizer, max_length, None)
    return float(np.mean(np.array(first["start_positions"]) == 0))


def score(
    model,
    examples: Dataset,
    eval_features: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    bf16: bool = False,
    batch_size: int = 128,
) -> dict[str, float]:
    """Exact match and F1 of ``model`` on ``examples``, decoded over the windows in ``eval_features``
    (from :func:`prepare_eval_features`), which are run through the model ``batch_size`` at a time.

    The batch size can move a score slightly: a batch is padded to its longest window, and the model's
    logits at those padding positions compete for the ``n_best`` candidates of :func:`decode_answers`
    before the positions outside the context are set aside.
    """
    logits = trials.predict(
        model,
        eval_features.remove_columns(["example_id", "offset_mapping"]),
        DataCollatorWithPadding(tokenizer),
        batch_size=batch_size,
        bf16=bf16,
        outputs=("start_logits", "end_logits"),
    )
    predictions = decode_answers(examples, eval_features, logits["start_logits"], logits["end_logits"])
    return squad_scores(predictions, examples)
