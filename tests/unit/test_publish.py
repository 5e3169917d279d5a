"""Which tags publish pushes, and how push failures are named."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from builder import publish as publish_module, settings
from builder.errors import UserError
from builder.labels import Git
from builder.publish import classify, tags_for
from tests.helpers import ROOT

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


class FakeEngine:
    """Tags by reference; ``push`` fails for the tags in ``failing``."""
    kind = "docker"

    def __init__(self, tags: dict[str, str], failing: set[str]):
        self.tags, self.failing = dict(tags), failing

    def image(self, ref):
        return SimpleNamespace(id=self.tags[ref]) if ref in self.tags else None

    def tag(self, image_id, refs):
        self.tags.update(dict.fromkeys(refs, image_id))

    def retag(self, ref, image_id):
        if image_id is None:
            del self.tags[ref]
        else:
            self.tags[ref] = image_id

    def push(self, repository, tag, auth, progress):
        if tag in self.failing:
            raise UserError("unauthorized: authentication required")
        return "sha256:" + "1" * 64


REPORTER = SimpleNamespace(say=lambda message: None, verdict=lambda verdict: None, push_progress=lambda event: None)


@pytest.fixture
def gate_passes(monkeypatch):
    monkeypatch.setattr(publish_module.gate, "judge", lambda engine, image: SimpleNamespace(ok=True))


@pytest.mark.parametrize("before", [None, "sha256:other", "sha256:built"])
def test_failed_push_leaves_the_local_tag_as_it_was(project, gate_passes, before):
    engine = FakeEngine({"localhost/ee:latest": "sha256:built"}, failing={"1.2.0"})
    if before:
        engine.tags["registry.test/team/ee:1.2.0"] = before
    expected = dict(engine.tags)
    with pytest.raises(UserError, match=r"push of registry.test/team/ee:1.2.0 failed \(authentication\).*"
                                        r"Tags already in the registry are unchanged\.$"):
        publish_module.publish(loaded(project, "[version]"), engine, REPORTER)
    assert engine.tags == expected


def test_failed_push_keeps_and_names_the_tags_this_run_pushed_before(project, gate_passes):
    engine = FakeEngine({"localhost/ee:latest": "sha256:built"}, failing={"1.2.0"})
    with pytest.raises(UserError, match=r"unchanged, except registry.test/team/ee:latest, pushed by this run"):
        publish_module.publish(loaded(project, "[latest, version]"), engine, REPORTER)
    assert engine.tags == {"localhost/ee:latest": "sha256:built", "registry.test/team/ee:latest": "sha256:built"}


def test_a_tag_that_cannot_be_put_back_is_named_with_the_command_to_do_it(project, gate_passes):
    engine = FakeEngine({"localhost/ee:latest": "sha256:built"}, failing={"1.2.0"})

    def refuse(ref, image_id):
        raise UserError("conflict: unable to remove repository reference")
    engine.retag = refuse
    with pytest.raises(UserError, match=r"The local tag registry.test/team/ee:1.2.0 could not be put back "
                                        r"\(conflict: .*\): run `docker rmi registry.test/team/ee:1.2.0`"):
        publish_module.publish(loaded(project, "[version]"), engine, REPORTER)
