"""The content manifest: what the image holds, written at the end of the build by the same probe
``ee-builder inspect`` runs, from inside the image, so it describes the image and not the
definition. ``ee-builder inspect`` prints it."""
from __future__ import annotations

from pathlib import Path

from .. import probes
from .composition import Composition, Feature, Inputs

MANIFEST = "/usr/share/ee-builder/manifest.json"  # probes/image.py reads it back for inspect


class Manifest(Feature):
    def apply(self, comp: Composition, inputs: Inputs) -> None:
        probe = comp.add_existing("ee-builder/probe", probes.path("image"))
        comp.append["final"] += [
            f"COPY {probe} /tmp/ee-builder-probe.py",
            f"RUN mkdir -p {Path(MANIFEST).parent} && $PYCMD /tmp/ee-builder-probe.py --manifest > {MANIFEST} "
            f"&& rm /tmp/ee-builder-probe.py",
        ]


FEATURE = Manifest()
