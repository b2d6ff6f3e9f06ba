"""The rule registry: metadata of every rule, and extension through @register."""

import re

import pytest

from bplint.registry import Rule, all_rules, get_rule, is_valid_selector, register

NOTEBOOKS = {f"notebooks/{n}.ipynb" for n in (
    "02_data_preprocessing", "03_hyperparameter_tuning", "04_performance", "05_distributed_training",
    "06_quantization_memory", "07_security", "08_reproducibility", "09_pitfalls", "10_text_generation",
    "11_peft_quantization")}
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "Use instead", "## How to fix")


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_metadata(rule):
    assert re.fullmatch(r"BPL\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9-]+", rule.name)
    assert rule.severity in ("error", "warning")
    assert rule.summary and "\n" not in rule.summary
    if rule.kinds:  # the engine's own codes (parse errors, internal errors, unused noqa) have no notebook
        assert rule.notebook in NOTEBOOKS
        for section in SECTIONS:
            assert section in rule.explanation, (rule.code, section)


def test_families_and_lookup():
    codes = [r.code for r in all_rules()]
    assert len(codes) == len(set(codes))
    assert {"BPL001", "BPL002", "BPL101", "BPL201", "BPL301"} <= set(codes)
    # real pitfall rules, without the parse-error and internal-error meta codes
    assert len([c for c in codes if c not in ("BPL000", "BPL900")]) >= 20
    assert get_rule("bpl201").name == "trust-remote-code"
    assert get_rule("trust-remote-code").code == "BPL201"
    assert is_valid_selector("BPL2") and is_valid_selector("ALL") and not is_valid_selector("BPL95")


def test_register_rejects_bad_rules():
    class NoCode(Rule):
        code = "X1"
        name = "x"
        summary = "x"
        explanation = "x"

    with pytest.raises(ValueError):
        register(NoCode)

    class Dup(Rule):
        code = "BPL201"
        name = "dup"
        summary = "x"
        explanation = "x"

    with pytest.raises(ValueError):
        register(Dup)


def test_rules_table_in_the_docs_is_generated_from_the_registry():
    from bplint_testutil import REPO_ROOT

    from bplint.output import rules_markdown

    doc = (REPO_ROOT / "docs" / "bplint.md").read_text()
    start = doc.index("<!-- rules:start")
    body = doc[doc.index("\n", start) + 1:doc.index("<!-- rules:end -->")]
    assert body == rules_markdown(), "regenerate the table with `bplint rules --format markdown`"
    for rule in all_rules():
        assert f"| `{rule.code}` | {rule.name} |" in body, rule.code
