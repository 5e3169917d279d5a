"""Fixtures for every test; the helpers they share are in tests/helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def project(tmp_path: Path):
    """A scratch project: returns a writer ``write(name, data_or_text) -> Path``."""
    def write(name: str, content) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path
    write.root = tmp_path
    return write
