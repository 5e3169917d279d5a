"""The gate's scanner on synthetic content and archives."""
from __future__ import annotations

import base64
import io
import json
import tarfile

from builder.gate import Secret, known_secrets, scan_archive, scan_file, scan_history

# Not a key (counting bytes), and the marker is split so no scanner mistakes this file for one.
MARKER = b"RSA " + b"PRIVATE KEY-----"
PEM = b"-----BEGIN " + MARKER + b"\n" + base64.b64encode(bytes(range(48)) * 2) + b"\n-----END " + MARKER + b"\n"
KEYTAB = bytes.fromhex("05020000004600010c") + b"EXAMPLE.TEST" + bytes(60)
TOKEN = Secret("environment DEPLOY_TOKEN", b"tok-123456789")


def test_private_key_file_is_found_but_not_a_header_constant_or_a_library():
    assert scan_file("/k", PEM, []) == ["a private key"]
    assert scan_file("/ssh.py", b'_SK_START = b"-----BEGIN OPENSSH ' + b'PRIVATE KEY-----"\n', []) == []
    assert scan_file("/lib.so", b"\x7fELF" + PEM, []) == []


def test_keytab_and_known_values():
    assert scan_file("/etc/http.keytab", KEYTAB, []) == ["a Kerberos keytab"]
    assert scan_file("/x", b"\x05\x02\x00", []) == []  # the magic alone is not a keytab
    assert scan_file("/app.env", b"TOKEN=tok-123456789\n", [TOKEN]) == ["the value of environment DEPLOY_TOKEN"]


def test_known_secrets_from_environment_and_registry_credentials(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"registry.test": {"auth": base64.b64encode(b"ci:regpass-99").decode()}}}))
    secrets = known_secrets({"DEPLOY_TOKEN": "tok-123456789", "HOME": "/root", "SHORT_PASSWORD": "abc"}, config)
    assert {s.name: s.value for s in secrets} == {"environment DEPLOY_TOKEN": b"tok-123456789",
                                                   "registry credential for registry.test": b"regpass-99"}


def test_history_entries_carrying_a_value():
    history = [{"created_by": "|1 DEPLOY_TOKEN=tok-123456789 /bin/sh -c make"}, {"created_by": "USER 1000"}]
    [leak] = scan_history(history, [TOKEN])
    assert leak.path == "history" and leak.step == "|1 DEPLOY_TOKEN=******** /bin/sh -c make"


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_archive_findings_name_the_layer_and_the_step_that_made_it():
    config = {"history": [{"created_by": "ADD rootfs /"}, {"created_by": "ENV A=b", "empty_layer": True},
                          {"created_by": "COPY id_rsa /home/x/.ssh/id_rsa"}]}
    archive = _tar({
        "l1/layer.tar": _tar({"etc/hostname": b"x\n"}),
        "l2/layer.tar": _tar({"home/x/.ssh/id_rsa": PEM}),
        "c.json": json.dumps(config).encode(),
        "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode(),
    })
    [leak] = scan_archive(io.BytesIO(archive), [])
    assert (leak.what, leak.path, leak.layer) == ("a private key", "/home/x/.ssh/id_rsa", 2)
    assert leak.describe() == "a private key in /home/x/.ssh/id_rsa, layer 2 (COPY id_rsa /home/x/.ssh/id_rsa)"
