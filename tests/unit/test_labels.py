"""OCI labels from settings and git."""
from __future__ import annotations

import datetime

from builder import settings
from builder.labels import Git, oci_labels
from tests.helpers import ROOT

NOW = datetime.datetime(2026, 11, 29, 12, 0, 0, 123, tzinfo=datetime.timezone.utc)
GIT = Git(revision="a" * 40, committed="2026-11-28T10:00:00+00:00", dirty=False, remote="https://git.example/ee.git")


def loaded(project, image: str):
    return settings.load(project("ee-builder.yml", f"definition: {ROOT / 'execution-environment.yml'}\n{image}"))


def test_labels_from_settings_and_a_clean_commit(project):
    labels = oci_labels(loaded(project, "image:\n  name: registry.example/team/awx-ee\n  version: 1.4.0\n"), GIT, NOW)
    assert labels == {
        "org.opencontainers.image.title": "awx-ee",
        "org.opencontainers.image.version": "1.4.0",
        "org.opencontainers.image.source": "https://git.example/ee.git",
        "org.opencontainers.image.revision": "a" * 40,
        "org.opencontainers.image.created": "2026-11-28T10:00:00+00:00",  # the commit's, so rebuilds match
    }


def test_dirty_tree_is_marked_and_dated_now(project):
    dirty = Git(GIT.revision, GIT.committed, dirty=True, remote=None)
    labels = oci_labels(loaded(project, "image:\n  source: https://src.example/ee\n"), dirty, NOW)
    assert labels["org.opencontainers.image.revision"].endswith("-dirty")
    assert labels["org.opencontainers.image.created"] == "2026-11-29T12:00:00+00:00"
    assert labels["org.opencontainers.image.source"] == "https://src.example/ee"
    assert "org.opencontainers.image.version" not in labels


def test_user_labels_win_and_no_git_is_fine(project):
    labels = oci_labels(loaded(project, "image:\n  labels: {org.opencontainers.image.title: mine}\n"), None, NOW)
    assert labels["org.opencontainers.image.title"] == "mine"
    assert "org.opencontainers.image.revision" not in labels
