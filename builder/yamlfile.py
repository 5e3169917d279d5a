"""YAML loading that remembers where each key came from, for located error messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import UserError

KeyPath = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed YAML file plus the line (1-based) of every key and list item."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, keypath: KeyPath) -> str:
        """``file:line`` of the deepest known ancestor of ``keypath``."""
        for depth in range(len(keypath), -1, -1):
            line = self.lines.get(tuple(keypath[:depth]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)

    def validate(self, schema: dict) -> None:
        """Raise one UserError listing every schema violation, each with file:line and key path."""
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(self.data),
                        key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            raise UserError("\n".join(self._describe(err) for err in errors[:5]))

    def _describe(self, err: jsonschema.ValidationError) -> str:
        keypath = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            keypath = keypath + (extra[0],)
            return (f"{self.where(keypath)}: {dotted(keypath)}: unknown key. "
                    f"Expected one of: {', '.join(known)}.")
        if err.validator == "required":
            return f"{self.where(keypath)}: {dotted(keypath)}: {err.message}."
        expected = {
            "enum": lambda: "one of " + ", ".join(repr(v) for v in err.validator_value),
            "type": lambda: f"a value of type {err.validator_value}",
            "pattern": lambda: err.schema.get("description", f"a value matching {err.validator_value}"),
            "minLength": lambda: err.schema.get("description", "a non-empty value"),
            "minItems": lambda: "a non-empty list",
        }.get(err.validator, lambda: err.message)()
        return f"{self.where(keypath)}: {dotted(keypath)}: expected {expected}, got {err.instance!r}."


def dotted(keypath: KeyPath) -> str:
    out = ""
    for part in keypath:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load(path: Path, *, what: str) -> Document:
    """Load ``path``; ``what`` names the file's role in messages (e.g. "EE definition")."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found. Create it or pass its path.") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read {what}: {err.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = " ".join(filter(None, [err.context, err.problem]))
        raise UserError(f"{path}{line}: {what} is not valid YAML: {problem}. Fix the syntax there.") from None
    doc = Document(path=path, data=data)
    if node is not None:
        _record(node, (), doc.lines)
    return doc


def _record(node: yaml.Node, keypath: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(keypath, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = keypath + (key.value,)
            lines[child] = key.start_mark.line + 1
            _record(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, keypath + (index,), lines)


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line values (a krb5.conf in a ConfigMap) as literal blocks people can read and diff.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def dump(data: Any) -> str:
    """YAML for people: key order kept, multi-line strings as literal blocks."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)
