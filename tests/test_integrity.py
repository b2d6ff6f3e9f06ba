import hashlib
import json

import pytest

from utils.topics import integrity


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 10)
    (folder / "sub").mkdir()
    (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    return folder


def test_sha256_file_matches_hashlib(model_dir):
    data = (model_dir / "weights.bin").read_bytes()
    assert integrity.sha256_file(model_dir / "weights.bin") == hashlib.sha256(data).hexdigest()


def test_manifest_lists_every_file_with_relative_posix_paths(model_dir):
    manifest = integrity.build_manifest(model_dir)
    assert sorted(manifest) == ["config.json", "sub/vocab.txt", "weights.bin"]
    assert all(len(digest) == 64 for digest in manifest.values())


def test_untouched_folder_verifies(model_dir, tmp_path):
    path = tmp_path / "manifest.json"
    integrity.write_manifest(model_dir, path)
    assert json.loads(path.read_text())["files"] == integrity.build_manifest(model_dir)
    assert integrity.check(model_dir, integrity.read_manifest(path)) == []
    assert integrity.verify(model_dir, path) == model_dir


def test_one_flipped_byte_is_detected(model_dir):
    manifest = integrity.build_manifest(model_dir)
    weights = model_dir / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    assert integrity.check(model_dir, manifest) == [integrity.Mismatch("weights.bin", "changed")]
    with pytest.raises(integrity.IntegrityError, match=r"weights\.bin: changed"):
        integrity.verify(model_dir, manifest)


def test_missing_and_unexpected_files_are_detected(model_dir):
    manifest = integrity.build_manifest(model_dir)
    (model_dir / "sub" / "vocab.txt").unlink()
    (model_dir / "modeling_evil.py").write_text("print('hi')")
    problems = integrity.check(model_dir, manifest)
    assert integrity.Mismatch("sub/vocab.txt", "missing") in problems
    assert integrity.Mismatch("modeling_evil.py", "unexpected") in problems
    assert integrity.check(model_dir, manifest, allow_extra=True) == [
        integrity.Mismatch("sub/vocab.txt", "missing")
    ]


def test_empty_manifest_is_refused(model_dir):
    with pytest.raises(integrity.IntegrityError, match="no files"):
        integrity.verify(model_dir, {})
