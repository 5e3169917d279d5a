"""Which tags publish pushes, and how push failures are named."""
from __future__ import annotations

import pytest

from builder import settings
from builder.errors import UserError
from builder.labels import Git
from builder.publish import classify, tags_for
from tests.conftest import ROOT

CLEAN = Git(revision="0123456789abcdef" * 2 + "01234567", committed="", dirty=False, remote=None)


def loaded(project, tags: str, version: str = "  version: 1.2.0\n"):
    return settings.load(project("ee-builder.yml", f"definition: {ROOT / 'execution-environment.yml'}\n"
                                                   f"image:\n  name: localhost/ee\n{version}"
                                                   f"publish:\n  repository: registry.test/team/ee\n  tags: {tags}\n"))


def test_version_git_and_latest_tags(project):
    assert tags_for(loaded(project, "[version, git, latest]"), CLEAN) == ["1.2.0", "0123456789ab", "latest"]
    dirty = Git(CLEAN.revision, "", dirty=True, remote=None)
    assert tags_for(loaded(project, "[git]"), dirty) == ["0123456789ab-dirty"]


def test_git_tag_outside_a_repository_is_a_clear_error(project):
    with pytest.raises(UserError, match="'git' needs the project in a git repository"):
        tags_for(loaded(project, "[git]"), None)


def test_version_tag_needs_a_version(project):
    with pytest.raises(UserError, match=r"ee-builder.yml:\d+: publish.tags: 'version' needs image.version"):
        loaded(project, "[version]", version="")


@pytest.mark.parametrize("message, cause", [
    ("unauthorized: authentication required", "authentication"),
    ("Get \"https://r:5443/v2/\": x509: certificate signed by unknown authority", "TLS"),
    ("Get \"https://r:5999/v2/\": dial tcp r:5999: connect: connection refused", "network"),
    ("denied: quota exceeded for repository", "quota"),
    ("something else entirely", "unexpected"),
])
def test_push_failures_are_classified(message, cause):
    assert classify(message)[0] == cause
