"""What counts as a secret, and the one way every report hides one.

``mask`` hides a secret by its shape (the value of a secret-named assignment, the password of a
URL) as well as by the values the caller knows, so a value nobody told the report about still does
not reach the output.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

MASK = "********"

_SECRET_WORDS = r"PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL"
SECRET_NAMES = re.compile(_SECRET_WORDS, re.IGNORECASE)
# Names of where a secret lives (DB_PASSWORD_FILE, VAULT_TOKEN_PATH) are not secrets themselves.
_LOCATION_NAMES = re.compile(r"[_.-](?:FILE|PATH|DIR)$", re.IGNORECASE)

# NAME=value, NAME = value (INI), NAME: value (YAML, headers), "NAME": "value" (JSON), where NAME
# holds a secret word. Only secret-named names are matched, so a match never swallows the
# assignment that follows another name ("a: DB_PASSWORD=x"); "NAME= next" is an empty value
# (an empty build argument), not "next".
_ASSIGNMENT = re.compile(rf"""(?P<name>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*)"""
                         r"""(?P<sep>["']?(?:[ \t]*:[ \t]*|[ \t]+=[ \t]*|=))"""
                         r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"',;}\]]+)""", re.IGNORECASE)
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s/:@]*:)(?P<value>[^\s/@]+)(?=@)")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAMES.search(name)) and not _LOCATION_NAMES.search(name)


def is_set(value: str) -> bool:
    """A value of its own: not empty, and not a reference expanded later ($VAR, ${VAR}, $(cmd))."""
    return bool(value) and not value.startswith("$")


def assignments(text: str) -> Iterator[tuple[str, str]]:
    """The secret-named ``NAME=value`` pairs (any of the forms ``mask`` knows) that set a value."""
    for match in _ASSIGNMENT.finditer(text):
        value = _unquoted(match["value"])
        if is_secret_name(match["name"]) and is_set(value):
            yield match["name"], value


def mask(text: str, known_values: Iterable[str | bytes] = ()) -> str:
    """``text`` with every known value, URL password and secret-named assignment's value replaced."""
    values = {v.decode(errors="replace") if isinstance(v, bytes) else v for v in known_values}
    for value in sorted(filter(None, values), key=len, reverse=True):  # a value may contain another
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    return _ASSIGNMENT.sub(_masked_assignment, text)


def _masked_assignment(match: re.Match) -> str:
    value = match["value"]
    if not is_secret_name(match["name"]) or not is_set(_unquoted(value)):
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['name']}{match['sep']}{quote}{MASK}{quote}"


def _unquoted(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value
