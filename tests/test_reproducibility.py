import json

import pandas as pd
import torch
from tiny_models import tiny_run_arguments
from torch.utils.tensorboard import SummaryWriter

from utils import environment
from utils.programs import resumable_train
from utils.topics import reproducibility

TINY = tiny_run_arguments(6)


def test_tensor_hash_sees_one_changed_bit():
    tensor = torch.zeros(4)
    before = reproducibility.tensor_hash([tensor])
    tensor[2] = torch.nextafter(torch.tensor(0.0), torch.tensor(1.0))
    assert reproducibility.tensor_hash([tensor]) != before == reproducibility.tensor_hash([torch.zeros(4)])


def grid(head, batch):
    rows = [(i, d) for i in (1, 2) for d in (1, 2)]
    return pd.DataFrame(
        [
            {"init seed": i, "data_seed": d, "initial head": head(i, d), "first batch": batch(i, d)}
            for i, d in rows
        ]
    )


def test_seed_separation_counts_what_breaks_it():
    assert reproducibility.seed_separation(grid(lambda i, d: f"h{i}", lambda i, d: f"b{d}")) == 0
    # the head follows data_seed too: both init rows have a second head
    assert reproducibility.seed_separation(grid(lambda i, d: f"h{i}{d}", lambda i, d: f"b{d}")) == 2
    # data_seed changes nothing: one batch for two data seeds
    assert reproducibility.seed_separation(grid(lambda i, d: f"h{i}", lambda i, d: "b")) == 1


def test_loss_ranges_per_fixed_seed():
    table = grid(lambda i, d: "", lambda i, d: "")
    table["eval_loss"] = [1.0, 1.5, 2.0, 2.1]  # (init, data): (1,1) (1,2) (2,1) (2,2)
    assert reproducibility.loss_ranges(table, "data_seed").round(6).tolist() == [0.5, 0.1]
    assert reproducibility.loss_ranges(table, "init seed").round(6).tolist() == [1.0, 0.6]


def test_traceability_names_what_is_missing():
    env = environment.capture(seed=1)
    env["git_dirty"] = False
    assert reproducibility.traceability_problems(env) == []
    short = {**env, "git_commit": env["git_commit"][:7], "seed": None, "git_dirty": True}
    assert reproducibility.traceability_problems(short) == [
        f"commit {env['git_commit'][:7]} is not a full 40-character hash",
        "the checkout had uncommitted changes",
        "no seed",
    ]
    foreign = {**env, "git_commit": "0" * 40}
    assert reproducibility.traceability_problems(foreign) == ["commit 000000000000 is not in this repository"]


def test_tensorboard_curve_of_a_restarted_run_keeps_the_later_values(tmp_path):
    first = SummaryWriter(tmp_path / "a")
    for step in (1, 2, 3):
        first.add_scalar("train/loss", 10.0 + step, step)
    first.close()
    second = SummaryWriter(tmp_path / "b")
    for step in (3, 4):
        second.add_scalar("train/loss", float(step), step)
    second.close()
    curve, repeated = reproducibility.tensorboard_scalars(tmp_path, "train/loss")
    assert curve == {1: 11.0, 2: 12.0, 3: 3.0, 4: 4.0} and repeated == [3]
    assert reproducibility.curve_mismatches(curve, {1: 11.0, 2: 12.0, 3: 3.0000001, 4: 4.0}) == []
    assert reproducibility.curve_mismatches(curve, {1: 11.0, 2: 12.5, 3: 3.0}) == [2, 4]


def test_a_killed_and_resumed_process_ends_like_an_uninterrupted_one(tmp_path):
    """The notebook's sequence: an uninterrupted run, a run killed between checkpoints, its resumption."""
    common = [*TINY, "--logging-steps", "1", "--tensorboard", "--deterministic"]
    full = reproducibility.training_result(
        reproducibility.start_training(tmp_path / "full", *common), tmp_path / "full"
    )["runs"][0]
    killed = tmp_path / "killed"
    child = reproducibility.start_training(killed, *common, "--save-steps", "2", "--hold-at-step", "4")
    assert reproducibility.kill_when_holding(child, killed) == 4 and child.returncode < 0
    assert sorted(p.name for p in killed.glob("checkpoint-*")) == ["checkpoint-2"]
    resumed = reproducibility.training_result(
        reproducibility.start_training(killed, *common, "--save-steps", "2", "--resume"), killed
    )["runs"][0]
    assert resumed["resumed_from"] == "checkpoint-2"
    assert resumed["weights_sha256"] == full["weights_sha256"]
    curve, repeated = reproducibility.tensorboard_scalars(
        killed / resumable_train.TENSORBOARD_DIR, "train/loss"
    )
    reference = {int(step): loss for step, loss in full["logged_losses"].items()}
    assert sorted(curve) == list(range(1, 7)) and repeated == [3]
    assert reproducibility.curve_mismatches(curve, reference) == []
    assert json.loads((killed / resumable_train.RESULT_FILE).read_text())["runs"][0]["global_step"] == 6


def test_train_briefly_reports_final_metrics_and_data_order(tmp_path):
    from datasets import Dataset

    torch.manual_seed(0)
    model, head = reproducibility.new_classifier(num_labels=2)
    tokenizer = reproducibility.models.load_tokenizer()
    texts = [f"example number {i}" for i in range(8)]
    rows = Dataset.from_dict({**tokenizer(texts), "label": [i % 2 for i in range(8)]})
    budget = dict(output_dir=tmp_path, steps=2, batch_size=4, learning_rate=1e-4, seed=1)
    first = reproducibility.train_briefly(model, tokenizer, rows, rows, data_seed=1, **budget)
    other_order = reproducibility.train_briefly(model, tokenizer, rows, rows, data_seed=2, **budget)
    assert len(head) == 12 and 0 <= first["eval_accuracy"] <= 1 and first["eval_loss"] > 0
    assert first["first batch"] != other_order["first batch"]
