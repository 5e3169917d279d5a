"""Where collections come from when Galaxy cannot be reached.

Order for ``source: auto``: Galaxy if it answers; else ``local_path`` (tarballs or installed
collection trees); else the named collections, with their dependencies, cut out of the pinned
``ansible`` package from PyPI. Only what was asked (and what it needs) is packed, never the whole
``ansible`` package. Artifacts are cached by name and version and built reproducibly (fixed
mtimes), so rebuilds hit the engine's layer cache.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .cache import cache_dir
from .errors import UserError, last_lines
from .progress import Printed, Progress
from .settings import Collections

FQCN = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


@dataclass(frozen=True)
class Requirement:
    name: str
    spec: str = "*"
    wanted_by: str = "the definition"

    def allows(self, version: str) -> bool:
        return _specifier(self.spec).contains(Version(version), prereleases=True)


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    path: Path


@dataclass(frozen=True)
class Found:
    """A collection a source can supply, and how to turn it into a tarball."""
    name: str
    version: str
    dependencies: dict[str, str]
    pack: Callable[[Path], Path]


Index = dict[str, Found]


def requirements(galaxy: dict) -> list[Requirement] | None:
    """Plain Galaxy requirements, or None when some entry only Galaxy can serve (git, url, roles)."""
    if galaxy.get("roles"):
        return None
    out = []
    for entry in galaxy.get("collections") or []:
        if isinstance(entry, str):
            name, _, spec = entry.partition(":")
            entry = {"name": name, "version": spec or "*"}
        if entry.get("type", "galaxy") != "galaxy" or entry.get("source") or not FQCN.match(str(entry.get("name"))):
            return None
        out.append(Requirement(entry["name"], str(entry.get("version") or "*")))
    return out


def galaxy_reachable(server: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(server.rstrip("/") + "/api/", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def resolve(settings: Collections, galaxy: dict, progress: Progress = Printed()) -> tuple[str, list[Artifact] | None]:
    """Return (source used, artifacts); artifacts is None when Galaxy serves the build."""
    wanted = requirements(galaxy)
    if wanted == []:
        return "none", []
    if settings.source in ("auto", "galaxy"):
        if galaxy_reachable(settings.galaxy_server):
            return "galaxy", None
        if settings.source == "galaxy" or wanted is None:
            needs = "the definition has roles or git/url collections" if wanted is None else "collections.source is 'galaxy'"
            raise UserError(f"collections: Galaxy at {settings.galaxy_server} is not reachable and {needs}. "
                            f"Expected a reachable Galaxy, or plain collection names with collections.source "
                            f"auto/local/pypi (local_path for your own tarballs).")
        progress.say(f"Galaxy at {settings.galaxy_server} is not reachable; using local sources")
    elif wanted is None:
        raise UserError("collections: the definition has roles or git/url collections, which only Galaxy can "
                        f"supply, but collections.source is {settings.source!r}. Set collections.source: galaxy.")
    sources: list[tuple[str, Callable[[], Index]]] = []
    if settings.local_path and settings.source in ("auto", "local"):
        sources.append((f"local directory {settings.local_path}", lambda: local_index(settings.local_path)))
    if settings.source in ("auto", "pypi"):
        sources.append((f"PyPI package {settings.pypi_package}",
                        lambda: wheel_index(download_ansible(settings.pypi_package, progress))))
    tried = []
    for label, make_index in sources:
        chosen, missing = close(wanted, make_index())
        if not missing:
            out_dir = cache_dir() / "collections"
            out_dir.mkdir(parents=True, exist_ok=True)
            artifacts = [Artifact(f.name, f.version, f.pack(out_dir)) for f in chosen]
            progress.say("collections from " + label + ": " + ", ".join(f"{a.name} {a.version}" for a in artifacts))
            return label, artifacts
        tried.append(f"{label}: " + "; ".join(missing))
    raise UserError("collections: cannot find " + ", ".join(sorted({r.name for r in wanted})) +
                    " with their dependencies in any source.\n  " + "\n  ".join(tried) +
                    "\n  Put the collection tarballs in collections.local_path, or check the names and versions.")


def close(wanted: Iterable[Requirement], index: Index) -> tuple[list[Found], list[str]]:
    """The transitive closure of ``wanted`` within ``index``; returns (found, problems)."""
    chosen: dict[str, Found] = {}
    problems: list[str] = []
    queue = list(wanted)
    while queue:
        req = queue.pop(0)
        found = index.get(req.name)
        if found is None:
            problems.append(f"{req.name} (wanted by {req.wanted_by}) not found")
            continue
        try:
            ok = req.allows(found.version)
        except (InvalidSpecifier, InvalidVersion):
            problems.append(f"{req.name}: cannot read version constraint {req.spec!r}")
            continue
        if not ok:
            problems.append(f"{req.name} {found.version} does not satisfy {req.spec!r} (wanted by {req.wanted_by})")
            continue
        if req.name in chosen:
            continue
        chosen[req.name] = found
        queue += [Requirement(dep, str(spec), wanted_by=req.name) for dep, spec in found.dependencies.items()]
    return list(chosen.values()), problems


def _specifier(spec: str) -> SpecifierSet:
    parts = []
    for part in (p.strip() for p in spec.split(",")):
        if part in ("", "*"):
            continue
        parts.append(part if part[0] in "<>=!~" else f"=={part}")
    return SpecifierSet(",".join(parts))


def _manifest_info(raw: bytes, where: str) -> tuple[str, str, dict[str, str]]:
    try:
        info = json.loads(raw)["collection_info"]
        return f"{info['namespace']}.{info['name']}", str(info["version"]), dict(info.get("dependencies") or {})
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{where}: not a collection MANIFEST.json (expected collection_info with namespace, "
                        f"name and version).") from None


def _write_tarball(out_dir: Path, manifest: bytes, members: Iterable[tuple[str, bytes, int]]) -> Path:
    """Write ``namespace-name-version.tar.gz`` with fixed metadata, so identical input gives identical
    bytes (and the engine's layer cache hits).

    FILES.json is written anew from what is packed: the ansible package on PyPI leaves out files
    that the collection's own FILES.json lists, and ansible-galaxy refuses such an artifact.
    """
    name, version, _ = _manifest_info(manifest, "MANIFEST.json")
    target = out_dir / f"{name.replace('.', '-')}-{version}.tar.gz"
    if target.exists():
        return target
    members = sorted((n, d, m) for n, d, m in members if n not in ("MANIFEST.json", "FILES.json"))
    directories = sorted({str(parent) for arcname, _, _ in members
                          for parent in PurePosixPath(arcname).parents if str(parent) != "."})
    files_json = json.dumps({"files": [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None,
                                        "format": 1}]
                             + [{"name": d, "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}
                                for d in directories]
                             + [{"name": n, "ftype": "file", "chksum_type": "sha256",
                                 "chksum_sha256": hashlib.sha256(data).hexdigest(), "format": 1}
                                for n, data, _ in members],
                             "format": 1}, indent=2).encode()
    manifest_data = json.loads(manifest)
    manifest_data["file_manifest_file"] = {"name": "FILES.json", "ftype": "file", "chksum_type": "sha256",
                                           "chksum_sha256": hashlib.sha256(files_json).hexdigest(), "format": 1}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname: str, data: bytes | None, mode: int) -> None:
            info = tarfile.TarInfo(arcname)
            info.mode, info.mtime = mode, 0
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        add("MANIFEST.json", json.dumps(manifest_data, indent=2).encode(), 0o644)
        add("FILES.json", files_json, 0o644)
        for directory in directories:
            add(directory, None, 0o755)
        for arcname, data, mode in members:
            add(arcname, data, mode)
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    partial.rename(target)
    return target


def local_index(path: Path) -> Index:
    """Tarballs (``*.tar.gz``) and installed trees (``[ansible_collections/]ns/name/MANIFEST.json``)."""
    index: Index = {}
    for tarball in sorted(path.glob("*.tar.gz")):
        try:
            with tarfile.open(tarball) as tar:
                member = tar.extractfile("MANIFEST.json")
                raw = member.read() if member else b""
        except (tarfile.TarError, KeyError, OSError):
            continue
        name, version, deps = _manifest_info(raw, str(tarball))
        index[name] = Found(name, version, deps, lambda out, t=tarball: t)
    for manifest in sorted(list(path.glob("*/*/MANIFEST.json")) + list(path.glob("ansible_collections/*/*/MANIFEST.json"))):
        name, version, deps = _manifest_info(manifest.read_bytes(), str(manifest))
        tree = manifest.parent

        def pack(out: Path, tree=tree, manifest=manifest) -> Path:
            files = [(str(f.relative_to(tree)), f.read_bytes(), 0o755 if os.access(f, os.X_OK) else 0o644)
                     for f in tree.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
            return _write_tarball(out, manifest.read_bytes(), files)
        index.setdefault(name, Found(name, version, deps, pack))
    return index


def download_ansible(requirement: str, progress: Progress = Printed()) -> Path:
    """The pinned ``ansible`` wheel, downloaded once into the cache."""
    version = requirement.split("==", 1)[1]
    target = cache_dir() / "pypi"
    wheels = sorted(target.glob(f"ansible-{version}-*.whl"))
    if wheels:
        return wheels[0]
    progress.say(f"downloading {requirement} from the Python package index (collections source, ~50 MB)")
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                             "-d", str(target), requirement], capture_output=True, text=True)
    wheels = sorted(target.glob(f"ansible-{version}-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = last_lines(result.stderr or result.stdout, 3)
        raise UserError(f"collections.pypi_package: cannot download {requirement} from the package index:\n  "
                        + "\n  ".join(tail) + "\n  Check the version and the pip index/proxy settings.")
    return wheels[0]


def wheel_index(wheel: Path) -> Index:
    index: Index = {}
    archive = zipfile.ZipFile(wheel)
    for entry in archive.namelist():
        parts = entry.split("/")
        if len(parts) == 4 and parts[0] == "ansible_collections" and parts[3] == "MANIFEST.json":
            name, version, deps = _manifest_info(archive.read(entry), f"{wheel}!{entry}")
            prefix = "/".join(parts[:3]) + "/"

            def pack(out: Path, prefix=prefix, manifest=entry) -> Path:
                members = []
                for info in archive.infolist():
                    if info.filename.startswith(prefix) and not info.is_dir():
                        mode = (info.external_attr >> 16) & 0o777 or 0o644
                        members.append((info.filename[len(prefix):], archive.read(info), mode))
                return _write_tarball(out, archive.read(manifest), members)
            index[name] = Found(name, version, deps, pack)
    return index
