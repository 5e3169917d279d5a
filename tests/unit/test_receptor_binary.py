"""Which receptor ee-builder runs on this host, and the message when there is none."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder import receptor_binary, settings
from builder.errors import UserError
from tests.harness.receptor.node import STAND_IN
from tests.helpers import ROOT


def executable(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho v{version}\n")
    path.chmod(0o755)
    return path


def loaded(tmp_path: Path, receptor: str = "") -> settings.Settings:
    (tmp_path / "ee-builder.yml").write_text(f"definition: {ROOT / 'execution-environment.yml'}\n"
                                             + (f"receptor:\n{receptor}" if receptor else ""))
    return settings.load(tmp_path / "ee-builder.yml")


@pytest.fixture
def no_receptor_on_path(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
    assert receptor_binary.shutil.which("receptor") is None


def test_none_found_says_where_to_get_one(tmp_path, no_receptor_on_path):
    with pytest.raises(UserError) as err:
        receptor_binary.locate(loaded(tmp_path), "check a node config")
    message = str(err.value)
    assert message.startswith("no receptor binary found: ee-builder needs one on this host to check a node config.")
    for where in ("receptor.binary in ee-builder.yml", "`receptor` on PATH", "receptor.source: image|file",
                  "quay.io/ansible/receptor"):
        assert where in message


def test_settings_path_first_then_path_then_the_image_file(tmp_path, no_receptor_on_path, monkeypatch):
    pinned = executable(tmp_path / "bin" / "receptor", "1.6.9")
    on_path = executable(tmp_path / "path-bin" / "receptor", "1.6.8")
    from_settings = loaded(tmp_path, "  binary: bin/receptor\n")
    assert receptor_binary.locate(from_settings, "x") == pinned.resolve()
    assert receptor_binary.version(pinned) == "1.6.9"
    monkeypatch.setenv("PATH", f"{on_path.parent}:{os.environ['PATH']}")
    (tmp_path / "plain").mkdir()
    assert receptor_binary.locate(loaded(tmp_path / "plain"), "x") == on_path
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with_file = loaded(tmp_path, "  source: file\n  version: 1.6.9\n  file: bin/receptor\n")
    assert receptor_binary.locate(with_file, "x") == pinned.resolve()


def test_a_binary_that_is_not_executable_is_named(tmp_path, no_receptor_on_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "receptor").write_text("not a program")
    with pytest.raises(UserError, match=r"receptor.binary: .*bin/receptor is not an executable file"):
        receptor_binary.locate(loaded(tmp_path, "  binary: bin/receptor\n"), "x")


def test_the_stand_in_is_never_taken_for_receptor(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STAND_IN.parent}:/usr/bin:/bin")
    with pytest.raises(UserError, match="the test suite's receptor stand-in, which ee-builder never runs"):
        receptor_binary.locate(loaded(tmp_path), "x")


def test_check_without_a_receptor_stops_before_writing(tmp_path, no_receptor_on_path):
    from tests.helpers import ee_builder
    result = ee_builder("receptor", "config", "--role", "hop", "--node-id", "hop1", "--mesh", str(tmp_path / "mesh"),
                        "--check", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no receptor binary found: ee-builder needs one on this host to check the bundle (--check)" in result.stderr
    assert not (tmp_path / "mesh").exists()
