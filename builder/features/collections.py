"""Collections without Galaxy: install local artifacts offline in the galaxy stage."""
from __future__ import annotations

from .composition import Composition, Feature, Inputs


class Collections(Feature):
    def apply(self, comp: Composition, inputs: Inputs) -> None:
        if inputs.collections is None:  # Galaxy supplies them
            return
        entries = []
        for artifact in inputs.collections:
            in_context = comp.add_existing("ee-builder/collections", artifact.path)
            # The galaxy stage copies _build to /build and installs from there.
            entries.append({"name": "/build/" + in_context.removeprefix("_build/"), "type": "file"})
        comp.dependencies["galaxy"] = {"collections": entries}
        # Every dependency is among the artifacts: never ask a server.
        comp.build_arg_defaults["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] = "--offline"


FEATURE = Collections()
