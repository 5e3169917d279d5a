"""Reading and writing the user's files, as hostile input: regular files only (a FIFO would hang
the read, /dev/zero would never end), a size cap, UTF-8 text, relative paths that stay inside the
project. Every failure is a UserError naming the file, its role and what to do."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UserError

TEXT_LIMIT = 1 << 20      # settings, definitions, templates, requirements: far below this
BUNDLE_LIMIT = 16 << 20   # CA bundles (a full system bundle is ~200 KB)


def read_bytes(path: Path | str, what: str, limit: int = TEXT_LIMIT) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; ``what`` names its role."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found. Expected an existing file: fix the path or create it.") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read {what}: {err.strerror}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{path}: {what} is a directory. Expected a file.")
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path}: {what} is not a regular file (a FIFO, socket or device). Expected a file.")
    if info.st_size > limit:
        raise UserError(f"{path}: {what} is {info.st_size} bytes. Expected at most {limit} bytes.")
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since stat, open does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise UserError(f"{path}: cannot read {what}: {err.strerror}.") from None
    if len(data) > limit:
        raise UserError(f"{path}: {what} is larger than {limit} bytes. Expected at most that.")
    return data


def read_text(path: Path | str, what: str, limit: int = TEXT_LIMIT) -> str:
    """``read_bytes`` decoded as UTF-8."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: {what} is not UTF-8 text (byte {data[err.start]:#04x} at offset "
                        f"{err.start}). Save it as UTF-8.") from None


def write_text(path: Path | str, text: str, what: str) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"{path}: cannot write {what}: the folder {path.parent} does not exist. Create it first "
                        f"or choose another path.")
    try:
        path.write_text(text)
    except OSError as err:
        raise UserError(f"{path}: cannot write {what}: {err.strerror}.") from None


def inside(root: Path, value: str, base: Path | None = None) -> Path | None:
    """``value`` resolved against ``base`` (default ``root``); None when a relative ``value``
    leads out of ``root`` (through ``..`` or a symbolic link). An absolute path is the user saying
    where, and is kept."""
    if os.path.isabs(value):
        return Path(value).resolve()
    root = root.resolve()
    resolved = ((base or root) / value).resolve()
    return resolved if resolved == root or root in resolved.parents else None


def project_path(root: Path, value: str, where: str, what: str, base: Path | None = None,
                 kind: str | None = None) -> Path:
    """``value`` (relative to ``base``, default ``root``) as an existing path inside ``root``, of
    ``kind`` "file" or "directory" when given, or a "pattern" that need not match yet; a UserError
    at ``where`` otherwise."""
    resolved = inside(root, value, base)
    if resolved is None:
        raise UserError(f"{where}: {value!r} leads outside the project ({root.resolve()}). Expected a path "
                        f"inside it; give an absolute path if you mean one elsewhere.")
    if kind == "pattern":
        return resolved
    if not resolved.exists():
        raise UserError(f"{where}: {what} {resolved} does not exist. Fix the path (relative paths start at "
                        f"{(base or root).resolve()}).")
    if kind and resolved.is_dir() != (kind == "directory"):
        raise UserError(f"{where}: {what} {resolved} is {'not ' if kind == 'directory' else ''}a directory. "
                        f"Expected a {kind}.")
    return resolved
