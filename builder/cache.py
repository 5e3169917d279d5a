"""Where ee-builder keeps what it makes once and reuses: bootstrapped root filesystems,
collection artifacts, the ansible wheel, compiled wheels."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("EE_BUILDER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ee-builder")
    return Path(root)
