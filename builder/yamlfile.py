"""YAML loading that remembers where each key came from, for located error messages."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import files, secrets
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
        if "propertyNames" in err.schema_path:
            # jsonschema reports a bad key at its mapping: point at the key itself.
            keypath = keypath + (err.instance,)
            expected = err.schema.get("description", f"a key matching {err.schema.get('pattern')}")
            return f"{self.where(keypath)}: {dotted(keypath)}: the key {err.instance!r} is not {expected}."
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
        # The value is echoed so the user sees it, masked in case it was a password.
        return f"{self.where(keypath)}: {dotted(keypath)}: expected {expected}, got {secrets.mask(repr(err.instance))}."


def dotted(keypath: KeyPath) -> str:
    """``a.b[0].c``; a key with spaces, line breaks or the like is quoted, so a hostile key cannot
    pass for more of the message."""
    out = ""
    for part in keypath:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


_PLAIN_KEY = re.compile(r"[\w.:/@%+-]+")


NODE_BUDGET = 100_000  # nodes after expanding aliases: far above any real file, far below a "billion laughs"


def load(path: Path, *, what: str) -> Document:
    """Load ``path``; ``what`` names the file's role in messages (e.g. "EE definition")."""
    return parse(files.read_text(path, what), path, what=what)


def parse(text: str, path: Path | str, *, what: str) -> Document:
    """YAML ``text`` read as ``path``: refuses duplicate keys, keys that are not strings, and
    aliases that expand without bound, each with the file and line."""
    path = Path(path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = Document(path=path, data=None)
        if node is not None:
            _record(node, (), doc, [0], what)
            doc.data = loader.construct_document(node)
        return doc
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = " ".join(filter(None, [err.context, err.problem]))
        raise UserError(f"{path}{line}: {what} is not valid YAML: {problem}. Fix the syntax there.") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: {what} is not valid YAML: {err}. Fix the syntax.") from None
    except RecursionError:
        raise UserError(f"{path}: {what} is nested too deeply to be a settings file. Expected a few levels.") from None
    finally:
        loader.dispose()


def _record(node: yaml.Node, keypath: KeyPath, doc: Document, visited: list[int], what: str) -> None:
    visited[0] += 1
    if visited[0] > NODE_BUDGET:
        raise UserError(f"{doc.path}:{node.start_mark.line + 1}: {what}: its aliases (*name) expand to more "
                        f"than {NODE_BUDGET} values. Expected a plain file: write the values out.")
    doc.lines.setdefault(keypath, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.tag == "tag:yaml.org,2002:merge":
                _record(value, keypath, doc, visited, what)
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                shown = key.value if isinstance(key, yaml.ScalarNode) else "(a list or mapping)"
                raise UserError(f"{doc.path}:{line}: {dotted(keypath + (str(shown),))}: the key {shown!r} is not a "
                                f"string. Expected a text key: quote it.")
            if key.value in seen:
                raise UserError(f"{doc.path}:{line}: {dotted(keypath + (key.value,))}: duplicate key (first at line "
                                f"{seen[key.value]}). Expected each key once: keep one of them.")
            seen[key.value] = line
            child = keypath + (key.value,)
            doc.lines[child] = line
            _record(value, child, doc, visited, what)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, keypath + (index,), doc, visited, what)


class _Dumper(yaml.SafeDumper):
    pass


class Unsafe(str):
    """Text Ansible must take as it is: dumped with Ansible's ``!unsafe`` tag, so a playbook never
    evaluates ``{{ … }}`` or ``{% … %}`` that came from settings (a lookup there would run commands
    wherever the playbook runs)."""


UNSAFE_TAG = "!unsafe"


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line values (a krb5.conf in a ConfigMap) as literal blocks people can read and diff.
    tag = UNSAFE_TAG if isinstance(value, Unsafe) else "tag:yaml.org,2002:str"
    return dumper.represent_scalar(tag, str(value), style="|" if "\n" in value else None)


# PyYAML picks a representer by exact type: the subclass needs its own entry.
_Dumper.add_representer(str, _text)
_Dumper.add_representer(Unsafe, _text)


def dump(data: Any) -> str:
    """YAML for people: key order kept, multi-line strings as literal blocks, ``Unsafe`` text
    tagged ``!unsafe``."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)
