"""The same build through Podman's Docker-compatible socket (started by `make test`)."""
from __future__ import annotations

import json
import subprocess

from builder.engine import Engine
from builder.summary import summarize
from builder.settings import EngineSettings
from tests.helpers import ee_builder, project_settings, project_with

IMAGE = "localhost/ee-builder-test-podman:latest"


def test_build_and_inspect_with_podman(tmp_path, built):
    project = project_with(tmp_path, project_settings("localhost/ee-builder-test-podman"))
    result = ee_builder("build", "--engine", "podman", cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "with podman" in output
    podman = Engine(EngineSettings(type="podman"))
    try:
        summary = summarize(podman, IMAGE)
        assert summary.probe_error is None, summary.probe_error
        assert (summary.ansible_core, summary.ansible_runner) == ("2.19.14", "2.4.3")
        assert summary.winrm_encryption is True and summary.kinit == "/usr/bin/kinit"
        assert summary.uid == 1000
        assert set(summary.collections) == {"ansible.windows", "community.windows", "microsoft.ad"}
        check_isolation_path(project, tmp_path)
    finally:
        podman.remove(IMAGE)


def check_isolation_path(project, tmp_path):
    """The AWX setting `ee-builder krb5 render -f isolation-path` emits, used as an execution node
    uses it: each entry becomes a Podman --volume of the job container."""
    result = ee_builder("krb5", "render", "--format", "isolation-path", cwd=project)
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)["AWX_ISOLATION_SHOW_PATHS"]
    node_conf = tmp_path / "node-krb5.conf"
    node_conf.write_text("[libdefaults]\n    default_realm = NODE.TEST\n")
    volume = entry.replace("/etc/krb5.conf:", f"{node_conf}:", 1)
    # This host's hard limits are below Podman's defaults, hence the explicit ulimits.
    job = subprocess.run(["podman", "run", "--rm", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                          "--volume", volume, IMAGE, "cat", "/etc/krb5.conf"], capture_output=True, text=True)
    assert job.returncode == 0, job.stderr
    assert job.stdout == node_conf.read_text()
