import collections

import pytest

from utils import data, hub


@pytest.fixture(scope="module")
def records():
    return data.read_bbc_news()


@pytest.fixture(scope="module")
def bbc():
    return data.load_bbc_news(seed=7)


def test_corpus_is_read_completely(records):
    assert len(records) == 2225
    assert sorted({r["label"] for r in records}) == [
        "business",
        "entertainment",
        "politics",
        "sports",
        "tech",
    ]


def test_latin1_article_is_decoded(records):
    # The one Latin-1 file would raise under UTF-8; its text must still be readable.
    article = next(r for r in records if r["id"] == "sports/199")["article"]
    assert "\ufffd" not in article
    assert article.isprintable() or "\n" in article


def test_headline_is_first_line(records):
    assert all(r["article"].startswith(r["headline"]) and "\n" not in r["headline"] for r in records)


def test_deduplicate_keeps_first_occurrence():
    rows = [{"article": "a", "id": 1}, {"article": "b", "id": 2}, {"article": "a", "id": 3}]
    assert [r["id"] for r in data.deduplicate(rows)] == [1, 2]


def test_corpus_has_98_exact_duplicates(records):
    assert len(records) - len(data.deduplicate(records)) == 98


def test_splits_have_no_shared_article(bbc):
    texts = {split: set(bbc[split]["text"]) for split in bbc}
    assert sum(len(t) for t in texts.values()) == 2127
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]


def test_label_names_are_sorted(bbc):
    names = bbc["train"].features["label"].names
    assert names == sorted(names)


def test_split_is_deterministic_and_seeded(bbc):
    again = data.load_bbc_news(seed=7)
    other = data.load_bbc_news(seed=8)
    assert list(again["test"]["id"]) == list(bbc["test"]["id"])
    assert list(other["test"]["id"]) != list(bbc["test"]["id"])


def test_split_is_stratified(bbc):
    def shares(split):
        counts = collections.Counter(bbc[split]["label"])
        return {label: count / len(bbc[split]) for label, count in counts.items()}

    train, test = shares("train"), shares("test")
    assert all(abs(train[label] - test[label]) < 0.02 for label in train)


def test_sizes_follow_fractions(bbc):
    assert len(bbc["test"]) == pytest.approx(0.2 * 2127, abs=2)
    assert len(bbc["validation"]) == pytest.approx(0.1 * 2127, abs=2)


def test_headline_variant_and_naive_split():
    headlines = data.load_bbc_news("headline", dedupe=False)
    assert sum(len(headlines[s]) for s in headlines) == 2225
    assert all("\n" not in text for text in headlines["train"]["text"])


def test_unknown_text_field_is_refused():
    with pytest.raises(ValueError, match="'body'"):
        data.load_bbc_news("body")


def test_squad_file_is_flattened(squad_file):
    squad = data.read_squad_file(squad_file)
    assert squad.column_names == ["id", "title", "context", "question", "answers"]
    assert squad[1]["answers"]["text"] == ["Paris", "in Paris"]
    row = squad[0]
    start = row["answers"]["answer_start"][0]
    assert row["context"][start : start + 4] == "1889"


def test_load_squad_prefers_the_environment_file(squad_file, monkeypatch):
    monkeypatch.setenv(data.SQUAD_FILE_ENV, str(squad_file))
    assert len(data.load_squad()) == 2


def test_squad_subset_ships_with_the_repository(monkeypatch, repo_root):
    monkeypatch.delenv(data.SQUAD_FILE_ENV, raising=False)
    assert data.DEFAULT_SQUAD_FILE.is_relative_to(repo_root)
    squad = data.load_squad()
    assert len(squad) == 501
    assert len(set(squad["title"])) == 12
    assert all(
        r["context"][s : s + len(t)] == t
        for r in squad
        for s, t in zip(r["answers"]["answer_start"], r["answers"]["text"], strict=True)
    )
    notice = (data.DEFAULT_SQUAD_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in notice and "Rajpurkar" in notice


def test_a_named_squad_file_that_is_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.SQUAD_FILE_ENV, str(tmp_path / "typo.json"))
    with pytest.raises(FileNotFoundError, match=r"typo\.json"):
        data.load_squad()


def test_missing_subset_offline_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.delenv(data.SQUAD_FILE_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_SQUAD_FILE", data.REPO_ROOT / "data" / "absent" / "squad.json")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubUnavailableError) as error:
        data.load_squad()
    message = str(error.value)
    assert "data/absent/squad.json is missing" in message and "git checkout" in message
    assert "load_squad" not in message  # never send the user to the function that just failed


def test_hub_dataset_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubUnavailableError, match="load_bbc_news"):
        data.load_hub("ag_news")
