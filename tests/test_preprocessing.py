import pytest
from datasets import Dataset

from utils.topics import preprocessing


def test_take():
    rows = Dataset.from_dict({"x": list(range(5))})
    assert preprocessing.take(rows, 3)["x"] == [0, 1, 2]
    assert preprocessing.take(rows, 9)["x"] == preprocessing.take(rows, None)["x"] == list(range(5))


def test_truncate_tokens_sides():
    ids = list(range(10))
    assert preprocessing.truncate_tokens(ids, 4, "head") == [0, 1, 2, 3]
    assert preprocessing.truncate_tokens(ids, 4, "tail") == [6, 7, 8, 9]
    assert preprocessing.truncate_tokens(ids, 4, "head+tail", head_share=0.5) == [0, 1, 8, 9]
    assert preprocessing.truncate_tokens(ids[:3], 4, "tail") == [0, 1, 2]
    with pytest.raises(ValueError):
        preprocessing.truncate_tokens(ids, 4, "middle")


def test_group_by_length_order_is_a_permutation_with_less_padding():
    lengths = [(i * 37) % 101 + 1 for i in range(400)]
    grouped = preprocessing.group_by_length_order(lengths, batch_size=8, seed=0, megabatch_batches=10)
    assert sorted(grouped) == list(range(400))
    shuffled = list(range(400))
    assert (
        preprocessing.pad_fraction(lengths, grouped, 8) < preprocessing.pad_fraction(lengths, shuffled, 8) / 2
    )
    assert grouped == preprocessing.group_by_length_order(lengths, batch_size=8, seed=0, megabatch_batches=10)


def test_pad_fraction_static_dynamic_and_multiple():
    lengths = [2, 4, 3, 3]
    order = [0, 1, 2, 3]
    assert preprocessing.pad_fraction(lengths, order, 2) == pytest.approx(1 - 12 / 14)
    assert preprocessing.pad_fraction(lengths, order, 2, max_length=8) == pytest.approx(1 - 12 / 32)
    assert preprocessing.pad_fraction(lengths, order, 2, pad_to_multiple_of=4) == pytest.approx(1 - 12 / 16)
    assert preprocessing.padded_length(5, None, 8) == 8


def test_exact_copies():
    assert preprocessing.exact_copies(["a", "b", "c"], ["c", "a"]) == [True, False, True]


def test_train_wordpiece_adds_special_tokens():
    texts = ["the cat sat on the mat", "a dog ate the bone", "cats and dogs"] * 20
    tokenizer = preprocessing.train_wordpiece(texts, vocab_size=60)
    encoded = tokenizer("the cat sat")
    assert encoded["input_ids"][0] == tokenizer.cls_token_id
    assert encoded["input_ids"][-1] == tokenizer.sep_token_id


@pytest.fixture(scope="module")
def toy():
    texts = ["the cat sat on the mat " * 5, "a dog ate the bone", "cats and dogs"] * 4
    tokenizer = preprocessing.train_wordpiece(texts, vocab_size=60)
    return Dataset.from_dict({"text": texts, "label": [0, 1, 2] * 4}), tokenizer


def test_encoder_truncates_on_each_side_and_pads_statically(toy):
    dataset, tokenizer = toy
    encoder = preprocessing.Encoder(dataset, tokenizer)
    full = tokenizer(dataset["text"][0])["input_ids"]
    assert encoder.lengths()[0] == len(full) and encoder.lengths(8)[0] == 8
    head, tail = encoder(8, "head"), encoder(8, "tail")
    assert head["input_ids"][0] == tokenizer(dataset["text"][0], truncation=True, max_length=8)["input_ids"]
    assert tail["input_ids"][0] == [full[0], *full[-7:]]  # [CLS], then the last body tokens and [SEP]
    assert head["label"] == dataset["label"]
    short = len(tokenizer(dataset["text"][1])["input_ids"])
    static = encoder(16, pad_to_max_length=True)
    assert {len(ids) for ids in static["input_ids"]} == {16}
    assert static["attention_mask"][1] == [1] * short + [0] * (16 - short)
    assert static["input_ids"][1][short:] == [tokenizer.pad_token_id] * (16 - short)


def test_tokenization_timings_cover_every_method_and_round(toy):
    dataset, tokenizer = toy
    rows = preprocessing.time_tokenization(dataset, tokenizer, max_length=16, rounds=2)
    assert [row["method"] for row in rows] == list(preprocessing.TOKENIZATION_METHODS) * 2
    assert all(row["seconds"] > 0 for row in rows)


def test_cached_map_rerun_reads_the_cache_and_cleans_up(toy, tmp_path):
    dataset, tokenizer = toy
    rows = preprocessing.time_cached_map(dataset, tokenizer, max_length=16, directory=tmp_path, rounds=2)
    assert [row["round"] for row in rows] == [0, 1]
    assert all(row["re-run read the first run's file"] and row["first run"] > 0 for row in rows)
    assert not any(tmp_path.iterdir())
