"""Trust, proxy and package index for every build stage.

- CA bundles are added to the system trust store in the base stage (so every later stage has
  them) and removed from the final image's store unless ``keep_in_final``.
- Proxies are Docker's predefined build args: every RUN sees them and they are kept out of the
  image and its history.
- The pip index goes into /etc/pip.conf in the base stage, which every stage inherits (an ARG
  would come too late in the builder stage, whose first pip call precedes ``prepend_builder``),
  and is removed at the end of the final stage unless ``keep_in_final``.
"""
from __future__ import annotations

from .. import files
from .composition import Composition, Feature, Inputs

PIP_CONF = "/etc/pip.conf"
_STORE = {
    # family: (where the bundles go, what removes them, refresh command). update-ca-certificates
    # reads subdirectories; p11-kit's anchors directory is read flat, hence the file prefix there.
    "dpkg": ("/usr/local/share/ca-certificates/ee-builder/", "/usr/local/share/ca-certificates/ee-builder",
             "update-ca-certificates"),
    "rpm": ("/etc/pki/ca-trust/source/anchors/", "/etc/pki/ca-trust/source/anchors/ee-builder-*.crt",
            "update-ca-trust"),
}


class Trust(Feature):
    def apply(self, comp: Composition, inputs: Inputs) -> None:
        trust, family = inputs.settings.trust, inputs.settings.base.family
        anchors, ours, refresh = _STORE[family]
        if trust.ca_bundles:
            for index, bundle in enumerate(trust.ca_bundles):
                # update-ca-certificates only reads *.crt; one file per bundle keeps sources apart.
                comp.add_file("ee-builder/trust", f"ee-builder-{index}.crt",
                              files.read_bytes(bundle, "CA bundle", files.BUNDLE_LIMIT))
            comp.prepend["base"] += [
                f"COPY _build/ee-builder/trust/ {anchors}",
                f"RUN {refresh}",
            ]
            if not trust.keep_in_final:
                fresh = " --fresh" if family == "dpkg" else ""
                comp.append["final"].append(f"RUN rm -rf {ours} && {refresh}{fresh}")
        comp.build_args.update(trust.proxy_env())
        pip_conf = {"index-url": trust.pip_index_url, "trusted-host": trust.pip_trusted_host}
        pip_conf = {key: value for key, value in pip_conf.items() if value}
        if pip_conf:
            text = "[global]\n" + "".join(f"{key} = {value}\n" for key, value in pip_conf.items())
            conf = comp.add_file("ee-builder", "pip.conf", text.encode())
            comp.prepend["base"].append(f"COPY {conf} {PIP_CONF}")
            if not trust.keep_in_final:
                comp.append["final"].append(f"RUN rm -f {PIP_CONF}")


FEATURE = Trust()
