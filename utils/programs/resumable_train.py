"""A short, checkpointed fine-tuning run of the packaged MiniLM on BBC News, as a command-line program.

Reproducibility experiments need fresh processes (``CUBLAS_WORKSPACE_CONFIG`` must be set before CUDA
starts) and a process that can be killed mid-run and resumed. Each run writes ``result.json`` with its
final metrics, a SHA-256 of its final weights and its throughput::

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
import time
import warnings
from pathlib import Path

HOLDING_FILE = "holding"
RESULT_FILE = "result.json"


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
        "--deterministic", action="store_true", help="enable_full_determinism before CUDA starts"
    )
    parser.add_argument("--resume", action="store_true", help="resume from the last checkpoint in output-dir")
    parser.add_argument("--hold-at-step", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="independent runs in this process")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.repeats > 1 and (args.resume or args.hold_at_step):
        raise SystemExit("--repeats cannot be combined with --resume or --hold-at-step")
    # The environment variables that deterministic cuBLAS needs are read when CUDA starts: set them
    # before anything touches the GPU.
    from transformers import enable_full_determinism, set_seed

    if args.deterministic:
        # warn_only: an operation without a deterministic kernel is reported (in "determinism_warnings")
        # instead of stopping the run; the weight hashes then show whether the run was reproducible.
        # TrainingArguments(full_determinism=True) would enable it again with warn_only=False.
        enable_full_determinism(args.seed, warn_only=True)

    from transformers import (
        AutoModelForSequenceClassification,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.trainer_utils import get_last_checkpoint

    from utils import data, environment, measure, models, training

    environment.quiet_library_logs()
    device = training.device()
    bbc = data.load_bbc_news(args.text, seed=args.seed)
    tokenizer = models.load_tokenizer()
    encoded = training.tokenize(bbc, tokenizer, args.max_length)
    train_set, eval_set = encoded["train"], encoded["validation"]
    if args.train_examples:
        train_set = train_set.select(range(min(args.train_examples, len(train_set))))
    if args.eval_examples:
        eval_set = eval_set.select(range(min(args.eval_examples, len(eval_set))))

    class Hold(TrainerCallback):
        def on_step_end(self, train_args, state, control, **kwargs):
            if state.global_step == args.hold_at_step:
                (args.output_dir / HOLDING_FILE).write_text(str(state.global_step))
                time.sleep(600)  # the supervisor kills the process here
                raise SystemExit(f"held at step {state.global_step} for 600 s and was not killed")

    runs = []
    for repeat in range(args.repeats):
        run_dir = args.output_dir if args.repeats == 1 else args.output_dir / f"run-{repeat}"
        run_dir.mkdir(parents=True, exist_ok=True)
        set_seed(args.seed)  # before the model: the classification head is initialised from this state
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
            full_determinism=False,  # enabled above, before CUDA started
            dataloader_pin_memory=device.type == "cuda",
            report_to="none",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=train_args,
            train_dataset=train_set,
            eval_dataset=eval_set,
            processing_class=tokenizer,
            compute_metrics=training.accuracy,
            callbacks=[Hold()] if args.hold_at_step else None,
        )
        trainer.remove_callback(PrinterCallback)
        checkpoint = get_last_checkpoint(str(run_dir)) if args.resume else None
        if args.resume and checkpoint is None:
            raise SystemExit(f"--resume: no checkpoint in {run_dir}")
        with warnings.catch_warnings(record=True) as caught, measure.timed(device) as timing:
            warnings.simplefilter("always")
            trainer.train(resume_from_checkpoint=checkpoint)
        determinism_warnings = sorted(
            {str(w.message)[:300] for w in caught if "determinis" in str(w.message)}
        )
        metrics = trainer.evaluate()
        losses = training.history(trainer.state.log_history, "loss")
        start_step = int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0
        runs.append(
            {
                "final_train_loss": losses[1][-1] if losses[1] else None,
                "logged_losses": dict(zip(*losses, strict=True)),
                "eval_loss": metrics["eval_loss"],
                "eval_accuracy": metrics["eval_accuracy"],
                "weights_sha256": weights_sha256(trainer.model),
                "global_step": trainer.state.global_step,
                "resumed_from": Path(checkpoint).name if checkpoint else None,
                "train_seconds": timing.seconds,
                "samples_per_s": (args.steps - start_step) * args.batch_size / timing.seconds,
                "determinism_warnings": determinism_warnings,
            }
        )
        del trainer, model
    result = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "deterministic_env": {
            k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING")
        },
        "device": str(device),
        "runs": runs,
    }
    (args.output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
