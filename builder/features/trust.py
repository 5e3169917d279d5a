"""Trust, proxy and package index for every build stage.

- CA bundles are added to the system trust store in the base stage (so every later stage has
  them) and removed from the final image's store unless ``keep_in_final``.
- Proxies are Docker's predefined build args: every RUN sees them and they are kept out of the
  image and its history.
- The pip index is declared as an ARG in every stage, so it never lands in the image's ENV.
"""
from __future__ import annotations

from ..compose import Composition
from ..settings import Trust

_STORE = {
    # family: (where the bundles go, what removes them, refresh command). update-ca-certificates
    # reads subdirectories; p11-kit's anchors directory is read flat, hence the file prefix there.
    "dpkg": ("/usr/local/share/ca-certificates/ee-builder/", "/usr/local/share/ca-certificates/ee-builder",
             "update-ca-certificates"),
    "rpm": ("/etc/pki/ca-trust/source/anchors/", "/etc/pki/ca-trust/source/anchors/ee-builder-*.crt",
            "update-ca-trust"),
}


def apply(comp: Composition, trust: Trust, family: str) -> None:
    anchors, ours, refresh = _STORE[family]
    if trust.ca_bundles:
        for index, bundle in enumerate(trust.ca_bundles):
            # update-ca-certificates only reads *.crt; one file per bundle keeps sources apart.
            comp.add_file("ee-builder/trust", f"ee-builder-{index}.crt", bundle.read_bytes())
        comp.prepend["base"] += [
            f"COPY _build/ee-builder/trust/ {anchors}",
            f"RUN {refresh}",
        ]
        if not trust.keep_in_final:
            fresh = " --fresh" if family == "dpkg" else ""
            comp.append["final"].append(f"RUN rm -rf {ours} && {refresh}{fresh}")
    comp.build_args.update(trust.proxy_env())
    index_args = {"PIP_INDEX_URL": trust.pip_index_url, "PIP_TRUSTED_HOST": trust.pip_trusted_host}
    index_args = {name: value for name, value in index_args.items() if value}
    if index_args:
        comp.steps_for_every_stage(*(f"ARG {name}" for name in index_args))
        comp.build_args.update(index_args)
