"""The mesh folder and the per-node bundles of ``ee-builder receptor config``.

The mesh folder holds what every node's bundle derives from: the mesh CA and the work-signing key
pair. They are made on first use and reused afterwards, so each call for another node joins the
same mesh. A bundle is the folder to copy to one node's install dir (receptor.conf, its TLS files
and its work key). Private keys are created 0600 from the start, never chmod-ed after the fact."""
from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from . import files, receptor_config as rc, receptor_pki as pki
from .errors import UserError

MESH_CA_CERT = "ca.crt"
MESH_CA_KEY = "ca.key"
PRIVATE = 0o600
PUBLIC = 0o644


@dataclass(frozen=True)
class Written:
    """What a call did, for the summary."""
    spec: rc.NodeSpec
    out: Path
    files: list[tuple[str, int]]      # bundle-relative path and mode
    mesh: Path
    ca_fingerprint: str
    ca: str                           # "generated", "reused" or "given"
    work_keys: str                    # "generated" or "reused"
    notes: list[str] = field(default_factory=list)


def write_bundle(spec: rc.NodeSpec, hostnames: tuple[str, ...], mesh: Path, out: Path | None = None,
                 ca_cert: Path | None = None, ca_key: Path | None = None) -> Written:
    out = out if out is not None else mesh / spec.node_id
    if out.resolve() == mesh.resolve():
        raise UserError(f"--out {out}: is the mesh folder, which holds the CA key. Expected a folder of its own "
                        f"for the node's bundle (default: {mesh / spec.node_id}).")
    if (ca_cert is None) != (ca_key is None):
        given, missing = ("--ca-cert", "--ca-key") if ca_key is None else ("--ca-key", "--ca-cert")
        raise UserError(f"{given} needs {missing} too: ee-builder signs the node certificate with the CA, so it "
                        f"needs both its certificate and its private key.")
    given = None
    if ca_cert is not None and ca_key is not None:
        # Checked before anything is written: a wrong CA leaves no half-made mesh folder behind.
        given = pki.load_ca(files.read_bytes(ca_cert, "--ca-cert CA certificate"),
                            files.read_bytes(ca_key, "--ca-key CA private key"), f"--ca-cert {ca_cert}",
                            f"--ca-key {ca_key}")
    _mkdir(mesh, "--mesh", "the mesh folder")
    notes: list[str] = []
    ca, ca_state = _mesh_ca(mesh, given, ca_cert, notes)
    signing, keys_state = _work_keys(mesh)

    node_key = pki.new_rsa_key(pki.NODE_BITS)
    cert = pki.issue_node(ca, spec.node_id, hostnames, node_key)
    bundle: list[tuple[str, bytes, int]] = [
        ("receptor.conf", rc.render(rc.compose(spec)).encode(), PUBLIC),
        (rc.CA_CERT, ca.cert_pem, PUBLIC),
        (rc.NODE_CERT, pki.cert_pem(cert), PUBLIC),
        (rc.NODE_KEY, pki.private_pem(node_key), PRIVATE),
    ]
    if spec.role == "control":
        bundle.append((rc.SIGNING_KEY, pki.signing_pem(signing), PRIVATE))
    elif spec.role == "execution":
        bundle.append((rc.VERIFYING_KEY, pki.verifying_pem(signing.public_key()), PUBLIC))
    _mkdir(out, "--out", "the node's bundle folder")
    _mkdir(out / "tls", "--out", "the bundle's tls folder")
    for relative, data, mode in bundle:
        _write(out / relative, data, mode, "--out")
    # A bundle re-made for another role must not keep the signing key it no longer needs.
    for stale in {rc.SIGNING_KEY, rc.VERIFYING_KEY} - {relative for relative, _, _ in bundle}:
        try:
            (out / stale).unlink(missing_ok=True)
        except OSError as err:
            raise UserError(f"{out / stale}: cannot remove the key left from an earlier bundle: {err.strerror}. "
                            f"Remove it yourself; a {spec.role} node does not need it.") from None
    return Written(spec, out, [(relative, mode) for relative, _, mode in bundle], mesh,
                   pki.fingerprint(ca.cert), ca_state, keys_state, notes)


def _mesh_ca(mesh: Path, given: pki.CA | None, ca_cert: Path | None, notes: list[str]) -> tuple[pki.CA, str]:
    cert_path, key_path = mesh / MESH_CA_CERT, mesh / MESH_CA_KEY
    if given is not None:
        ca = given
        if cert_path.exists():
            kept = _load_cert(cert_path)
            if kept != ca.cert:
                raise UserError(f"--ca-cert {ca_cert}: the mesh folder {mesh} already belongs to another CA "
                                f"({kept.subject.rfc4514_string()}, {pki.fingerprint(kept)}). Nodes of one mesh "
                                f"must share a CA: use another --mesh folder for this CA, or leave out "
                                f"--ca-cert/--ca-key.")
        else:
            # Only the certificate: later calls then know which CA this mesh uses and ask for its key.
            _write(cert_path, ca.cert_pem, PUBLIC, "--mesh")
        return ca, "given"
    if cert_path.exists() and key_path.exists():
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            notes.append(f"{key_path} is readable by others (mode {mode:04o}): chmod 600 {key_path}")
        return pki.load_ca(files.read_bytes(cert_path, "mesh CA certificate"),
                           files.read_bytes(key_path, "mesh CA key"), str(cert_path), str(key_path)), "reused"
    if cert_path.exists():
        raise UserError(f"{cert_path}: the mesh's CA certificate has no {MESH_CA_KEY} beside it: this mesh was "
                        f"made with a CA of your own. Pass it again with --ca-cert and --ca-key.")
    if key_path.exists():
        raise UserError(f"{key_path}: a CA key without its certificate {MESH_CA_CERT}. Restore {cert_path}, or move "
                        f"{key_path} away to start a new mesh (every node then needs a new bundle).")
    ca = pki.new_ca()
    _write(key_path, ca.key_pem, PRIVATE, "--mesh")
    _write(cert_path, ca.cert_pem, PUBLIC, "--mesh")
    return ca, "generated"


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(files.read_bytes(path, "mesh CA certificate"))
    except ValueError:
        raise UserError(f"{path}: not a PEM certificate. Expected the mesh's CA certificate; restore it or use "
                        f"another --mesh folder.") from None


def _work_keys(mesh: Path):
    private_path, public_path = mesh / rc.SIGNING_KEY, mesh / rc.VERIFYING_KEY
    if private_path.exists():
        key = pki.load_signing_key(files.read_bytes(private_path, "work-signing key"), str(private_path))
        if public_path.exists():
            public = pki.load_verifying_key(files.read_bytes(public_path, "work-verification key"), str(public_path))
            if not pki.same_key(key, public):
                raise UserError(f"{public_path}: not the public half of {private_path}. Execution nodes would "
                                f"refuse every job: restore the matching pair, or move both away to make a new "
                                f"one (then every node needs a new bundle).")
        else:
            _write(public_path, pki.verifying_pem(key.public_key()), PUBLIC, "--mesh")
        return key, "reused"
    if public_path.exists():
        raise UserError(f"{public_path}: the work-verification key has no {rc.SIGNING_KEY} beside it, so control "
                        f"nodes could not sign work the execution nodes accept. Restore {private_path}, or move "
                        f"{public_path} away to make a new pair (then every node needs a new bundle).")
    key = pki.new_rsa_key(pki.SIGNING_BITS)
    _write(private_path, pki.signing_pem(key), PRIVATE, "--mesh")
    _write(public_path, pki.verifying_pem(key.public_key()), PUBLIC, "--mesh")
    return key, "generated"


def _mkdir(path: Path, option: str, what: str) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{option} {path}: is a file. Expected {what} (a folder).") from None
    except OSError as err:
        raise UserError(f"{option} {path}: cannot create {what}: {err.strerror}.") from None


def _write(path: Path, data: bytes, mode: int, option: str) -> None:
    """``data`` into ``path`` with ``mode``, replacing it whole: the file has its final mode before it
    has content, and a reader never sees half a key."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise UserError(f"{option}: cannot write {path}: {err.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(temp, path)
    except OSError as err:
        Path(temp).unlink(missing_ok=True)
        what = "is a folder" if path.is_dir() else err.strerror
        raise UserError(f"{option}: cannot write {path}: {what}.") from None
