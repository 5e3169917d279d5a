"""The main job: compose the definition, write ``context/``, make sure the base exists, build
through the engine, tag on success only, and summarise what the image holds."""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import base_image, collection_sources, compose, gate, labels, registry_cache, sysdeps
from .cache import cache_dir
from .features import FEATURES, wheel_cache as wheel_cache_feature
from .engine import Engine
from .build_stream import BuildResult
from .errors import BuildFailed, UserError
from .summary import Summary, summarize
from .report import Reporter
from .settings import Settings


@dataclass
class Prepared:
    composed: compose.Composed
    context: Path
    containerfile: Path


def wheel_cache(settings: Settings) -> Path:
    """Where wheels built on this base are kept between builds (they are specific to its libraries)."""
    key = hashlib.sha256(f"{settings.base.image} {settings.base.family}".encode()).hexdigest()[:16]
    return cache_dir() / "wheels" / key


def prepare(settings: Settings, reporter: Reporter, context: Path | None = None, cold: bool = False) -> Prepared:
    """Compose and run ``ansible-builder create``; nothing touches the engine. ``cold`` leaves out
    the wheels of earlier builds."""
    context = context or settings.root / "context"
    staging = (settings.root / ".ee-builder").resolve()
    _, artifacts = collection_sources.resolve(
        settings.collections, settings.definition.galaxy_requirements(), reporter)
    kept = wheel_cache(settings)
    wheels = kept if not cold and kept.is_dir() else None
    composed = compose.compose(settings, staging, artifacts, wheels)
    compose.write(composed, staging)
    containerfile = compose.create_context(composed.path, context)
    packages = sysdeps.resolve((context / "_build" / "bindep.txt").read_text(), settings.base.family)
    reporter.say(f"context written to {context} (definition: {composed.path})")
    reporter.say(f"system packages for {settings.base.family}: runtime {' '.join(packages['runtime']) or '-'}; "
                 f"build only {' '.join(packages['compile']) or '-'}")
    return Prepared(composed, context, containerfile)


def build(settings: Settings, engine: Engine, reporter: Reporter, nocache: bool = False,
          cache_from_registry: bool = False, cache_to_registry: bool = False) -> Summary:
    """``nocache``: a cold build, ignoring both the engine's layer cache and kept wheels.
    ``cache_from_registry``/``cache_to_registry``: pull the build cache before, push it after the
    gate passed the image (``registry_cache``)."""
    repository = cache_repository(settings) if cache_from_registry or cache_to_registry else None
    pulling = registry_cache.Restore(engine, repository, reporter) if repository and cache_from_registry \
        and not nocache else None  # the stage images pull while the context is composed
    how = base_image.ensure(engine, settings.base, reporter)
    reporter.say(f"base image {settings.base.image}: {how}")
    prepared = prepare(settings, reporter, cold=nocache)
    key = restored = None
    if repository:
        base = engine.require(settings.base.image)
        key = registry_cache.wheel_key(prepared.containerfile.read_text(),
                                       (prepared.context / "_build" / "requirements.txt").read_text(), base)
    if pulling:
        if pulling.wheels(key, wheel_cache(settings)).wheels:
            prepared = prepare(settings, reporter)  # now seeding them
        restored = pulling.finish(base)
    kept = wheel_cache(settings)
    seeded = sum(1 for _ in kept.rglob("*.whl")) if not nocache and kept.is_dir() else 0
    reporter.say(f"building {', '.join(settings.image.refs)} with {engine.kind}")
    reporter.start_build()
    image_labels = labels.oci_labels(settings, labels.git_facts(settings.root), datetime.datetime.now(datetime.timezone.utc))
    try:
        if restored and any(ref.endswith(":stage-final") for ref in restored.images):
            result = build_from_layer_cache(engine, prepared, restored.images, image_labels, reporter)
        else:
            result = engine.build(prepared.context, prepared.containerfile.name, prepared.composed.build_args,
                                  image_labels, nocache, reporter.event)
    except BuildFailed as failure:
        reporter.failure(failure.step, failure.tail)
        raise
    reporter.build_done(result)
    keep_wheels(settings, engine, result.stages.get("builder"), reporter)
    summary = summarize(engine, result.image_id)
    failed = [check.detail for feature in FEATURES if feature.applies(settings)
              for check in feature.image_checks(summary) if not check.ok]
    if failed:
        raise BuildFailed(f"image {result.image_id[:19]} was built but not tagged, because jobs would fail "
                          f"from it:\n  " + "\n  ".join(failed))
    engine.tag(result.image_id, settings.image.refs)
    summary.image, summary.tags = settings.image.refs[0], list(engine.image(result.image_id).tags)
    summary.build_cache = {"steps": result.steps, "steps_cached": result.cached, "wheels_seeded": seeded,
                           "wheels_from_registry": restored.wheels if restored else 0}
    if repository and cache_to_registry:
        push_cache(settings, engine, reporter, repository, key, result, summary)
    return summary


def build_from_layer_cache(engine: Engine, prepared: Prepared, images: list[str], image_labels: dict[str, str],
                           reporter: Reporter) -> BuildResult:
    """The build, with the stage images pulled from the registry cache as Docker's cache_from.

    Docker's classic builder takes layers from one cache_from image per build: after its first hit
    it ignores the others, so in one build of the whole Containerfile only one stage's steps could
    come from the cache. So each stage is built on its own, up to that stage (``target``), from its
    own image (without one, from the gated image, for the base stage's layers); the next builds
    take that result as the stage (``registry_cache.stage_from``) instead of building it again.
    The image is the same as one build's: each stage is built from the same Containerfile, context
    and arguments."""
    by_stage = {ref.rsplit(":stage-", 1)[1]: ref for ref in images}
    containerfile = prepared.containerfile.read_text()
    staged = prepared.context / "Containerfile.staged"
    steps = cached = 0
    for stage in registry_cache.STAGES:
        staged.write_text(containerfile)
        result = engine.build(prepared.context, staged.name, prepared.composed.build_args, {}, False, reporter.event,
                              cache_from=[by_stage.get(stage, by_stage["final"])], target=stage)
        reporter.build_done(result, f"{stage} stage")
        steps, cached = steps + result.steps, cached + result.cached
        containerfile = registry_cache.stage_from(containerfile, stage, result.image_id)
    staged.write_text(containerfile)
    result = engine.build(prepared.context, staged.name, prepared.composed.build_args, image_labels, False,
                          reporter.event, cache_from=[by_stage["final"]])
    return dataclasses.replace(result, steps=steps + result.steps, cached=cached + result.cached)


def cache_repository(settings: Settings) -> str:
    if settings.cache_repository is None:
        raise UserError(f"{settings.path}: build.cache: no registry for the build cache. Expected build.cache "
                        f"(e.g. registry.example.com/team/awx-ee-cache) or publish.repository, whose "
                        f"<repository>-cache is the default.")
    return settings.cache_repository


def push_cache(settings: Settings, engine: Engine, reporter: Reporter, repository: str,
               key: registry_cache.WheelKey, result: BuildResult, summary: Summary) -> None:
    """The cache goes to the registry only for an image the gate passes, as publishing would."""
    reporter.say("build cache: the gate judges the image before anything is pushed")
    verdict = gate.judge(engine, result.image_id)
    if not verdict.ok:
        refused = [name for name, ok, _ in verdict.checks if not ok]
        reporter.say(f"warning: build cache not pushed: the gate refuses the image ({', '.join(refused)}; "
                     f"`ee-builder check` shows why)")
        return
    registry_cache.save(engine, repository, key, wheel_cache(settings), result.stages, result.image_id,
                        summary.python, reporter)


def keep_wheels(settings: Settings, engine: Engine, builder_stage: str | None, reporter: Reporter) -> None:
    """Save the wheels this build's builder stage compiled, for the next build."""
    if builder_stage is None:
        reporter.say("the engine did not name the builder stage's image; no wheels kept for later builds")
        return
    target = wheel_cache(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not engine.copy_out(builder_stage, wheel_cache_feature.PIP_WHEELS.rstrip("/"), target):
        target.mkdir(exist_ok=True)
    count = sum(1 for _ in target.rglob("*.whl"))
    reporter.say(f"kept {count} locally built wheel(s) in {target} for later builds")
