"""A single-node Kubernetes on this host, from upstream components, for the tests.

kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl are built from the
k8s.io/kubernetes Go module (``build-kube``), CoreDNS from its Go module (``build-coredns``);
etcd, containerd, runc, the CNI plugins and the registry come from Debian. Everything listens on
loopback but the registry, which listens on 10.254.254.1 on a port-less bridge the cluster creates
(ee-reg0), and CoreDNS, the pods' nameserver, on 10.96.0.10 (bridge ee-dns0; ``forward_zone``
adds an AD-style conditional forwarder); pods get 10.244.0.0/24 on the bridge ``ee-k8s0``; containerd is a dedicated instance (Docker's is left alone). All state, logs and PIDs
live under one directory (default /var/lib/ee-builder-cluster).

    python -m tests.harness.cluster up|down|status|credential   (make cluster-up / cluster-down / cluster-status)

Facts of our machines this works around (see ../shared/notes/kubernetes-local.md): no systemd
(cgroupfs, our own daemons), cgroup v1, no CAP_SYS_RESOURCE (containerd's
restrict_oom_score_adj), no registry (a locally built pause image).

``Cluster`` is the one way in; the modules behind it: ``components`` (PKI and daemons),
``coredns`` (cluster DNS), ``images``, ``registry``, ``supervise`` (processes) and ``teardown``.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from . import components, coredns, images, registry, teardown
from .supervise import ClusterError, Supervisor, say, wait

STATE = Path(os.environ.get("EE_CLUSTER_DIR", "/var/lib/ee-builder-cluster"))


class Cluster:
    """``up()`` is idempotent: what runs and answers is left alone, what is missing is started."""

    def __init__(self, state: Path = STATE, container_log_max_size: str = "10Mi"):
        self.state = state
        self.pki, self.logs, self.pids, self.run = state / "pki", state / "logs", state / "pids", state / "run"
        self.container_log_max_size = container_log_max_size
        self.socket = self.run / "containerd.sock"
        self.daemons = Supervisor(self.pids, self.logs)
        self.bin: Path | None = None

    # Paths users and tests need ---------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    @property
    def registry_credentials(self) -> dict[str, str]:
        return registry.credentials(self.state)

    def binary(self, name: str) -> Path:
        if self.bin is None:
            self.bin = components.build_binaries()
        return self.bin / name

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
                                input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    # Lifecycle --------------------------------------------------------------------------------

    def up(self) -> None:
        started = time.monotonic()
        for directory in (self.state, self.pki, self.logs, self.pids, self.run):
            directory.mkdir(parents=True, exist_ok=True)
        self.bin = components.build_binaries()
        components.prepare_host()
        components.make_pki(self)
        components.containerd(self)
        images.pause(self)
        components.cni(self)
        components.etcd(self)
        components.apiserver(self)
        components.controllers(self)
        coredns.start(self)
        components.kubelet(self)
        registry.start(self)
        wait("default service account", lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 120)
        wait("kube-root-ca.crt ConfigMap", lambda: self.kubectl("get", "configmap", "kube-root-ca.crt", check=False).returncode == 0, 120)
        say(f"cluster up in {time.monotonic() - started:.0f}s: KUBECONFIG={self.kubeconfig}, "
            f"registry https://{registry.REGISTRY} (credentials {self.state / 'registry' / 'credentials.json'}), "
            f"logs {self.logs}")

    def status(self) -> dict[str, str]:
        report = {name: (f"running (pid {self.daemons.pid(name)})" if self.daemons.alive(name) else "stopped")
                  for name in components.DAEMONS}
        if self.daemons.alive("kube-apiserver"):
            node = self.kubectl("get", "nodes", "-o", "wide", "--no-headers", check=False)
            report["node"] = node.stdout.strip() or node.stderr.strip()
        return report

    def down(self) -> None:
        teardown.down(self)

    # Images -----------------------------------------------------------------------------------

    def load(self, image: str) -> None:
        """Load an image from the Docker engine straight into the cluster's containerd."""
        images.load(self, image)

    def push(self, image: str, repository: str) -> str:
        """Push an image from the Docker engine to the cluster's registry (TLS, htpasswd); return its reference."""
        return registry.push(self, image, repository)

    # DNS --------------------------------------------------------------------------------------

    @property
    def dns(self) -> str:
        """CoreDNS's address: the nameserver in every pod's resolv.conf."""
        return coredns.ADDRESS

    def forward_zone(self, zone: str, *servers: str) -> None:
        """A conditional forwarder in the cluster DNS: ``zone`` to ``servers`` (``address[:port]``)."""
        coredns.forward_zone(self, zone, *servers)

    def drop_zone(self, zone: str) -> None:
        coredns.drop_zone(self, zone)

    def pull_secret(self, name: str, namespace: str = "default") -> None:
        """A docker-registry secret for the cluster's registry (pods name it in imagePullSecrets)."""
        registry.pull_secret(self, name, namespace)
