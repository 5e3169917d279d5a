"""The publishing gate on real images: the image `make build` produces passes; a deliberately
leaky one is refused, naming each leak and its layer."""
from __future__ import annotations

import os
import subprocess
import uuid
import zipfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import (ROOT, CliResult, build_image, ee_builder, project_with, publish, registry_digest,
                           settings_for)

# Unique per run: another test session on this engine must not remove it while this one checks it.
LEAKY = f"localhost/ee-builder-test-leaky-{uuid.uuid4().hex[:8]}:latest"
TOKEN = "tok-" + "7" * 16


def check(image: str, **env: str) -> CliResult:
    return ee_builder("check", image, cwd=ROOT, env={"COLUMNS": "250", **env})


def test_built_image_passes(built):
    result = check(built.image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "image may be published" in result.stdout


def refused_publish(image: str, cluster, tmp_path, **env: str) -> str:
    """publish runs the gate first: the leaky image never reaches the registry."""
    version = "leaky-" + uuid.uuid4().hex[:6]
    project = project_with(tmp_path / "project", settings_for(image, version))
    result = publish(project, cluster=cluster, **env)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2 and "refused by the gate; nothing was pushed" in output, output
    assert registry_digest(cluster, version) is None
    return output


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
    build_image(engine, tmp_path, LEAKY, buildargs={"DEPLOY_TOKEN": TOKEN})
    try:
        result = check(LEAKY, DEPLOY_TOKEN=TOKEN)
        output = result.stdout
        assert result.returncode == 1, output + result.stderr
        assert "image refused" in output
        assert "leak: a private key in /runner/.ssh/id_rsa, layer" in output and "COPY file:" in output
        assert "leak: a Kerberos keytab in /etc/svc.keytab, layer" in output
        assert "leak: the value of environment DEPLOY_TOKEN in history, image history" in output
        assert TOKEN not in output  # the report names the secret, never prints it
        refused_publish(LEAKY, cluster, tmp_path, DEPLOY_TOKEN=TOKEN)
    finally:
        engine.remove(LEAKY, force=True)


def test_image_is_judged_on_its_own_and_no_value_is_printed(built, engine, cluster, tmp_path):
    """The secrets are set in the image only: nothing in the gate's environment names them."""
    values = {"DB_PASSWORD": "Hunter2Hunter2", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
              "netrc": "netrc-Pass-4242", "pip": "pip-Pass-4242", "kube": "kube-Token-4242", "DEPLOY_TOKEN": "tok-" + "8" * 16}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    key_body = key.decode().splitlines()[1]
    with zipfile.ZipFile(tmp_path / "keys.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("deploy/id_rsa", key)
    (tmp_path / "netrc").write_text(f"machine git.example.test login ci password {values['netrc']}\n")
    (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = https://ci:{values['pip']}@pypi.example.test/simple\n")
    (tmp_path / "kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://k8s.example.test:6443"}}}}]
contexts: [{{name: c, context: {{cluster: c, user: ci}}}}]
current-context: c
users: [{{name: ci, user: {{token: {values['kube']}}}}}]
""")
    (tmp_path / "Containerfile").write_text(f"""FROM {built.image}
ENV DB_PASSWORD={values['DB_PASSWORD']} AWS_SECRET_ACCESS_KEY={values['AWS_SECRET_ACCESS_KEY']}
COPY netrc /runner/.netrc
COPY pip.conf /etc/pip.conf
COPY kubeconfig /runner/.kube/config
COPY keys.zip /opt/app/keys.zip
ARG DEPLOY_TOKEN
RUN test -n "$DEPLOY_TOKEN"
""")
    build_image(engine, tmp_path, LEAKY, buildargs={"DEPLOY_TOKEN": values["DEPLOY_TOKEN"]})
    clean = {name: "" for name in ("DEPLOY_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY")}
    assert not any(value in " ".join(os.environ.values()) for value in values.values())
    try:
        result = check(LEAKY, **clean)
        output = result.stdout + result.stderr
        assert result.returncode == 1 and "image refused" in result.stdout, output
        flat = " ".join(result.stdout.split())
        for leak in ("environment variable DB_PASSWORD set in the image config",
                     "environment variable AWS_SECRET_ACCESS_KEY set in the image config",
                     "a .netrc with a password in /runner/.netrc, layer",
                     "a credential in pip.conf in /etc/pip.conf, layer",
                     "a kubeconfig with a user token in /runner/.kube/config, layer",
                     "a private key in /opt/app/keys.zip!deploy/id_rsa, layer",
                     "the value of DEPLOY_TOKEN in history, image history",
                     "the value of DB_PASSWORD in history, image history"):
            assert f"leak: {leak}" in flat, output
        published = refused_publish(LEAKY, cluster, tmp_path, **clean)
        for value in [*values.values(), key_body]:
            assert value not in output and value not in published
    finally:
        engine.remove(LEAKY, force=True)


def test_image_whose_krb5_conf_mit_cannot_read_is_refused(built, engine, tmp_path):
    """A krb5.conf that parses for us but not for MIT (a key with a space) fails every job's kinit
    with "Improper format of Kerberos configuration file": inspect says so and the gate refuses."""
    image = f"localhost/ee-builder-test-bad-krb5-{uuid.uuid4().hex[:8]}:latest"
    _, conf = engine.run(built.image, ["cat", "/etc/krb5.conf"], entrypoint=[])
    (tmp_path / "krb5.conf").write_text(conf + "    winhost example.test = EXAMPLE.TEST\n")
    (tmp_path / "Containerfile").write_text(f"FROM {built.image}\nCOPY krb5.conf /etc/krb5.conf\n")
    build_image(engine, tmp_path, image)
    try:
        result = check(image)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "MIT krb5 reads /etc/krb5.conf" in result.stdout and "Improper format" in result.stdout
        inspected = ee_builder("inspect", image, cwd=ROOT, env={"COLUMNS": "250"})
        assert "UNREADABLE by MIT krb5" in inspected.stdout, inspected.stdout + inspected.stderr
    finally:
        engine.remove(image, force=True)
