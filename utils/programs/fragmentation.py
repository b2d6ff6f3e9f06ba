"""How much memory PyTorch's CUDA caching allocator reserves beyond what tensors use, for training steps
of fixed and of varying sequence lengths, in a fresh process.

The allocator's settings (``PYTORCH_CUDA_ALLOC_CONF``, e.g. ``expandable_segments:True``) are read
when CUDA starts, so each setting needs its own process; the caller sets the variable in the
environment it starts this program with::

    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python -m utils.programs.fragmentation \\
        --shape BERT-base --batch-size 64 --max-length 512 --steps 24 --output result.json

Both workloads run one after the other in the same process, each with a freshly built model and
optimizer, after ``empty_cache`` and a reset of the peak statistics. On a CPU the steps run but there
is no allocator to read (``null`` statistics).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ALLOCATOR_VARIABLES = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")
WORKLOADS = ("fixed", "varying")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="BERT-base", help="a shape of utils.models.bert_config")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--min-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=None, help="write the JSON here (default: print it)")
    return parser.parse_args(argv)


def sequence_lengths(workload: str, args: argparse.Namespace) -> list[int]:
    """``fixed``: every step at ``max_length``; ``varying``: seeded random lengths in [min, max]."""
    import torch

    if workload == "fixed":
        return [args.max_length] * args.steps
    generator = torch.Generator().manual_seed(args.seed)
    return torch.randint(args.min_length, args.max_length + 1, (args.steps,), generator=generator).tolist()


def allocator_stats(device) -> dict[str, float] | None:
    """Peak bytes allocated to tensors and reserved from the driver since the last reset, and the
    share of the peak reservation that tensors never used; ``None`` off CUDA."""
    import torch

    if device.type != "cuda":
        return None
    stats = torch.cuda.memory_stats(device)
    allocated, reserved = stats["allocated_bytes.all.peak"], stats["reserved_bytes.all.peak"]
    return {
        "peak allocated (MiB)": allocated / 2**20,
        "peak reserved (MiB)": reserved / 2**20,
        "unused reserved at peak": 1 - allocated / reserved,
        "segments": stats.get("segment.all.peak", 0),
    }


def run_workload(workload: str, args: argparse.Namespace) -> dict:
    """Train ``args.steps`` bf16 steps (fp32 on a CPU) at the workload's lengths; the allocator's numbers."""
    import torch

    from utils import training
    from utils.topics import memory

    device = training.device()
    cuda = device.type == "cuda"
    memory.free_device_memory()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    model = memory.encoder(args.shape, seed=args.seed, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    lengths = sequence_lengths(workload, args)
    for step, length in enumerate(lengths):
        batch = memory.random_batch(
            args.batch_size, length, model.config.vocab_size, seed=args.seed + step, device=device
        )
        with memory.autocast(device.type, torch.bfloat16 if cuda else None):
            model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    result = {"lengths": lengths, "allocator": allocator_stats(device)}
    del model, optimizer, batch
    memory.free_device_memory()
    return result


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = {
        "allocator_settings": {name: os.environ.get(name) for name in ALLOCATOR_VARIABLES},
        **{workload: run_workload(workload, args) for workload in WORKLOADS},
    }
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return result


def run_in_process(allocator_conf: str | None, **settings) -> dict:
    """This program in a fresh process with ``PYTORCH_CUDA_ALLOC_CONF=allocator_conf`` (no allocator
    settings at all for ``None``); ``settings`` are its options (``batch_size=64``: ``--batch-size 64``)."""
    from utils import REPO_ROOT

    env = {name: value for name, value in os.environ.items() if name not in ALLOCATOR_VARIABLES}
    if allocator_conf is not None:
        env["PYTORCH_CUDA_ALLOC_CONF"] = allocator_conf
    options = [part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]
    with tempfile.TemporaryDirectory(prefix="fragmentation-") as folder:
        output = Path(folder) / "result.json"
        command = [sys.executable, "-m", "utils.programs.fragmentation", *options, "--output", str(output)]
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fragmentation run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(output.read_text())


if __name__ == "__main__":
    main()
