"""Where the names a Kerberos/WinRM job needs come from, seen from inside an image (stdlib only).

Run by ``ee-builder doctor`` before the kerberos probe, in the same container: for the WinRM host
and each KDC krb5.conf names, whether the name resolves through ``/etc/hosts`` (what a pod's
``hostAliases`` write) or through DNS (the pod's nameserver: cluster DNS, in AD shops with a
conditional forwarder for the realm's zone to the domain controllers); and whether DNS has the
realm's ``_kerberos._tcp`` SRV records (what ``dns_lookup_kdc = true`` uses). One JSON line per
check, as the kerberos probe prints them.

DNS is asked only for names ``/etc/hosts`` lacks (glibc reads files first, so DNS would not be
consulted for them anyway), with a small query of our own so the answer is DNS's alone.
The pure functions are unit-tested; the cluster harness uses ``query`` too.
"""
import ipaddress
import json
import os
import random
import socket
import struct

TYPES = {"A": 1, "CNAME": 5, "SOA": 6, "SRV": 33}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
HOSTS_HINT = "/etc/hosts (hostAliases)"


# DNS on the wire (RFC 1035), just what A, CNAME, SOA and SRV lookups need -------------------------

def encode_query(name, rtype, ident=0):
    labels = b"".join(bytes([len(part)]) + part.encode("idna") for part in name.rstrip(".").split(".") if part)
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", TYPES[rtype], 1)


def _name(data, offset):
    """(name, offset after it), following compression pointers."""
    labels, end, seen = [], None, 0
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            seen += 1
            if seen > 64:
                raise ValueError("DNS name compression loop")
            continue
        if length == 0:
            return ".".join(labels), (end if end is not None else offset + 1)
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def parse_response(data, ident=None):
    """(rcode name, truncated, [(type name, value)]) of a response; values: A an address, CNAME a
    name, SRV ``priority weight port target``, SOA the primary name server."""
    got, flags, qdcount, ancount = struct.unpack(">HHHH", data[:8])
    if ident is not None and got != ident:
        raise ValueError("DNS answer to another query")
    offset = 12
    for _ in range(qdcount):
        offset = _name(data, offset)[1] + 4
    answers = []
    names = {number: name for name, number in TYPES.items()}
    for _ in range(ancount):
        _, offset = _name(data, offset)
        rtype, _, _, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if rtype == 1 and length == 4:
            answers.append(("A", socket.inet_ntoa(rdata)))
        elif rtype in (5, 6):
            answers.append((names[rtype], _name(data, offset)[0]))
        elif rtype == 33:
            priority, weight, port = struct.unpack(">HHH", rdata[:6])
            answers.append(("SRV", f"{priority} {weight} {port} {_name(data, offset + 6)[0]}"))
        offset += length
    return RCODES.get(flags & 0xF, str(flags & 0xF)), bool(flags & 0x0200), answers


def query(server, name, rtype="A", port=53, timeout=2.0):
    """Ask one server (UDP, TCP when truncated): (rcode, [(type, value)]); OSError when it does not answer."""
    ident = random.randrange(1 << 16)
    packet = encode_query(name, rtype, ident)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        while True:
            data, _ = sock.recvfrom(4096)
            try:
                rcode, truncated, answers = parse_response(data, ident)
                break
            except ValueError:
                continue
    if not truncated:
        return rcode, answers
    with socket.create_connection((server, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">H", len(packet)) + packet)
        length = struct.unpack(">H", _read(sock, 2))[0]
        rcode, _, answers = parse_response(_read(sock, length), ident)
    return rcode, answers


def _read(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("DNS over TCP: connection closed")
        data += chunk
    return data


# The files a resolver reads -------------------------------------------------------------------

def hosts_file(text):
    """name (lower case) -> first address, as /etc/hosts maps them."""
    names = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            names.setdefault(name.lower().rstrip("."), fields[0])
    return names


def nameservers(text):
    return [line.split()[1] for line in text.splitlines() if line.strip().startswith("nameserver ")
            and len(line.split()) > 1]


def krb5_facts(text):
    """(default_realm or None, [kdc host names, ports dropped], dns_lookup_kdc or None)."""
    realm, kdcs, lookup = None, [], None
    for line in text.splitlines():
        key, sep, value = line.split("#", 1)[0].partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            continue
        if key == "default_realm":
            realm = value
        elif key == "kdc":
            host = value[1:].split("]", 1)[0] if value.startswith("[") else value.rsplit(":", 1)[0] if value.count(":") == 1 else value
            kdcs.append(host)
        elif key == "dns_lookup_kdc":
            lookup = value.lower() in ("true", "yes", "1", "on")
    return realm, kdcs, lookup


def is_address(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


# What to report -------------------------------------------------------------------------------

def name_source(name, hosts, dns):
    """(rc, text) for one name: ``hosts`` is /etc/hosts parsed; ``dns`` is ``None`` when DNS was not
    asked (the name is in /etc/hosts), else (server, rcode, addresses) or (None, error, [])."""
    address = hosts.get(name.lower().rstrip("."))
    if address is not None:
        return 0, f"{name} -> {address} via {HOSTS_HINT}; DNS not consulted (files come first)"
    server, rcode, addresses = dns
    if addresses:
        return 0, f"{name} -> {', '.join(addresses)} via DNS (nameserver {server})"
    if server is None:
        return 1, f"{name}: not in /etc/hosts, and no DNS answer ({rcode})"
    return 1, f"{name}: not in /etc/hosts, and DNS (nameserver {server}) answers {rcode}"


def srv_report(realm, srv, kdcs, lookup):
    """(rc, text) for the realm's _kerberos._tcp SRV lookup; only a failure when krb5.conf names no
    KDC for kinit to use instead."""
    domain = realm.lower()
    server, rcode, records = srv
    where = f"DNS (nameserver {server})" if server else "DNS"
    if records:
        return 0, f"_kerberos._tcp.{domain} -> {', '.join(records)} via {where}"
    missing = f"_kerberos._tcp.{domain}: no SRV records ({rcode} from {where})"
    if kdcs:
        return 0, f"{missing}; krb5.conf names the KDCs ({', '.join(kdcs)}), so none are needed"
    return 1, f"{missing}, and krb5.conf names no kdc for {realm}"


def ask(servers, name, rtype):
    """The first answer of the servers in order: (server, rcode, values) or (None, error, [])."""
    error = "no nameserver in /etc/resolv.conf"
    for server in servers:
        try:
            rcode, answers = query(server, name, rtype)
        except (OSError, ValueError, IndexError, struct.error) as err:
            error = f"nameserver {server}: {err or type(err).__name__}"
            continue
        return server, rcode, [value for kind, value in answers if kind == rtype]
    return None, error, []


def _read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def main():
    def report(check, rc, output):
        print(json.dumps({"check": check, "rc": rc, "output": output.strip()}), flush=True)

    hosts = hosts_file(_read_file("/etc/hosts"))
    servers = nameservers(_read_file("/etc/resolv.conf"))
    realm, kdcs, lookup = krb5_facts(_read_file("/etc/krb5.conf"))
    names = []
    for name in [os.environ.get("EE_DOCTOR_HOST", "")] + kdcs:
        if name and not is_address(name) and name.lower() not in [n.lower() for n in names]:
            names.append(name)
    for name in names:
        in_hosts = name.lower().rstrip(".") in hosts
        report(f"name source {name}", *name_source(name, hosts, None if in_hosts else ask(servers, name, "A")))
    if realm and (lookup or not kdcs):
        report(f"KDC SRV {realm}", *srv_report(realm, ask(servers, f"_kerberos._tcp.{realm.lower()}", "SRV"),
                                               kdcs, lookup))


if __name__ == "__main__":
    main()
