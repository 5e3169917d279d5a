"""The same build through Podman's Docker-compatible socket (started by `make test`)."""
from __future__ import annotations

from builder.engine import Engine
from builder.inspect import inspect
from builder.settings import Engine as EngineSettings
from tests.integration.conftest import ee_builder, project_settings, project_with

IMAGE = "localhost/ee-builder-test-podman:latest"


def test_build_and_inspect_with_podman(tmp_path, built):
    project = project_with(tmp_path, project_settings("localhost/ee-builder-test-podman"))
    result = ee_builder("build", "--engine", "podman", cwd=project, timeout=3000)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "with podman" in output
    podman = Engine(EngineSettings(type="podman"))
    try:
        summary = inspect(podman, IMAGE)
        assert summary.probe_error is None, summary.probe_error
        assert (summary.ansible_core, summary.ansible_runner) == ("2.19.14", "2.4.3")
        assert summary.winrm_encryption is True and summary.kinit == "/usr/bin/kinit"
        assert summary.uid == 1000
        assert set(summary.collections) == {"ansible.windows", "community.windows", "microsoft.ad"}
    finally:
        podman.client.images.remove(IMAGE)
