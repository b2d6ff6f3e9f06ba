import torch
from safetensors.torch import load_file, save_file

from utils.topics import attacks


def test_the_pickle_payload_runs_only_without_weights_only(tmp_path):
    marker = tmp_path / "ran"
    checkpoint = attacks.write_pickle_checkpoint(tmp_path / "model.bin", marker)
    unsafe = attacks.torch_load_outcome(checkpoint, marker, weights_only=False)
    safe = attacks.torch_load_outcome(checkpoint, marker, weights_only=True)
    assert unsafe["payload ran"] and unsafe["outcome"] == "loaded"
    assert not safe["payload ran"] and safe["outcome"].startswith("refused: ")


def test_safetensors_will_not_store_an_object(tmp_path):
    assert attacks.safetensors_refusal(tmp_path / "x.safetensors", tmp_path / "ran") is not None
    assert not (tmp_path / "ran").exists()


def test_remote_code_runs_only_when_trusted(tmp_path):
    markers = {name: tmp_path / f"{name}-ran" for name in attacks.REMOTE_CODE_FILES}
    folder = attacks.write_remote_code_folder(tmp_path / "model", markers)
    refused, model = attacks.remote_code_outcome(folder, markers, False)
    assert model is None and refused["outcome"].startswith("refused")
    assert not any(path.exists() for path in markers.values())
    asked, model = attacks.remote_code_outcome(folder, markers, None)
    assert model is None and asked["asked [y/N]"] and asked["outcome"].startswith("refused")
    trusted, model = attacks.remote_code_outcome(folder, markers, True)
    assert type(model).__name__ == "MarkerModel" and all(path.exists() for path in markers.values())
    assert trusted["configuration_marker.py ran"] and trusted["modeling_marker.py ran"]
    assert (
        attacks.remove_module_copy(model).parent.is_dir() and not attacks.remove_module_copy(model).exists()
    )


def test_flipping_a_byte_changes_exactly_one_tensor(tmp_path):
    path = tmp_path / "weights.safetensors"
    original = {"a": torch.zeros(300_000), "b": torch.ones(300_000)}
    save_file(original, path)
    attacks.flip_byte_in_tensor_data(path)
    changed = {name for name, tensor in load_file(path).items() if not torch.equal(tensor, original[name])}
    assert changed == {"a"}


def test_load_seconds_loads_into_the_model():
    model = torch.nn.Linear(2, 2)
    state = {name: torch.full_like(value, 3.0) for name, value in model.state_dict().items()}
    seconds, loaded = attacks.load_seconds(lambda: state, model, repeats=2)
    assert len(seconds) == 2 and loaded is state and torch.all(model.weight == 3.0)
