"""Shared test helpers: project paths and writing small settings/definition files."""
from __future__ import annotations

import datetime
import functools
from pathlib import Path

import pytest
import yaml

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
    """A real self-signed CA certificate in PEM (CA bundles must hold one to be accepted)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ee-builder test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
