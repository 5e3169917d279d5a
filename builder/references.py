"""The grammar of names that leave ee-builder for an engine, a registry or Kubernetes: image
references and Kubernetes object names. Checked where they come in (settings, the definition,
the command line), so a bad one is a located message and not an engine's or API server's error
halfway through."""
from __future__ import annotations

import re

from .errors import UserError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# The registry part: what Docker takes for one (has a '.' or a port, or is localhost).
_REGISTRY = rf"(?:localhost(?::[0-9]+)?|{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+)"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = rf"(?:{_REGISTRY}/)?{_COMPONENT}(?:/{_COMPONENT})*"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"sha256:[0-9a-f]{64}"
IMAGE_REFERENCE = rf"{REPOSITORY}:{TAG}"  # with a tag, as ansible-builder wants its base image
ANY_IMAGE = rf"{REPOSITORY}(?::{TAG})?(?:@{DIGEST})?|(?:sha256:)?[0-9a-f]{{12,64}}"
K8S_NAME = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"                 # namespaces (RFC 1123 label)
K8S_SUBDOMAIN = r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?"           # ConfigMaps, Secrets

IMAGE_HELP = "a lowercase image reference such as registry.example.com/team/awx-ee:1.0 or an image ID"


def image(value: str, where: str) -> str:
    """``value`` if it is an image reference or ID the engine can take; else a UserError at ``where``."""
    if not re.fullmatch(ANY_IMAGE, value):
        raise UserError(f"{where}: {value!r} is not an image reference. Expected {IMAGE_HELP}.")
    return value


def k8s_name(value: str, where: str, subdomain: bool = False) -> str:
    """``value`` if Kubernetes takes it as an object name (a namespace, or with ``subdomain`` a
    ConfigMap or Secret); else a UserError at ``where``."""
    if not re.fullmatch(K8S_SUBDOMAIN if subdomain else K8S_NAME, value):
        kind = "lowercase letters, digits, '-' and '.'" if subdomain else "lowercase letters, digits and '-'"
        raise UserError(f"{where}: {value!r} is not a Kubernetes name. Expected {kind}, starting and ending "
                        f"with a letter or digit, e.g. ee-krb5-conf.")
    return value
