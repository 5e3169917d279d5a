"""Shared test helpers: project paths and writing small settings/definition files."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.harness import pki

ROOT = Path(__file__).resolve().parent.parent


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


def minimal_definition(**extra) -> dict:
    data = {
        "version": 3,
        "images": {"base_image": {"name": "localhost/debian:bookworm"}},
        "dependencies": {"python": ["pywinrm"], "galaxy": {"collections": ["ansible.windows"]}},
    }
    data.update(extra)
    return data


# A kerberos: section for scratch projects (their own krb5/ directory does not exist).
KERBEROS_SETTINGS = f"""kerberos:
  template: {ROOT}/krb5/krb5.conf.j2
  default_realm: CORP.TEST
  realms:
    CORP.TEST:
      kdcs: [dc1.corp.test]
"""


@functools.cache
def ca_pem() -> str:
    """A real CA certificate in PEM (CA bundles must hold one to be accepted)."""
    with tempfile.TemporaryDirectory() as directory:
        return pki.make_ca(Path(directory), "ee-builder test CA").read_text()
