"""Integration fixtures: a real engine, the default image built by `make build` from a clean clone,
the Windows target, the local Kubernetes and a receptor node. Helpers are in tests/helpers.py."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.engine import Engine
from builder.settings import EngineSettings
from tests.harness.cluster import Cluster
from tests.harness.receptor import node as receptor
from tests.harness.windows.target import EmulatedTarget, Target, real_host_from_env
from tests.helpers import IMAGE, ROOT, receptorctl_bin


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
    """`make build` in a fresh `git clone` of this repository (committed state only), as a
    subprocess: the README's command, through the installed `ee-builder` console script."""
    clone = tmp_path_factory.mktemp("clone") / "ee"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    result = subprocess.run(["make", "build", f"PYTHON={sys.executable}"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=3600)
    output = result.stdout + result.stderr
    (tmp_path_factory.getbasetemp() / "make-build.log").write_text(output)
    assert result.returncode == 0, f"make build failed:\n{output[-6000:]}"
    return Built(clone, output, IMAGE)


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


def pytest_collection_finish(session):
    """On a new machine the cluster's Go binaries take minutes to compile: start that when the
    session starts, beside the image build the first tests wait for (downloads overlap compiles),
    rather than when the first cluster test needs them. build-kube and build-coredns take a lock,
    so the cluster fixture's own call waits for these."""
    if any("cluster" in getattr(item, "fixturenames", ()) for item in session.items):
        (ROOT / ".pytest_cache").mkdir(exist_ok=True)
        log = open(ROOT / ".pytest_cache" / "cluster-binaries.log", "w")  # a failure shows again in the fixture
        for script in ("build-kube", "build-coredns"):
            subprocess.Popen([str(ROOT / "tests" / "harness" / "cluster" / script)], stdout=subprocess.DEVNULL,
                             stderr=log, start_new_session=True)


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


# The work types of the test node: receptorctl's `cat` demo, AWX's execution-node `ansible-runner`
# (its command from the receptorctl venv, where ansible-core is too), and what the failure,
# params and cancel tests need.
RECEPTOR_WORKERS = [
    {"work-command": {"worktype": "cat", "command": "cat"}},
    {"work-command": {"worktype": "ansible-runner", "command": "ansible-runner", "params": "worker",
                      "allowruntimeparams": True}},
    {"work-command": {"worktype": "fail", "command": "sh", "params": "-c 'echo going down; exit 3'"}},
    {"work-command": {"worktype": "sleep", "command": "sleep", "allowruntimeparams": True}},
]


@pytest.fixture
def receptor_node(tmp_path):
    """A receptor node on a unix socket in ``tmp_path``: the stand-in (tests/harness/receptor/), or
    the real receptor named by ``EE_RECEPTOR``. Its PATH starts with the receptorctl venv's bin, so
    `ansible-runner worker` finds ansible-playbook."""
    bindir = receptorctl_bin("ansible-runner").parent
    node = receptor.start(tmp_path, "ee-test", RECEPTOR_WORKERS, env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    yield node
    node.stop()


# awx-ee's control-plane work types (README, "Receptor in the image"): container groups.
KUBE_WORKERS = [
    {"work-kubernetes": {"worktype": "kubernetes-runtime-auth", "authmethod": "runtime", "allowruntimeauth": True,
                         "allowruntimepod": True, "allowruntimeparams": True}},
    {"work-kubernetes": {"worktype": "kubernetes-incluster-auth", "authmethod": "incluster",
                         "allowruntimeauth": True, "allowruntimepod": True, "allowruntimeparams": True}},
]


@pytest.fixture(scope="session")
def ee_in_cluster(cluster) -> str:
    """The image from `make build`, loaded into the local cluster's containerd."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run `make build`")
    cluster.load(IMAGE)
    return IMAGE


@pytest.fixture
def kube_node(tmp_path, cluster):
    """A receptor node (stand-in or EE_RECEPTOR) with the container-group work types; kubectl on
    its PATH for the stand-in."""
    kubectl = cluster.binary("kubectl").parent
    node = receptor.start(tmp_path, "ee-test", KUBE_WORKERS, env={"PATH": f"{kubectl}:{os.environ['PATH']}"})
    yield node
    node.stop()


# AWX's control-node work type for container groups and an execution node's ansible-runner, for
# `ee-builder verify`; the runner is ee-builder's own (Podman process isolation on this host).
VERIFY_WORKERS = [
    KUBE_WORKERS[0],
    {"work-command": {"worktype": "ansible-runner", "command": "ansible-runner", "params": "worker",
                      "allowruntimeparams": True}},
]


@pytest.fixture
def verify_node(tmp_path, cluster):
    """A receptor node (stand-in or EE_RECEPTOR) with VERIFY_WORKERS."""
    kubectl = cluster.binary("kubectl").parent
    runner = Path(sys.executable).parent
    node = receptor.start(tmp_path, "ee-test", VERIFY_WORKERS,
                          env={"PATH": f"{runner}:{kubectl}:{os.environ['PATH']}"})
    yield node
    node.stop()


@pytest.fixture(scope="session")
def in_podman(ee_in_cluster) -> str:
    """The image in Podman's storage, as an execution node that pulled it has it."""
    subprocess.run(["podman", "pull", "-q", f"docker-daemon:{IMAGE}"], check=True, capture_output=True, timeout=600)
    return IMAGE
