"""The AWX objects for the published image: the pod spec passes the API server's server-side
dry run; the awx.awx playbook passes ansible-playbook's syntax check with the real collections
(awx.awx and kubernetes.core, cut from the ansible package on PyPI)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from builder import collection_sources
from builder.settings import Collections
from tests.conftest import ROOT

IMAGE = "10.254.254.1:5443/ee/awx-ee-kerberos@sha256:" + "0" * 64


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("awx")
    result = subprocess.run([sys.executable, "-m", "builder.cli", "awx", "objects", "--image", IMAGE, "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out.chmod(0o755)  # the image runs as UID 1000
    return out


def test_pod_spec_and_configmap_pass_server_side_dry_run(cluster, objects):
    namespace = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())["metadata"]["namespace"]
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    for name in ("krb5-configmap.yml", "container-group-pod-spec.yml"):
        manifest = yaml.safe_load((objects / name).read_text())
        if manifest["kind"] == "Pod":
            manifest["metadata"]["name"] = "automation-job-1"  # AWX names the pod at launch
        result = cluster.kubectl("create", "--dry-run=server", "-o", "yaml", "-f", "-", input=yaml.safe_dump(manifest),
                                 check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert yaml.safe_load(result.stdout)["metadata"]["namespace"] == namespace


def test_awx_playbook_passes_syntax_check_with_the_real_collections(engine, built, objects, tmp_path):
    _, artifacts = collection_sources.resolve(Collections(source="pypi"),
                                              {"collections": [{"name": "awx.awx"}, {"name": "kubernetes.core"}]},
                                              lambda message: None)
    mounts = {str(objects): "/runner/awx"}
    mounts.update({str(a.path): f"/runner/collections/{a.path.name}" for a in artifacts})
    script = ("ANSIBLE_COLLECTIONS_PATH=/tmp/collections ansible-galaxy collection install --offline -p /tmp/collections /runner/collections/*.tar.gz >/dev/null"
              " && ANSIBLE_COLLECTIONS_PATH=/tmp/collections ansible-playbook --syntax-check /runner/awx/awx-objects.yml")
    rc, output = engine.run(built.image, ["bash", "-c", script], mounts=mounts, environment={"HOME": "/tmp"})
    assert rc == 0, output
    assert "playbook: /runner/awx/awx-objects.yml" in output
