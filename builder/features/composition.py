"""What features work with: the ``Composition`` they add to, the ``Inputs`` they compose from,
and the ``Feature`` base class each feature module's ``FEATURE`` is made from."""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..collection_sources import Artifact
    from ..definition import Definition
    from ..summary import Summary
    from ..settings import Settings

STAGES = ("base", "galaxy", "builder", "final")
FILES = "files"  # under the staging directory: every file the composed definition names


class Composition:
    """Accumulates what features add around the user's definition.

    Feature steps are placed before the user's ``prepend_*`` steps and after the user's
    ``append_*`` steps, in the order features are applied, so set-up (trust, package front) runs
    first and clean-up (apt lists, build-only CAs) runs last.

    Every file the composed definition names lives under ``staging/files/`` (next to the composed
    definition) and is named by a path relative to ``staging``, as ansible-builder resolves it, so
    the staging directory can be moved to another directory or machine and still build: generated
    files are written there, and host files and directories (``add_existing``, ``add_directory``)
    are copied there by ``compose.write``.
    """

    def __init__(self, staging: Path):
        self.staging = staging
        self.prepend: dict[str, list[str]] = {stage: [] for stage in STAGES}
        self.append: dict[str, list[str]] = {stage: [] for stage in STAGES}
        self.generated: dict[Path, bytes] = {}
        self.copies: list[tuple[Path, Path]] = []  # (where in staging, the host file or directory copied there)
        self.build_files: list[dict[str, str]] = []
        self.options: dict[str, Any] = {}
        self.build_arg_defaults: dict[str, str] = {}
        self.build_args: dict[str, str] = {}
        self.dependencies: dict[str, Any] = {}
        self.system: list[str] = []  # bindep lines added to the user's dependencies.system
        self.python: list[str] = []  # requirements added to the user's dependencies.python

    def add_file(self, dest: str, name: str, content: bytes) -> str:
        """Stage generated ``content``; return its path inside the build context (``_build/...``)."""
        staged = self.staging / FILES / dest / name
        self.generated[staged] = content
        self.build_files.append({"src": self.relative(staged), "dest": dest})
        return f"_build/{dest}/{name}"

    def add_existing(self, dest: str, src: Path) -> str:
        """Stage a copy of the host file ``src``; return its path inside the build context."""
        staged = self.copy(src, self.staging / FILES / dest / src.name)
        self.build_files.append({"src": self.relative(staged), "dest": dest})
        return f"_build/{dest}/{src.name}"

    def add_directory(self, dest: str, src: Path) -> None:
        """The contents of ``src`` land in ``_build/<dest>/`` (ansible-builder copies directories so)."""
        staged = self.copy(src, self.staging / FILES / dest)
        self.build_files.append({"src": self.relative(staged), "dest": dest})

    def copy(self, src: Path, staged: Path) -> Path:
        """Have ``compose.write`` copy the host file or directory ``src`` to ``staged`` (a directory's
        contents are merged into ``staged``); return ``staged``."""
        self.copies.append((staged, src))
        return staged

    def relative(self, staged: Path) -> str:
        """``staged`` as the composed definition names it: relative to its directory, and escaped,
        since ansible-builder reads a relative ``additional_build_files`` src as a glob."""
        return glob.escape(staged.relative_to(self.staging).as_posix())


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
