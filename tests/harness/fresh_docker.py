"""A fresh CI runner's container engine on this machine: a second Docker daemon with its own empty
data root, so that nothing built or pulled by the main engine survives into it.

It has its own bridge (``ee-fresh0``, 10.254.253.1/24) and no iptables management of its own: a
second daemon managing docker0 or Docker's chains would take the main engine's network away
(with ``--bridge none`` it deletes docker0). The masquerade and forward rules its builds need
(apt and PyPI in RUN steps) are added here and removed on ``stop``. Registry trust comes from
/etc/docker/certs.d, shared with the main daemon.

    with FreshDocker() as fresh:
        fresh.load_from_main("localhost/debian:bookworm")   # as a runner pulls its base
        ... Engine(EngineSettings(url=fresh.url)) ...
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import docker

BRIDGE = "ee-fresh0"
SUBNET = "10.254.253.0/24"
ADDRESS = "10.254.253.1/24"
ROOT = Path("/var/lib/ee-builder-fresh-docker")
RUN = Path("/run/ee-builder-fresh-docker")
SOCKET = RUN / "docker.sock"
RULES = (("nat", "POSTROUTING", ["-s", SUBNET, "!", "-o", BRIDGE, "-j", "MASQUERADE"]),
         ("filter", "FORWARD", ["-i", BRIDGE, "-j", "ACCEPT"]),
         ("filter", "FORWARD", ["-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]))


class FreshDocker:
    url = f"unix://{SOCKET}"

    def __enter__(self) -> FreshDocker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.stop()  # a daemon or data left by an interrupted run is not fresh
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", ADDRESS, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        for table, chain, rule in RULES:
            subprocess.run(["iptables", "-t", table, "-I", chain, *rule], check=True)
        RUN.mkdir(parents=True, exist_ok=True)
        log = open(RUN / "dockerd.log", "w")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(ROOT), "--exec-root", str(RUN / "exec"), "--pidfile", str(RUN / "pid"),
             "-H", self.url, "--bridge", BRIDGE, "--iptables=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.client().ping()
                return
            except (docker.errors.DockerException, OSError):
                if self.process.poll() is not None:
                    break
                time.sleep(0.5)
        raise RuntimeError(f"the fresh Docker daemon did not start; see {RUN / 'dockerd.log'}")

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=600)

    def load_from_main(self, image: str) -> None:
        """Copy ``image`` from the main engine, byte for byte (same ID), as a runner pulls its base."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.url, "load", "-q"], stdin=save.stdout, check=True,
                       capture_output=True)
        if save.wait() != 0:
            raise RuntimeError(f"docker save {image} failed")

    def stop(self) -> None:
        pid_file = RUN / "pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], capture_output=True)
            deadline = time.monotonic() + 30
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.3)
        for table, chain, rule in RULES:
            while subprocess.run(["iptables", "-t", table, "-D", chain, *rule], capture_output=True).returncode == 0:
                pass
        if ROOT.exists():
            subprocess.run(["umount", "-R", str(ROOT)], capture_output=True)  # overlay mounts left by a kill
            shutil.rmtree(ROOT, ignore_errors=True)
