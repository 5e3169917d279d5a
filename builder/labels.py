"""The image's OCI labels: what it is, which version, from which source and revision, and when.

``created`` is the commit's time, not the build's, so rebuilding a commit yields the same labels
(and the layer cache holds); uncommitted changes mark the revision ``-dirty`` and use the time of
the build.
"""
from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings


@dataclass(frozen=True)
class Git:
    revision: str
    committed: str          # ISO 8601
    dirty: bool
    remote: str | None


def git_facts(root: Path) -> Git | None:
    def git(*args: str) -> str | None:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    revision = git("rev-parse", "HEAD")
    if revision is None:
        return None
    return Git(revision=revision, committed=git("log", "-1", "--format=%cI") or "",
               dirty=bool(git("status", "--porcelain", "--untracked-files=no")), remote=git("remote", "get-url", "origin"))


def oci_labels(settings: Settings, git: Git | None, now: datetime.datetime) -> dict[str, str]:
    labels = {"org.opencontainers.image.title": settings.image.name.rsplit("/", 1)[-1]}
    if settings.image.version:
        labels["org.opencontainers.image.version"] = settings.image.version
    source = settings.image.source or (git.remote if git else None)
    if source:
        labels["org.opencontainers.image.source"] = source
    if git:
        labels["org.opencontainers.image.revision"] = git.revision + ("-dirty" if git.dirty else "")
    created = git.committed if git and not git.dirty and git.committed else now.replace(microsecond=0).isoformat()
    labels["org.opencontainers.image.created"] = created
    return {**labels, **settings.image.labels}  # the user's own labels win
