"""Compose: the user's definition + settings + features -> a generated definition -> ``context/``.

``compose()`` is pure: it returns the generated definition, the files it references and the build
arguments, without writing to the disk. ``write()`` and ``create_context()`` do the I/O.

The composed definition is portable: ``write()`` puts it in the staging directory (``.ee-builder/``)
together with every file it names, generated (krb5.conf, CA bundles, pip.conf, the apt front) or
copied from the host (the user's dependency files and ``additional_build_files``, collection
artifacts, kept wheels, the receptor file, the image probe), under ``files/``, and names each by a
path relative to itself, as ansible-builder resolves it. The directory can be moved to another
directory or machine and built there with plain ansible-builder. Build arguments (proxies) stay out
of it: they are passed at build time and never written down.
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
from .errors import UserError, last_lines
from .features import FEATURES, STAGES, Composition, Inputs
from .features.composition import FILES
from .settings import Settings

CONTAINERFILE = "Containerfile"


@dataclass
class Composed:
    definition: dict[str, Any]
    generated: dict[Path, bytes]
    build_args: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # where write() put the definition
    # (where in the staging directory, the host file or directory write() copies there)
    copies: list[tuple[Path, Path]] = field(default_factory=list)


def compose(settings: Settings, staging: Path, collections: list[Artifact] | None,
            wheels: Path | None = None) -> Composed:
    """``collections``: local artifacts to install offline, or None to let Galaxy supply them.
    ``wheels``: wheels built by earlier builds, or None for a cold build."""
    comp = Composition(staging)
    inputs = Inputs(settings, collections, wheels)
    for feature in FEATURES:
        feature.check_definition(settings.definition)
    for feature in FEATURES:
        if feature.applies(settings):
            feature.apply(comp, inputs)
    return Composed(_merge(settings, comp), comp.generated, dict(comp.build_args), copies=comp.copies)


def _merge(settings: Settings, comp: Composition) -> dict[str, Any]:
    out = copy.deepcopy(settings.definition.data)
    out.setdefault("images", {}).setdefault("base_image", {})["name"] = settings.base.image
    deps = out.setdefault("dependencies", {})
    deps.update(comp.dependencies)
    ours = {"system": comp.system, "python": comp.python}
    for key in ("system", "python", "galaxy"):  # the keys ansible-builder reads from a file
        if ours.get(key):
            user = settings.definition.dependency_lines(key)
            deps[key] = user + [line for line in ours[key] if line not in user]
            continue
        # ansible-builder reads a dependency file relative to the definition's directory: the
        # composed definition lives elsewhere, so the file comes along.
        file = settings.definition.dependency_file(key)
        if file and key not in comp.dependencies:
            staged = comp.copy(file, comp.staging / FILES / "project" / "dependencies" / key / file.name)
            deps[key] = staged.relative_to(comp.staging).as_posix()  # read as a path, never as a glob
    options = out.setdefault("options", {})
    for key, value in comp.options.items():
        options.setdefault(key, value)
    if comp.build_arg_defaults:
        defaults = out.setdefault("build_arg_defaults", {})
        for key, value in comp.build_arg_defaults.items():
            defaults[key] = " ".join(filter(None, [defaults.get(key), value]))
    files = _user_build_files(settings, comp)
    files.extend(comp.build_files)
    if files:
        out["additional_build_files"] = files
    else:
        out.pop("additional_build_files", None)
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


def _user_build_files(settings: Settings, comp: Composition) -> list[dict[str, str]]:
    """The definition's ``additional_build_files``, each staged as the directory holding what
    ansible-builder would put in ``_build/<dest>/`` from it: the files its ``src`` (an absolute
    path, or a glob relative to the definition) matches, and the contents of the directories it
    matches. An entry that matches nothing is left out (ansible-builder only warns about it)."""
    entries = []
    staging = comp.staging.resolve()
    for index, entry in enumerate(settings.definition.data.get("additional_build_files") or []):
        src = Path(entry["src"])
        if src.is_absolute():
            matches = [src] if src.exists() else []
        else:
            matches = sorted(settings.definition.path.parent.glob(str(src)))
        # The staging directory itself never goes in (a glob such as '*' or '.*' can match it).
        matches = [match for match in matches if not _within(match.resolve(), staging)]
        if not matches:
            continue
        staged = comp.staging / FILES / "project" / "additional_build_files" / str(index)
        for match in matches:
            comp.copy(match, staged if match.is_dir() else staged / match.name)
        entries.append({"src": comp.relative(staged), "dest": entry["dest"]})
    return entries


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _copy(src: Path, staged: Path, staging: Path) -> None:
    """Copy a host file to ``staged``, or a directory's contents into ``staged`` (following links,
    as ansible-builder does), leaving out the staging directory should it lie inside."""
    if src.is_dir():
        def ignore(directory: str, names: list[str]) -> list[str]:
            return [name for name in names if _within(Path(directory, name).resolve(), staging)]
        shutil.copytree(src, staged, ignore=ignore, dirs_exist_ok=True)
    else:
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, staged)


def write(composed: Composed, staging: Path) -> Path:
    """Write the generated definition and its staged files; return the definition's path."""
    if staging.exists():
        shutil.rmtree(staging / FILES, ignore_errors=True)
    for path, content in composed.generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if content.startswith(b"#!"):
            path.chmod(0o755)
    for staged, src in composed.copies:
        _copy(src, staged, staging.resolve())
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
        detail = last_lines(result.stderr or result.stdout, 5)
        raise UserError(f"ansible-builder create failed for {definition_path}:\n  " + "\n  ".join(detail))
    return context / CONTAINERFILE
