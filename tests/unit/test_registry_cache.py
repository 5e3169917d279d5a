"""The build cache's pure parts: the wheel key (what wheels depend on), the check of a pulled
wheel record, and the settings that name the cache repository."""
from __future__ import annotations

import pytest

from builder import registry_cache, settings
from builder.build import cache_repository
from builder.engine import Image
from builder.errors import UserError
from tests.helpers import minimal_definition

CONTAINERFILE = """ARG EE_BASE_IMAGE="localhost/debian:bookworm"
ARG PYCMD="/usr/bin/python3"
ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"

FROM $EE_BASE_IMAGE AS base
RUN /usr/local/sbin/ee-apt install -y python3 python3-pip python3-venv ca-certificates
RUN $PYCMD -m pip install --no-cache-dir $ANSIBLE_INSTALL_REFS

FROM base AS builder
COPY _build/requirements.txt requirements.txt
RUN /output/scripts/assemble
"""
REQUIREMENTS = "pykerberos==1.2.4\npywinrm[kerberos]==0.5.0\n"


def base(layers=("sha256:aaa",), **changes) -> Image:
    fields = dict(id="sha256:1", tags=("localhost/debian:bookworm",), size=1, created="2026-12-01", user="",
                  entrypoint=(), cmd=("bash",), labels={}, env=(), layers=layers, platform="linux/amd64")
    return Image(**{**fields, **changes})


def key(containerfile=CONTAINERFILE, requirements=REQUIREMENTS, image=None) -> registry_cache.WheelKey:
    return registry_cache.wheel_key(containerfile, requirements, image or base())


def test_a_base_is_its_layers_not_its_config():
    # Importing the same root filesystem again gives another ID, creation time and labels.
    again = base(id="sha256:2", created="2026-12-05", labels={"x": "y"}, tags=())
    assert key(image=again) == key()
    upgraded = key(image=base(layers=("sha256:aaa", "sha256:bbb")))
    assert upgraded.tag() != key().tag() and upgraded.tag(exact=False) != key().tag(exact=False)
    assert key(image=base(platform="linux/arm64")).base != key().base


def test_the_python_is_pycmd_and_the_base_stage():
    assert key(CONTAINERFILE.replace("/usr/bin/python3", "/usr/bin/python3.12")).python != key().python
    other_stage = CONTAINERFILE.replace("python3-venv", "python3.12-venv")
    assert key(other_stage).python != key().python
    # ansible-core's version is not the interpreter's
    newer_core = CONTAINERFILE.replace("ansible-core==2.19.14", "ansible-core==2.19.15")
    assert key(newer_core) == key()


def test_requirements_change_the_exact_tag_only():
    added = key(requirements=REQUIREMENTS + "jmespath==1.0.1\n")
    assert added.tag() != key().tag()
    assert added.tag(exact=False) == key().tag(exact=False)
    assert key().tag().startswith("wheels-") and key().tag(exact=False).endswith("-any")


@pytest.fixture
def wheels(tmp_path):
    wheel = tmp_path / "wheels" / "ab" / "pykerberos-1.2.4-cp311-cp311-linux_x86_64.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"wheel")
    return tmp_path / "wheels"


def record(wheels, k=None) -> dict:
    return {"format": registry_cache.FORMAT, "key": (k or key()).as_dict(), "files": registry_cache.file_hashes(wheels)}


def test_a_matching_record_is_used(wheels):
    assert registry_cache.problem(record(wheels), key(), exact=True, directory=wheels) is None


def test_another_base_or_python_is_never_used(wheels):
    for other in (key(image=base(layers=("sha256:ccc",))), key(CONTAINERFILE.replace("python3", "python4"))):
        for exact in (True, False):
            assert registry_cache.problem(record(wheels, other), key(), exact, wheels) == \
                "compiled on another base or Python"


def test_other_requirements_only_through_the_any_tag(wheels):
    other = key(requirements="jmespath==1.0.1\n")
    assert "do not match its tag" in registry_cache.problem(record(wheels, other), key(), True, wheels)
    assert registry_cache.problem(record(wheels, other), key(), False, wheels) is None


def test_altered_missing_or_extra_files_are_refused(wheels):
    described = record(wheels)
    (wheels / "ab" / "evil.whl").write_bytes(b"extra")
    assert "do not match the sha256 sums" in registry_cache.problem(described, key(), True, wheels)
    (wheels / "ab" / "evil.whl").unlink()
    next(wheels.rglob("pykerberos*")).write_bytes(b"altered")
    assert "do not match the sha256 sums" in registry_cache.problem(described, key(), True, wheels)
    assert "unknown record format" in registry_cache.problem({**described, "format": 99}, key(), True, wheels)


def load(project, text: str) -> settings.Settings:
    project("execution-environment.yml", minimal_definition())
    return settings.load(project("ee-builder.yml", text))


def test_the_cache_repository_defaults_to_the_published_one(project):
    published = load(project, "publish:\n  repository: registry.example.com/team/awx-ee\n  tags: [latest]\n")
    assert published.cache_repository == "registry.example.com/team/awx-ee-cache"
    named = load(project, "build:\n  cache: registry.example.com/ci/cache\n"
                          "publish:\n  repository: registry.example.com/team/awx-ee\n  tags: [latest]\n")
    assert named.cache_repository == "registry.example.com/ci/cache"


def test_no_cache_repository_is_a_clear_error(project):
    with pytest.raises(UserError) as err:
        cache_repository(load(project, "image:\n  name: localhost/x\n"))
    assert "build.cache: no registry for the build cache" in str(err.value)
    assert "publish.repository" in str(err.value)


def test_a_cache_with_a_tag_is_refused(project):
    project("execution-environment.yml", minimal_definition())
    with pytest.raises(UserError) as err:
        settings.load(project("ee-builder.yml", "build:\n  cache: registry.example.com/ci/cache:latest\n"))
    assert "build.cache" in str(err.value) and "registry/path of the build cache" in str(err.value)


def test_a_stage_taken_from_an_image_keeps_the_others_whole():
    rewritten = registry_cache.stage_from(CONTAINERFILE, "builder", "sha256:0123")
    assert "FROM sha256:0123 AS builder\n" in rewritten
    assert "RUN /output/scripts/assemble" not in rewritten and "COPY _build/requirements.txt" not in rewritten
    assert rewritten.split("FROM sha256:0123")[0] == CONTAINERFILE.split("FROM base AS builder")[0]
    assert registry_cache.stage_from(CONTAINERFILE, "galaxy", "x") == CONTAINERFILE  # no such stage
