import shutil

from utils import environment, results, verdicts
from utils.run import cards

SPEED = verdicts.Claim("speed", "bf16 is faster", "bf16 / fp32", 1.5, unit="x")
MEMORY = verdicts.Claim("memory", "bf16 saves memory", "fp32 / bf16 bytes", 1.2, unit="x")


def reference(directory, gpu, found, restated=""):
    env = {**environment.capture(), "gpu": gpu}
    for verdict in found:
        verdict.claim += restated
    path = results.write_results(
        "99_demo",
        parameters={"profile": "full"},
        environment=env,
        metrics={},
        verdicts=found,
        key_figures={},
        output_dir=directory,
    )
    shutil.move(path, directory / "99_demo.json")


def test_cards_put_each_claim_of_each_card_side_by_side_and_mark_flips(tmp_path):
    (tmp_path / "h100").mkdir()
    reference(
        tmp_path / "h100",
        "NVIDIA H100 80GB HBM3",
        [verdicts.judge(SPEED, 1.6), verdicts.judge(MEMORY, 1.3)],
        restated=" (old wording)",
    )
    reference(
        tmp_path,
        "NVIDIA H200",
        [verdicts.judge(SPEED, [1.1, 1.2], explanation="host-bound"), verdicts.judge(MEMORY, 1.3)],
    )
    loaded = cards.load_cards(tmp_path)
    assert list(loaded) == ["H100", "H200"]
    text = cards.document(tmp_path)
    assert "| claim | H100 | H200 | across cards |" in text
    assert "| bf16 is faster | held (1.6) | not held (1.15) | **flip**; restated; host-bound |" in text
    assert "| bf16 saves memory | held (1.3) | held (1.3) | restated |" in text


def test_committed_verdicts_document_is_up_to_date(repo_root):
    assert (repo_root / "docs" / "verdicts.md").read_text(encoding="utf-8") == cards.document(), (
        "regenerate it: python -m utils.run.cards > docs/verdicts.md"
    )
