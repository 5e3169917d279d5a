"""The shipped settings publish nowhere until the user names a registry; the test settings
(`make ci`, the publish tests) publish to the local test registry and are otherwise the same."""
from __future__ import annotations

import shutil

from builder import settings
from tests.helpers import ROOT
from tests.harness.cluster.registry import REGISTRY
from tests.harness.settings import SHIPPED, publishing


def test_shipped_settings_do_not_publish():
    assert settings.load(ROOT / "ee-builder.yml").publish is None


def test_test_settings_publish_to_the_local_registry(tmp_path):
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    shutil.copytree(ROOT / "krb5", tmp_path / "krb5")
    (tmp_path / "ee-builder.yml").write_text(publishing(SHIPPED.read_text()))
    loaded, shipped = settings.load(tmp_path / "ee-builder.yml"), settings.load(SHIPPED)
    assert loaded.publish.repository == f"{REGISTRY}/ee/awx-ee-kerberos"
    assert loaded.publish.tags == ("version", "git")
    assert (loaded.image, loaded.kerberos.default_realm) == (shipped.image, "EXAMPLE.TEST")
