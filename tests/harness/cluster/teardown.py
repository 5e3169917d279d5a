"""Taking the cluster down leaves the host as it was: pods, daemons, containerd shims, mounts, the
bridges, pod network namespaces, the kubelet's iptables chains and cgroups, Docker's trust of the
registry, and the state directory."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from . import coredns, registry
from .components import BRIDGE, DAEMONS, ctr
from .supervise import say

if TYPE_CHECKING:
    from . import Cluster


def down(cluster: Cluster) -> None:
    """Pods first (their shims outlive containerd), then daemons, mounts, network, cgroups, state."""
    if cluster.daemons.alive("containerd"):
        say("killing pod containers")
        for task in ctr(cluster, "tasks", "ls", "-q").stdout.split():
            ctr(cluster, "tasks", "kill", "-s", "SIGKILL", task)
    for name in reversed(DAEMONS):
        cluster.daemons.stop(name)
    _kill_shims(cluster)
    pods = cluster.state / "kubelet"
    if pods.exists():
        for mount in sorted(_mounts_under(pods), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
    for mount in sorted(_mounts_under(cluster.state), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    subprocess.run(["ip", "link", "del", registry.INTERFACE], capture_output=True)
    subprocess.run(["ip", "link", "del", coredns.INTERFACE], capture_output=True)
    for certs in (registry.DOCKER_CERTS, registry.PODMAN_CERTS):
        shutil.rmtree(certs, ignore_errors=True)
    _remove_netns()
    _remove_kubelet_iptables()
    _remove_cgroups()
    if cluster.state.exists():
        shutil.rmtree(cluster.state, ignore_errors=True)
    say("cluster down")


def _kill_shims(cluster: Cluster) -> None:
    """containerd-shim processes of our instance (they name its root/state in their arguments)."""
    marker = str(cluster.run / "containerd-state")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and (marker in cmdline or str(cluster.socket) in cmdline):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


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
