"""Test helpers and constants shared by the unit and integration tests (the conftest files hold
only fixtures): project paths, scratch projects and settings, the CLI run in-process, small images."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml
from click.testing import CliRunner

from builder import krb5
from builder.cli import cli
from builder.engine import Engine
from builder.settings import Kerberos, Realm
from tests.harness import pki
from tests.harness.cluster.registry import REGISTRY
from tests.harness.settings import publishing
from tests.harness.windows.target import Target

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/awx-ee-kerberos:latest"  # what `make build` tags
REPOSITORY = f"{REGISTRY}/test/published"  # where the publishing tests push


# The command line --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def ee_builder(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """``ee-builder ARGS`` in ``cwd`` with ``env`` added to the environment, in-process: the click
    group turns a UserError into "ee-builder: error: …" and exit 2 as the console script does,
    and anything else raises here, so a crash fails the test with its traceback."""
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, prog_name="ee-builder")
    return CliResult(result.exit_code, result.stdout, result.stderr)


def publish(project: Path, *args: str, cluster, password: str | None = None, **extra_env: str) -> CliResult:
    """``ee-builder publish ARGS`` in ``project`` with the local registry's credentials (or ``password``)."""
    creds = cluster.registry_credentials
    env = {"EE_REGISTRY_USERNAME": creds["username"],
           "EE_REGISTRY_PASSWORD": creds["password"] if password is None else password, "COLUMNS": "200", **extra_env}
    return ee_builder("publish", *args, cwd=project, env=env)


# receptorctl (its own venv: it needs click<8.4, this venv click>=8.5) ------------------------------

RECEPTORCTL_VENV = ROOT / ".venv-receptorctl"  # `make venv-receptorctl` (a part of `make venv-test`)


def receptorctl_bin(name: str = "receptorctl") -> Path:
    """A program of the receptorctl venv (``receptorctl``, ``python``, ``ansible-runner``)."""
    path = RECEPTORCTL_VENV / "bin" / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make venv-receptorctl` (part of `make test`)")
    return path


def receptorctl(socket: Path, *args: str, stdin: bytes | None = None, timeout: float = 120) -> CliResult:
    """``receptorctl --socket SOCKET ARGS``, the real CLI as a subprocess."""
    result = subprocess.run([str(receptorctl_bin()), "--socket", str(socket), *args], input=stdin,
                            capture_output=True, timeout=timeout)
    return CliResult(result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"))


def receptorctl_python(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``script`` run by the receptorctl venv's Python (``ReceptorControl`` and ansible-runner, as AWX
    uses them) with ``args`` as ``sys.argv[1:]``; its bin directory first on PATH."""
    bindir = receptorctl_bin("python").parent
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(bindir / "python"), "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# Scratch projects and settings -------------------------------------------------------------------

def minimal_definition(**extra) -> dict:
    data = {
        "version": 3,
        "images": {"base_image": {"name": "localhost/debian:bookworm"}},
        "dependencies": {"python": ["pywinrm"], "galaxy": {"collections": ["ansible.windows"]}},
    }
    data.update(extra)
    return data


# A kerberos: section for scratch projects (their own krb5/ directory does not exist).
KERBEROS_SETTINGS = f"""kerberos:
  template: {ROOT}/krb5/krb5.conf.j2
  default_realm: CORP.TEST
  realms:
    CORP.TEST:
      kdcs: [dc1.corp.test]
"""


@functools.cache
def ca_pem() -> str:
    """A real CA certificate in PEM (CA bundles must hold one to be accepted)."""
    with tempfile.TemporaryDirectory() as directory:
        return pki.make_ca(Path(directory), "ee-builder test CA").read_text()


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


def settings_for(image: str, version: str, repository: str = REPOSITORY) -> str:
    """The project's settings for ``image`` at ``version``, publishing to ``repository``."""
    text = project_settings(image.rsplit(":", 1)[0])
    text = text.replace("version: 0.1.0", f"version: {version}")
    return publishing(text, repository, tags="[version]")


def rendered(target: Target, **changes) -> str:
    """krb5.conf rendered by the project's template for ``target``'s realm (``changes``: Kerberos fields)."""
    settings = Kerberos(default_realm=target.realm, realms={target.realm: Realm(kdcs=(target.kdc,))},
                        template=ROOT / "krb5" / "krb5.conf.j2")
    return krb5.render(dataclasses.replace(settings, **changes))


# Images ------------------------------------------------------------------------------------------

def run_in(engine: Engine, image: str, script: str, user: str | None = None) -> tuple[int, str]:
    """Run ``script`` with bash through the image's own entrypoint, as AWX would."""
    return engine.run(image, ["bash", "-c", script], user=user)


def build_image(engine: Engine, directory: Path, tag: str, buildargs: dict[str, str] | None = None) -> None:
    """Build ``directory``/Containerfile and tag it ``tag`` (Engine.build leaves tagging to the caller)."""
    result = engine.build(directory, "Containerfile", buildargs or {}, {}, nocache=False, on_event=lambda event: None)
    engine.tag(result.image_id, [tag])


def registry_digest(cluster, tag: str, repository: str = REPOSITORY) -> str | None:
    """The digest the local registry serves for ``repository:tag``, or None when it has no such tag."""
    creds = cluster.registry_credentials
    response = requests.head(f"https://{REGISTRY}/v2/{repository.removeprefix(REGISTRY + '/')}/manifests/{tag}",
                             auth=(creds["username"], creds["password"]), verify=str(cluster.pki / "ca.crt"),
                             headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10)
    return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None


# Kubernetes work ---------------------------------------------------------------------------------

def awx_pod(image: str, name: str = "automation-job-42", container: str = "worker", **extra) -> str:
    """AWX's default pod spec (get_default_pod_spec), dumped as AWX does."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "labels": {"ansible-awx-job-id": "42"}},
           "spec": {"serviceAccountName": "default", "automountServiceAccountToken": False,
                    "containers": [{"name": container, "image": image, "imagePullPolicy": "Never",
                                    "args": ["ansible-runner", "worker", "--private-data-dir=/runner"],
                                    "resources": {"requests": {"cpu": "250m", "memory": "100Mi"}}, **extra}]}}
    return yaml.dump(pod, explicit_start=True)


def pods(cluster, prefix: str) -> list[str]:
    names = cluster.kubectl("get", "pods", "-n", "default", "-o", "name").stdout.split()
    return [n.split("/", 1)[1] for n in names if n.split("/", 1)[1].startswith(prefix)]


def wait_gone(cluster, name: str, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.kubectl("get", "pod", name, "-n", "default", check=False).returncode != 0:
            return True
        time.sleep(1)
    return False


def through_proxy(kubeconfig: str, port: int) -> str:
    """``kubeconfig`` with its API server reached through a proxy on 127.0.0.1:``port`` (the API
    server's certificate carries 127.0.0.1, so TLS still verifies)."""
    config = yaml.safe_load(kubeconfig)
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    return yaml.safe_dump(config)
