"""Harmless but real attacks on model loading, and what each loader does with them.

Every payload here only writes a marker file, so that a notebook can show *whether* code ran:
a pickle checkpoint whose unpickling calls ``exec``, a model folder whose ``auto_map`` points to
Python files, and a flipped byte inside a weights file.
"""

import json
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
from safetensors.torch import save_file


class Payload:
    """Unpickling this object runs ``exec(code)``, and the code writes ``marker``."""

    def __init__(self, marker: Path):
        self.marker = Path(marker)

    def __reduce__(self):
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('arbitrary code ran')",)


def write_pickle_checkpoint(path: Path, marker: Path) -> Path:
    """A ``torch.save`` checkpoint with real-looking weights and a :class:`Payload` beside them."""
    torch.save({"classifier.weight": torch.zeros(5, 384), "config": Payload(marker)}, path)
    return path


def torch_load_outcome(path: Path, marker: Path, *, weights_only: bool) -> dict:
    """Load ``path`` with ``torch.load(weights_only=...)``: did the payload run, and was it refused?"""
    marker.unlink(missing_ok=True)
    try:
        torch.load(path, weights_only=weights_only)  # noqa: BPL203  demonstration: a hostile checkpoint
        outcome = "loaded"
    except pickle.UnpicklingError as error:
        reason = [line for line in str(error).splitlines() if "Unsupported global" in line]
        outcome = "refused: " + (reason or str(error).splitlines())[0].strip()[:90]
    return {"weights_only": weights_only, "payload ran": marker.exists(), "outcome": outcome}


def safetensors_refusal(path: Path, marker: Path) -> str | None:
    """The error safetensors raises when asked to save a :class:`Payload`; ``None`` if it saved it."""
    try:
        save_file({"config": Payload(marker)}, path)
    except (TypeError, AttributeError, ValueError) as error:
        return f"{type(error).__name__}: {str(error)[:80]}"
    return None


def load_seconds(load: Callable[[], dict], into: torch.nn.Module, repeats: int) -> tuple[list[float], dict]:
    """Seconds of each of ``repeats`` loads of a state dict into ``into`` (``load_state_dict`` reads
    lazily mapped tensors for real), and the last state dict loaded, to check it."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        state = load()
        into.load_state_dict(state)
        seconds.append(time.perf_counter() - start)
    return seconds, state


_REMOTE_CONFIG = """import pathlib
pathlib.Path({marker!r}).write_text("imported")

from transformers import PretrainedConfig


class MarkerConfig(PretrainedConfig):
    model_type = "bp-marker"

    def __init__(self, hidden=4, **kwargs):
        self.hidden = hidden
        super().__init__(**kwargs)
"""
_REMOTE_MODEL = """import pathlib
pathlib.Path({marker!r}).write_text("imported")

import torch
from transformers import PreTrainedModel

from .configuration_marker import MarkerConfig


class MarkerModel(PreTrainedModel):
    config_class = MarkerConfig
    base_model_prefix = "marker"

    def __init__(self, config):
        super().__init__(config)
        self.linear = torch.nn.Linear(config.hidden, config.hidden)
        self.post_init()

    def forward(self, x):
        return self.linear(x)
"""
REMOTE_CODE_FILES = ("configuration_marker", "modeling_marker")


def write_remote_code_folder(folder: Path, markers: dict[str, Path]) -> Path:
    """A model folder with an unknown ``model_type`` whose ``auto_map`` points to two Python files;
    importing each writes ``markers[name]`` (``name`` in :data:`REMOTE_CODE_FILES`)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_type": "bp-marker",
        "hidden": 4,
        "auto_map": {
            "AutoConfig": "configuration_marker.MarkerConfig",
            "AutoModel": "modeling_marker.MarkerModel",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    for name, template in zip(REMOTE_CODE_FILES, (_REMOTE_CONFIG, _REMOTE_MODEL), strict=True):
        (folder / f"{name}.py").write_text(template.format(marker=str(markers[name])))
    save_file({"linear.weight": torch.eye(4), "linear.bias": torch.zeros(4)}, folder / "model.safetensors")
    return folder


def remote_code_outcome(folder: Path, markers: dict[str, Path], trust: bool | None) -> tuple[dict, object]:
    """``AutoModel.from_pretrained(folder, trust_remote_code=trust)``, answering "N" (Enter) if asked.

    Returns the row (asked, which files ran, outcome) and the model loaded, or ``None``.
    """
    from transformers import AutoModel

    prompts = []

    def answer_no(prompt):
        prompts.append(prompt)
        return ""  # Enter: the default answer, N

    model = None
    with mock.patch("builtins.input", answer_no):
        try:
            model = AutoModel.from_pretrained(folder, trust_remote_code=trust)  # noqa: BPL201  what it runs
            outcome = f"loaded {type(model).__name__}"
        except ValueError as error:
            message = " ".join(str(error).replace(str(folder), "<folder>").split())
            outcome = f"refused: {message[:80]}…"
    row = {
        "trust_remote_code": str(trust),
        "asked [y/N]": bool(prompts),
        **{f"{name}.py ran": markers[name].exists() for name in REMOTE_CODE_FILES},
        "outcome": outcome,
    }
    return row, model


def flip_byte_in_tensor_data(path: Path, offset: int = 1_000_003) -> int:
    """Flip one bit of the byte ``offset`` bytes into a safetensors file's tensor data; its file offset."""
    with path.open("r+b") as file:
        position = 8 + int.from_bytes(file.read(8), "little") + offset  # past the JSON header
        file.seek(position)
        byte = file.read(1)
        file.seek(position)
        file.write(bytes([byte[0] ^ 0x40]))
    return position


def remove_module_copy(model) -> Path:
    """Delete the copy of a remote-code model's Python files that transformers keeps in its modules cache."""
    from transformers.utils import HF_MODULES_CACHE

    copy = Path(HF_MODULES_CACHE, *type(model).__module__.split(".")[:2])
    shutil.rmtree(copy, ignore_errors=True)
    return copy
