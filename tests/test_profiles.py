import pytest
import torch

from utils import profiles

TABLE = {"smoke": {"steps": 2, "lr": 1e-3}, "full": {"steps": 300, "lr": 2e-4}}


def test_auto_follows_cuda_availability():
    expected = "full" if torch.cuda.is_available() else "smoke"
    assert profiles.resolve_profile("auto") == expected


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        profiles.resolve_profile("fast")


def test_settings_take_the_profile_and_apply_overrides():
    cfg = profiles.settings("smoke", TABLE, steps=5, lr=None)
    assert (cfg.profile, cfg.steps, cfg.lr) == ("smoke", 5, 1e-3)


def test_multi_falls_back_to_full():
    assert profiles.settings("multi", TABLE).steps == 300


def test_misspelt_override_names_the_known_settings():
    with pytest.raises(ValueError, match=r"unknown setting.*stepz.*known: lr, steps"):
        profiles.settings("full", TABLE, stepz=3)


def test_table_is_not_modified():
    profiles.settings("full", TABLE, steps=1)
    assert TABLE["full"]["steps"] == 300
