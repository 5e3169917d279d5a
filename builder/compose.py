"""Compose: the user's definition + settings + features -> a generated definition -> ``context/``.

``compose()`` is pure: it returns the generated definition, the files it references and the build
arguments, without touching the disk. ``write()`` and ``create_context()`` do the I/O.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .collection_sources import Artifact
from .errors import UserError
from .settings import Settings

STAGES = ("base", "galaxy", "builder", "final")
CONTAINERFILE = "Containerfile"


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

    def add_file(self, dest: str, name: str, content: bytes) -> str:
        """Stage generated ``content``; return its path inside the build context (``_build/...``)."""
        src = self.staging / "files" / dest / name
        self.generated[src] = content
        return self.add_existing(dest, src)

    def add_existing(self, dest: str, src: Path) -> str:
        self.build_files.append({"src": str(src), "dest": dest})
        return f"_build/{dest}/{src.name}"

    def add_directory(self, dest: str, src: Path) -> str:
        """The contents of ``src`` land in ``_build/<dest>/`` (ansible-builder copies directories so)."""
        self.build_files.append({"src": str(src), "dest": dest})
        return f"_build/{dest}"


@dataclass
class Composed:
    definition: dict[str, Any]
    generated: dict[Path, bytes]
    build_args: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # where write() put the definition


def compose(settings: Settings, staging: Path, collections: list[Artifact] | None,
            wheels: Path | None = None) -> Composed:
    """``collections``: local artifacts to install offline, or None to let Galaxy supply them.
    ``wheels``: wheels built by earlier builds, or None for a cold build."""
    from .features import collections as collections_feature, family, trust, wheel_cache

    comp = Composition(staging)
    family.apply(comp, settings.base)
    trust.apply(comp, settings.trust, settings.base.family)
    if collections is not None:
        collections_feature.apply(comp, collections)
    wheel_cache.apply(comp, wheels)
    return Composed(_merge(settings, comp), comp.generated, dict(comp.build_args))


def _merge(settings: Settings, comp: Composition) -> dict[str, Any]:
    out = copy.deepcopy(settings.definition.data)
    out.setdefault("images", {}).setdefault("base_image", {})["name"] = settings.base.image
    deps = out.setdefault("dependencies", {})
    deps.update(comp.dependencies)
    for key in ("python", "system"):
        # ansible-builder resolves relative file paths against the definition; ours moves.
        if isinstance(deps.get(key), str) and (settings.definition.path.parent / deps[key]).is_file():
            deps[key] = str((settings.definition.path.parent / deps[key]).resolve())
    options = out.setdefault("options", {})
    for key, value in comp.options.items():
        options.setdefault(key, value)
    if comp.build_arg_defaults:
        defaults = out.setdefault("build_arg_defaults", {})
        for key, value in comp.build_arg_defaults.items():
            defaults[key] = " ".join(filter(None, [defaults.get(key), value]))
    files = out.setdefault("additional_build_files", [])
    for entry in files:
        src = Path(entry["src"])
        if not src.is_absolute():
            entry["src"] = str((settings.definition.path.parent / src).resolve())
    files.extend(comp.build_files)
    if not files:
        del out["additional_build_files"]
    steps = out.setdefault("additional_build_steps", {})
    for stage in STAGES:
        for where, ours in (("prepend", comp.prepend[stage]), ("append", comp.append[stage])):
            key = f"{where}_{stage}"
            user = steps.get(key) or []
            if isinstance(user, str):
                user = user.splitlines()
            merged = ours + user if where == "prepend" else user + ours
            if merged:
                steps[key] = merged
    return out


def write(composed: Composed, staging: Path) -> Path:
    """Write the generated definition and its staged files; return the definition's path."""
    if staging.exists():
        shutil.rmtree(staging / "files", ignore_errors=True)
    for path, content in composed.generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if content.startswith(b"#!"):
            path.chmod(0o755)
    staging.mkdir(parents=True, exist_ok=True)
    composed.path = staging / "execution-environment.yml"
    composed.path.write_text("# Generated by ee-builder from the project's definition and settings.\n"
                             + yaml.safe_dump(composed.definition, sort_keys=False))
    return composed.path


def create_context(definition_path: Path, context: Path) -> Path:
    """Run ``ansible-builder create`` (it has no stable Python API); return the Containerfile."""
    if context.exists():
        shutil.rmtree(context / "_build", ignore_errors=True)
    cmd = [sys.executable, "-m", "ansible_builder", "create", "-f", str(definition_path),
           "-c", str(context), "--output-filename", CONTAINERFILE]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise UserError(f"ansible-builder create failed for {definition_path}:\n  " + "\n  ".join(detail))
    return context / CONTAINERFILE
