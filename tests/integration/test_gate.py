"""The publishing gate on real images: the image `make build` produces passes; a deliberately
leaky one is refused, naming each leak and its layer."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ROOT
from tests.integration.conftest import project_with, publish, registry_digest, settings_for

LEAKY = "localhost/ee-builder-test-leaky:latest"
TOKEN = "tok-" + "7" * 16


def check(image: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", "check", image], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, "COLUMNS": "250", **env})


def test_built_image_passes(built):
    result = check(built.image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "image may be published" in result.stdout


def refused_publish(image: str, cluster, tmp_path) -> None:
    """publish runs the gate first: the leaky image never reaches the registry."""
    version = "leaky-" + uuid.uuid4().hex[:6]
    project = project_with(tmp_path / "project", settings_for(image, version))
    result = publish(project, cluster=cluster, DEPLOY_TOKEN=TOKEN)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2 and "refused by the gate; nothing was pushed" in output, output
    assert registry_digest(cluster, version) is None


def test_leaky_image_is_refused_naming_what_leaked_and_where(built, engine, cluster, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "id_rsa").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                                        serialization.NoEncryption()))
    subprocess.run(["ktutil"], input="addent -password -p svc@EXAMPLE.TEST -k 1 -e aes256-cts-hmac-sha1-96\n"
                                     f"Keytab-pass-1\nwkt {tmp_path / 'svc.keytab'}\nquit\n",
                   text=True, capture_output=True, check=True)
    (tmp_path / "Containerfile").write_text(f"""FROM {built.image}
COPY id_rsa /runner/.ssh/id_rsa
COPY svc.keytab /etc/svc.keytab
ARG DEPLOY_TOKEN
RUN test -n "$DEPLOY_TOKEN"
""")
    engine.client.images.build(path=str(tmp_path), dockerfile="Containerfile", tag=LEAKY,
                               buildargs={"DEPLOY_TOKEN": TOKEN}, rm=True)
    try:
        result = check(LEAKY, DEPLOY_TOKEN=TOKEN)
        output = result.stdout
        assert result.returncode == 1, output + result.stderr
        assert "image refused" in output
        assert "leak: a private key in /runner/.ssh/id_rsa, layer" in output and "COPY file:" in output
        assert "leak: a Kerberos keytab in /etc/svc.keytab, layer" in output
        assert "leak: the value of environment DEPLOY_TOKEN in history, image history" in output
        assert TOKEN not in output  # the report names the secret, never prints it
        refused_publish(LEAKY, cluster, tmp_path)
    finally:
        engine.client.images.remove(LEAKY, force=True)
