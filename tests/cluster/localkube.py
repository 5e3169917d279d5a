"""A single-node Kubernetes on this host, from upstream components, for the tests.

kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl are built from the
k8s.io/kubernetes Go module (``build-kube``); etcd, containerd, runc, the CNI plugins and the
registry come from Debian. Everything listens on loopback but the registry, which listens on
10.254.254.1 on a port-less bridge the cluster creates (ee-reg0); pods get 10.244.0.0/24 on the
bridge ``ee-k8s0``; containerd is a dedicated instance (Docker's is left alone). All state, logs and PIDs
live under one directory (default /var/lib/ee-builder-cluster).

    python -m tests.cluster.localkube up|down|status      (make cluster-up / cluster-down / cluster-status)

Facts of our machines this works around (see ../shared/notes/kubernetes-local.md): no systemd
(cgroupfs, our own daemons), cgroup v1, no CAP_SYS_RESOURCE (containerd's
restrict_oom_score_adj), no registry (a locally built pause image).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import yaml

from . import pki

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("EE_CLUSTER_DIR", "/var/lib/ee-builder-cluster"))
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
BRIDGE = "ee-k8s0"
CNI_NETWORK = "ee-k8s-pods"
API_PORT = 6443
ETCD_PORTS = (23790, 23800)
# The registry listens on an address of an interface this cluster creates: Docker treats
# 127.0.0.0/8 registries as insecure (no certificate check), and publishing must be tested with TLS.
REGISTRY_INTERFACE = "ee-reg0"
REGISTRY_ADDRESS = "10.254.254.1"
REGISTRY_PORT = 5443
REGISTRY = f"{REGISTRY_ADDRESS}:{REGISTRY_PORT}"
DOCKER_CERTS = Path("/etc/docker/certs.d") / REGISTRY
PAUSE = "registry.k8s.io/pause:3.10"
NODE = "127.0.0.1"
DAEMONS = ("containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "registry")


def say(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


class ClusterError(Exception):
    pass


class Cluster:
    """``up()`` is idempotent: what runs and answers is left alone, what is missing is started."""

    def __init__(self, state: Path = STATE, container_log_max_size: str = "10Mi"):
        self.state = state
        self.pki, self.logs, self.pids, self.run = state / "pki", state / "logs", state / "pids", state / "run"
        self.container_log_max_size = container_log_max_size
        self.socket = self.run / "containerd.sock"
        self.bin: Path | None = None

    # Paths users and tests need ---------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    @property
    def registry_credentials(self) -> dict[str, str]:
        return json.loads((self.state / "registry" / "credentials.json").read_text())

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self._bin("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
                                input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    # Bring-up ---------------------------------------------------------------------------------

    def up(self) -> None:
        started = time.monotonic()
        for directory in (self.state, self.pki, self.logs, self.pids, self.run):
            directory.mkdir(parents=True, exist_ok=True)
        self.bin = self._build()
        self._prepare_host()
        self._make_pki()
        self._containerd()
        self._pause_image()
        self._cni()
        self._etcd()
        self._apiserver()
        self._controllers()
        self._kubelet()
        self._registry()
        self._wait("default service account", lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 120)
        self._wait("kube-root-ca.crt ConfigMap", lambda: self.kubectl("get", "configmap", "kube-root-ca.crt", check=False).returncode == 0, 120)
        say(f"cluster up in {time.monotonic() - started:.0f}s: KUBECONFIG={self.kubeconfig}, "
            f"registry https://{REGISTRY} (credentials {self.state / 'registry' / 'credentials.json'}), "
            f"logs {self.logs}")

    def _build(self) -> Path:
        say("Kubernetes binaries (built from the Go module the first time, then cached)")
        result = subprocess.run([str(HERE / "build-kube")], stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise ClusterError("build-kube failed (its output is above)")
        return Path(result.stdout.strip().splitlines()[-1])

    def _bin(self, name: str) -> Path:
        if self.bin is None:
            self.bin = self._build()
        return self.bin / name

    def _prepare_host(self) -> None:
        subprocess.run(["mount", "--make-rshared", "/"], check=True)
        for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
            path = Path("/proc/sys") / key
            if path.exists():
                path.write_text(value)

    def _make_pki(self) -> None:
        if (self.pki / "admin.kubeconfig").exists():
            return
        say(f"PKI in {self.pki}")
        pki.make_ca(self.pki)
        pki.issue(self.pki, "apiserver", "kube-apiserver", server=True,
                  dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"),
                  ips=("127.0.0.1", "10.96.0.1"))
        pki.issue(self.pki, "apiserver-kubelet-client", "kube-apiserver")
        pki.issue(self.pki, "admin", "admin", "system:masters")
        pki.issue(self.pki, "controller-manager", "system:kube-controller-manager")
        pki.issue(self.pki, "scheduler", "system:kube-scheduler")
        pki.issue(self.pki, "kubelet", f"system:node:{NODE}", "system:nodes")
        pki.issue(self.pki, "registry", "registry", server=True, ips=(REGISTRY_ADDRESS,))
        pki.service_account_keys(self.pki)
        server = f"https://127.0.0.1:{API_PORT}"
        for name in ("controller-manager", "scheduler", "kubelet", "admin"):
            pki.kubeconfig(self.pki, name, server)

    def _containerd(self) -> None:
        certs = self.state / "certs.d"
        (certs / REGISTRY).mkdir(parents=True, exist_ok=True)
        (certs / REGISTRY / "hosts.toml").write_text(
            f'server = "https://{REGISTRY}"\n[host."https://{REGISTRY}"]\n'
            f'  capabilities = ["pull", "resolve"]\n  ca = "{self.pki / "ca.crt"}"\n')
        config = self.state / "containerd.toml"
        config.write_text(f"""version = 2
root = "{self.state / 'containerd'}"
state = "{self.run / 'containerd-state'}"
[grpc]
  address = "{self.socket}"
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
    conf_dir = "{self.state / 'cni'}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{certs}"
""")
        self._daemon("containerd", ["containerd", "--config", str(config)],
                     ready=lambda: self._ctr("version").returncode == 0)

    def _ctr(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "--address", str(self.socket), "-n", "k8s.io", *args],
                              capture_output=True, text=True, **kwargs)

    def _pause_image(self) -> None:
        if PAUSE in self._ctr("images", "ls", "-q").stdout.split():
            return
        say(f"building the pause image {PAUSE} (static, from source; no registry)")
        work = self.state / "pause"
        work.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-static", "-Os", "-o", str(work / "pause"), str(HERE / "pause.c")], check=True)
        self.import_image(_single_file_image(work, "pause", PAUSE))

    def load(self, image: str) -> None:
        """Load an image from the Docker engine straight into the cluster's containerd."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        result = self._ctr("images", "import", "-", stdin=save.stdout)
        save.wait()
        if save.returncode != 0 or result.returncode != 0:
            raise ClusterError(f"loading {image} into the cluster: {result.stderr.strip() or 'docker save failed'}")

    def push(self, image: str, repository: str) -> str:
        """Push an image from the Docker engine to the cluster's registry (TLS, htpasswd); return its reference."""
        creds = self.registry_credentials
        certs = self.state / "registry" / "client-certs"
        certs.mkdir(exist_ok=True)
        shutil.copy(self.pki / "ca.crt", certs / "ca.crt")
        ref = f"{REGISTRY}/{repository}"
        result = subprocess.run(["skopeo", "copy", "--quiet", "--dest-cert-dir", str(certs), "--dest-creds",
                                 f"{creds['username']}:{creds['password']}", f"docker-daemon:{image}", f"docker://{ref}"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"pushing {image} to {ref}: {result.stderr.strip()}")
        return ref

    def pull_secret(self, name: str, namespace: str = "default") -> None:
        """A docker-registry secret for the cluster's registry (pods name it in imagePullSecrets)."""
        creds = self.registry_credentials
        manifest = self.kubectl("create", "secret", "docker-registry", name, f"--namespace={namespace}",
                                f"--docker-server={REGISTRY}", f"--docker-username={creds['username']}",
                                f"--docker-password={creds['password']}", "--dry-run=client", "-o", "yaml")
        self.kubectl("apply", "-f", "-", input=manifest.stdout)

    def import_image(self, archive: Path) -> None:
        """Load a ``docker save`` archive into the cluster's containerd (namespace k8s.io, where CRI looks)."""
        with archive.open("rb") as stream:
            result = self._ctr("images", "import", "--no-unpack", "-", stdin=stream)
        if result.returncode != 0:
            raise ClusterError(f"ctr images import {archive}: {result.stderr.strip()}")

    def _cni(self) -> None:
        directory = self.state / "cni"
        directory.mkdir(exist_ok=True)
        (directory / "10-ee-k8s.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": CNI_NETWORK, "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": str(self.state / "cni-ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}}]}, indent=1))

    def _etcd(self) -> None:
        client, peer = ETCD_PORTS
        self._daemon("etcd", [
            "etcd", "--name", "ee-k8s", "--data-dir", str(self.state / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"ee-k8s=http://127.0.0.1:{peer}"],
            ready=lambda: _http_ok(f"http://127.0.0.1:{client}/health"))

    def _apiserver(self) -> None:
        p = self.pki
        self._daemon("kube-apiserver", [
            str(self._bin("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{ETCD_PORTS[0]}",
            "--bind-address=127.0.0.1", f"--secure-port={API_PORT}", f"--advertise-address={_advertise_address()}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}"],
            ready=lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, timeout=120)
        # The apiserver reaches the kubelet (logs, attach, exec) as user kube-apiserver.
        binding = self.kubectl("get", "clusterrolebinding", "apiserver-kubelet-api", check=False)
        if binding.returncode != 0:
            self.kubectl("create", "clusterrolebinding", "apiserver-kubelet-api",
                         "--clusterrole=system:kubelet-api-admin", "--user=kube-apiserver")

    def _controllers(self) -> None:
        p = self.pki
        kcm = str(p / "controller-manager.kubeconfig")
        self._daemon("kube-controller-manager", [
            str(self._bin("kube-controller-manager")), f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
            f"--authorization-kubeconfig={kcm}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}"],
            ready=lambda: _port_open(10257))
        sched = str(p / "scheduler.kubeconfig")
        self._daemon("kube-scheduler", [
            str(self._bin("kube-scheduler")), f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
            f"--authorization-kubeconfig={sched}", "--leader-elect=false", "--bind-address=127.0.0.1"],
            ready=lambda: _port_open(10259))

    def _kubelet(self) -> None:
        config = self.state / "kubelet.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1",
            "containerRuntimeEndpoint": f"unix://{self.socket}", "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"}, "clusterDomain": "cluster.local",
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                             "imagefs.available": "1%"},
            # Images loaded by hand cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100, "serializeImagePulls": False, "runtimeRequestTimeout": "5m",
            "containerLogMaxSize": self.container_log_max_size,
        }))
        self._daemon("kubelet", [
            str(self._bin("kubelet")), f"--config={config}", f"--kubeconfig={self.pki / 'kubelet.kubeconfig'}",
            f"--hostname-override={NODE}", f"--root-dir={self.state / 'kubelet'}"],
            ready=lambda: self._node_ready(), timeout=180)

    def _node_ready(self) -> bool:
        result = self.kubectl("get", "node", NODE, "-o",
                              "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
        return result.stdout.strip() == "True"

    def _registry(self) -> None:
        directory = self.state / "registry"
        directory.mkdir(exist_ok=True)
        credentials = directory / "credentials.json"
        if not credentials.exists():
            user, password = "ee-builder", secrets.token_urlsafe(18)
            hashed = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
            (directory / "htpasswd").write_text(hashed.stdout.strip() + "\n")
            credentials.write_text(json.dumps({"registry": REGISTRY, "username": user, "password": password}))
            credentials.chmod(0o600)
        config = directory / "config.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "info"},
            "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
            "http": {"addr": REGISTRY, "tls": {"certificate": str(self.pki / "registry.crt"),
                                               "key": str(self.pki / "registry.key")}},
            "auth": {"htpasswd": {"realm": "ee-builder local registry", "path": str(directory / "htpasswd")}},
        }))
        if subprocess.run(["ip", "link", "show", REGISTRY_INTERFACE], capture_output=True).returncode != 0:
            # A bridge without ports: these kernels have no dummy interfaces; local addresses work the same.
            subprocess.run(["ip", "link", "add", REGISTRY_INTERFACE, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", f"{REGISTRY_ADDRESS}/32", "dev", REGISTRY_INTERFACE], check=True)
            subprocess.run(["ip", "link", "set", REGISTRY_INTERFACE, "up"], check=True)
        # Docker (publishing) trusts the cluster CA for this registry only.
        DOCKER_CERTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.pki / "ca.crt", DOCKER_CERTS / "ca.crt")
        self._daemon("registry", ["docker-registry", "serve", str(config)],
                     ready=lambda: _port_open(REGISTRY_PORT, REGISTRY_ADDRESS))

    # Daemons ----------------------------------------------------------------------------------

    def _daemon(self, name: str, argv: list[str], ready, timeout: float = 60) -> None:
        if self._alive(name) and ready():
            return
        if self._alive(name):  # running but not answering: give it its timeout below
            say(f"{name} running (pid {self._pid(name)}), waiting for it to answer")
        else:
            say(f"starting {name}")
            log = (self.logs / f"{name}.log").open("a")
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            # The command's name too: after a reboot or a new session the PID may be another process's.
            (self.pids / f"{name}.pid").write_text(f"{process.pid} {Path(argv[0]).name}\n")
        self._wait(name, lambda: self._alive(name) and ready(), timeout,
                   failure=f"see {self.logs / (name + '.log')}")

    def _pid(self, name: str) -> int | None:
        path = self.pids / f"{name}.pid"
        return int(path.read_text().split()[0]) if path.exists() else None

    def _alive(self, name: str) -> bool:
        """The recorded process runs, is not a zombie, and is still the command we started."""
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return False
        pid, *command = path.read_text().split()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            return False
        return not stat.split(") ")[-1].startswith("Z") and (not command or Path(cmdline).name == command[0])

    def _wait(self, what: str, condition, timeout: float, failure: str = "") -> None:
        deadline = time.monotonic() + timeout
        waited = time.monotonic()
        while time.monotonic() < deadline:
            try:
                if condition():
                    took = time.monotonic() - waited
                    if took > 2:
                        say(f"{what} ready after {took:.0f}s")
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.5)
        raise ClusterError(f"{what}: not ready after {timeout:.0f}s. {failure}".strip())

    # Status and teardown ----------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        report = {name: (f"running (pid {self._pid(name)})" if self._alive(name) else "stopped") for name in DAEMONS}
        if self._alive("kube-apiserver"):
            node = self.kubectl("get", "nodes", "-o", "wide", "--no-headers", check=False)
            report["node"] = node.stdout.strip() or node.stderr.strip()
        return report

    def down(self) -> None:
        """Pods first (their shims outlive containerd), then daemons, mounts, network, cgroups, state."""
        if self._alive("containerd"):
            say("killing pod containers")
            for task in self._ctr("tasks", "ls", "-q").stdout.split():
                self._ctr("tasks", "kill", "-s", "SIGKILL", task)
        for name in reversed(DAEMONS):
            self._stop(name)
        self._kill_shims()
        pods = self.state / "kubelet"
        if pods.exists():
            for mount in sorted(_mounts_under(pods), key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True)
        for mount in sorted(_mounts_under(self.state), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        subprocess.run(["ip", "link", "del", REGISTRY_INTERFACE], capture_output=True)
        shutil.rmtree(DOCKER_CERTS, ignore_errors=True)
        _remove_netns()
        _remove_kubelet_iptables()
        _remove_cgroups()
        if self.state.exists():
            shutil.rmtree(self.state, ignore_errors=True)
        say("cluster down")

    def _stop(self, name: str) -> None:
        pid = self._pid(name)
        if pid is not None and self._alive(name):
            say(f"stopping {name} (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not self._alive(name):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def _kill_shims(self) -> None:
        """containerd-shim processes of our instance (they name its root/state in their arguments)."""
        marker = str(self.run / "containerd-state")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "containerd-shim" in cmdline and (marker in cmdline or str(self.socket) in cmdline):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _single_file_image(work: Path, binary: str, ref: str) -> Path:
    """A ``docker save`` archive of an image holding one static binary as its entrypoint."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add(work / binary, arcname=binary)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": [f"/{binary}"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]).encode()
    archive = work / f"{binary}.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


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


def _port_open(port: int, address: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, port)) == 0


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(prefix)]


def _remove_netns() -> None:
    """CNI network namespaces of pods (containerd names them cni-<uuid>)."""
    netns = Path("/var/run/netns")
    if netns.is_dir():
        for entry in netns.iterdir():
            if entry.name.startswith("cni-"):
                subprocess.run(["umount", str(entry)], capture_output=True)
                entry.unlink(missing_ok=True)


def _remove_kubelet_iptables() -> None:
    """The chains the kubelet creates (KUBE-FIREWALL, KUBE-KUBELET-CANARY, …) and the jumps to them."""
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = subprocess.run([binary, "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()
            for rule in rules:
                if rule.startswith("-A ") and "KUBE-" in rule:
                    subprocess.run([binary, "-t", table, *rule.replace("-A ", "-D ", 1).split()], capture_output=True)
            for rule in rules:
                if rule.startswith("-N KUBE-"):
                    chain = rule.split()[1]
                    subprocess.run([binary, "-t", table, "-F", chain], capture_output=True)
                    subprocess.run([binary, "-t", table, "-X", chain], capture_output=True)


def _remove_cgroups() -> None:
    """The kubelet's /kubepods hierarchy, depth first, in every cgroup v1 controller and unified."""
    root = Path("/sys/fs/cgroup")
    for controller in root.iterdir():
        top = controller / "kubepods"
        if top.is_dir():
            for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                try:
                    directory.rmdir()
                except OSError:
                    pass
            try:
                top.rmdir()
            except OSError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.localkube", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status", "credential"))
    parser.add_argument("field", nargs="?", choices=("username", "password"), help="for credential: which")
    parser.add_argument("--container-log-max-size", default="10Mi", help="the kubelet's containerLogMaxSize")
    args = parser.parse_args()
    cluster = Cluster(container_log_max_size=args.container_log_max_size)
    try:
        if args.action == "up":
            cluster.up()
        elif args.action == "down":
            cluster.down()
        elif args.action == "credential":  # the local registry's, for `make ci`
            print(cluster.registry_credentials[args.field or "username"])
        else:
            for name, state in cluster.status().items():
                print(f"{name:<24} {state}")
    except ClusterError as err:
        print(f"cluster: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
