"""The main job: compose the definition, write ``context/``, make sure the base exists, build
through the engine, tag on success only, and summarise what the image holds."""
from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import base_image, collection_sources, compose, labels, sysdeps
from .cache import cache_dir
from .features import FEATURES, wheel_cache as wheel_cache_feature
from .engine import Engine
from .errors import BuildFailed
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


def build(settings: Settings, engine: Engine, reporter: Reporter, nocache: bool = False) -> Summary:
    """``nocache``: a cold build, ignoring both the engine's layer cache and kept wheels."""
    prepared = prepare(settings, reporter, cold=nocache)
    how = base_image.ensure(engine, settings.base, reporter)
    reporter.say(f"base image {settings.base.image}: {how}")
    reporter.say(f"building {', '.join(settings.image.refs)} with {engine.kind}")
    reporter.start_build()
    image_labels = labels.oci_labels(settings, labels.git_facts(settings.root), datetime.datetime.now(datetime.timezone.utc))
    try:
        result = engine.build(prepared.context, prepared.containerfile.name, prepared.composed.build_args,
                              image_labels, nocache, reporter.event)
    except BuildFailed as failure:
        reporter.failure(failure.step, failure.tail)
        raise
    reporter.build_done()
    keep_wheels(settings, engine, result.stages.get("builder"), reporter)
    summary = summarize(engine, result.image_id)
    failed = [check.detail for feature in FEATURES if feature.applies(settings)
              for check in feature.image_checks(summary) if not check.ok]
    if failed:
        raise BuildFailed(f"image {result.image_id[:19]} was built but not tagged, because jobs would fail "
                          f"from it:\n  " + "\n  ".join(failed))
    engine.tag(result.image_id, settings.image.refs)
    summary.image, summary.tags = settings.image.refs[0], list(engine.image(result.image_id).tags)
    return summary


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
