"""The cluster's DNS: CoreDNS built from its Go module (``build-coredns``), run as a cluster daemon
on 10.96.0.10 (kubeadm's kube-dns Service address, here a local address on the port-less bridge
``ee-dns0``; pods reach it through their gateway), the kubelet's ``clusterDNS``.

- ``cluster.local`` (and reverse zones) from its ``kubernetes`` plugin, which watches the API
  server with a client certificate of its own (user ``system:coredns``, kubeadm's ClusterRole).
- Forwarded zones, as AD shops configure a conditional forwarder for the realm's DNS domain to
  the domain controllers: ``forward_zone(cluster, "example.test", "10.254.252.1:53")``. Kept in
  ``<state>/coredns/forwards.json``; CoreDNS reloads its Corefile on SIGUSR1.
- Everything else: NXDOMAIN. This host's resolver is not on loopback, and nothing the tests run
  may send traffic off the host; ``EE_CLUSTER_DNS_UPSTREAM`` (e.g. ``127.0.0.53``) names an upstream
  for sites whose resolver is local.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from builder.probes.names import query

from .supervise import ClusterError, say, wait

if TYPE_CHECKING:
    from . import Cluster

HERE = Path(__file__).resolve().parent
INTERFACE = "ee-dns0"
ADDRESS = "10.96.0.10"
DOMAIN = "cluster.local"
READY_PORT = 18181   # the ready plugin, on loopback
UPSTREAM_ENV = "EE_CLUSTER_DNS_UPSTREAM"

# kubeadm's system:coredns ClusterRole, bound to the user of CoreDNS's client certificate.
RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: 10.96.0.10
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
"""


def build() -> Path:
    say("CoreDNS binary (built from the Go module the first time, then cached)")
    result = subprocess.run([str(HERE / "build-coredns")], stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise ClusterError("build-coredns failed (its output is above)")
    return Path(result.stdout.strip().splitlines()[-1]) / "coredns"


def directory(cluster: Cluster) -> Path:
    return cluster.state / "coredns"


def forwards(cluster: Cluster) -> dict[str, list[str]]:
    path = directory(cluster) / "forwards.json"
    return json.loads(path.read_text()) if path.exists() else {}


def corefile(zones: dict[str, list[str]], kubeconfig: Path, upstream: str | None) -> str:
    """The Corefile: cluster.local from the API, forwarded zones, NXDOMAIN (or ``upstream``) for the rest."""
    common = f"    bind {ADDRESS}\n    errors\n    log . \"{{remote}} {{type}} {{name}} {{rcode}} {{duration}}\"\n"
    blocks = [
        f"{DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{\n{common}"
        f"    ready 127.0.0.1:{READY_PORT}\n"
        f"    kubernetes {DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig} local\n        pods insecure\n        ttl 30\n    }}\n"
        f"    cache 30\n}}\n"]
    for zone, servers in sorted(zones.items()):
        # No cache: the tests change the records behind a forward.
        blocks.append(f"{zone}:53 {{\n{common}    forward . {' '.join(servers)}\n}}\n")
    rest = f"    forward . {upstream}\n    cache 30\n" if upstream else "    template ANY ANY {\n        rcode NXDOMAIN\n    }\n"
    blocks.append(f".:53 {{\n{common}{rest}}}\n")
    return "\n".join(blocks)


def start(cluster: Cluster) -> None:
    """Credentials, RBAC, the address, the Corefile; start CoreDNS, or reload it when its Corefile changed."""
    work = directory(cluster)
    work.mkdir(exist_ok=True)
    kubeconfig = cluster.pki / "coredns.kubeconfig"
    if not kubeconfig.exists():
        from . import components
        from .. import pki
        pki.issue(cluster.pki, "coredns", "system:coredns")
        components._kubeconfig(cluster.pki, "coredns", f"https://127.0.0.1:{components.API_PORT}")
    if cluster.kubectl("get", "service", "kube-dns", "-n", "kube-system", check=False).returncode != 0:
        cluster.kubectl("apply", "-f", "-", input=RBAC)
    if subprocess.run(["ip", "link", "show", INTERFACE], capture_output=True).returncode != 0:
        # A bridge without ports (these kernels have no dummy interfaces): the address is the host's.
        subprocess.run(["ip", "link", "add", INTERFACE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", INTERFACE], check=True)
        subprocess.run(["ip", "link", "set", INTERFACE, "up"], check=True)
    changed = _write_corefile(cluster)
    binary = build()
    running = _running(cluster) if cluster.daemons.alive("coredns") else None
    if running is not None and running != binary.resolve():
        # Another build (version or plugin set: build-coredns's cache key) than the one running.
        say(f"CoreDNS runs {running}, not {binary}: restarting it")
        cluster.daemons.stop("coredns")
    elif changed and cluster.daemons.alive("coredns"):
        reload(cluster)
    cluster.daemons.start("coredns", [str(binary), "-conf", str(work / "Corefile"), "-dns.port", "53"],
                          ready=lambda: answers(cluster), timeout=60)


def _running(cluster: Cluster) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{cluster.daemons.pid('coredns')}/exe"))
    except OSError:
        return None


def _write_corefile(cluster: Cluster) -> bool:
    path = directory(cluster) / "Corefile"
    text = corefile(forwards(cluster), cluster.pki / "coredns.kubeconfig", os.environ.get(UPSTREAM_ENV) or None)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def answers(cluster: Cluster) -> bool:
    """CoreDNS answers cluster.local names from the API (kubernetes.default's ClusterIP)."""
    try:
        rcode, records = query(ADDRESS, f"kubernetes.default.svc.{DOMAIN}", "A", timeout=1)
    except OSError:
        return False
    return rcode == "NOERROR" and bool(records)


def reload(cluster: Cluster) -> None:
    pid = cluster.daemons.pid("coredns")
    say(f"reloading CoreDNS (pid {pid}): Corefile changed")
    os.kill(pid, signal.SIGUSR1)
    time.sleep(1)  # it swaps its servers; the zone checks below wait for the new ones


def forward_zone(cluster: Cluster, zone: str, *servers: str) -> None:
    """Forward ``zone`` (e.g. an AD realm's DNS domain) to ``servers`` (``address[:port]``), as an AD
    shop's conditional forwarder does; wait until CoreDNS answers for it with the servers' SOA."""
    zone = zone.lower().rstrip(".")
    zones = forwards(cluster)
    zones[zone] = list(servers)
    _save(cluster, zones)
    wait(f"CoreDNS forwarding {zone} to {', '.join(servers)}", lambda: _soa(zone) == "NOERROR", 30,
         failure=f"see {cluster.logs / 'coredns.log'}")


def drop_zone(cluster: Cluster, zone: str) -> None:
    zone = zone.lower().rstrip(".")
    zones = forwards(cluster)
    if zones.pop(zone, None) is not None:
        _save(cluster, zones)
        wait(f"CoreDNS no longer forwarding {zone}", lambda: _soa(zone) == "NXDOMAIN", 30,
             failure=f"see {cluster.logs / 'coredns.log'}")


def _save(cluster: Cluster, zones: dict[str, list[str]]) -> None:
    (directory(cluster) / "forwards.json").write_text(json.dumps(zones, indent=1, sort_keys=True))
    if _write_corefile(cluster) and cluster.daemons.alive("coredns"):
        reload(cluster)


def _soa(zone: str) -> str:
    try:
        return query(ADDRESS, zone, "SOA", timeout=1)[0]
    except OSError as err:
        return str(err)
