"""receptor in the image, pinned: the binary from a receptor image (``COPY --from``, as awx-ee
gets it) or from a local file; receptorctl from PyPI at the same version; the socket directory
writable by the user jobs run as; and a default config for the awx-ee "control plane" role.

The pin is written into the image as a label, so the build and the publishing gate can hold
``receptor --version`` against it without the settings: receptor/receptorctl skew has broken AWX.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import receptor_config
from .composition import Composition, Feature, ImageCheck, Inputs

if TYPE_CHECKING:
    from ..summary import Summary

BINARY = "/usr/bin/receptor"
SOCKET_DIR = "/var/run/receptor"
CONFIG = "/etc/receptor/receptor.conf"
PIN_LABEL = "io.ee-builder.receptor.version"
# awx-ee's default: the control node's view, with work-kubernetes for container groups; composed
# where `ee-builder receptor config --role control` composes it, so the two cannot drift apart.
CONTROL_CONFIG = receptor_config.render(receptor_config.compose(receptor_config.IMAGE_CONTROL))


class Receptor(Feature):
    def applies(self, settings) -> bool:
        return settings.receptor.source != "none"

    def apply(self, comp: Composition, inputs: Inputs) -> None:
        receptor = inputs.settings.receptor
        comp.python.append(f"receptorctl=={receptor.release}")
        if receptor.source == "image":
            binary = f"COPY --from={receptor.image} {BINARY} {BINARY}"
        else:
            binary = f"COPY {comp.add_existing('ee-builder/receptor', receptor.file)} {BINARY}"
        config = comp.add_file("ee-builder/receptor-config", "receptor.conf", CONTROL_CONFIG.encode())
        comp.append["final"] += [
            binary,
            f"COPY {config} {CONFIG}",
            # Group 0 and g+rwx, as ansible-builder does for /runner: AWX runs jobs with any UID in group 0.
            f"RUN chmod 0755 {BINARY} && mkdir -p {SOCKET_DIR} && chgrp 0 {SOCKET_DIR} && chmod ug+rwx {SOCKET_DIR}",
            f"LABEL {PIN_LABEL}={receptor.release}",
        ]

    def image_checks(self, summary: Summary) -> list[ImageCheck]:
        return checks(summary.labels.get(PIN_LABEL), summary.receptor)


FEATURE = Receptor()


def checks(pin: str | None, found: str | None) -> list[ImageCheck]:
    """receptor must say the version the image is labelled with; an image without a pin has nothing to hold."""
    if pin is None:
        return []
    if found == pin:
        return [ImageCheck("receptor matches its pin", True, f"receptor --version: {found}")]
    said = f"receptor --version says {found}" if found else "receptor is missing or does not say its version"
    return [ImageCheck("receptor matches its pin", False,
                       f"{said}, but the image is pinned to {pin} ({PIN_LABEL}); AWX breaks on receptor/receptorctl "
                       f"skew: fix receptor.image or receptor.file, or the pin receptor.version")]
