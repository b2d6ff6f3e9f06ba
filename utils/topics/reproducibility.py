"""Reproducibility experiments of notebook 08: brief seeded runs, training processes to start, kill and
resume, the separation of data order and initialisation, traceability checks and TensorBoard curves."""

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification

from utils import REPO_ROOT, environment, models, training
from utils.programs import resumable_train


def tensor_hash(tensors: Iterable[torch.Tensor]) -> str:
    """Short SHA-256 of tensors' raw bytes, for 'bitwise identical?' comparisons."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def new_classifier(num_labels: int) -> tuple[torch.nn.Module, str]:
    """The packaged MiniLM with a new classification head, and the hash of that head's initial weights."""
    model = models.load_model(AutoModelForSequenceClassification, num_labels=num_labels)
    head = [tensor for name, tensor in model.state_dict().items() if name.startswith("classifier.")]
    return model, tensor_hash(head)


def train_briefly(model, tokenizer, train_set, eval_set, *, data_seed: int | None = None, **budget) -> dict:
    """Fine-tune ``model`` with :func:`utils.training.fixed_budget_trainer` (``budget``: ``output_dir``,
    ``steps``, ``batch_size``, ``learning_rate``, ``seed``), evaluated once at the end; the final
    validation metrics and a hash of the first training batch of epoch 0 (the data order)."""
    trainer = training.fixed_budget_trainer(
        model,
        tokenizer,
        train_dataset=train_set,
        eval_dataset=eval_set,
        eval_every=budget["steps"],
        data_seed=data_seed,
        **budget,
    )
    trainer.train()
    final = [entry for entry in trainer.state.log_history if "eval_loss" in entry][-1]
    first_batch = next(iter(trainer.get_train_dataloader()))["input_ids"]  # a fresh loader: epoch 0 order
    return {
        "eval_loss": final["eval_loss"],
        "eval_accuracy": final["eval_accuracy"],
        "first batch": tensor_hash([first_batch]),
    }


def start_training(output_dir: Path, *arguments: str) -> subprocess.Popen:
    """``python -m utils.programs.resumable_train --output-dir OUTPUT_DIR ARGUMENTS`` in a fresh process."""
    command = [sys.executable, "-m", "utils.programs.resumable_train", "--output-dir", str(output_dir)]
    return subprocess.Popen(
        [*command, *arguments], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def training_result(child: subprocess.Popen, output_dir: Path) -> dict:
    """Wait for a training process and read its ``result.json``; raise with its output if it failed."""
    output = child.communicate()[0]
    if child.returncode != 0:
        raise RuntimeError(f"{output_dir.name} failed with exit {child.returncode}:\n{output[-3000:]}")
    return json.loads((output_dir / resumable_train.RESULT_FILE).read_text())


def kill_when_holding(child: subprocess.Popen, output_dir: Path, timeout: float = 300) -> int:
    """Wait until a run started with ``--hold-at-step`` holds, then SIGKILL it; the step it held at."""
    holding = output_dir / resumable_train.HOLDING_FILE
    start = time.perf_counter()
    while not holding.exists() and child.poll() is None and time.perf_counter() - start < timeout:
        time.sleep(0.1)
    if not holding.exists():
        child.kill()
        raise RuntimeError(f"the run never held (exit {child.poll()}):\n{child.communicate()[0][-3000:]}")
    child.send_signal(signal.SIGKILL)
    child.communicate()
    return int(holding.read_text())


def seed_separation(grid: pd.DataFrame) -> int:
    """Cells of an init seed × data_seed grid that break "the head follows only the init seed, the first
    batch only data_seed": a head or batch that differs from its row's (column's) first one, and a
    seed whose change left the head (batch) unchanged."""
    mismatches = 0
    for seed_column, hash_column in (("init seed", "initial head"), ("data_seed", "first batch")):
        same_seed = grid.groupby(seed_column)[hash_column]
        mismatches += int((grid[hash_column] != same_seed.transform("first")).sum())
        mismatches += grid[seed_column].nunique() - same_seed.first().nunique()
    return mismatches


def loss_ranges(grid: pd.DataFrame, varied: str) -> pd.Series:
    """Range of the final eval loss while ``varied`` changes, one value per setting of the other seed."""
    fixed = "data_seed" if varied == "init seed" else "init seed"
    return grid.groupby(fixed)["eval_loss"].agg(lambda losses: losses.max() - losses.min())


def traceability_problems(env: dict) -> list[str]:
    """What keeps ``env`` (from :func:`utils.environment.capture`) from naming the code and software
    that ran: a missing or short commit, one this repository does not have, uncommitted changes, a
    missing library version, hardware or seed."""
    problems = []
    commit = env.get("git_commit") or ""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        problems.append(f"commit {commit or 'missing'} is not a full 40-character hash")
    elif subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO_ROOT, check=False
    ).returncode:
        problems.append(f"commit {commit[:12]} is not in this repository")
    if env.get("git_dirty") is not False:
        problems.append(
            "the checkout had uncommitted changes"
            if env.get("git_dirty")
            else "the checkout could not be checked"
        )
    problems += [f"no version of {name}" for name, version in env["libraries"].items() if not version]
    if not (env.get("gpu") or env.get("cpu")):
        problems.append("no hardware named")
    if env.get("seed") is None:
        problems.append("no seed")
    return problems


def tensorboard_scalars(log_dir: Path, tag: str) -> tuple[dict[int, float], list[int]]:
    """``{step: value}`` of one scalar over every TensorBoard event file under ``log_dir``, and the steps
    logged more than once. A resumed run logs again the steps between its checkpoint and the point
    where the first process died; like TensorBoard, the later value wins."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = []
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})  # 0: keep every event
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            events += accumulator.Scalars(tag)
    curve, counts = {}, {}
    for event in sorted(events, key=lambda event: event.wall_time):
        curve[event.step] = event.value
        counts[event.step] = counts.get(event.step, 0) + 1
    return dict(sorted(curve.items())), sorted(step for step, n in counts.items() if n > 1)


def curve_mismatches(logged: dict[int, float], reference: dict[int, float], tolerance: float = 1e-6) -> list:
    """Steps where two loss curves disagree: missing from one, or values further apart than ``tolerance``
    (TensorBoard stores float32; a loss near 1 keeps about 7 digits)."""
    steps = sorted(set(logged) | set(reference))
    return [
        step
        for step in steps
        if step not in logged or step not in reference or abs(logged[step] - reference[step]) > tolerance
    ]


def describe_environment(env: dict) -> dict:
    """The fields of ``env`` that name what ran, for a table."""
    return {
        "commit": env["git_commit"],
        "uncommitted changes": env.get("git_dirty"),
        "python": env["python"],
        **env["libraries"],
        "hardware": env["gpu"] or env["cpu"],
        "device": env["device"],
        "cuda": env["cuda"],
        "platform": env["platform"],
        "seed": env["seed"],
        "date": env["date"],
        "summary": environment.describe(env),
    }
