"""Model configs small enough for unit tests on one CPU thread."""

from transformers import BertConfig, GPT2Config

TINY_BERT = dict(
    vocab_size=100,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    num_labels=2,
)
TINY_GPT2 = dict(vocab_size=50, n_positions=32, n_embd=16, n_layer=1, n_head=2)


def tiny_bert_config(**overrides) -> BertConfig:
    return BertConfig(**{**TINY_BERT, **overrides})


def tiny_gpt2_config(**overrides) -> GPT2Config:
    return GPT2Config(**{**TINY_GPT2, **overrides})


def tiny_run_arguments(steps: int) -> list[str]:
    """Command-line arguments of ``utils.programs.resumable_train`` for a run of ``steps`` tiny steps."""
    sizes = {
        "--steps": steps,
        "--batch-size": 2,
        "--max-length": 16,
        "--train-examples": 16,
        "--eval-examples": 8,
    }
    return [part for option, value in sizes.items() for part in (option, str(value))]
