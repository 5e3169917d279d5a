"""Images in the cluster's containerd without a registry upstream: the pause image compiled from
``pause.c``, and images loaded straight from the Docker engine."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from .components import HERE, PAUSE, ctr
from .supervise import ClusterError, say

if TYPE_CHECKING:
    from . import Cluster


def pause(cluster: Cluster) -> None:
    if PAUSE in ctr(cluster, "images", "ls", "-q").stdout.split():
        return
    say(f"building the pause image {PAUSE} (static, from source; no registry)")
    work = cluster.state / "pause"
    work.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(work / "pause"), str(HERE / "pause.c")], check=True)
    import_archive(cluster, _single_file_image(work, "pause", PAUSE))


def load(cluster: Cluster, image: str) -> None:
    """Load an image from the Docker engine straight into the cluster's containerd."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    result = ctr(cluster, "images", "import", "-", stdin=save.stdout)
    save.wait()
    if save.returncode != 0 or result.returncode != 0:
        raise ClusterError(f"loading {image} into the cluster: {result.stderr.strip() or 'docker save failed'}")


def import_archive(cluster: Cluster, archive: Path) -> None:
    """Load a ``docker save`` archive into the cluster's containerd."""
    with archive.open("rb") as stream:
        result = ctr(cluster, "images", "import", "--no-unpack", "-", stdin=stream)
    if result.returncode != 0:
        raise ClusterError(f"ctr images import {archive}: {result.stderr.strip()}")


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
