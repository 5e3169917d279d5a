"""System packages a bindep list resolves to on a base family, computed here as ansible-builder's
scripts will compute them inside the image (``bindep -l newline`` / ``bindep -b compile``)."""
from __future__ import annotations

from bindep.depends import Depends

# The platform profiles bindep reports on the representative base of each family.
PLATFORMS = {
    "dpkg": ["platform:dpkg", "platform:debian", "platform:debian-12", "platform:debian-bookworm"],
    "rpm": ["platform:rpm", "platform:centos", "platform:centos-9", "platform:redhat"],
}


def resolve(bindep_text: str, family: str) -> dict[str, list[str]]:
    """``{"runtime": [...], "compile": [...]}`` for ``family``: what the final image gets, and what
    only the builder stage installs."""
    depends = Depends(bindep_text)
    platform = PLATFORMS[family]
    runtime = _names(depends.active_rules(platform + ["default"]))
    with_compile = _names(depends.active_rules(platform + ["compile"]))
    return {"runtime": runtime, "compile": sorted(set(with_compile) - set(runtime))}


def _names(rules) -> list[str]:
    return sorted({rule[0] for rule in rules})
