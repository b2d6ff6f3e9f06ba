import pytest

from utils.topics import preprocessing


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


def test_train_wordpiece_and_encode_truncated():
    texts = ["the cat sat on the mat", "a dog ate the bone", "cats and dogs"] * 20
    tokenizer = preprocessing.train_wordpiece(texts, vocab_size=60)
    encoded = tokenizer("the cat sat")
    assert encoded["input_ids"][0] == tokenizer.cls_token_id
    assert encoded["input_ids"][-1] == tokenizer.sep_token_id
    inputs = preprocessing.encode_truncated(["the cat sat on the mat " * 5], tokenizer, 8, side="tail")
    assert len(inputs["input_ids"][0]) == 8
    assert inputs["input_ids"][0][0] == tokenizer.cls_token_id
    assert inputs["attention_mask"][0] == [1] * 8
