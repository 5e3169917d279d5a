"""Integration fixtures: a real engine and the default image built by `make build` from a clean clone."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from builder import krb5
from builder.settings import Kerberos, Realm
from builder.engine import Engine
from builder.settings import Engine as EngineSettings
from tests.conftest import ROOT
from tests.harness.cluster import Cluster
from tests.harness.cluster.registry import REGISTRY
from tests.harness.settings import publishing
from tests.harness.windows.target import EmulatedTarget, Target, real_host_from_env

IMAGE = "localhost/awx-ee-kerberos:latest"


@pytest.fixture(scope="session")
def engine() -> Engine:
    # No skip: these tests exist to prove the image on a real engine; `make test` starts one.
    return Engine(EngineSettings())


@dataclass
class Built:
    clone: Path
    output: str
    image: str


@pytest.fixture(scope="session")
def built(tmp_path_factory, engine) -> Built:
    """`make build` in a fresh `git clone` of this repository (committed state only)."""
    clone = tmp_path_factory.mktemp("clone") / "ee"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    result = subprocess.run(["make", "build", f"PYTHON={sys.executable}"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=3600)
    output = result.stdout + result.stderr
    (tmp_path_factory.getbasetemp() / "make-build.log").write_text(output)
    assert result.returncode == 0, f"make build failed:\n{output[-6000:]}"
    return Built(clone, output, IMAGE)


def run_in(engine: Engine, image: str, script: str, user: str | None = None) -> tuple[int, str]:
    """Run ``script`` with bash through the image's own entrypoint, as AWX would."""
    return engine.run(image, ["bash", "-c", script], user=user)


def ee_builder(*args: str, cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def project_with(tmp_path: Path, settings: str, definition: dict | None = None) -> Path:
    """A scratch project directory with ``ee-builder.yml`` and a definition (default: the project's)."""
    definition = definition or yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    (tmp_path / "ee-builder.yml").write_text(settings)
    return tmp_path


def project_settings(image_name: str) -> str:
    """The project's own settings (same base and trust, so earlier layers come from the cache)
    with another image name, so tests never move the user's tags."""
    text = (ROOT / "ee-builder.yml").read_text().replace("name: localhost/awx-ee-kerberos", f"name: {image_name}")
    return text.replace("\nkerberos:\n", f"\nkerberos:\n  template: {ROOT}/krb5/krb5.conf.j2\n")


@pytest.fixture(scope="session")
def windows(tmp_path_factory) -> Target:
    """A real Windows host when WINRM_TEST_* are set, else a KDC and the WinRM test server
    (EMULATED executor) on loopback."""
    real = real_host_from_env()
    if real is not None:
        yield real
        return
    with EmulatedTarget(tmp_path_factory.mktemp("windows")) as target:
        yield target


@pytest.fixture
def emulated(windows) -> Target:
    if not windows.emulated:
        pytest.skip("asserts what the emulated WinRM server received; a real Windows host is configured")
    return windows


def rendered(target: Target, **changes) -> str:
    """krb5.conf rendered by the project's template for ``target``'s realm (``changes``: Kerberos fields)."""
    settings = Kerberos(default_realm=target.realm, realms={target.realm: Realm(kdcs=(target.kdc,))},
                             template=ROOT / "krb5" / "krb5.conf.j2")
    return krb5.render(dataclasses.replace(settings, **changes))


@pytest.fixture(scope="session")
def cluster():
    """The local single-node Kubernetes (tests/harness/cluster/): brought up if it is not, taken
    down at the end if this session brought it up."""
    local = Cluster()
    was_up = local.kubeconfig.exists() and local.status().get("kube-apiserver", "").startswith("running")
    local.up()
    yield local
    if not was_up:
        local.down()


# Publishing to the local registry (test_publish, test_gate) --------------------------------------

REPOSITORY = f"{REGISTRY}/test/published"


def publish(project, *args: str, password: str | None = None, cluster=None, **extra_env: str) -> subprocess.CompletedProcess:
    creds = cluster.registry_credentials
    env = {**os.environ, "EE_REGISTRY_USERNAME": creds["username"],
           "EE_REGISTRY_PASSWORD": creds["password"] if password is None else password, "COLUMNS": "200", **extra_env}
    return subprocess.run([sys.executable, "-m", "builder.cli", "publish", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)


def settings_for(image: str, version: str, repository: str = REPOSITORY) -> str:
    text = project_settings(image.rsplit(":", 1)[0])
    text = text.replace("version: 0.1.0", f"version: {version}")
    return publishing(text, repository, tags="[version]")


def registry_digest(cluster, tag: str) -> str | None:
    creds = cluster.registry_credentials
    response = requests.head(f"https://{REGISTRY}/v2/test/published/manifests/{tag}",
                             auth=(creds["username"], creds["password"]), verify=str(cluster.pki / "ca.crt"),
                             headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10)
    return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None


