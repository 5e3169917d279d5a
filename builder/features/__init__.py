"""Features composed around the user's definition.

Each feature module has one ``apply(comp, ...)`` that adds steps, files, options or build
arguments to a ``Composition``; ``compose.compose`` applies them in order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

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
