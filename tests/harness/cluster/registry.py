"""The cluster's registry: docker-registry with TLS from the cluster CA and htpasswd auth, trusted
by the cluster's containerd and by Docker (for publishing), and pushed to with skopeo."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..net import listening
from .supervise import ClusterError

if TYPE_CHECKING:
    from . import Cluster

# The registry listens on an address of an interface this cluster creates: Docker treats
# 127.0.0.0/8 registries as insecure (no certificate check), and publishing must be tested with TLS.
INTERFACE = "ee-reg0"
ADDRESS = "10.254.254.1"
PORT = 5443
REGISTRY = f"{ADDRESS}:{PORT}"
DOCKER_CERTS = Path("/etc/docker/certs.d") / REGISTRY
PODMAN_CERTS = Path("/etc/containers/certs.d") / REGISTRY


def credentials(state: Path) -> dict[str, str]:
    return json.loads((state / "registry" / "credentials.json").read_text())


def containerd_trust(cluster: Cluster) -> Path:
    """containerd's hosts directory (its registry ``config_path``): pull from the registry trusting the CA."""
    certs = cluster.state / "certs.d"
    (certs / REGISTRY).mkdir(parents=True, exist_ok=True)
    (certs / REGISTRY / "hosts.toml").write_text(
        f'server = "https://{REGISTRY}"\n[host."https://{REGISTRY}"]\n'
        f'  capabilities = ["pull", "resolve"]\n  ca = "{cluster.pki / "ca.crt"}"\n')
    return certs


def start(cluster: Cluster) -> None:
    directory = cluster.state / "registry"
    directory.mkdir(exist_ok=True)
    if not (directory / "credentials.json").exists():
        user, password = "ee-builder", secrets.token_urlsafe(18)
        hashed = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
        (directory / "htpasswd").write_text(hashed.stdout.strip() + "\n")
        (directory / "credentials.json").write_text(json.dumps({"registry": REGISTRY, "username": user,
                                                                "password": password}))
        (directory / "credentials.json").chmod(0o600)
    config = directory / "config.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {"addr": REGISTRY, "tls": {"certificate": str(cluster.pki / "registry.crt"),
                                           "key": str(cluster.pki / "registry.key")}},
        "auth": {"htpasswd": {"realm": "ee-builder local registry", "path": str(directory / "htpasswd")}},
    }))
    if subprocess.run(["ip", "link", "show", INTERFACE], capture_output=True).returncode != 0:
        # A bridge without ports: these kernels have no dummy interfaces; local addresses work the same.
        subprocess.run(["ip", "link", "add", INTERFACE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", INTERFACE], check=True)
        subprocess.run(["ip", "link", "set", INTERFACE, "up"], check=True)
    # Docker and Podman (publishing, the build cache) trust the cluster CA for this registry only.
    for certs in (DOCKER_CERTS, PODMAN_CERTS):
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(cluster.pki / "ca.crt", certs / "ca.crt")
    cluster.daemons.start("registry", ["docker-registry", "serve", str(config)], ready=lambda: listening(ADDRESS, PORT))


def push(cluster: Cluster, image: str, repository: str) -> str:
    """Push an image from the Docker engine to the registry; return its reference."""
    creds = cluster.registry_credentials
    certs = cluster.state / "registry" / "client-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(cluster.pki / "ca.crt", certs / "ca.crt")
    ref = f"{REGISTRY}/{repository}"
    result = subprocess.run(["skopeo", "copy", "--quiet", "--dest-cert-dir", str(certs), "--dest-creds",
                             f"{creds['username']}:{creds['password']}", f"docker-daemon:{image}", f"docker://{ref}"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"pushing {image} to {ref}: {result.stderr.strip()}")
    return ref


def pull_secret(cluster: Cluster, name: str, namespace: str) -> None:
    """A docker-registry secret for the registry (pods name it in imagePullSecrets)."""
    creds = cluster.registry_credentials
    manifest = cluster.kubectl("create", "secret", "docker-registry", name, f"--namespace={namespace}",
                               f"--docker-server={REGISTRY}", f"--docker-username={creds['username']}",
                               f"--docker-password={creds['password']}", "--dry-run=client", "-o", "yaml")
    cluster.kubectl("apply", "-f", "-", input=manifest.stdout)
