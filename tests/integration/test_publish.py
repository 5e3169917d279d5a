"""Publishing to the local TLS + htpasswd registry (tests/harness/cluster/): the pushed digest pulls back
as the same image with its labels and manifest; wrong password, untrusted TLS and a registry that
does not answer each fail clearly and leave published tags, and the local ones, where they were;
the gate stops a leaky image before any push."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid

import pytest

from tests.harness.cluster.registry import DOCKER_CERTS, REGISTRY
from tests.helpers import REPOSITORY, project_with, publish, registry_digest, settings_for

@pytest.fixture(scope="module")
def published(cluster, built, tmp_path_factory):
    version = f"t{uuid.uuid4().hex[:8]}"
    project = project_with(tmp_path_factory.mktemp("publish"), settings_for(built.image, version))
    result = publish(project, cluster=cluster)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((project / ".ee-builder" / "published.json").read_text())
    return project, version, record, result.stdout


def test_push_records_the_digest_the_registry_serves(cluster, published):
    _, version, record, output = published
    assert record["tags"] == [version] and record["digest"].startswith("sha256:")
    assert f"pushed {REPOSITORY}@{record['digest']}" in " ".join(output.split())
    assert registry_digest(cluster, version) == record["digest"]


def test_pulled_back_by_digest_it_is_the_same_image(cluster, published, engine, built):
    _, _, record, _ = published
    ref = f"{REPOSITORY}@{record['digest']}"
    local = engine.image(built.image)
    engine.remove(f"{REPOSITORY}:{record['tags'][0]}")  # so the pull really fetches
    assert engine.pull(ref, auth={"username": cluster.registry_credentials["username"],
                                  "password": cluster.registry_credentials["password"]}) is None
    pulled = engine.image(ref)
    assert pulled.id == local.id  # same config digest: same layers, labels and manifest
    labels = pulled.labels
    assert labels["org.opencontainers.image.title"] == "awx-ee-kerberos" and "org.opencontainers.image.created" in labels
    rc, out = engine.run(ref, ["cat", "/usr/share/ee-builder/manifest.json"])
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["ansible_core"] == "2.19.14"


def failed_push(project, cluster, expected: str, **kwargs) -> str:
    result = publish(project, cluster=cluster, **kwargs)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert expected in output, output
    assert "Tags already in the registry are unchanged" in output
    return output


def test_wrong_password_leaves_the_published_tag_and_the_local_one(cluster, published, engine, tmp_path):
    project, version, record, _ = published
    ref = f"{REPOSITORY}:{version}"
    # The local tag names another image before this publish: it must name that one afterwards.
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("other")
        info.size = len(version)
        tar.addfile(info, io.BytesIO(version.encode()))
    engine.import_rootfs(rootfs, ref, changes=[])
    other = engine.image(ref).id
    try:
        failed_push(project, cluster, "failed (authentication)", password="not-the-password")
        assert engine.image(ref).id == other
    finally:
        engine.remove(other, force=True)
    assert registry_digest(cluster, version) == record["digest"]


def test_untrusted_tls_leaves_the_published_tag(cluster, published, tmp_path):
    project, version, record, _ = published
    away = tmp_path / "certs"
    shutil.move(DOCKER_CERTS, away)
    try:
        failed_push(project, cluster, "failed (TLS)")
    finally:
        shutil.move(away, DOCKER_CERTS)
    assert registry_digest(cluster, version) == record["digest"]


def test_registry_not_answering_leaves_no_local_tag(cluster, published, built, engine, tmp_path):
    repository = f"{REGISTRY.split(':')[0]}:5999/test/x"
    version = f"down{uuid.uuid4().hex[:6]}"  # a tag no earlier run left behind
    project = project_with(tmp_path, settings_for(built.image, version, repository=repository))
    failed_push(project, cluster, "failed (network)")
    assert engine.image(f"{repository}:{version}") is None  # publish tagged it to push it; nothing pushed, so gone


def test_dry_run_pushes_nothing(cluster, built, tmp_path):
    version = f"dry{uuid.uuid4().hex[:6]}"
    project = project_with(tmp_path, settings_for(built.image, version))
    result = publish(project, "--dry-run", cluster=cluster)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"would push 1 tag(s): {REPOSITORY}:{version}" in " ".join(result.stdout.split())
    assert registry_digest(cluster, version) is None
