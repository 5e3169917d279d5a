"""The cluster's components, each configured and started (or left alone when it answers): its PKI
and kubeconfigs, containerd with the CNI bridge, etcd, the API server, the controller manager and
scheduler, and the kubelet. The Kubernetes binaries come from ``build-kube``."""
from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import pki
from ..net import listening
from . import coredns, registry
from .supervise import ClusterError, say

if TYPE_CHECKING:
    from . import Cluster

HERE = Path(__file__).resolve().parent
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
BRIDGE = "ee-k8s0"
CNI_NETWORK = "ee-k8s-pods"
API_PORT = 6443
ETCD_PORTS = (23790, 23800)
PAUSE = "registry.k8s.io/pause:3.10"
NODE = "127.0.0.1"
# Every daemon of the cluster in start order (the registry's is started by registry.py).
DAEMONS = ("containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "coredns", "kubelet",
           "registry")


def build_binaries() -> Path:
    say("Kubernetes binaries (built from the Go module the first time, then cached)")
    result = subprocess.run([str(HERE / "build-kube")], stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise ClusterError("build-kube failed (its output is above)")
    return Path(result.stdout.strip().splitlines()[-1])


def prepare_host() -> None:
    subprocess.run(["mount", "--make-rshared", "/"], check=True)
    for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
        path = Path("/proc/sys") / key
        if path.exists():
            path.write_text(value)


def make_pki(cluster: Cluster) -> None:
    directory = cluster.pki
    if cluster.kubeconfig.exists():
        return
    say(f"PKI in {directory}")
    pki.make_ca(directory, "ee-builder local cluster CA")
    pki.issue(directory, "apiserver", "kube-apiserver", server=True,
              dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local"),
              ips=("127.0.0.1", "10.96.0.1"))
    pki.issue(directory, "apiserver-kubelet-client", "kube-apiserver")
    pki.issue(directory, "admin", "admin", "system:masters")
    pki.issue(directory, "controller-manager", "system:kube-controller-manager")
    pki.issue(directory, "scheduler", "system:kube-scheduler")
    pki.issue(directory, "kubelet", f"system:node:{NODE}", "system:nodes")
    pki.issue(directory, "registry", "registry", server=True, ips=(registry.ADDRESS,))
    _service_account_keys(directory)
    for name in ("controller-manager", "scheduler", "kubelet", "admin"):
        _kubeconfig(directory, name, f"https://127.0.0.1:{API_PORT}")


def _service_account_keys(directory: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pki.write_key(directory / "sa.key", key)
    (directory / "sa.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _kubeconfig(directory: Path, name: str, server: str) -> None:
    """A kubeconfig for the client certificate ``name``, trusting the cluster CA."""
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": b64(directory / "ca.crt")}}],
        "users": [{"name": name, "user": {"client-certificate-data": b64(directory / f"{name}.crt"),
                                          "client-key-data": b64(directory / f"{name}.key")}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": name, "namespace": "default"}}],
    }
    path = directory / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def ctr(cluster: Cluster, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """``ctr`` against the cluster's containerd, namespace k8s.io (where CRI looks)."""
    return subprocess.run(["ctr", "--address", str(cluster.socket), "-n", "k8s.io", *args],
                          capture_output=True, text=True, **kwargs)


def containerd(cluster: Cluster) -> None:
    config = cluster.state / "containerd.toml"
    config.write_text(f"""version = 2
root = "{cluster.state / 'containerd'}"
state = "{cluster.run / 'containerd-state'}"
[grpc]
  address = "{cluster.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  # Required here: without CAP_SYS_RESOURCE the pod sandbox cannot lower its oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cluster.state / 'cni'}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{registry.containerd_trust(cluster)}"
""")
    cluster.daemons.start("containerd", ["containerd", "--config", str(config)],
                          ready=lambda: ctr(cluster, "version").returncode == 0)


def cni(cluster: Cluster) -> None:
    directory = cluster.state / "cni"
    directory.mkdir(exist_ok=True)
    (directory / "10-ee-k8s.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": CNI_NETWORK, "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(cluster.state / "cni-ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}, indent=1))


def etcd(cluster: Cluster) -> None:
    client, peer = ETCD_PORTS
    cluster.daemons.start("etcd", [
        "etcd", "--name", "ee-k8s", "--data-dir", str(cluster.state / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"ee-k8s=http://127.0.0.1:{peer}"],
        ready=lambda: _http_ok(f"http://127.0.0.1:{client}/health"))


def apiserver(cluster: Cluster) -> None:
    p = cluster.pki
    cluster.daemons.start("kube-apiserver", [
        str(cluster.binary("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{ETCD_PORTS[0]}",
        "--bind-address=127.0.0.1", f"--secure-port={API_PORT}", f"--advertise-address={_advertise_address()}",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}"],
        ready=lambda: cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, timeout=120)
    # The apiserver reaches the kubelet (logs, attach, exec) as user kube-apiserver.
    binding = cluster.kubectl("get", "clusterrolebinding", "apiserver-kubelet-api", check=False)
    if binding.returncode != 0:
        cluster.kubectl("create", "clusterrolebinding", "apiserver-kubelet-api",
                        "--clusterrole=system:kubelet-api-admin", "--user=kube-apiserver")


def controllers(cluster: Cluster) -> None:
    p = cluster.pki
    kcm = str(p / "controller-manager.kubeconfig")
    cluster.daemons.start("kube-controller-manager", [
        str(cluster.binary("kube-controller-manager")), f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
        f"--authorization-kubeconfig={kcm}", "--leader-elect=false", "--bind-address=127.0.0.1",
        f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
        "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}"],
        ready=lambda: listening("127.0.0.1", 10257))
    sched = str(p / "scheduler.kubeconfig")
    cluster.daemons.start("kube-scheduler", [
        str(cluster.binary("kube-scheduler")), f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
        f"--authorization-kubeconfig={sched}", "--leader-elect=false", "--bind-address=127.0.0.1"],
        ready=lambda: listening("127.0.0.1", 10259))


def kubelet(cluster: Cluster) -> None:
    config = cluster.state / "kubelet.yaml"
    before = config.read_text() if config.exists() else None
    config.write_text(yaml.safe_dump({
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": "127.0.0.1", "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1",
        "containerRuntimeEndpoint": f"unix://{cluster.socket}", "cgroupDriver": "cgroupfs", "failSwapOn": False,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(cluster.pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        # Pods get CoreDNS in their resolv.conf (without it the kubelet logs MissingClusterDNS and
        # gives them this host's resolver).
        "clusterDNS": [coredns.ADDRESS], "clusterDomain": coredns.DOMAIN,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.available": "1%"},
        # Images loaded by hand cannot be pulled again: never collect them.
        "imageGCHighThresholdPercent": 100, "serializeImagePulls": False, "runtimeRequestTimeout": "5m",
        "containerLogMaxSize": cluster.container_log_max_size,
    }))
    if before is not None and before != config.read_text() and cluster.daemons.alive("kubelet"):
        # A running kubelet reads its configuration once: restart it (its pods keep running).
        say("kubelet configuration changed: restarting the kubelet")
        cluster.daemons.stop("kubelet")
    cluster.daemons.start("kubelet", [
        str(cluster.binary("kubelet")), f"--config={config}", f"--kubeconfig={cluster.pki / 'kubelet.kubeconfig'}",
        f"--hostname-override={NODE}", f"--root-dir={cluster.state / 'kubelet'}"],
        ready=lambda: _node_ready(cluster), timeout=180)


def _node_ready(cluster: Cluster) -> bool:
    result = cluster.kubectl("get", "node", NODE, "-o",
                             "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
    return result.stdout.strip() == "True"


def _advertise_address() -> str:
    """The default route's source address: advertised in the kubernetes Service only (the API
    server binds to loopback; a loopback advertise address is refused)."""
    route = subprocess.run(["ip", "-4", "route", "get", "192.0.2.1"], capture_output=True, text=True).stdout.split()
    return route[route.index("src") + 1] if "src" in route else "10.96.0.1"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
