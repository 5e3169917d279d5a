"""The main job: compose the definition, write ``context/``, make sure the base exists, build
through the engine, tag on success only, and summarise what the image holds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import base_image, collection_sources, compose, sysdeps
from .engine import Engine
from .errors import BuildFailed
from .inspect import Summary, inspect
from .report import Reporter
from .settings import Settings


@dataclass
class Prepared:
    composed: compose.Composed
    context: Path
    containerfile: Path
    collections_source: str
    packages: dict[str, list[str]]


def prepare(settings: Settings, reporter: Reporter, context: Path | None = None) -> Prepared:
    """Compose and run ``ansible-builder create``; nothing touches the engine."""
    context = context or settings.root / "context"
    staging = (settings.root / ".ee-builder").resolve()
    source, artifacts = collection_sources.resolve(
        settings.collections, settings.definition.galaxy_requirements(), reporter.say)
    composed = compose.compose(settings, staging, artifacts)
    compose.write(composed, staging)
    containerfile = compose.create_context(composed.path, context)
    packages = sysdeps.resolve((context / "_build" / "bindep.txt").read_text(), settings.base.family)
    reporter.say(f"context written to {context} (definition: {composed.path})")
    reporter.say(f"system packages for {settings.base.family}: runtime {' '.join(packages['runtime']) or '-'}; "
                 f"build only {' '.join(packages['compile']) or '-'}")
    return Prepared(composed, context, containerfile, source, packages)


def build(settings: Settings, engine: Engine, reporter: Reporter, nocache: bool = False,
          prepared: Prepared | None = None) -> Summary:
    prepared = prepared or prepare(settings, reporter)
    how = base_image.ensure(engine, settings.base, reporter.say)
    reporter.say(f"base image {settings.base.image}: {how}")
    reporter.say(f"building {', '.join(settings.image.refs)} with {engine.kind}")
    try:
        image_id = engine.build(prepared.context, prepared.containerfile.name, prepared.composed.build_args,
                                settings.image.labels, nocache, reporter.event)
    except BuildFailed as failure:
        reporter.failure(failure.step, failure.tail)
        raise
    reporter.build_done()
    engine.tag(image_id, settings.image.refs)
    return inspect(engine, settings.image.refs[0])
