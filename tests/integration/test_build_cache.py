"""The build cache through the local TLS + htpasswd registry (tests/harness/cluster/).

A fresh runner (a second Docker daemon with an empty data root and an empty ee-builder cache,
tests/harness/fresh_docker.py) builds from what a build pushed with --cache-to-registry: every
step but the build's own labels is a cache hit, and the compiled wheels come from the registry.
A cache that is missing, unreachable, refused, compiled elsewhere or altered warns once, is not
used, and never fails the build."""
from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest

from builder import registry_cache
from builder.cache import cache_dir
from builder.engine import Engine
from builder.progress import Progress
from builder.settings import EngineSettings
from tests.harness.cluster.registry import REGISTRY
from tests.harness.fresh_docker import FreshDocker
from tests.helpers import build_image, ee_builder, project_settings, project_with, registry_digest

IMAGE_NAME = "localhost/ee-builder-test-cache"
BASE = "localhost/debian:bookworm"
# The labels a build sets last (org.opencontainers.image.created, revision, title, version): the
# creation time changes every build, so these steps always run; they only write the config.
LABEL_STEPS = 4


def cache_settings(cache: str, engine_url: str | None = None) -> str:
    text = project_settings(IMAGE_NAME).replace("\nbuild:\n", f"\nbuild:\n  cache: {cache}\n")
    if engine_url:
        text = text.replace("\nengine:\n", f"\nengine:\n  url: {engine_url}\n")
    return text


def unique_cache(kind: str) -> str:
    return f"{REGISTRY}/ee-test/{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registry_env(cluster) -> dict[str, str]:
    creds = cluster.registry_credentials
    return {"EE_REGISTRY_USERNAME": creds["username"], "EE_REGISTRY_PASSWORD": creds["password"], "COLUMNS": "200"}


def build(project: Path, *args: str, env: dict[str, str]) -> str:
    result = ee_builder("build", *args, cwd=project, env=env)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    return output


def test_a_fresh_runner_builds_from_the_registry_cache(built, registry_env, tmp_path):
    cache = unique_cache("fresh")
    warm = project_with(tmp_path / "warm", cache_settings(cache))
    output = build(warm, "--cache-to-registry", env=registry_env)
    assert "the gate judges the image before anything is pushed" in output
    assert "the gate's secret scan of the builder stage" in output
    for tag in ("stage-builder", "stage-galaxy", "stage-final"):
        assert f"pushing {cache}:{tag}" in output
    assert re.search(rf"pushing {re.escape(cache)}:wheels-[0-9a-f]{{24}} ", output)

    # The runner's own ee-builder cache has the collections it would download, but no wheels.
    runner_cache = tmp_path / "runner-cache"
    for part in ("collections", "pypi"):
        if (cache_dir() / part).is_dir():
            shutil.copytree(cache_dir() / part, runner_cache / part)
    with FreshDocker() as fresh:
        fresh.load_from_main(BASE)  # as a runner pulls its base: the same image
        project = project_with(tmp_path / "fresh", cache_settings(cache, fresh.url))
        output = build(project, "--cache-from-registry", env={**registry_env, "EE_BUILDER_CACHE": str(runner_cache)})
    found = re.search(r"build finished: (\d+) of (\d+) steps from the layer cache", output)
    cached, steps = int(found.group(1)), int(found.group(2))
    assert steps > 50 and steps - cached <= LABEL_STEPS, output[-3000:]
    assert re.search(r"3 wheel\(s\) reused \(3 from the registry\)", output), output[-3000:]
    assert "3 stage image(s) for the layer cache" in output


def test_an_unreachable_cache_warns_once_and_the_build_goes_on(built, registry_env, tmp_path):
    project = project_with(tmp_path, cache_settings("127.0.0.1:9/ee/cache"))
    output = build(project, "--cache-from-registry", "--cache-to-registry", env=registry_env)
    pulls = re.findall(r"warning: build cache: cannot pull 127\.0\.0\.1:9/ee/cache:\S+ \(network", output)
    assert len(pulls) == 1, output
    assert re.search(r"pushing 127\.0\.0\.1:9/ee/cache:\S+ failed \(network", output), output
    assert "0 from the registry" not in output and "wheel(s) reused" in output


# The wheel image alone, against the registry: round trip, fallback, refusals. -----------------

class Quiet(Progress):
    def __init__(self):
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append(message)


KEY = registry_cache.WheelKey(python="p" * 64, base="b" * 64, requirements="r" * 64)


def fake_wheels(directory: Path, content: bytes = b"compiled") -> Path:
    wheel = directory / "wheels" / "ab" / "cd" / "pykerberos-1.2.4-cp311-cp311-linux_x86_64.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(content)
    (directory / "wheels" / "ab" / "cd" / "origin.json").write_text("{}")
    return directory / "wheels"


def push_forged(engine: Engine, directory: Path, repository: str, tag: str, record: dict, env) -> None:
    """A wheel image with ``record`` (whatever the files hold), pushed as ``repository:tag``."""
    (directory / registry_cache.RECORD).write_text(json.dumps(record))
    (directory / "Containerfile").write_text(f"FROM scratch\nCOPY wheels/ /wheels/\nCOPY {registry_cache.RECORD} /\n")
    build_image(engine, directory, f"{repository}:{tag}")
    auth = {"username": env["EE_REGISTRY_USERNAME"], "password": env["EE_REGISTRY_PASSWORD"]}
    engine.push(repository, tag, auth, lambda event: None)
    engine.remove(f"{repository}:{tag}")


@pytest.fixture(params=["docker", "podman"])
def any_engine(request) -> Engine:
    return Engine(EngineSettings(type=request.param))


def test_wheels_go_through_the_registry_and_a_new_requirement_falls_back(any_engine, cluster, registry_env,
                                                                         tmp_path, monkeypatch):
    for name, value in registry_env.items():
        monkeypatch.setenv(name, value)
    repository = unique_cache(f"wheels-{any_engine.kind}")
    kept = fake_wheels(tmp_path / "built")
    assert registry_cache.save(any_engine, repository, KEY, kept, {}, None, "3.11.2", Quiet()) == []

    restored_into = tmp_path / "runner" / "wheels"
    restored = registry_cache.restore(any_engine, repository, KEY, any_engine.require(BASE), restored_into, Quiet())
    assert restored.wheels == 1 and restored.wheels_tag.endswith(KEY.tag()) and not restored.warnings
    assert registry_cache.file_hashes(restored_into) == registry_cache.file_hashes(kept)

    other_requirements = registry_cache.WheelKey(KEY.python, KEY.base, "s" * 64)
    fallback = registry_cache.restore(any_engine, repository, other_requirements, any_engine.require(BASE),
                                      tmp_path / "other", Quiet())
    assert fallback.wheels == 1 and fallback.wheels_tag.endswith(KEY.tag(exact=False))

    other_base = registry_cache.WheelKey(KEY.python, "c" * 64, KEY.requirements)
    missed = registry_cache.restore(any_engine, repository, other_base, any_engine.require(BASE), tmp_path / "base2",
                                    Quiet())
    assert missed.wheels == 0 and not (tmp_path / "base2").exists()
    assert [w for w in missed.warnings if "no wheels for this base, Python and requirements" in w]


@pytest.mark.parametrize("forgery, reason", [
    ("altered", "the files do not match the sha256 sums in their record"),
    ("other base", "compiled on another base or Python"),
])
def test_wheels_that_do_not_match_are_never_used(engine, cluster, registry_env, tmp_path, monkeypatch,
                                                 forgery, reason):
    for name, value in registry_env.items():
        monkeypatch.setenv(name, value)
    repository = unique_cache("forged")
    wheels = fake_wheels(tmp_path / "artifact")
    record = {"format": registry_cache.FORMAT, "key": KEY.as_dict(), "files": registry_cache.file_hashes(wheels)}
    if forgery == "altered":
        next(wheels.rglob("*.whl")).write_bytes(b"something else")
    else:
        record["key"]["base"] = "d" * 64   # compiled elsewhere, pushed under this base's tag
    push_forged(engine, tmp_path / "artifact", repository, KEY.tag(), record, registry_env)

    kept = tmp_path / "kept"
    restored = registry_cache.restore(engine, repository, KEY, engine.require(BASE), kept, Quiet())
    assert restored.wheels == 0
    assert [w for w in restored.warnings if reason in w], restored.warnings
    assert not list(kept.rglob("*.whl"))


def test_a_wrong_password_is_one_warning(engine, cluster, registry_env, tmp_path, monkeypatch):
    monkeypatch.setenv("EE_REGISTRY_USERNAME", registry_env["EE_REGISTRY_USERNAME"])
    monkeypatch.setenv("EE_REGISTRY_PASSWORD", "not-the-password")
    progress = Quiet()
    restored = registry_cache.restore(engine, unique_cache("auth"), KEY, engine.require(BASE), tmp_path / "kept",
                                      progress)
    assert restored.wheels == 0 and restored.images == []
    assert len(restored.warnings) == 1 and "(authentication" in restored.warnings[0], restored.warnings
    assert len([line for line in progress.lines if line.startswith("warning:")]) == 1


def test_a_stage_image_with_a_secret_is_never_pushed(engine, cluster, registry_env, tmp_path, monkeypatch):
    """The builder stage is not the gated image: it is scanned before it goes to the cache."""
    for name, value in registry_env.items():
        monkeypatch.setenv(name, value)
    secret = "stage-" + uuid.uuid4().hex
    monkeypatch.setenv("PYPI_TOKEN", secret)   # a token the build used, left in a stage's pip.conf
    (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = https://__token__:{secret}@pypi.example.com/simple\n")
    (tmp_path / "Containerfile").write_text(f"FROM {BASE}\nCOPY pip.conf /etc/pip.conf\n")
    leaky = f"localhost/ee-builder-test-leaky-stage:{uuid.uuid4().hex[:8]}"
    build_image(engine, tmp_path, leaky)
    repository = unique_cache("leaky")
    try:
        progress = Quiet()
        warnings = registry_cache.save(engine, repository, KEY, tmp_path / "no-wheels", {"builder": leaky},
                                       engine.require(BASE).id, None, progress)
    finally:
        engine.remove(leaky, force=True)
        engine.remove(f"{repository}:stage-final", prune=False)
    assert [w for w in warnings if w.startswith("the gate found secret material in the builder stage")], warnings
    assert secret not in " ".join(progress.lines + warnings)
    assert registry_digest(cluster, "stage-builder", repository) is None
    assert registry_digest(cluster, "stage-final", repository) is not None
