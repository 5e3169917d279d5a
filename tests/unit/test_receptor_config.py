"""`ee-builder receptor config`: the receptor.conf of each role, the checks of what the user gives,
the mesh folder (CA and work keys made once, reused after), and the bundle's certificates and keys
checked with openssl and cryptography. The stand-in receptor (or EE_RECEPTOR's) takes the
generated configs where it overlaps with them."""
from __future__ import annotations

import ipaddress
import json
import stat
import subprocess
import time
from pathlib import Path, PurePosixPath

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from builder import receptor_config as rc, receptor_pki
from builder.features.receptor import CONTROL_CONFIG, SOCKET_DIR
from tests.harness import pki as harness_pki
from tests.harness.receptor import config as stand_in_config, node as receptor_node
from tests.helpers import ee_builder, receptorctl

RECEPTOR_NAME = x509.ObjectIdentifier("1.3.6.1.4.1.2312.19.1")


def entries(config: list[dict], name: str) -> list[dict]:
    return [body for entry in config for key, body in entry.items() if key == name]


def keys(config: list[dict]) -> list[str]:
    return [next(iter(entry)) for entry in config]


def generate(cwd: Path, *args: str):
    return ee_builder("receptor", "config", *args, cwd=cwd)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Composition --------------------------------------------------------------------------------------

def test_execution_node_is_awx_install_bundle_shaped():
    config = rc.compose(rc.NodeSpec("exec-1", "execution", listen=27199))
    assert keys(config) == ["node", "log-level", "tcp-listener", "control-service", "tls-server", "tls-client",
                            "work-verification", "work-command"]
    assert config[0] == {"node": {"id": "exec-1"}} and config[1] == {"log-level": "info"}
    assert entries(config, "tcp-listener") == [{"port": 27199, "tls": "tls_server"}]
    assert entries(config, "control-service") == [
        {"service": "control", "filename": "/var/run/receptor/receptor.sock", "permissions": 0o660}]
    assert entries(config, "tls-server") == [{"name": "tls_server", "cert": "/etc/receptor/tls/receptor.crt",
                                              "key": "/etc/receptor/tls/receptor.key", "requireclientcert": True,
                                              "clientcas": "/etc/receptor/tls/ca.crt"}]
    assert entries(config, "tls-client") == [{"name": "tls_client", "cert": "/etc/receptor/tls/receptor.crt",
                                              "key": "/etc/receptor/tls/receptor.key",
                                              "rootcas": "/etc/receptor/tls/ca.crt"}]
    assert entries(config, "work-verification") == [{"publickey": "/etc/receptor/work-public-key.pem"}]
    assert entries(config, "work-command") == [{"worktype": "ansible-runner", "command": "ansible-runner",
                                                "params": "worker", "allowruntimeparams": True,
                                                "verifysignature": True}]


def test_control_node_signs_and_keeps_awx_ee_work_types():
    config = rc.compose(rc.NodeSpec("awx", "control"))
    # Neither listener nor peer: receptor must be told it is alone.
    assert keys(config) == ["node", "log-level", "local-only", "control-service", "tls-server", "tls-client",
                            "work-signing", "work-command", "work-kubernetes", "work-kubernetes"]
    assert entries(config, "work-signing") == [{"privatekey": "/etc/receptor/work-private-key.pem",
                                                "tokenexpiration": "1m"}]
    assert entries(config, "work-command") == [{"worktype": "local", "command": "ansible-runner",
                                                "params": "worker", "allowruntimeparams": True}]
    assert [k["worktype"] for k in entries(config, "work-kubernetes")] == ["kubernetes-runtime-auth",
                                                                           "kubernetes-incluster-auth"]
    peered = rc.compose(rc.NodeSpec("awx", "control", peers=("hop-1.example.com:27199",)))
    assert "local-only" not in keys(peered) and "tcp-listener" not in keys(peered)
    assert entries(peered, "tcp-peer") == [{"address": "hop-1.example.com:27199", "tls": "tls_client"}]


def test_hop_node_relays_only():
    config = rc.compose(rc.NodeSpec("hop", "hop", listen=27199, peers=("10.0.0.5:27199", "[2001:db8::1]:27199")))
    assert not any(k.startswith("work-") for k in keys(config))
    assert [p["address"] for p in entries(config, "tcp-peer")] == ["10.0.0.5:27199", "[2001:db8::1]:27199"]


def test_the_listener_binds_where_asked():
    bound = rc.compose(rc.NodeSpec("hop", "hop", listen=27199, bind="127.0.0.1"))
    assert entries(bound, "tcp-listener") == [{"bindaddr": "127.0.0.1", "port": 27199, "tls": "tls_server"}]
    assert "bindaddr" not in entries(rc.compose(rc.NodeSpec("hop", "hop", listen=27199)), "tcp-listener")[0]


def test_allowed_peers_and_firewall_rules():
    config = rc.compose(rc.NodeSpec("exec", "execution", listen=27199, peers=("hop:27199",),
                                    allow_peers=("hop", "awx"), accept_work_from=("awx", "awx-2")))
    assert entries(config, "tcp-listener")[0]["allowedpeers"] == ["hop", "awx"]
    assert entries(config, "tcp-peer")[0]["allowedpeers"] == ["hop", "awx"]
    # Every rule names this node as tonode: traffic a hop forwards to others must pass.
    assert entries(config, "node")[0]["firewallrules"] == [
        {"action": "accept", "fromnode": "awx", "tonode": "exec", "toservice": "control"},
        {"action": "accept", "fromnode": "awx-2", "tonode": "exec", "toservice": "control"},
        {"action": "reject", "tonode": "exec", "toservice": "control"},
    ]
    text = rc.render(config)
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == config


def test_install_dir_moves_every_path():
    config = rc.compose(rc.NodeSpec("awx", "control", install_dir="/opt/receptor"))
    paths = [v for e in entries(config, "tls-server") + entries(config, "tls-client") + entries(config, "work-signing")
             for k, v in e.items() if k in ("cert", "key", "clientcas", "rootcas", "privatekey")]
    assert paths and all(PurePosixPath(p).is_relative_to("/opt/receptor") for p in paths)


def test_rendered_as_receptor_reads_it():
    text = rc.render(rc.compose(rc.NodeSpec("awx", "control")))
    assert text.startswith("---\n- node:\n    id: awx\n")
    assert "    permissions: 0660\n" in text and "- local-only:\n" in text
    assert yaml.safe_load(text)[3]["control-service"]["permissions"] == 0o660  # YAML 1.1 octal, as receptor
    # Node IDs YAML would read as something else stay strings.
    assert yaml.safe_load(rc.render(rc.compose(rc.NodeSpec("0660", "hop", listen=1))))[0]["node"]["id"] == "0660"


def test_the_image_config_comes_from_the_same_composer():
    assert CONTROL_CONFIG == rc.render(rc.compose(rc.IMAGE_CONTROL))
    image = yaml.safe_load(CONTROL_CONFIG)
    assert keys(image) == ["node", "log-level", "local-only", "control-service", "work-kubernetes", "work-kubernetes"]
    assert image[0] == {"node": {"id": "awx"}} and image[1] == {"log-level": "info"}
    assert image[3]["control-service"] == {"service": "control", "filename": f"{SOCKET_DIR}/receptor.sock",
                                           "permissions": 0o660}
    assert entries(image, "work-kubernetes") == entries(rc.compose(rc.NodeSpec("awx", "control")), "work-kubernetes")
    assert str(PurePosixPath(rc.CONTROL_SOCKET).parent) == SOCKET_DIR


# What the user gives ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--node-id", ""], "--node-id: '' is not usable. Expected a receptor node ID"),
    (["--node-id", "exec 1"], "--node-id: 'exec 1' is not usable"),
    (["--node-id", "exec\t1"], "--node-id: 'exec\\t1' is not usable"),
    (["--node-id", "localhost"], "not 'localhost' (receptor reserves it)"),
    (["--node-id", "LocalHost"], "--node-id: 'LocalHost' is not usable"),
    (["--node-id", "/exec.*/"], "--node-id: '/exec.*/' is not usable"),
    (["--node-id", "a/b"], "--node-id: 'a/b' is not usable"),
    (["--node-id", "x", "--allow-peer", "local host"], "--allow-peer: 'local host' is not usable"),
    (["--node-id", "x", "--accept-work-from", "localhost"], "--accept-work-from: 'localhost' is not usable"),
    (["--node-id", "x", "--peer", "hop.example.com"], "--peer: 'hop.example.com' has no usable port"),
    (["--node-id", "x", "--peer", "hop:0"], "--peer: 'hop:0' has no usable port"),
    (["--node-id", "x", "--peer", "hop:65536"], "--peer: 'hop:65536' has no usable port"),
    (["--node-id", "x", "--peer", ":27199"], "--peer: ':27199' has no usable host"),
    (["--node-id", "x", "--peer", "2001:db8::1:27199"], "has no usable host. Expected HOST:PORT"),
    (["--node-id", "x", "--peer", "[hop]:27199"], "--peer: '[hop]:27199': [hop] is not an IPv6 address"),
    (["--node-id", "x", "--peer", "hop_1!:27199"], "'hop_1!' is neither a DNS name nor an IP address"),
    (["--node-id", "x", "--hostname", "exec 1"], "--hostname: 'exec 1' is neither a DNS name nor an IP address"),
    (["--node-id", "x", "--install-dir", "etc/receptor"], "--install-dir: 'etc/receptor' is not an absolute path"),
    (["--node-id", "x", "--bind", "any where"], "--bind: 'any where' is neither a DNS name nor an IP address"),
])
def test_bad_values_are_named_with_what_was_expected(tmp_path, args, expected):
    result = generate(tmp_path, "--role", "execution", *args)
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "receptor-mesh").exists()


def test_role_and_port_are_checked_by_click(tmp_path):
    assert "'control', 'execution', 'hop'" in generate(tmp_path, "--role", "worker", "--node-id", "x").stderr
    assert "--listen" in generate(tmp_path, "--role", "hop", "--node-id", "x", "--listen", "0").stderr


# The mesh folder and the bundle ------------------------------------------------------------------

@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Path:
    """One mesh with a control node, an execution node and a hop; returns the working folder."""
    cwd = tmp_path_factory.mktemp("mesh")
    first = generate(cwd, "--role", "control", "--node-id", "awx", "--peer", "hop.example.com:27199")
    assert first.returncode == 0, first.stderr
    (cwd / "first.txt").write_text(first.stdout)
    second = generate(cwd, "--role", "execution", "--node-id", "exec-1.example.com", "--hostname",
                      "exec-1.example.com", "--hostname", "10.0.0.7", "--accept-work-from", "awx")
    assert second.returncode == 0, second.stderr
    (cwd / "second.txt").write_text(second.stdout)
    hop = generate(cwd, "--role", "hop", "--node-id", "hop_1")
    assert hop.returncode == 0, hop.stderr
    return cwd


def test_the_second_node_reuses_the_mesh_ca_and_keys(mesh):
    first, second = (mesh / "first.txt").read_text(), (mesh / "second.txt").read_text()
    assert "mesh CA: generated" in first and "work-signing keys: generated" in first
    assert "mesh CA: reused" in second and "work-signing keys: reused" in second
    fingerprint = first.split("mesh CA: generated, ", 1)[1].split()[0]
    assert f"mesh CA: reused, {fingerprint}" in second
    folder = mesh / "receptor-mesh"
    ca = (folder / "ca.crt").read_bytes()
    assert (folder / "awx" / "tls" / "ca.crt").read_bytes() == ca
    assert (folder / "exec-1.example.com" / "tls" / "ca.crt").read_bytes() == ca
    assert fingerprint == receptor_pki.fingerprint(x509.load_pem_x509_certificate(ca))
    assert (folder / "awx" / "work-private-key.pem").read_bytes() == (folder / "work-private-key.pem").read_bytes()
    assert ((folder / "exec-1.example.com" / "work-public-key.pem").read_bytes()
            == (folder / "work-public-key.pem").read_bytes())


def test_summary(mesh):
    second = (mesh / "second.txt").read_text()
    assert second.startswith("receptor execution node exec-1.example.com: wrote receptor-mesh/exec-1.example.com/ "
                             "(copy it to /etc/receptor on the node)\n")
    assert "  tls/receptor.key (0600)\n" in second and "  work-public-key.pem\n" in second
    assert "certificate: node ID exec-1.example.com, names exec-1.example.com, 10.0.0.7" in second
    assert "Keep receptor-mesh/ca.key off the nodes" in second


def test_files_and_modes(mesh):
    folder = mesh / "receptor-mesh"
    assert mode(folder / "ca.key") == 0o600 and mode(folder / "work-private-key.pem") == 0o600
    for node in ("awx", "exec-1.example.com", "hop_1"):
        assert mode(folder / node / "tls" / "receptor.key") == 0o600
    assert mode(folder / "awx" / "work-private-key.pem") == 0o600
    assert sorted(p.relative_to(folder / "hop_1").as_posix() for p in (folder / "hop_1").rglob("*")) == [
        "receptor.conf", "tls", "tls/ca.crt", "tls/receptor.crt", "tls/receptor.key"]
    assert not (folder / "exec-1.example.com" / "work-private-key.pem").exists()
    assert not list(folder.rglob(".*"))  # no temporary files left
    hop = yaml.safe_load((folder / "hop_1" / "receptor.conf").read_text())
    assert entries(hop, "tcp-listener") == [{"port": 27199, "tls": "tls_server"}]  # the default port
    execution = yaml.safe_load((folder / "exec-1.example.com" / "receptor.conf").read_text())
    assert entries(execution, "node")[0]["firewallrules"][0]["fromnode"] == "awx"


@pytest.mark.parametrize("node, names", [
    ("awx", [x509.DNSName("awx")]),
    ("exec-1.example.com", [x509.DNSName("exec-1.example.com"), x509.IPAddress(ipaddress.ip_address("10.0.0.7"))]),
    ("hop_1", []),  # not a DNS name: the node ID alone
])
def test_node_certificates_verify_and_carry_the_node_id(mesh, node, names):
    folder = mesh / "receptor-mesh"
    crt = folder / node / "tls" / "receptor.crt"
    for purpose in ("sslserver", "sslclient"):
        verified = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", str(folder / "ca.crt"),
                                   str(crt)], capture_output=True, text=True)
        assert verified.returncode == 0 and verified.stdout.strip() == f"{crt}: OK", verified.stdout + verified.stderr
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [n for n in san if not isinstance(n, x509.OtherName)] == names
    (other,) = san.get_values_for_type(x509.OtherName)
    assert other.type_id == RECEPTOR_NAME
    assert other.value == b"\x0c" + bytes([len(node)]) + node.encode()  # DER UTF8String
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    key = serialization.load_pem_private_key((folder / node / "tls" / "receptor.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_long_and_non_ascii_node_ids_round_trip():
    ca = receptor_pki.new_ca()
    for node_id in ("n" * 300, "nœud-1"):
        cert = receptor_pki.issue_node(ca, node_id, (), receptor_pki.new_rsa_key(2048))
        assert receptor_pki.node_ids(cert) == [node_id]


def test_the_control_key_signs_what_execution_nodes_verify(mesh):
    folder = mesh / "receptor-mesh"
    private_pem = (folder / "awx" / "work-private-key.pem").read_bytes()
    public_pem = (folder / "exec-1.example.com" / "work-public-key.pem").read_bytes()
    # PKCS#1: the PEM label is "RSA PRIVATE KEY", which receptor's LoadPrivateKey reads.
    assert private_pem.splitlines()[0].endswith(b" RSA PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")        # PKIX
    private = serialization.load_pem_private_key(private_pem, None)
    public = serialization.load_pem_public_key(public_pem)
    token = b"header.claims"
    signature = private.sign(token, padding.PKCS1v15(), hashes.SHA512())  # RS512, receptor's JWT algorithm
    public.verify(signature, token, padding.PKCS1v15(), hashes.SHA512())
    with pytest.raises(Exception):
        public.verify(signature, b"header.other-claims", padding.PKCS1v15(), hashes.SHA512())


def test_a_bundle_remade_for_another_role_drops_the_signing_key(tmp_path):
    assert generate(tmp_path, "--role", "control", "--node-id", "n1").returncode == 0
    assert (tmp_path / "receptor-mesh" / "n1" / "work-private-key.pem").exists()
    assert generate(tmp_path, "--role", "execution", "--node-id", "n1").returncode == 0
    assert not (tmp_path / "receptor-mesh" / "n1" / "work-private-key.pem").exists()
    assert (tmp_path / "receptor-mesh" / "n1" / "work-public-key.pem").exists()


def test_repeated_values_count_once(tmp_path):
    result = generate(tmp_path, "--role", "control", "--node-id", "awx", "--peer", "hop:27199", "--peer",
                      "hop:27199", "--allow-peer", "hop", "--allow-peer", "hop", "--install-dir", "/opt/receptor/")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "receptor-mesh" / "awx" / "receptor.conf").read_text())
    assert entries(config, "tcp-peer") == [{"address": "hop:27199", "tls": "tls_client", "allowedpeers": ["hop"]}]
    assert entries(config, "tls-client")[0]["rootcas"] == "/opt/receptor/tls/ca.crt"


def test_out_may_not_be_the_mesh_folder(tmp_path):
    result = generate(tmp_path, "--role", "hop", "--node-id", "h", "--mesh", "m", "--out", "m")
    assert result.returncode == 2
    assert "--out m: is the mesh folder, which holds the CA key" in result.stderr


# A CA of the user's own ---------------------------------------------------------------------------

@pytest.fixture
def own_ca(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "own-ca"
    folder.mkdir()
    harness_pki.make_ca(folder, "Corp receptor CA")
    return folder / "ca.crt", folder / "ca.key"


def test_own_ca_signs_the_nodes(tmp_path, own_ca):
    cert, key = own_ca
    result = generate(tmp_path, "--role", "execution", "--node-id", "e1", "--ca-cert", str(cert), "--ca-key", str(key))
    assert result.returncode == 0, result.stderr
    assert "mesh CA: yours (--ca-cert)" in result.stdout and "Keep your CA key off the nodes" in result.stdout
    folder = tmp_path / "receptor-mesh"
    assert not (folder / "ca.key").exists() and (folder / "ca.crt").read_bytes() == cert.read_bytes()
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(cert), str(folder / "e1" / "tls" / "receptor.crt")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    # The mesh now belongs to that CA: later calls must bring it again, and no other CA is taken.
    again = generate(tmp_path, "--role", "execution", "--node-id", "e2")
    assert again.returncode == 2
    assert "the mesh's CA certificate has no ca.key beside it" in again.stderr
    assert "Pass it again with --ca-cert and --ca-key" in again.stderr
    other = tmp_path / "other-ca"
    other.mkdir()
    harness_pki.make_ca(other, "Another CA")
    mixed = generate(tmp_path, "--role", "execution", "--node-id", "e2", "--ca-cert", str(other / "ca.crt"),
                     "--ca-key", str(other / "ca.key"))
    assert mixed.returncode == 2 and "already belongs to another CA (CN=Corp receptor CA" in mixed.stderr
    with_it = generate(tmp_path, "--role", "execution", "--node-id", "e2", "--ca-cert", str(cert), "--ca-key", str(key))
    assert with_it.returncode == 0, with_it.stderr


def test_own_ca_is_checked(tmp_path, own_ca):
    cert, key = own_ca
    leaf_crt, leaf_key = harness_pki.issue(cert.parent, "leaf", "leaf.example.com", dns=("leaf.example.com",))
    other = tmp_path / "other"
    other.mkdir()
    harness_pki.make_ca(other, "Other")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    cases = [
        (["--ca-cert", str(cert)], "--ca-cert needs --ca-key too"),
        (["--ca-key", str(key)], "--ca-key needs --ca-cert too"),
        (["--ca-cert", str(leaf_crt), "--ca-key", str(leaf_key)],
         f"--ca-cert {leaf_crt}: CN=leaf.example.com is not a CA certificate (no basicConstraints CA:TRUE)"),
        (["--ca-cert", str(cert), "--ca-key", str(other / "ca.key")],
         f"--ca-key {other / 'ca.key'}: this key does not belong to the CA certificate --ca-cert {cert}"),
        (["--ca-cert", str(cert), "--ca-key", str(encrypted)], "the CA key is encrypted"),
        (["--ca-cert", str(key), "--ca-key", str(key)], "not a PEM certificate. Expected the CA certificate"),
        (["--ca-cert", str(cert), "--ca-key", str(cert)], "not a PEM private key"),
        (["--ca-cert", str(tmp_path / "missing.crt"), "--ca-key", str(key)],
         "missing.crt: --ca-cert CA certificate not found"),
    ]
    for args, expected in cases:
        result = generate(tmp_path, "--role", "hop", "--node-id", "h", "--mesh", "m", *args)
        assert result.returncode == 2, (args, result.stdout)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "m").exists()


def test_a_broken_mesh_folder_is_named(tmp_path):
    assert generate(tmp_path, "--role", "hop", "--node-id", "h").returncode == 0
    folder = tmp_path / "receptor-mesh"
    (folder / "work-private-key.pem").rename(tmp_path / "moved.pem")
    result = generate(tmp_path, "--role", "hop", "--node-id", "h")
    assert result.returncode == 2 and "the work-verification key has no work-private-key.pem beside it" in result.stderr
    (tmp_path / "moved.pem").rename(folder / "work-private-key.pem")
    (folder / "ca.crt").unlink()
    result = generate(tmp_path, "--role", "hop", "--node-id", "h")
    assert result.returncode == 2 and "ca.key: a CA key without its certificate ca.crt" in result.stderr


# The stand-in takes the generated config where it overlaps ----------------------------------------

STAND_IN_ENTRIES = {"node", "log-level", "local-only", "control-service", "work-command", "work-kubernetes"}


def start_on(config: Path, node_id: str, socket: Path, datadir: Path) -> receptor_node.Node:
    """The harness's receptor (the stand-in, or EE_RECEPTOR's) on ``config`` itself, not on a
    config of the harness's making (``node.start``), so what is tested is the generated text."""
    log = config.with_suffix(".log")
    with open(log, "wb") as out:
        process = subprocess.Popen([receptor_node.binary(), "--config", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    running = receptor_node.Node(node_id, socket, datadir, config, log, process)
    deadline = time.monotonic() + 15
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise AssertionError(f"receptor did not open {socket}:\n{log.read_text()}")
        time.sleep(0.05)
    return running


@pytest.mark.parametrize("role, work", [
    ("control", {"local", "kubernetes-runtime-auth", "kubernetes-incluster-auth"}),
    ("execution", {"ansible-runner"}),
])
def test_the_stand_in_takes_the_generated_config(tmp_path, role, work):
    result = generate(tmp_path, "--role", role, "--node-id", "ee-test", "--accept-work-from", "awx")
    assert result.returncode == 0, result.stderr
    generated = yaml.safe_load((tmp_path / "receptor-mesh" / "ee-test" / "receptor.conf").read_text())
    socket, datadir = tmp_path / "receptor.sock", tmp_path / "data"
    kept = []
    for entry in generated:
        (name, body), = entry.items()
        if name not in STAND_IN_ENTRIES:
            continue
        if name == "node":
            body = {**{k: v for k, v in body.items() if k != "firewallrules"}, "datadir": str(datadir)}
        elif name == "control-service":
            body = {**body, "filename": str(socket), "permissions": rc.FileMode(body["permissions"])}
        elif name == "work-command":
            # Signatures are the mesh test's (real receptor); the stand-in does not verify them.
            body = {k: v for k, v in body.items() if k != "verifysignature"}
        kept.append({name: body})
    assert [next(iter(e)) for e in kept][:2] == ["node", "log-level"]
    if not any("local-only" in e for e in kept):
        # Without its listener the node is alone, and receptor must be told so, as compose does.
        kept.insert(2, {"local-only": None})
    config = tmp_path / "kept.yml"
    config.write_text(rc.render(kept))

    parsed = stand_in_config.load(config)
    assert (parsed.node_id, parsed.permissions, parsed.log_level, set(parsed.workers)) == ("ee-test", 0o660, "info",
                                                                                          work)
    running = start_on(config, "ee-test", socket, datadir)
    try:
        assert mode(socket) == 0o660
        status = receptorctl(socket, "status", "--json")
        assert status.returncode == 0, status.stderr
        advertised = {c["WorkType"] for ad in json.loads(status.stdout)["Advertisements"] if ad["NodeID"] == "ee-test"
                      for c in (ad["WorkCommands"] or [])}
        assert advertised == work
    finally:
        running.stop()
