import socket

import pytest

from utils import hub


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
