"""Data-parallel training (notebook 05): scaling efficiency over timing rounds, where a DDP step's time
goes, the node's interconnect, and weight comparisons between launches.

The training processes themselves are :mod:`utils.programs.ddp_bench`; this module turns what they
measured into tables and sentences, and holds the pure arithmetic both sides share.
"""

import dataclasses
import math
import re
import shutil
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
GPU_NAME = re.compile(r"GPU\d+")
# What `nvidia-smi topo -m` prints between two GPUs, from fastest to slowest.
LINK_MEANINGS = {
    "NV": "NVLink ({} bonded links)",
    "PIX": "PCIe, at most one PCIe bridge",
    "PXB": "PCIe, several PCIe bridges, no host bridge",
    "PHB": "PCIe through a CPU's host bridge",
    "NODE": "PCIe and the links between host bridges of one NUMA node",
    "SYS": "PCIe and the link between NUMA nodes (QPI/UPI, Infinity Fabric)",
}


# ------------------------------------------------------------------------------- timing rounds


def round_seconds(ranks: Sequence[dict], arm: str) -> list[float]:
    """Seconds per step in each timing round of ``arm``, from the slowest rank: a synchronised step
    is as slow as its slowest process. ``ranks`` are the throughput results of one launch."""
    per_rank = [rank["arms"][arm]["round_seconds"] for rank in ranks]
    return [max(values) for values in zip(*per_rank, strict=True)]


def efficiencies(one_gpu: Sequence[float], many_gpus: Sequence[float]) -> list[float]:
    """Scaling efficiency per round at a fixed per-device batch: throughput per device with N devices
    over the throughput of one, that is one device's step time over N devices' step time."""
    if len(one_gpu) != len(many_gpus):
        raise ValueError(f"rounds differ: {len(one_gpu)} on one device, {len(many_gpus)} on several")
    return [one / many for one, many in zip(one_gpu, many_gpus, strict=True)]


def bus_bandwidth(nbytes: float, seconds: float, world_size: int) -> float:
    """Bytes per second each device moves in a ring all-reduce of ``nbytes``: the algorithm bandwidth
    (nbytes / seconds) times 2 (N - 1) / N, comparable with the link's own rate (as nccl-tests report)."""
    return nbytes / seconds * 2 * (world_size - 1) / world_size


# ------------------------------------------------------------------------------- kernel activity


def merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of intervals, as sorted disjoint intervals."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(merged: Sequence[tuple[float, float]]) -> float:
    return sum(end - start for start, end in merged)


def _overlap(first: Sequence[tuple[float, float]], second: Sequence[tuple[float, float]]) -> float:
    """Length of the intersection of two merged interval lists."""
    total, i, j = 0.0, 0, 0
    while i < len(first) and j < len(second):
        start = max(first[i][0], second[j][0])
        end = min(first[i][1], second[j][1])
        total += max(0.0, end - start)
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return total


def kernel_activity(kernels: Sequence[tuple[float, float, bool]], steps: int) -> dict[str, float]:
    """Device time per step from profiled kernels ``(start_us, end_us, is_communication)``.

    ``compute_ms``: time at least one computing kernel (or copy) runs; ``comm_ms``: time a
    communication kernel runs; ``overlapped_comm_ms``: communication while computation also runs;
    ``exposed_comm_ms``: communication alone on the device; ``busy_ms``: anything runs.
    """
    compute = merge((start, end) for start, end, comm in kernels if not comm)
    comm = merge((start, end) for start, end, is_comm in kernels if is_comm)
    overlapped = _overlap(compute, comm)
    per_step = 1e-3 / steps  # microseconds in total to milliseconds per step
    return {
        "compute_ms": _length(compute) * per_step,
        "comm_ms": _length(comm) * per_step,
        "overlapped_comm_ms": overlapped * per_step,
        "exposed_comm_ms": (_length(comm) - overlapped) * per_step,
        "busy_ms": _length(merge((start, end) for start, end, _ in kernels)) * per_step,
        "kernels_per_step": len(kernels) / steps,
    }


# ------------------------------------------------------------------------------- step decomposition


def slowest_median(per_rank: Sequence[Sequence[float]]) -> float:
    """Median over repeats of the slowest rank's time: a collective ends when its last rank does."""
    return statistics.median(max(times) for times in zip(*per_rank, strict=True))


def step_breakdown(
    decompositions: Sequence[dict], ddp: str = "ddp", local: str = "local"
) -> dict[str, float | None]:
    """Milliseconds per profiled step of one launch's decomposition of the arms ``ddp`` and ``local``
    (the same step without DDP), averaged over ranks; the kernel rows are ``None`` where the device
    recorded no kernels (a CPU)."""

    def mean(read) -> float:
        return 1e3 * statistics.fmean(read(rank) for rank in decompositions)

    rows: dict[str, float | None] = {
        "DDP step (phase events)": mean(lambda r: r[ddp]["phases"]["step"]),
        "  forward (DDP timer)": mean(lambda r: r[ddp]["ddp_timers"]["forward"]),
        "  backward computation (DDP timer)": mean(lambda r: r[ddp]["ddp_timers"]["backward_compute"]),
        "  all-reduce, first bucket to last (DDP timer)": mean(lambda r: r[ddp]["ddp_timers"]["comm_span"]),
        "  all-reduce during backward (DDP timer)": mean(lambda r: r[ddp]["ddp_timers"]["comm_overlapped"]),
        "  all-reduce after backward (DDP timer)": mean(
            lambda r: r[ddp]["ddp_timers"]["comm_after_backward"]
        ),
        "  optimizer (phase events)": mean(lambda r: r[ddp]["phases"]["optimizer"]),
        "compute-alone step (phase events)": mean(lambda r: r[local]["phases"]["step"]),
        "  compute-alone backward (phase events)": mean(lambda r: r[local]["phases"]["backward"]),
        "DDP buckets all-reduced alone, fp32": 1e3
        * slowest_median([r["buckets_alone"]["fp32"] for r in decompositions]),
        "DDP buckets all-reduced alone, 16-bit": 1e3
        * slowest_median([r["buckets_alone"]["16-bit"] for r in decompositions]),
    }
    kernel_rows = {
        "compute kernels busy, DDP step": (ddp, "compute_ms"),
        "compute kernels busy, compute-alone step": (local, "compute_ms"),
        "NCCL kernels busy, DDP step": (ddp, "comm_ms"),
        "  NCCL beside compute kernels": (ddp, "overlapped_comm_ms"),
        "  NCCL with no compute kernel": (ddp, "exposed_comm_ms"),
    }
    recorded = all(rank[ddp]["kernels"] and rank[local]["kernels"] for rank in decompositions)
    for label, (arm, key) in kernel_rows.items():
        rows[label] = (
            statistics.fmean(rank[arm]["kernels"][key] for rank in decompositions) if recorded else None
        )
    return rows


GROWTH_PARTS = {
    "ddp_own_work": "DDP's own work, already on one device",
    "concurrency": "devices busy at once, no communication",
    "communication": "what the other devices add (all-reduce, backward beside it)",
}


@dataclasses.dataclass(frozen=True)
class ScalingRounds:
    """Seconds per step in each timing round, at one per-device batch: plain training (the bare model,
    no gradient synchronisation) and DDP, on one device and on N. Round i of one device is paired
    with round i of N devices."""

    local_one: Sequence[float]
    ddp_one: Sequence[float]
    local_many: Sequence[float]
    ddp_many: Sequence[float]

    def __post_init__(self):
        if len({len(self.local_one), len(self.ddp_one), len(self.local_many), len(self.ddp_many)}) != 1:
            raise ValueError("every arm needs the same number of timing rounds")

    def efficiency(self) -> list[float]:
        """Per round: plain training on one device against DDP on N, per device (1.0 is linear)."""
        return efficiencies(self.local_one, self.ddp_many)

    def growth(self) -> dict[str, list[float]]:
        """Per round, how the step grows from plain training on one device to DDP on N, in three parts
        that add up to it exactly:

        - ``ddp_own_work``: DDP on one device against plain training there (reducer hooks, bucket
          copies, a one-process all-reduce): what DDP costs before any other device exists;
        - ``concurrency``: plain training on N devices at once against one (no communication at all:
          power, clocks, the shared host);
        - ``communication``: the rest, what DDP's gap to plain training grows by when other devices
          take part (all-reduce not hidden behind backward, and backward slowed beside it).
        """
        parts = {"ddp_own_work": [], "concurrency": [], "communication": []}
        for local_one, ddp_one, local_many, ddp_many in zip(
            self.local_one, self.ddp_one, self.local_many, self.ddp_many, strict=True
        ):
            parts["ddp_own_work"].append(ddp_one - local_one)
            parts["concurrency"].append(local_many - local_one)
            parts["communication"].append((ddp_many - local_many) - (ddp_one - local_one))
        return parts

    def growth_sentence(self, devices: int) -> str:
        """The measured reasons for the efficiency at ``devices`` devices, largest part first."""
        means = {name: statistics.fmean(values) for name, values in self.growth().items()}
        ordered = sorted(means.items(), key=lambda item: -abs(item[1]))
        pieces = ", ".join(f"{1e3 * seconds:+.1f} ms {GROWTH_PARTS[name]}" for name, seconds in ordered)
        ddp_many, local_one = statistics.fmean(self.ddp_many), statistics.fmean(self.local_one)
        return (
            f"a DDP step took {1e3 * ddp_many:.1f} ms on {devices} devices against {1e3 * local_one:.1f} ms "
            f"of plain training on one ({statistics.fmean(self.efficiency()):.0%} efficiency): {pieces}"
        )


# ------------------------------------------------------------------------------- the node


def topology(run=subprocess.run) -> str | None:
    """``nvidia-smi topo -m`` as printed, or ``None`` where there is no ``nvidia-smi``."""
    if shutil.which("nvidia-smi") is None:
        return None
    process = run(["nvidia-smi", "topo", "-m"], capture_output=True, text=True, timeout=60, check=False)
    return process.stdout if process.returncode == 0 else None


def gpu_links(topo: str) -> dict[tuple[str, str], str]:
    """The link between each pair of GPUs in ``nvidia-smi topo -m`` output: ``{("GPU0", "GPU1"): "NV18"}``."""
    lines = ANSI_ESCAPE.sub("", topo).splitlines()  # nvidia-smi underlines the header, even in a pipe
    start = next((i for i, line in enumerate(lines) if "GPU0" in line.split()), None)
    if start is None:
        return {}
    columns = [cell.strip() for cell in lines[start].split("\t")]
    links = {}
    for line in lines[start + 1 :]:
        cells = [cell.strip() for cell in line.split("\t")]
        if not GPU_NAME.fullmatch(cells[0]):
            break  # the NIC rows or the legend follow the GPU rows
        for column, cell in zip(columns, cells, strict=False):
            if GPU_NAME.fullmatch(column) and column != cells[0]:
                links[(cells[0], column)] = cell
    return links


def link_meaning(link: str) -> str:
    """What a ``nvidia-smi topo`` link label means (``NV18`` → NVLink with 18 links)."""
    if link.startswith("NV") and link[2:].isdigit():
        return LINK_MEANINGS["NV"].format(link[2:])
    return LINK_MEANINGS.get(link, link)


# ------------------------------------------------------------------------------- weights


def weight_difference(first: str | Path, second: str | Path) -> dict[str, float | bool | int]:
    """How far two safetensors checkpoints of one model are apart: relative L2 distance over all
    tensors, the largest absolute difference, and whether every tensor is bit-identical."""
    from safetensors.torch import load_file

    a, b = load_file(str(first)), load_file(str(second))
    if a.keys() != b.keys():
        raise ValueError(f"different tensors: {sorted(set(a) ^ set(b))[:5]}")
    squared = reference = 0.0
    largest = 0.0
    for name in a:
        delta = a[name].double() - b[name].double()
        squared += float(delta.pow(2).sum())
        reference += float(b[name].double().pow(2).sum())
        largest = max(largest, float(delta.abs().max()) if delta.numel() else 0.0)
    return {
        "relative": math.sqrt(squared / reference) if reference else math.sqrt(squared),
        "max_abs": largest,
        "identical": all(a[name].equal(b[name]) for name in a),
        "tensors": len(a),
    }
