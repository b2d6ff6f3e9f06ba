"""Preprocessing choices that change accuracy or cost: length and truncation side, padding and batch
order, leaks between splits, tokenizer vocabularies, and how fast tokenisation runs."""

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset, load_from_disk
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

TRUNCATION_SIDES = ("head", "tail", "head+tail")


def take(dataset: Dataset, count: int | None) -> Dataset:
    """The first ``count`` rows of ``dataset``; all of them when ``count`` is ``None``."""
    return dataset if count is None else dataset.select(range(min(count, len(dataset))))


def truncate_tokens(
    ids: Sequence[int], budget: int, side: str = "head", head_share: float = 0.25
) -> list[int]:
    """At most ``budget`` token ids of ``ids``: the first ones, the last ones, or both ends.

    ``"head+tail"`` keeps ``head_share`` of the budget from the start and the rest from the end
    (Sun et al., 2019, keep the first 128 and last 382 of 510 tokens).
    """
    if side not in TRUNCATION_SIDES:
        raise ValueError(f"side must be one of {', '.join(TRUNCATION_SIDES)}, not {side!r}")
    ids = list(ids)
    if len(ids) <= budget:
        return ids
    if side == "head":
        return ids[:budget]
    if side == "tail":
        return ids[len(ids) - budget :]
    head = round(budget * head_share)
    return ids[:head] + ids[len(ids) - (budget - head) :]


def _single_sequence_inputs(
    bodies: Sequence[Sequence[int]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    side: str,
    pad_to_max_length: bool = False,
) -> dict[str, list[list[int]]]:
    # BERT-style single-sequence layout: [CLS] body [SEP], the body truncated to fit, then (static
    # padding only) [PAD] up to max_length with attention 0.
    input_ids = [
        [tokenizer.cls_token_id, *truncate_tokens(body, max_length - 2, side), tokenizer.sep_token_id]
        for body in bodies
    ]
    attention_mask = [[1] * len(ids) for ids in input_ids]
    if pad_to_max_length:
        attention_mask = [mask + [0] * (max_length - len(mask)) for mask in attention_mask]
        input_ids = [ids + [tokenizer.pad_token_id] * (max_length - len(ids)) for ids in input_ids]
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": [[0] * len(ids) for ids in input_ids],
    }


class Encoder:
    """Classification inputs of one text data set (columns ``text`` and ``label``) at any length.

    The texts are tokenised once; each call truncates them on a side (see :func:`truncate_tokens`)
    and, for static padding, pads every example to ``max_length``.
    """

    def __init__(self, dataset: Dataset, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer
        self.bodies = tokenizer(list(dataset["text"]), add_special_tokens=False)["input_ids"]
        self.labels = list(dataset["label"])

    def __call__(self, max_length: int, side: str = "head", *, pad_to_max_length: bool = False) -> Dataset:
        inputs = _single_sequence_inputs(self.bodies, self.tokenizer, max_length, side, pad_to_max_length)
        return Dataset.from_dict({**inputs, "label": self.labels})

    def lengths(self, max_length: int | None = None) -> np.ndarray:
        """Tokens per example with ``[CLS]`` and ``[SEP]``, cut at ``max_length`` if given."""
        lengths = np.array([len(body) + 2 for body in self.bodies])
        return lengths if max_length is None else np.minimum(lengths, max_length)


def group_by_length_order(
    lengths: Sequence[int], batch_size: int, seed: int, megabatch_batches: int = 50
) -> list[int]:
    """A shuffled order in which neighbouring examples have similar lengths.

    Like transformers' ``LengthGroupedSampler``: shuffle, cut into mega-batches of
    ``megabatch_batches * batch_size`` examples, sort each by length (longest first), then shuffle
    the order of the resulting batches, so that batch shapes vary but padding inside a batch is small.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    size = megabatch_batches * batch_size
    batches = []
    for start in range(0, len(order), size):
        mega = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches += [mega[i : i + batch_size] for i in range(0, len(mega), batch_size)]
    return [index for b in (batches[i] for i in rng.permutation(len(batches))) for index in b]


def padded_length(longest: int, max_length: int | None, pad_to_multiple_of: int | None) -> int:
    """Length a batch is padded to: ``max_length`` if given (static), else its longest sequence,
    rounded up to a multiple of ``pad_to_multiple_of``."""
    length = max_length or longest
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    return length


def pad_fraction(
    lengths: Sequence[int],
    order: Sequence[int],
    batch_size: int,
    *,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
) -> float:
    """Fraction of the tokens in all batches that are padding, for examples taken in ``order``.

    ``max_length`` pads every batch to that length (static padding); ``None`` pads each batch to
    its longest sequence (dynamic padding).
    """
    real = padded = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        real += sum(batch)
        padded += len(batch) * padded_length(max(batch), max_length, pad_to_multiple_of)
    return 1 - real / padded if padded else 0.0


def exact_copies(texts: Sequence[str], reference: Sequence[str]) -> list[bool]:
    """For each of ``texts``, whether the identical string occurs in ``reference``."""
    seen = set(reference)
    return [text in seen for text in texts]


def train_wordpiece(
    texts: Sequence[str], vocab_size: int = 8000, *, lowercase: bool = True
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer trained on ``texts`` with the ``tokenizers`` library.

    Its ids mean nothing to a model pretrained with another vocabulary: that is what it is for here.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


TOKENIZATION_METHODS = (
    "one call per text (Python loop)",
    "one call on all texts",
    "map, batched=False",
    "map, batched=True",
)


def _tokenize_by(method: str, dataset: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    texts = dataset["text"]
    if method == TOKENIZATION_METHODS[0]:
        [tokenizer(text, truncation=True, max_length=max_length) for text in texts]
    elif method == TOKENIZATION_METHODS[1]:
        tokenizer(list(texts), truncation=True, max_length=max_length)
    elif method in TOKENIZATION_METHODS[2:]:
        # In-memory datasets have no cache files: map computes every time.
        dataset.map(tokenize, batched=method.endswith("True"), load_from_cache_file=False)
    else:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(TOKENIZATION_METHODS)}")


def time_tokenization(
    dataset: Dataset, tokenizer: PreTrainedTokenizerBase, *, max_length: int, rounds: int
) -> list[dict]:
    """Seconds to tokenise the ``text`` column of an in-memory ``dataset`` by each of
    :data:`TOKENIZATION_METHODS`, ``rounds`` times, the methods interleaved within each round so
    that a busy moment of the machine does not fall on one method only."""
    rows = []
    for round_ in range(rounds):
        for method in TOKENIZATION_METHODS:
            start = time.perf_counter()
            _tokenize_by(method, dataset, tokenizer, max_length)
            rows.append({"round": round_, "method": method, "seconds": time.perf_counter() - start})
    return rows


def time_cached_map(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    directory: str | Path,
    rounds: int,
) -> list[dict]:
    """A batched tokenising ``map`` over ``dataset`` saved to disk: seconds of the first run and of
    an identical re-run, which ``datasets`` answers from the cache file that the first run wrote
    (it fingerprints the function and its inputs). Each round uses a fresh folder, so that no
    earlier round's cache fakes a first run; the folders are removed afterwards."""

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    rows = []
    for round_ in range(rounds):
        folder = Path(directory) / f"round-{round_}"
        shutil.rmtree(folder, ignore_errors=True)
        dataset.save_to_disk(folder)
        on_disk = load_from_disk(folder)
        row, outputs = {"round": round_}, []
        for run in ("first run", "cached re-run"):
            start = time.perf_counter()
            outputs.append(on_disk.map(tokenize, batched=True))
            row[run] = time.perf_counter() - start
        row["re-run read the first run's file"] = outputs[0].cache_files == outputs[1].cache_files
        rows.append(row)
        del on_disk, outputs
        shutil.rmtree(folder)
    return rows
