"""A short, checkpointed fine-tuning run of the packaged MiniLM on BBC News, as a command-line program.

Reproducibility experiments need fresh processes (``CUBLAS_WORKSPACE_CONFIG`` and
``CUDA_LAUNCH_BLOCKING`` are read when CUDA starts) and a process that can be killed mid-run and
resumed. Each run writes ``result.json`` with its final metrics, a SHA-256 of its final weights, the
numeric state it ran under and its step times; ``--tensorboard`` also writes TensorBoard event files
through ``Trainer(report_to="tensorboard")`` to ``tensorboard/`` in each run's folder::

    python -m utils.programs.resumable_train --output-dir runs/a --steps 60 --save-steps 20
    python -m utils.programs.resumable_train --output-dir runs/a --steps 60 --save-steps 20 --resume
    python -m utils.programs.resumable_train --output-dir runs/b --deterministic --repeats 2

``--hold-at-step N`` makes the run stop making progress at step N (after writing ``holding``), so
that a supervisor can kill it at a known point between checkpoints.
"""

import argparse
import hashlib
import json
import os
import statistics
import time
from pathlib import Path

HOLDING_FILE = "holding"
RESULT_FILE = "result.json"
TENSORBOARD_DIR = "tensorboard"
# The cuBLAS workspace setting that makes its matrix products deterministic (torch's documentation);
# transformers' enable_full_determinism uses ":16:8", which is smaller and can be slower.
CUBLAS_WORKSPACE = ":4096:8"
TIMING_WARMUP_STEPS = 10  # steps left out of the step-time median (first kernels, allocator, caches)


def weights_sha256(model) -> str:
    """SHA-256 over every tensor of the state dict (names, dtypes, shapes and raw bytes), in name order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (0: never)")
    parser.add_argument("--logging-steps", type=int, default=None, help="default: --save-steps, else --steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--text", choices=("headline", "article"), default="headline")
    parser.add_argument("--train-examples", type=int, default=None)
    parser.add_argument("--eval-examples", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-seed", type=int, default=None)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="strict deterministic algorithms (an op without one raises), set before CUDA starts",
    )
    parser.add_argument(
        "--launch-blocking",
        action="store_true",
        help="CUDA_LAUNCH_BLOCKING=1, as transformers' enable_full_determinism sets it",
    )
    parser.add_argument("--tensorboard", action="store_true", help="report_to='tensorboard'")
    parser.add_argument("--resume", action="store_true", help="resume from the last checkpoint in output-dir")
    parser.add_argument("--hold-at-step", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="independent runs in this process")
    args = parser.parse_args(argv)
    if args.repeats > 1 and (args.resume or args.hold_at_step):
        parser.error("--repeats cannot be combined with --resume or --hold-at-step")
    return args


def prepare_process(args: argparse.Namespace):
    """Set the environment CUDA reads when it starts, then torch's numeric flags; the state to check."""
    if args.deterministic:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    if args.launch_blocking:
        os.environ["CUDA_LAUNCH_BLOCKING"] = "1"
    from utils import environment, numerics

    environment.quiet_library_logs()
    state = numerics.NumericState(deterministic=args.deterministic)
    numerics.ensure(state)
    return state


def load_data(args: argparse.Namespace):
    """Tokenizer, training and validation sets (truncated, padded per batch by the collator)."""
    from utils import data, models, training

    bbc = data.load_bbc_news(args.text, seed=args.seed)
    tokenizer = models.load_tokenizer()
    encoded = training.tokenize(bbc, tokenizer, args.max_length)
    train_set, eval_set = encoded["train"], encoded["validation"]
    if args.train_examples:
        train_set = train_set.select(range(min(args.train_examples, len(train_set))))
    if args.eval_examples:
        eval_set = eval_set.select(range(min(args.eval_examples, len(eval_set))))
    return tokenizer, train_set, eval_set


def make_trainer(args: argparse.Namespace, run_dir: Path, datasets, callbacks: list):
    """A Trainer of a freshly seeded classifier: the seed is set before the model is built, so the new
    head's initialisation follows it."""
    from transformers import (
        AutoModelForSequenceClassification,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from utils import models, training

    tokenizer, train_set, eval_set = datasets
    if args.tensorboard:  # read by transformers' TensorBoardCallback when Trainer creates it
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    set_seed(args.seed)
    model = models.load_model(AutoModelForSequenceClassification, num_labels=5)
    train_args = TrainingArguments(
        output_dir=str(run_dir),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=args.learning_rate,
        warmup_steps=0.1,
        logging_steps=args.logging_steps or args.save_steps or args.steps,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or args.steps,
        bf16=training.bf16_supported(),
        seed=args.seed,
        data_seed=args.data_seed,
        full_determinism=False,  # set by prepare_process, before CUDA started
        dataloader_pin_memory=training.device().type == "cuda",
        report_to="tensorboard" if args.tensorboard else "none",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=train_args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        compute_metrics=training.accuracy,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def hold_at(step: int, holding_file: Path):
    """A callback that stops the run at ``step`` (after writing ``holding_file``) until it is killed."""
    from transformers import TrainerCallback

    class Hold(TrainerCallback):
        def on_step_end(self, train_args, state, control, **kwargs):
            if state.global_step == step:
                holding_file.write_text(str(step))
                time.sleep(600)  # the supervisor kills the process here
                raise SystemExit(f"held at step {step} for 600 s and was not killed")

    return Hold()


def steady_step_seconds(step_seconds: list[float]) -> float:
    """Median step time after the first :data:`TIMING_WARMUP_STEPS` steps (all steps of a short run)."""
    steady = step_seconds[TIMING_WARMUP_STEPS:] or step_seconds
    return statistics.median(steady)


def train_once(args: argparse.Namespace, run_dir: Path, datasets, numeric_state) -> dict:
    """One run: train (resuming from the last checkpoint with ``--resume``), evaluate, describe it."""
    from transformers.trainer_utils import get_last_checkpoint

    from utils import numerics, training
    from utils.topics.perf import StepClock

    run_dir.mkdir(parents=True, exist_ok=True)
    clock, check = StepClock(training.device()), numerics.CheckAtTrainBegin(numeric_state)
    callbacks = [clock, check] + (
        [hold_at(args.hold_at_step, run_dir / HOLDING_FILE)] if args.hold_at_step else []
    )
    trainer = make_trainer(args, run_dir, datasets, callbacks)
    checkpoint = get_last_checkpoint(str(run_dir)) if args.resume else None
    if args.resume and checkpoint is None:
        raise SystemExit(f"--resume: no checkpoint in {run_dir}")
    trainer.train(resume_from_checkpoint=checkpoint)
    step_seconds = clock.step_seconds()
    metrics = trainer.evaluate()
    losses = training.history(trainer.state.log_history, "loss")
    return {
        "final_train_loss": losses[1][-1] if losses[1] else None,
        "logged_losses": dict(zip(*losses, strict=True)),
        "eval_loss": metrics["eval_loss"],
        "eval_accuracy": metrics["eval_accuracy"],
        "weights_sha256": weights_sha256(trainer.model),
        "global_step": trainer.state.global_step,
        "resumed_from": Path(checkpoint).name if checkpoint else None,
        "numeric_state": check.reading,
        "step_seconds": step_seconds,
        "median_step_seconds": steady_step_seconds(step_seconds),
        "samples_per_s": args.batch_size / steady_step_seconds(step_seconds),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    numeric_state = prepare_process(args)  # before anything touches the GPU
    datasets = load_data(args)
    runs = []
    for repeat in range(args.repeats):
        run_dir = args.output_dir if args.repeats == 1 else args.output_dir / f"run-{repeat}"
        runs.append(train_once(args, run_dir, datasets, numeric_state))
    from utils import training

    result = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": {k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING")},
        "device": str(training.device()),
        "runs": runs,
    }
    (args.output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
