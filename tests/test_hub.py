import importlib
import importlib.util
import re
import socket

import pytest

from utils import REPO_ROOT, hub


def _no_network(*args, **kwargs):
    raise AssertionError("the network was touched")


def test_offline_flag_fails_fast_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", _no_network)
    with pytest.raises(hub.HubUnavailableError, match="HF_HUB_OFFLINE") as error:
        hub.ensure_reachable("ag_news")
    assert "load_bbc_news()" in str(error.value)
    assert "'ag_news'" in str(error.value)


@pytest.mark.parametrize("value", ["0", "", "false"])
def test_unreachable_endpoint_gives_the_offline_hint(monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")

    def refuse(address, timeout):
        assert address == ("hub.example.invalid", 443)
        assert timeout <= 5
        raise OSError("Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(hub.HubUnavailableError, match=r"cannot be reached.*load_squad"):
        hub.ensure_reachable("squad")


def test_every_default_the_offline_hint_names_exists():
    """A plain clone with the pinned environment has every function, folder and package the hint names."""
    for dotted in re.findall(r"utils\.\w+\.\w+(?=\(\))", hub.OFFLINE_HINT):
        module, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), dotted
    for folder in re.findall(r"data/[\w-]+/", hub.OFFLINE_HINT):
        assert any((REPO_ROOT / folder).glob("*.json")), folder
    for package in re.findall(r"the installed ([\w-]+) package", hub.OFFLINE_HINT):
        assert importlib.util.find_spec(package.replace("-", "_")) is not None, package
    assert "utils.models" in hub.OFFLINE_HINT and importlib.import_module("utils.models")
