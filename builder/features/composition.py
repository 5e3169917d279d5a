"""What features work with: the ``Composition`` they add to, the ``Inputs`` they compose from,
and the ``Feature`` base class each feature module's ``FEATURE`` is made from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..collection_sources import Artifact
    from ..definition import Definition
    from ..summary import Summary
    from ..settings import Settings

STAGES = ("base", "galaxy", "builder", "final")


class Composition:
    """Accumulates what features add around the user's definition.

    Feature steps are placed before the user's ``prepend_*`` steps and after the user's
    ``append_*`` steps, in the order features are applied, so set-up (trust, package front) runs
    first and clean-up (apt lists, build-only CAs) runs last.
    """

    def __init__(self, staging: Path):
        self.staging = staging
        self.prepend: dict[str, list[str]] = {stage: [] for stage in STAGES}
        self.append: dict[str, list[str]] = {stage: [] for stage in STAGES}
        self.generated: dict[Path, bytes] = {}
        self.build_files: list[dict[str, str]] = []
        self.options: dict[str, Any] = {}
        self.build_arg_defaults: dict[str, str] = {}
        self.build_args: dict[str, str] = {}
        self.dependencies: dict[str, Any] = {}
        self.system: list[str] = []  # bindep lines added to the user's dependencies.system
        self.python: list[str] = []  # requirements added to the user's dependencies.python

    def add_file(self, dest: str, name: str, content: bytes) -> str:
        """Stage generated ``content``; return its path inside the build context (``_build/...``)."""
        src = self.staging / "files" / dest / name
        self.generated[src] = content
        return self.add_existing(dest, src)

    def add_existing(self, dest: str, src: Path) -> str:
        self.build_files.append({"src": str(src), "dest": dest})
        return f"_build/{dest}/{src.name}"

    def add_directory(self, dest: str, src: Path) -> None:
        """The contents of ``src`` land in ``_build/<dest>/`` (ansible-builder copies directories so)."""
        self.build_files.append({"src": str(src), "dest": dest})


@dataclass(frozen=True)
class Inputs:
    """What a build composes from: the settings, and what the build found on this host."""

    settings: Settings
    collections: list[Artifact] | None = None  # local artifacts to install offline; None: Galaxy supplies them
    wheels: Path | None = None                 # wheels kept from earlier builds; None: a cold build


class ImageCheck(NamedTuple):
    name: str
    ok: bool
    detail: str


class Feature:
    """One thing composed around the user's definition. A feature overrides what it needs:
    ``apply`` always; ``applies`` when settings switch it on; ``check_definition`` to refuse a
    definition before anything is built; ``image_checks`` for what the built image must show
    (the build leaves an image that fails them untagged, and the publishing gate refuses it)."""

    def applies(self, settings: Settings) -> bool:
        return True

    def check_definition(self, definition: Definition) -> None:
        """Raise UserError for a definition this feature cannot work with (run for every feature)."""

    def apply(self, comp: Composition, inputs: Inputs) -> None:
        raise NotImplementedError

    def image_checks(self, summary: Summary) -> list[ImageCheck]:
        return []
