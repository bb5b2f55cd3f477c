"""The command line's configuration: the environment first, then the config file; a missing
or broken one is a one-line error with its exit code (no server needed)."""

from __future__ import annotations

import pytest

from workroom_cli import client


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "workroom").mkdir()
    (tmp_path / "workroom" / "config.toml").write_text(
        'url = "https://file.example/"\ntoken = "wr_file_x"\n'
    )
    assert client.load_config({}) == client.Config("https://file.example", "wr_file_x")
    assert client.load_config(
        {"WORKROOM_URL": "http://env", "WORKROOM_TOKEN": "wr_env_y"}
    ) == client.Config("http://env", "wr_env_y")


def test_missing_or_broken_config_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(client.CliError) as missing:
        client.load_config({})
    assert missing.value.code == client.DENIED
    assert "WORKROOM_TOKEN" in missing.value.message
    (tmp_path / "workroom").mkdir()
    (tmp_path / "workroom" / "config.toml").write_text("url = [")
    with pytest.raises(client.CliError) as broken:
        client.load_config({})
    assert broken.value.code == client.INVALID
