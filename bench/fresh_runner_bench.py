"""The fresh-runner part of `make bench` (bench/build_bench.py says what it measures): builds on
a second Docker daemon with an empty data root (tests/harness/fresh_docker.py) and an empty
ee-builder cache, with the build cache in the local TLS registry (tests/harness/cluster/)."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

from bench.build_bench import ADDED_PACKAGE, plain_build, timed, with_package
from builder import build as build_job
from builder.cache import cache_dir
from builder.engine import Engine
from builder.report import Reporter
from builder.settings import EngineSettings
from tests.harness.cluster import Cluster
from tests.harness.cluster.registry import REGISTRY
from tests.harness.fresh_docker import FreshDocker
from tests.helpers import build_image

UPGRADED_BASE = "localhost/debian:bookworm-bench-upgraded"


@contextlib.contextmanager
def fresh_runner(base: str):
    """A fresh engine with ``base`` loaded (as a runner pulls it), and an empty ee-builder cache
    but for the collections a runner would download (both sides get them)."""
    before = os.environ.get("EE_BUILDER_CACHE")
    with FreshDocker() as fresh, tempfile.TemporaryDirectory(prefix="ee-bench-runner-") as runner:
        fresh.load_from_main(base)
        for part in ("collections", "pypi"):
            if (cache_dir() / part).is_dir():
                shutil.copytree(cache_dir() / part, Path(runner) / part)
        os.environ["EE_BUILDER_CACHE"] = runner
        try:
            yield fresh
        finally:
            if before is None:
                os.environ.pop("EE_BUILDER_CACHE", None)
            else:
                os.environ["EE_BUILDER_CACHE"] = before


def fresh_build(label: str, settings, reporter: Reporter, cache_from: bool) -> tuple[float, dict]:
    with fresh_runner(settings.base.image) as fresh:
        on_runner = replace(settings, engine=EngineSettings(type="docker", url=fresh.url))
        took, summary = timed(label, reporter, lambda: build_job.build(on_runner, Engine(on_runner.engine), reporter,
                                                                       cache_from_registry=cache_from))
    reporter.say(f"[bench] {label}: {summary.from_cache}")
    return took, summary.build_cache


def fresh_rows(settings, engine: Engine, reporter: Reporter) -> list[tuple]:
    cluster = Cluster()
    cluster.up()
    creds = cluster.registry_credentials
    os.environ["EE_REGISTRY_USERNAME"], os.environ["EE_REGISTRY_PASSWORD"] = creds["username"], creds["password"]
    cached = replace(settings, build=replace(settings.build, cache=f"{REGISTRY}/ee-bench/cache-{uuid.uuid4().hex[:8]}"))

    # The cache as CI leaves it: pushed by a build that seeded the wheels it pushes (the second
    # build on a machine, or any CI run after the first).
    _, summary = timed("main engine: build, gate and push the build cache", reporter,
                       lambda: build_job.build(cached, engine, reporter, cache_to_registry=True))
    if summary.build_cache["wheels_seeded"] == 0:
        timed("main engine: again, now seeding the wheels it compiled", reporter,
              lambda: build_job.build(cached, engine, reporter, cache_to_registry=True))

    # Cold against plain ansible-builder twice, in the order A B B A, so that a drift of the
    # mirrors' or the machine's speed during the run weighs on both sides alike.
    colds, plains = [], []
    for side in ("ee-builder", "plain", "plain", "ee-builder"):
        if side == "ee-builder":
            colds.append(fresh_build("fresh runner: ee-builder build, cold", settings, reporter, cache_from=False)[0])
            continue
        with fresh_runner(settings.base.image) as fresh:
            prepared = build_job.prepare(settings, reporter, cold=True)
            plains.append(timed("fresh runner: plain ansible-builder build", reporter,
                                lambda: plain_build(prepared, docker_host=fresh.url))[0])
    cold, plain = sum(colds) / 2, sum(plains) / 2
    reporter.say(f"[bench] fresh runner cold: ee-builder {colds[0]:.1f}s, {colds[1]:.1f}s; "
                 f"plain ansible-builder {plains[0]:.1f}s, {plains[1]:.1f}s")
    hit, _ = fresh_build("fresh runner: --cache-from-registry, unchanged", cached, reporter, cache_from=True)
    package, _ = fresh_build(f"fresh runner: --cache-from-registry, {ADDED_PACKAGE} added",
                          with_package(cached, ADDED_PACKAGE), reporter, cache_from=True)

    with tempfile.TemporaryDirectory(prefix="ee-bench-base-") as context:
        (Path(context) / "Containerfile").write_text(
            f"FROM {settings.base.image}\nRUN echo 'a point release' > /etc/ee-bench-base-upgrade\n")
        build_image(engine, Path(context), UPGRADED_BASE)
    upgraded = replace(cached, base=replace(cached.base, image=UPGRADED_BASE))
    new_base, from_cache = fresh_build("fresh runner: --cache-from-registry, new base digest", upgraded, reporter,
                                       cache_from=True)
    engine.remove(UPGRADED_BASE)
    if from_cache["wheels_from_registry"]:
        raise SystemExit("bench: wheels compiled on the old base were reused on the new one")
    return [
        ("fresh, cache, unchanged (s)", hit, cold, "fresh runner cold", 0.15),
        ("fresh, cache, +1 package (s)", package, cold, "fresh runner cold", 0.35),
        ("fresh, cache, new base (s)", new_base, cold, "fresh runner cold", None),
        ("fresh cold, mean of 2 (s)", cold, plain, "plain ansible-builder, fresh runner", 1.0),
    ]
