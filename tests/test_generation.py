import pytest
import torch
from tiny_models import tiny_gpt2_config
from transformers import GPT2LMHeadModel

from utils.topics import generation


def test_distinct_n_counts_unique_ngrams_over_all_sequences():
    assert generation.distinct_n([[1, 2, 3], [1, 2, 4]], 1) == pytest.approx(4 / 6)
    assert generation.distinct_n([[1, 2, 3], [1, 2, 4]], 2) == pytest.approx(3 / 4)
    assert generation.distinct_n([["a", "b"]], 3) == 0.0


def test_repetition_rate_of_a_loop_and_of_unique_text():
    assert generation.repetition_rate(list(range(20)), 4) == 0.0
    loop = [1, 2, 3] * 10  # 27 four-grams, only 3 distinct
    assert generation.repetition_rate(loop, 4) == pytest.approx(1 - 3 / 27)
    assert generation.repetition_rate([1, 2], 4) == 0.0


def test_pack_blocks_appends_eos_and_drops_the_tail():
    blocks = generation.pack_blocks([[1, 2, 3], [4, 5]], block_size=3, eos_id=0)
    assert blocks == [[1, 2, 3], [0, 4, 5]]  # the trailing eos is an incomplete block
    with pytest.raises(ValueError):
        generation.pack_blocks([[1]], block_size=0, eos_id=0)


def test_byte_bpe_round_trips_text_exactly():
    texts = ["The Bank of England raised rates.", "Café owners said 3.5% was too much!"] * 20
    tokenizer = generation.train_byte_bpe(texts, vocab_size=300)
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.bos_token
    unseen = "Ünïcode and  double  spaces\nnew line"
    ids = tokenizer(unseen)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == unseen
    assert len(tokenizer) <= 300


def test_timed_generate_returns_new_tokens_and_rate():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    inputs = {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 6]]),
        "attention_mask": torch.ones(2, 3, dtype=torch.long),
    }
    result = generation.timed_generate(
        model, inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=0
    )
    assert result.new_tokens.shape == (2, 5)
    assert torch.equal(result.sequences[:, :3], inputs["input_ids"])
    assert result.seconds > 0
    assert result.tokens_per_s == pytest.approx(10 / result.seconds)


def test_benchmark_generate_times_repeats_after_warmup():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    inputs = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    kwargs = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
    result = generation.benchmark_generate(model, inputs, warmup=2, repeats=3, **kwargs)
    assert len(result.seconds) == 3
    assert result.first_call_seconds > 0
    assert result.new_tokens.shape == (1, 4)
    assert sorted(4 / s for s in result.seconds)[1] == pytest.approx(result.tokens_per_s)
    with pytest.raises(ValueError):
        generation.benchmark_generate(model, inputs, warmup=0, **kwargs)
