"""The keys and certificates of a receptor mesh: the mesh CA, node certificates that carry
receptor's node ID, and the RSA key pair AWX signs work with. Pure: PEM bytes in and out, the
files are ``receptor_mesh``'s business."""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import UserError

# receptor looks for its node ID in this SAN otherName and exits if its own certificate lacks it.
RECEPTOR_NODE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.2312.19.1")
CA_BITS = 4096
NODE_BITS = 2048
SIGNING_BITS = 4096           # as AWX's work-signing key
CA_VALID = datetime.timedelta(days=3650)
NODE_VALID = datetime.timedelta(days=730)
# Nodes whose clocks run a little behind still accept a certificate issued just now.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CA:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return private_pem(self.key)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _hash_for(key) -> hashes.HashAlgorithm | None:
    # Ed25519/Ed448 sign the whole message and take no separate hash.
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()


def new_rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ca(common_name: str = "ee-builder receptor mesh CA") -> CA:
    key = new_rsa_key(CA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return CA(cert, key)


def load_ca(cert_pem: bytes, key_pem: bytes, cert_where: str, key_where: str) -> CA:
    """The CA in ``cert_pem``/``key_pem``, checked: a CA certificate that may sign certificates, in
    its validity period, and the private key of that certificate."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise UserError(f"{cert_where}: not a PEM certificate. Expected the CA certificate "
                        f"(-----BEGIN CERTIFICATE-----): restore it or name the right file.") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise UserError(f"{cert_where}: {cert.subject.rfc4514_string()} is not a CA certificate (no basicConstraints "
                        f"CA:TRUE). Expected the certificate of the CA that signs the mesh's node certificates; "
                        f"leave out --ca-cert/--ca-key to have ee-builder make one.")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise UserError(f"{cert_where}: the CA certificate's keyUsage does not allow signing certificates "
                            f"(keyCertSign). Expected a CA that may issue certificates.")
    except x509.ExtensionNotFound:
        pass
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise UserError(f"{cert_where}: the CA certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
                        f"{cert.not_valid_after_utc:%Y-%m-%d}, not now. Expected a CA in its validity period: "
                        f"renew it, or start a new mesh folder.")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise UserError(f"{key_where}: the CA key is encrypted. Expected an unencrypted PEM key: decrypt a copy "
                        f"(openssl pkey -in KEY -out PLAIN.key) and keep it as private as the original.") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UserError(f"{key_where}: not a PEM private key. Expected the CA's private key "
                        f"(-----BEGIN ... PRIVATE KEY-----).") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            ed448.Ed448PrivateKey)):
        raise UserError(f"{key_where}: a {type(key).__name__} cannot sign certificates. Expected an RSA, EC or "
                        f"EdDSA CA key.")
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise UserError(f"{key_where}: this key does not belong to the CA certificate {cert_where} "
                        f"({cert.subject.rfc4514_string()}). Expected the private key of that certificate.")
    return CA(cert, key)


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def utf8_string_der(text: str) -> bytes:
    """``text`` as a DER UTF8String, the value receptor reads from its otherName."""
    body = text.encode("utf-8")
    if len(body) < 0x80:
        length = bytes([len(body)])
    else:
        size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return b"\x0c" + length + body


def issue_node(ca: CA, node_id: str, hostnames: tuple[str, ...], key: rsa.RSAPrivateKey) -> x509.Certificate:
    """``key``'s certificate for node ``node_id``, for both ends of a TLS connection (listeners serve
    it, peers present it as clients), valid for ``hostnames`` (DNS names or IPs, as peers dial them)."""
    names: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    names.append(x509.OtherName(RECEPTOR_NODE_OID, utf8_string_der(node_id)))
    now = _now()
    # Never past the CA: a chain is only as valid as its shortest-lived certificate.
    not_after = min(now + NODE_VALID, ca.cert.not_valid_after_utc)
    return (x509.CertificateBuilder()
            # X.509 caps a CN at 64 characters; receptor reads the node ID from the otherName anyway.
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id[:64])]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - BACKDATE).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.cert.public_key()), critical=False)
            .sign(ca.key, _hash_for(ca.key)))


def node_ids(cert: x509.Certificate) -> list[str]:
    """The receptor node IDs in ``cert``'s SAN otherNames."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found = []
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == RECEPTOR_NODE_OID:
            found.append(_read_utf8_string(other.value))
    return found


def _read_utf8_string(der: bytes) -> str:
    if len(der) < 2 or der[0] != 0x0C:
        raise ValueError("not a DER UTF8String")
    if der[1] < 0x80:
        start, length = 2, der[1]
    else:
        count = der[1] & 0x7F
        start, length = 2 + count, int.from_bytes(der[2:2 + count], "big")
    if start + length != len(der):
        raise ValueError("DER UTF8String length does not match")
    return der[start:].decode("utf-8")


def fingerprint(cert: x509.Certificate) -> str:
    return "SHA256:" + cert.fingerprint(hashes.SHA256()).hex(":").upper()


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def private_pem(key) -> bytes:
    """PKCS#8 ("PRIVATE KEY"): TLS and openssl read it for any key type."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# Work signing: receptor reads the private key as PKCS#1 ("RSA PRIVATE KEY") and the public key as
# PKIX ("PUBLIC KEY"), and signs RS512 JWTs with them.

def signing_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def verifying_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_key(pem: bytes, where: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UserError(f"{where}: not an unencrypted RSA private key in PEM. Expected the mesh's work-signing key; "
                        f"if it is lost, move the mesh folder's work-*-key.pem files away to make a new pair and "
                        f"redeploy every node.")
    return key


def load_verifying_key(pem: bytes, where: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise UserError(f"{where}: not an RSA public key in PEM. Expected the mesh's work-verification key: "
                        f"restore it, or remove it to have it made again from the work-signing key beside it.")
    return key


def same_key(private: rsa.RSAPrivateKey, public: rsa.RSAPublicKey) -> bool:
    return _public_der(private.public_key()) == _public_der(public)

