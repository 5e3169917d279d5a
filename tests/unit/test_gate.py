"""The gate's scanner on synthetic content and archives, and the masking every report uses."""
from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile

import pytest
from rich.console import Console

from builder import gate
from builder.gate import (Leak, Secret, Verdict, image_secrets, known_secrets, scan_archive, scan_config, scan_entry,
                          scan_file, scan_history)
from builder.report import Reporter
from builder.secrets import mask

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


def _tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
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


# --- the image judged on its own: masking, config, credential files, archives ---------------------


@pytest.mark.parametrize("text, known, expected", [
    ("ENV DB_PASSWORD=Hunter2Hunter2", (), "ENV DB_PASSWORD=********"),
    ("|1 DEPLOY_TOKEN=tok-1234 /bin/sh -c make", (), "|1 DEPLOY_TOKEN=******** /bin/sh -c make"),
    ("password = hunter2", (), "password = ********"),
    ("client_secret: abc123", (), "client_secret: ********"),
    ('{"password": "x1", "user": "ci"}', (), '{"password": "********", "user": "ci"}'),
    ("index-url = https://ci:pa55@pypi.example/simple", (), "index-url = https://ci:********@pypi.example/simple"),
    ("a: DB_PASSWORD=x", (), "a: DB_PASSWORD=********"),
    ("echoed S3cret-pw back", ("S3cret-pw",), "echoed ******** back"),
    ("echoed S3cret-pw back", (b"S3cret-pw",), "echoed ******** back"),
    ("tok-1 and tok-12", ("tok-1", "tok-12"), "******** and ********"),  # the longer value first
    # near misses: left as they are
    ("DB_PASSWORD_FILE=/run/secrets/db", (), "DB_PASSWORD_FILE=/run/secrets/db"),
    ('RUN test -n "$DEPLOY_TOKEN" && TOKEN=$(cat /run/t)', (), 'RUN test -n "$DEPLOY_TOKEN" && TOKEN=$(cat /run/t)'),
    ("https://host:8443/x@y and https://ci@host/", (), "https://host:8443/x@y and https://ci@host/"),
    ("Password for admin@EXAMPLE.TEST: ", (), "Password for admin@EXAMPLE.TEST: "),
    ("USER=runner PATH=/usr/bin", ("",), "USER=runner PATH=/usr/bin"),
])
def test_mask(text, known, expected):
    assert mask(text, known) == expected


@pytest.mark.parametrize("config, expected", [
    ({"config": {"Env": ["PATH=/usr/bin", "DB_PASSWORD=Hunter2Hunter2"]}},
     ["environment variable DB_PASSWORD set in the image config"]),
    ({"config": {"Env": ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENG"]}},
     ["environment variable AWS_SECRET_ACCESS_KEY set in the image config"]),
    ({"config": {"Env": ["DB_PASSWORD=", "API_TOKEN=$TOKEN", "DB_PASSWORD_FILE=/run/secrets/db", "LANG=C.UTF-8"]}}, []),
    ({"config": {"Labels": {"org.example.api-token": "abc123xyz", "org.opencontainers.image.source": "https://x"}}},
     ["label org.example.api-token set in the image config"]),
    ({"config": {"Labels": {"org.example.token": ""}}}, []),
    ({"history": [{"created_by": "|1 DEPLOY_TOKEN=tok-7777777 /bin/sh -c make"}]},
     ["the value of DEPLOY_TOKEN in history, image history (|1 DEPLOY_TOKEN=******** /bin/sh -c make)"]),
    ({"history": [{"created_by": "/bin/sh -c #(nop)  ENV DB_PASSWORD=Hunter2Hunter2"}]},
     ["the value of DB_PASSWORD in history, image history (/bin/sh -c #(nop)  ENV DB_PASSWORD=********)"]),
    ({"history": [{"created_by": "/bin/sh -c #(nop)  ARG API_KEY=default-key-1"}]},
     ["the value of API_KEY in history, image history (/bin/sh -c #(nop)  ARG API_KEY=********)"]),
    ({"history": [{"created_by": "/bin/sh -c #(nop)  ARG DEPLOY_TOKEN"},
                  {"created_by": '|1 DEPLOY_TOKEN= /bin/sh -c test -z "$DEPLOY_TOKEN"'},
                  {"created_by": "/bin/sh -c #(nop)  ENV KRB5_PASSWORD_FILE=/run/pw"}]}, []),
])
def test_config_is_judged_without_the_environment(config, expected):
    described = [leak.describe() for leak in scan_config(config, [])]
    assert described == expected
    for value in (b"Hunter2Hunter2", b"wJalrXUtnFEMIK7MDENG", b"abc123xyz", b"tok-7777777", b"default-key-1"):
        assert value.decode() not in " ".join(described)


def test_image_values_are_looked_for_and_a_value_known_here_keeps_its_name():
    config = {"config": {"Env": ["DB_PASSWORD=Hunter2Hunter2", "API_TOKEN=abc"], "Labels": {"x.secret": "lbl-secret-1"}},
              "history": [{"created_by": "|1 DEPLOY_TOKEN=tok-123456789 /bin/sh -c make"}]}
    # "abc" is too short to look for in files (it is still judged in the config).
    assert {s.name: s.value for s in image_secrets(config)} == {
        "DB_PASSWORD": b"Hunter2Hunter2", "x.secret": b"lbl-secret-1", "DEPLOY_TOKEN": b"tok-123456789"}
    [leak] = scan_config({"history": config["history"]}, gate._distinct([TOKEN] + image_secrets(config)))
    assert leak.what == "the value of environment DEPLOY_TOKEN"


KUBECONFIG = b"""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
users:
- name: ci
  user: {%s}
"""


@pytest.mark.parametrize("path, content, expected", [
    ("/root/.netrc", b"machine pypi.example login ci password s3cr3t-pw\n", ["a .netrc with a password"]),
    ("/home/u/_netrc", b"machine a\n  login ci\n  password\ts3cr3t\n", ["a .netrc with a password"]),
    ("/etc/pip.conf", b"[global]\nindex-url = https://ci:s3cr3t@pypi.example/simple\n", ["a credential in pip.conf"]),
    ("/root/.config/pip/pip.ini", b"[global]\nextra-index-url=https://u:p@h/simple\n", ["a credential in pip.ini"]),
    ("/root/.pypirc", b"[pypi]\nusername = __token__\npassword = pypi-AgEIcHlw\n", ["a credential in .pypirc"]),
    ("/root/.npmrc", b"//registry.npmjs.org/:_authToken=npm_abcdef123\n", ["a credential in .npmrc"]),
    ("/root/.git-credentials", b"https://ci:ghp_abcdef@github.com\n", ["a credential in .git-credentials"]),
    ("/root/.docker/config.json", b'{"auths": {"r.example": {"auth": "Y2k6cGFzcw=="}}}',
     ["a credential in .docker/config.json"]),
    ("/root/.aws/credentials", b"[default]\naws_access_key_id = AKIAX\naws_secret_access_key = wJalrXUt\n",
     ["a credential in .aws/credentials"]),
    ("/home/u/.config/containers/auth.json", b'{"auths": {"q.io": {"auth": "dTpw"}}}',
     ["a credential in .config/containers/auth.json"]),
    ("/runner/.kube/config", KUBECONFIG % b"token: eyJhbGciOi", ["a kubeconfig with a user token"]),
    ("/opt/app/cluster.yaml", KUBECONFIG % b"client-certificate-data: Q0VSVA==, client-key-data: S0VZ",
     ["a kubeconfig with a user client-key-data"]),
    ("/srv/kc", KUBECONFIG % b"username: admin, password: pw1", ["a kubeconfig with a user password"]),
    # near misses: the name without a credential, a credential-like line in another file
    ("/root/.netrc", b"machine pypi.example login ci\n", []),
    ("/usr/share/doc/notes.txt", b"machine a login b password c\n", []),
    ("/etc/pip.conf", b"[global]\nindex-url = https://pypi.example/simple\ntimeout = 60\n", []),
    ("/root/.npmrc", b"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", []),
    ("/root/.docker/config.json", b'{"credsStore": "pass", "auths": {"r.example": {}}}', []),
    ("/root/.aws/credentials", b"[default]\naws_access_key_id = AKIAX\n", []),
    ("/srv/app/config.json", b'{"auth": "Y2k6cGFzcw=="}', []),
    ("/usr/lib/python3/dist-packages/pip/_internal/network/auth.py", b'password = "x"\nhttps://a:b@c\n', []),
    ("/runner/.kube/config", KUBECONFIG % b'token: ""', []),
    ("/runner/.kube/config", KUBECONFIG % b"exec: {command: aws}", []),
    ("/srv/cm.yaml", b"kind: ConfigMap\ndata: {token: abc}\n", []),
    ("/srv/broken.yaml", b"kind: Config\nusers: [\n", []),
])
def test_credential_files_by_name_and_content(path, content, expected):
    assert scan_file(path, content, []) == expected


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _targz(files: dict[str, bytes]) -> bytes:
    return _tar(files, "w:gz")


@pytest.mark.parametrize("path, content, expected", [
    ("/opt/keys.zip", _zip({"README": b"hello", "certs/id_rsa": PEM}), [("a private key", "/opt/keys.zip!certs/id_rsa")]),
    ("/opt/app-1.0-py3-none-any.whl", _zip({"app/kube.yml": KUBECONFIG % b"token: eyJhbGciOi"}),
     [("a kubeconfig with a user token", "/opt/app-1.0-py3-none-any.whl!app/kube.yml")]),
    ("/opt/lib.jar", _zip({"conf/settings": b"TOKEN=tok-123456789"}),
     [("the value of environment DEPLOY_TOKEN", "/opt/lib.jar!conf/settings")]),
    ("/srv/backup.tar.gz", _targz({"root/.netrc": b"machine m login l password p4ss\n", "etc/pip.conf": b"[global]\n"}),
     [("a .netrc with a password", "/srv/backup.tar.gz!root/.netrc")]),
    ("/srv/etc.tgz", _targz({"etc/svc.keytab": KEYTAB}), [("a Kerberos keytab", "/srv/etc.tgz!etc/svc.keytab")]),
    ("/srv/plain.tar", _tar({".npmrc": b"_authToken=npm_abc\n"}), [("a credential in .npmrc", "/srv/plain.tar!.npmrc")]),
    # near misses: ordinary members, a file only named like an archive, an archive under another name
    ("/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl", _zip({"pip/__init__.py": b"__version__ = '23'\n"}), []),
    ("/opt/broken.zip", b"PK\x03\x04 not really a zip", []),
    ("/opt/data.bin", _zip({"id_rsa": PEM}), []),
])
def test_archives_members_get_the_same_checks(path, content, expected):
    assert scan_entry(path, content, [TOKEN]) == expected


def test_archives_are_bounded(monkeypatch):
    archive = _zip({"a.txt": b"x" * 100, "id_rsa": PEM})
    monkeypatch.setattr(gate, "ARCHIVE_BYTES", 100)  # the key comes after the budget is spent
    assert scan_entry("/o/a.zip", archive, []) == []
    monkeypatch.setattr(gate, "ARCHIVE_BYTES", 1 << 20)
    monkeypatch.setattr(gate, "ARCHIVE_LIMIT", len(archive) - 1)  # too large to open
    assert scan_entry("/o/a.zip", archive, []) == []


def test_archive_judges_the_config_and_looks_for_its_values_in_files():
    config = {"config": {"Env": ["DB_PASSWORD=Hunter2Hunter2"]},
              "history": [{"created_by": "ADD rootfs /"}, {"created_by": "ENV DB_PASSWORD=Hunter2Hunter2", "empty_layer": True},
                          {"created_by": "RUN echo Hunter2Hunter2 > /etc/app.conf"}]}
    archive = _tar({
        "l1/layer.tar": _tar({"etc/hostname": b"x\n"}),
        "l2/layer.tar": _tar({"etc/app.conf": b"Hunter2Hunter2\n"}),
        "c.json": json.dumps(config).encode(),
        "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode(),
    })
    described = [leak.describe() for leak in scan_archive(io.BytesIO(archive), image_secrets(config))]
    assert described == [
        "the value of DB_PASSWORD in /etc/app.conf, layer 2 (RUN echo ******** > /etc/app.conf)",
        "environment variable DB_PASSWORD set in the image config",
        "the value of DB_PASSWORD in history, image history (ENV DB_PASSWORD=********)",
        "the value of DB_PASSWORD in history, image history (RUN echo ******** > /etc/app.conf)",
    ]


def test_reported_leaks_and_details_never_show_a_value():
    out = io.StringIO()
    verdict = Verdict("img", [("probe", False, "probe exited 1: DB_PASSWORD=Hunter2Hunter2")],
                      [Leak("a credential in pip.conf", "/etc/pip.conf", 3,
                            "RUN echo index-url=https://ci:s3cr3t-pw@pypi.example >/etc/pip.conf"),
                       Leak("the value of DEPLOY_TOKEN", "history", None, "|1 DEPLOY_TOKEN=tok-7777 /bin/sh -c make")])
    Reporter(console=Console(file=out, width=250)).verdict(verdict)
    output = out.getvalue()
    assert "leak: a credential in pip.conf in /etc/pip.conf, layer 3" in output and "image refused" in output
    assert "DB_PASSWORD=********" in output and "https://ci:********@pypi.example" in output
    for value in ("Hunter2Hunter2", "s3cr3t-pw", "tok-7777"):
        assert value not in output
