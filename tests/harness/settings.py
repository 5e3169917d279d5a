"""The settings the tests and `make ci` publish with: the shipped ee-builder.yml (whose publish:
section is only an example) publishing to the local test registry of ``cluster/``.

``python -m tests.harness.settings > ee-builder.test.yml`` writes them for `make ci`; at the
project root, so the shipped file's relative paths still hold.
"""
from __future__ import annotations

from pathlib import Path

from .cluster.registry import REGISTRY

SHIPPED = Path(__file__).resolve().parents[2] / "ee-builder.yml"
CI_REPOSITORY = f"{REGISTRY}/ee/awx-ee-kerberos"


def publishing(settings: str, repository: str = CI_REPOSITORY, tags: str = "[version, git]") -> str:
    """``settings`` (without a publish: section, as the shipped ones) publishing to ``repository``."""
    return settings.rstrip("\n") + f"\n\npublish:\n  repository: {repository}\n  tags: {tags}\n"


if __name__ == "__main__":
    print(publishing(SHIPPED.read_text()), end="")
