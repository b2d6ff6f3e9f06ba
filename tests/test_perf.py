import torch
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification

from utils.topics import perf


def test_split_warmup_separates_compile_time():
    steady, overhead = perf.split_warmup([5.0, 1.2, 1.0, 1.0, 1.0, 1.0], warmup=2)
    assert steady == 4.0
    assert abs(overhead - (6.2 - 2 * 1.0)) < 1e-9


def test_recipe_changes_one_factor_and_knows_cuda_only_arms():
    naive = perf.Recipe()
    assert naive.changed(precision="bf16") == perf.Recipe(precision="bf16")
    assert naive.cuda_only() is None
    assert perf.Recipe(precision="tf32").cuda_only() and perf.Recipe(precision="fp16").cuda_only()
    assert perf.Recipe(cudnn_attention=False).cuda_only()


def test_matmul_parameters_exclude_embeddings():
    config = tiny_bert_config(max_position_embeddings=20)
    model = BertForSequenceClassification(config)
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    total = sum(p.numel() for p in model.parameters())
    assert perf.matmul_parameters(model) == total - embedding


def test_padding_stats_counts_real_tokens():
    loader = [{"attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])}]
    stats = perf.padding_stats(loader)
    assert stats["real_tokens"] == 3 and stats["padded_tokens"] == 6 and stats["padding_efficiency"] == 0.5


def test_op_family():
    assert perf.op_family("aten::mm") == "matmul"
    assert perf.op_family("pytorch_flash::flash_fwd_kernel") == "attention"
    assert perf.op_family("aten::_fused_adamw_") == "optimizer"
    assert perf.op_family("aten::layer_norm").startswith("other")


def test_top_ops_on_cpu():
    model = torch.nn.Linear(32, 32)
    x = torch.randn(8, 32)

    def step():
        model(x).sum().backward()

    table = perf.top_ops(step, torch.device("cpu"), steps=2, rows=5)
    assert len(table) <= 5 and table["ms per step"].is_monotonic_decreasing


def test_length_batches_have_growing_lengths():
    from datasets import Dataset

    rows = [[1] * n for n in range(3, 43)]
    dataset = Dataset.from_dict({"input_ids": rows, "attention_mask": rows, "label": [0] * len(rows)})

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        return {
            "input_ids": torch.tensor(
                [f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]
            )
        }

    batches = perf.length_batches(dataset, collate, count=3, batch_size=4, quantile=0.5)
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths) and len(set(widths)) == 3
