"""Reuse wheels compiled by earlier builds.

pykerberos, gssapi and krb5 exist only as sdists on Linux, so every builder-stage run compiles
them: minutes on a small machine, for every change of the Python requirements. ee-builder keeps
the wheels pip built (the ``wheels/`` part of pip's cache, never downloads) on the host, and puts
them in pip's cache directory before ansible-builder's ``assemble`` runs, so an unchanged sdist
is not compiled again. The step is always present (empty on a cold build) so the Containerfile
does not change shape between builds.
"""
from __future__ import annotations

from .composition import Composition, Feature, Inputs

SEED = "ee-builder/pip-cache"
# ansible-builder's assemble and install-from-bindep both use --cache-dir=/output/wheels; pip keeps
# the wheels it built under wheels/ there, and that directory is what build.keep_wheels saves.
PIP_WHEELS = "/output/wheels/wheels/"


class WheelCache(Feature):
    def apply(self, comp: Composition, inputs: Inputs) -> None:
        if inputs.wheels is not None and any(inputs.wheels.iterdir()):
            comp.add_directory(SEED, inputs.wheels)
        else:
            comp.add_file(SEED, ".keep", b"")
        comp.prepend["builder"].append(f"COPY _build/{SEED}/ {PIP_WHEELS}")


FEATURE = WheelCache()
