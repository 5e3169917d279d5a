"""The user's EE definition (``execution-environment.yml``): ansible-builder schema v3, kept valid
for plain ansible-builder. We validate it with ansible-builder's own schema so that a file we
accept is one ansible-builder accepts too."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible_builder.ee_schema import schema_v3

from . import yamlfile
from .errors import UserError


@dataclass(frozen=True)
class Definition:
    path: Path
    data: dict[str, Any]

    @property
    def base_image(self) -> str | None:
        return ((self.data.get("images") or {}).get("base_image") or {}).get("name")

    def dependency_file(self, key: str) -> Path | None:
        """``dependencies.<key>`` when it names a file next to the definition (as ansible-builder reads it)."""
        value = (self.data.get("dependencies") or {}).get(key)
        if isinstance(value, str) and "\n" not in value and (self.path.parent / value).is_file():
            return (self.path.parent / value).resolve()
        return None

    def dependency_lines(self, key: str) -> list[str]:
        """The requirement or bindep lines of ``dependencies.<key>`` (python, system), given inline
        or in a file, without comments."""
        value = (self.data.get("dependencies") or {}).get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return [str(item) for item in value]
        file = self.dependency_file(key)
        lines = (line.split("#", 1)[0].strip() for line in (file.read_text() if file else value).splitlines())
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
            where = f"{file}"
            text = file.read_text()
        else:
            where = f"{self.path}: dependencies.galaxy"
            text = galaxy
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise UserError(f"{where}: collection requirements are not valid YAML: {err}") from None
        if isinstance(loaded, list):  # the old bare-list requirements format
            loaded = {"collections": loaded}
        if not isinstance(loaded, dict):
            raise UserError(f"{where}: expected a requirements mapping with 'collections:', "
                            f"or the path of a requirements.yml file; got {galaxy!r}.")
        return loaded


def load(path: Path) -> Definition:
    doc = yamlfile.load(path, what="EE definition")
    if not isinstance(doc.data, dict):
        raise UserError(f"{doc.where(())}: the EE definition must be a mapping (version: 3, images, "
                        f"dependencies, …), got {type(doc.data).__name__}.")
    if doc.data.get("version") != 3:
        raise UserError(f"{doc.where(('version',))}: version: expected 3 (ansible-builder schema v3), "
                        f"got {doc.data.get('version')!r}. Older schemas are deprecated by ansible-builder.")
    doc.validate(schema_v3)
    base = Definition(path, doc.data).base_image
    if base is not None and ":" not in base.rsplit("/", 1)[-1]:
        raise UserError(f"{doc.where(('images', 'base_image', 'name'))}: images.base_image.name: expected "
                        f"an image with a tag (ansible-builder requires one), got {base!r}.")
    return Definition(path, doc.data)
