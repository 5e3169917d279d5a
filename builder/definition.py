"""The user's EE definition (``execution-environment.yml``): ansible-builder schema v3, kept valid
for plain ansible-builder. We validate it with ansible-builder's own schema so that a file we
accept is one ansible-builder accepts too.

A dependency given as a single line that looks like a file name is a file reference, as
ansible-builder reads it: it must exist inside the project, or it is an error at its key (it
would otherwise silently become a package named ``requirements.txt``).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_builder.ee_schema import schema_v3

from . import files, yamlfile
from .errors import UserError
from .references import IMAGE_REFERENCE

# dependencies.<key> that ansible-builder reads from a file when given a path.
FILE_KEYS = ("python", "system", "galaxy")
_LOOKS_LIKE_FILE = re.compile(r"[^\s]*(/|\.(txt|ya?ml|in|cfg)$)[^\s]*")


@dataclass(frozen=True)
class Definition:
    path: Path
    data: dict[str, Any]
    root: Path | None = None                  # the project: relative paths stay inside it
    doc: yamlfile.Document | None = field(default=None, compare=False, repr=False)

    @property
    def base_image(self) -> str | None:
        return ((self.data.get("images") or {}).get("base_image") or {}).get("name")

    def where(self, *keypath: str | int) -> str:
        """``file:line: dotted.key`` for messages about ``keypath``."""
        located = self.doc.where(keypath) if self.doc else str(self.path)
        return f"{located}: {yamlfile.dotted(keypath)}"

    def dependency_file(self, key: str) -> Path | None:
        """``dependencies.<key>`` when it names a file next to the definition (as ansible-builder reads it)."""
        value = (self.data.get("dependencies") or {}).get(key)
        if not isinstance(value, str) or "\n" in value.strip() or not _LOOKS_LIKE_FILE.fullmatch(value.strip()):
            return None
        return self.local(value.strip(), ("dependencies", key), "file")

    def local(self, value: str, keypath: tuple, what: str, kind: str | None = None) -> Path:
        """A path the definition names, relative to it, inside the project; a located error otherwise."""
        return files.project_path(self.root or self.path.parent, value, self.where(*keypath), what,
                                  base=self.path.parent, kind=kind)

    def dependency_lines(self, key: str) -> list[str]:
        """The requirement or bindep lines of ``dependencies.<key>`` (python, system), given inline
        or in a file, without comments."""
        value = (self.data.get("dependencies") or {}).get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return [str(item) for item in value]
        file = self.dependency_file(key)
        text = files.read_text(file, f"dependencies.{key} file") if file else value
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return [line for line in lines if line]

    def galaxy_requirements(self) -> dict[str, Any]:
        """``dependencies.galaxy`` as a dict, whether given inline, as YAML text, or as a file path."""
        galaxy = (self.data.get("dependencies") or {}).get("galaxy")
        if galaxy is None:
            return {}
        if isinstance(galaxy, dict):
            return copy.deepcopy(galaxy)
        file = self.dependency_file("galaxy")
        if file:
            loaded = yamlfile.load(file, what="collection requirements").data
            where = str(file)
        else:
            loaded = yamlfile.parse(galaxy, self.path, what="dependencies.galaxy").data
            where = self.where("dependencies", "galaxy")
        if isinstance(loaded, list):  # the old bare-list requirements format
            loaded = {"collections": loaded}
        if not isinstance(loaded, dict):
            raise UserError(f"{where}: expected a requirements mapping with 'collections:', "
                            f"or the path of a requirements.yml file; got {galaxy!r}.")
        return loaded

    def check_files(self) -> None:
        """Every file the definition names exists inside the project (read now, not at build time)."""
        for key in FILE_KEYS:
            self.dependency_file(key)
        for index, entry in enumerate(self.data.get("additional_build_files") or []):
            src = str(entry.get("src", ""))
            # ansible-builder takes globs too: a pattern must stay inside, but may match nothing yet.
            self.local(src, ("additional_build_files", index, "src"), "file or directory",
                       "pattern" if any(char in src for char in "*?[") else None)


def load(path: Path, root: Path | None = None) -> Definition:
    """Read and validate the definition at ``path``; ``root`` is the project it belongs to."""
    doc = yamlfile.load(path, what="EE definition")
    if not isinstance(doc.data, dict):
        raise UserError(f"{doc.where(())}: the EE definition must be a mapping (version: 3, images, "
                        f"dependencies, …), got {type(doc.data).__name__}.")
    if doc.data.get("version") != 3:
        raise UserError(f"{doc.where(('version',))}: version: expected 3 (ansible-builder schema v3), "
                        f"got {doc.data.get('version')!r}. Older schemas are deprecated by ansible-builder.")
    doc.validate(schema_v3)
    definition = Definition(path, doc.data, root, doc)
    base = definition.base_image
    if base is not None and not re.fullmatch(IMAGE_REFERENCE, base):
        expected = ("an image with a tag (ansible-builder requires one)" if ":" not in base.rsplit("/", 1)[-1]
                    else "a lowercase image reference such as localhost/debian:bookworm (engines refuse "
                         "upper case and spaces)")
        raise UserError(f"{definition.where('images', 'base_image', 'name')}: expected {expected}, got {base!r}.")
    definition.check_files()
    return definition
