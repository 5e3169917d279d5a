"""The base image, without a registry: use it if present, pull it if possible, otherwise build an
equivalent Debian base from the distribution mirror (debootstrap + import), tag it and reuse it."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .cache import cache_dir
from .engine import Engine
from .errors import UserError, last_lines
from .progress import Printed, Progress
from .settings import Base

# debian-slim's trimming: no docs, man pages or translations; no recommends.
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
APT_CONF = 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
IMPORT_CHANGES = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "ENV LANG=C.UTF-8", 'CMD ["bash"]']


def ensure(engine: Engine, base: Base, progress: Progress = Printed()) -> str:
    """Make ``base.image`` available to the engine; return how: present, pulled or bootstrapped."""
    if engine.image(base.image) is not None:
        return "present"
    progress.say(f"base image {base.image} not found; trying to pull it")
    reason = engine.pull(base.image)
    if reason is None:
        return "pulled"
    if base.family != "dpkg" or not base.bootstrap.enabled:
        why = ("base.bootstrap.enabled is false" if base.family == "dpkg"
               else "only Debian-family bases can be built from a mirror")
        raise UserError(f"base.image: {base.image} is not present and cannot be pulled ({reason}), and {why}. "
                        f"Expected an image the engine has: load it (`docker load -i FILE`), make a registry "
                        f"reachable, or use a Debian base with base.bootstrap.enabled: true.")
    progress.say(f"pull failed ({reason}); building {base.image} from {base.bootstrap.mirror} ({base.bootstrap.suite})")
    tarball = rootfs_tarball(base, progress)
    engine.import_rootfs(tarball, base.image, IMPORT_CHANGES)
    return "bootstrapped"


def rootfs_tarball(base: Base, progress: Progress = Printed()) -> Path:
    """A trimmed minbase root filesystem, cached by suite and mirror."""
    boot = base.bootstrap
    key = hashlib.sha256(f"{sources_list(base)} {DPKG_EXCLUDES} {APT_CONF}".encode()).hexdigest()[:12]
    target = cache_dir() / "base" / f"debian-{boot.suite}-{key}.tar"
    if target.exists():
        progress.say(f"reusing cached root filesystem {target}")
        return target
    if shutil.which("debootstrap") is None:
        raise UserError("base.bootstrap: debootstrap is not installed, so the Debian base cannot be built. "
                        "Install it (`apt-get install debootstrap`, as root) or provide base.image yourself.")
    if os.geteuid() != 0:
        raise UserError("base.bootstrap: building the Debian base with debootstrap needs root. "
                        "Run as root once (the image is then reused), or provide base.image yourself.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ee-builder-rootfs-", dir=target.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _write(rootfs / "etc/dpkg/dpkg.cfg.d/01-ee-builder-nodoc", DPKG_EXCLUDES)
        _write(rootfs / "etc/apt/apt.conf.d/01-ee-builder", APT_CONF)
        log = Path(tmp) / "debootstrap.log"
        progress.say(f"debootstrap --variant=minbase {boot.suite} (about a minute)")
        with open(log, "w") as out:
            result = subprocess.run(["debootstrap", "--variant=minbase", boot.suite, str(rootfs), boot.mirror],
                                    stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = last_lines(log.read_text(errors="replace"), 5)
            raise UserError(f"base.bootstrap: debootstrap of {boot.suite} from {boot.mirror} failed:\n  "
                            + "\n  ".join(tail) + "\n  Check base.bootstrap.mirror and suite.")
        # debootstrap only knows the release itself: add updates and security, and take them now.
        _write(rootfs / "etc/apt/sources.list", sources_list(base))
        progress.say("applying updates and security fixes")
        upgrade = subprocess.run(["chroot", str(rootfs), "sh", "-c",
                                  "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if upgrade.returncode != 0:
            tail = last_lines(upgrade.stdout, 5)
            raise UserError("base.bootstrap: updating the bootstrapped system failed:\n  " + "\n  ".join(tail) +
                            "\n  Check base.bootstrap.mirror and security_mirror.")
        # Files unpacked before our dpkg excludes took effect, and what an image must not carry.
        for pattern in ("usr/share/doc/*/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
                        "var/lib/apt/lists/*", "var/cache/apt/*", "var/cache/debconf/*-old", "var/log/*"):
            for path in rootfs.glob(pattern):
                if path.name in ("locale.alias", "copyright"):
                    continue
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        partial = target.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."],
                       check=True)
        partial.rename(target)
    return target


def sources_list(base: Base) -> str:
    boot = base.bootstrap
    lines = [f"deb {boot.mirror} {boot.suite} main", f"deb {boot.mirror} {boot.suite}-updates main"]
    if boot.security_mirror:
        lines.append(f"deb {boot.security_mirror} {boot.suite}-security main")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
