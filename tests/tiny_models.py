"""Model configs small enough for unit tests on one CPU thread."""

from transformers import BertConfig

TINY_BERT = dict(
    vocab_size=100,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    num_labels=2,
)


def tiny_bert_config(**overrides) -> BertConfig:
    return BertConfig(**{**TINY_BERT, **overrides})
