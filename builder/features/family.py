"""Base families: rpm (dnf/microdnf, as ansible-builder expects) and dpkg (Debian/Ubuntu).

ansible-builder only supports RPM bases. Its scripts call ``$PKGMGR install -y PKGS`` and
``$PKGMGR clean all``; for dpkg we give them a small apt front that accepts exactly that and
removes the apt lists in the same layer, so no layer of any stage keeps them.
"""
from __future__ import annotations

from ..settings import Base
from .composition import Composition, Feature, Inputs

APT_FRONT = "/usr/local/sbin/ee-apt"

APT_FRONT_SCRIPT = b"""#!/bin/sh
# ee-builder's apt front for ansible-builder scripts, which speak dnf:
#   ee-apt install -y PKG...   fetch lists, install without recommends, drop lists and debs
#   ee-apt clean all           drop lists and debs
set -eu
command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  install)
    apt-get update -q
    apt-get install -q -y --no-install-recommends "$@"
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
    ;;
  clean)
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
    ;;
  *)
    exec apt-get "$command" "$@"
    ;;
esac
"""


class Family(Feature):
    def apply(self, comp: Composition, inputs: Inputs) -> None:
        base = inputs.settings.base
        if base.family == "dpkg":
            _dpkg(comp)
        else:
            _rpm(comp, base)


FEATURE = Family()


def _dpkg(comp: Composition) -> None:
    front = comp.add_file("ee-builder", "ee-apt", APT_FRONT_SCRIPT)
    comp.options["package_manager_path"] = APT_FRONT
    # Debian has no ensurepip for the system Python; pip comes from python3-pip instead, and
    # PIP_BREAK_SYSTEM_PACKAGES (set by ansible-builder in every stage) handles PEP 668.
    comp.options["skip_pip_install"] = True
    comp.prepend["base"] += [
        f"COPY {front} {APT_FRONT}",
        "ENV DEBIAN_FRONTEND=noninteractive",
        f"RUN {APT_FRONT} install -y python3 python3-pip python3-venv ca-certificates",
    ]


def _rpm(comp: Composition, base: Base) -> None:
    comp.options["package_manager_path"] = f"/usr/bin/{base.package_manager}"
    if base.python:
        comp.dependencies["python_interpreter"] = {"package_system": base.python.package,
                                                   "python_path": base.python.path}
        # AWX runs "#!/usr/bin/env python3" scripts inside the EE: python3 must be the chosen one.
        comp.append["base"].append(
            f"RUN alternatives --install /usr/bin/python3 python3 {base.python.path} 0"
            f" && alternatives --set python3 {base.python.path}")
