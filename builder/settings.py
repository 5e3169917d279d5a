"""The wrapper's own settings (``ee-builder.yml``), validated once and turned into typed objects.

These stay out of ``execution-environment.yml`` so that file remains valid for plain
ansible-builder.
"""
from __future__ import annotations

import copy
import os
import re
import ssl
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from . import definition as definition_file
from . import files, krb5, yamlfile
from .definition import Definition
from .errors import UserError
from .references import ANY_IMAGE, IMAGE_REFERENCE, K8S_NAME, K8S_SUBDOMAIN, REPOSITORY

DEFAULT_FILE = "ee-builder.yml"
DEFAULT_DEFINITION = "execution-environment.yml"

def _grammar(regex: str, description: str) -> dict[str, Any]:
    """A string matching ``regex`` as a whole: ``\\Z``, since ``$`` also matches before a final
    newline, which would let a value carry a second line into a generated file."""
    return {"type": "string", "pattern": rf"^(?:{regex})\Z", "description": description}


_TAG = _grammar(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
                "a Docker tag: letters, digits, '_', '.', '-', at most 128 characters")
_IMAGE_REF = _grammar(IMAGE_REFERENCE, "a lowercase image reference with a tag, e.g. localhost/debian:bookworm")
_REPO = _grammar(REPOSITORY, "a lowercase repository name without a tag, e.g. localhost/awx-ee")
_TEXT = {"allOf": [{"type": "string", "minLength": 1, "description": "a non-empty string"},
                   _grammar(r"[^\x00-\x1f\x7f]*", "one line of text without control characters")]}
_URL = _grammar(r"https?://[^\s]+", "an http:// or https:// URL")
_ABSOLUTE = _grammar(krb5.ABSOLUTE_PATH, "an absolute path")
_K8S_NAME = _grammar(K8S_NAME, "a Kubernetes name: lowercase letters, digits and '-', e.g. awx")
_K8S_SUBDOMAIN = _grammar(K8S_SUBDOMAIN, "a Kubernetes name: lowercase letters, digits, '-' and '.', e.g. ee-krb5-conf")
_HOST_PORT = _grammar(krb5.KDC_ADDRESS, "a host name or address with an optional port, e.g. dc1.example.com:88")
_LIFETIME = _grammar(krb5.DURATION, "a krb5 duration such as 10h, 7d, 1d12h or 10:00:00")
_HOST = _grammar(krb5.HOST_NAME, "a host name such as winhost.example.com")
_IP = _grammar(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*", "an IPv4 or IPv6 address")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "definition": _TEXT,
        "image": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "name": _REPO,
                "tags": {"type": "array", "items": _TAG, "minItems": 1, "uniqueItems": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "version": _grammar(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}",
                                    "the image's version, e.g. 1.4.0 (also a tag when publishing)"),
                "source": _grammar(r"[^\s\x00-\x1f\x7f]+", "the URL of this project's repository"),
            },
        },
        "build": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "parallel_compile": {"type": "boolean"},
                "cache": _grammar(r"[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+",
                                  "registry/path of the build cache, e.g. registry.example.com/team/awx-ee-cache"),
            },
        },
        "engine": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "type": {"enum": ["docker", "podman"]},
                "url": _grammar(r"(?:unix|tcp|ssh|npipe)://[^\s]+",
                                "an engine URL such as unix:///run/podman/podman.sock"),
            },
        },
        "base": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "image": _IMAGE_REF,
                "family": {"enum": ["dpkg", "rpm"]},
                "package_manager": {"enum": ["dnf", "microdnf"]},
                "python": {
                    "type": "object", "additionalProperties": False, "required": ["package", "path"],
                    "properties": {"package": _grammar(r"[A-Za-z0-9][A-Za-z0-9.+_-]*", "a package name such as python3.11"),
                                   "path": _ABSOLUTE},
                },
                "bootstrap": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "suite": _grammar(r"[a-z]+", "a lowercase Debian/Ubuntu suite name such as bookworm"),
                        "mirror": _URL,
                        "security_mirror": {"anyOf": [_URL, {"type": "null"}],
                                            "description": "an http(s) URL, or null for none"},
                    },
                },
            },
        },
        "trust": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "ca_bundles": {"type": "array", "items": _TEXT},
                "keep_in_final": {"type": "boolean"},
                "http_proxy": _URL,
                "https_proxy": _URL,
                "no_proxy": _TEXT,
                "pip_index_url": _URL,
                "pip_trusted_host": _TEXT,
            },
        },
        "kerberos": {
            "type": "object", "additionalProperties": False, "required": ["default_realm", "realms"],
            "properties": {
                "template": _TEXT,
                "default_realm": _TEXT,
                "realms": {
                    "type": "object", "minProperties": 1,
                    "additionalProperties": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "kdcs": {"type": "array", "items": _HOST_PORT},
                            "admin_server": _HOST_PORT,
                        },
                    },
                },
                "domain_realm": {"type": "object", "additionalProperties": _TEXT,
                                 "propertyNames": _grammar(krb5.DOMAIN, "a host or domain name such as "
                                                                        "winhost.example.com or .example.com")},
                "dns_lookup_kdc": {"type": "boolean"},
                "dns_lookup_realm": {"type": "boolean"},
                "dns_canonicalize_hostname": {"enum": [True, False, "fallback"]},
                "forwardable": {"type": "boolean"},
                "ticket_lifetime": _LIFETIME,
                "renew_lifetime": _LIFETIME,
                "default_ccache_name": _grammar(
                    krb5.CCACHE, "a FILE:, DIR: or MEMORY: cache (KEYRING and KCM do not work in containers), "
                                 "e.g. FILE:/tmp/krb5cc_%{uid}"),
                "permitted_enctypes": {"type": "array", "minItems": 1, "items": _grammar(
                    krb5.ENCTYPE, "an MIT krb5 enctype name such as aes256-cts-hmac-sha1-96")},
                "includedir": _ABSOLUTE,
            },
        },
        "collections": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "source": {"enum": ["auto", "galaxy", "local", "pypi"]},
                "local_path": _TEXT,
                "pypi_package": _grammar(r"ansible==[0-9]+(?:\.[0-9]+)*",
                                         "an exact pin of the ansible package, e.g. ansible==12.3.0"),
                "galaxy_server": _URL,
            },
        },
        "awx": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "organization": _TEXT,
                "mount_isolated_paths_on_k8s": {"type": "boolean"},
                "execution_environment": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"name": _TEXT, "pull": {"enum": ["always", "missing", "never"]},
                                   "registry_credential": _TEXT},
                },
                "container_group": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "name": _TEXT,
                        "namespace": _K8S_NAME,
                        "credential": _TEXT,
                        "configmap": _K8S_SUBDOMAIN,
                        "image_pull_secret": _K8S_SUBDOMAIN,
                        "keepalive_seconds": {"type": "integer", "minimum": 0},
                        "host_aliases": {"type": "object", "propertyNames": _IP,
                                         "additionalProperties": {"type": "array", "items": _HOST, "minItems": 1}},
                    },
                },
            },
        },
        "receptor": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "source": {"enum": ["none", "image", "file"]},
                "version": _grammar(r"v?[0-9]+\.[0-9]+\.[0-9]+", "a receptor release such as 1.6.9"),
                "image": _grammar(ANY_IMAGE, "a receptor image such as quay.io/ansible/receptor:v1.6.9"),
                "file": _TEXT,
                "binary": _TEXT,
            },
        },
        "publish": {
            "type": "object", "additionalProperties": False, "required": ["repository"],
            "properties": {
                "repository": _grammar(r"[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+",
                                       "registry/path to push to, e.g. registry.example.com/team/awx-ee"),
                "tags": {"type": "array", "minItems": 1, "uniqueItems": True,
                         "items": {"enum": ["version", "git", "latest"]},
                         "description": "which tags: version (image.version), git (short commit), latest"},
            },
        },
    },
}


@dataclass(frozen=True)
class Bootstrap:
    """How to build a Debian-family base from a mirror when the base image is missing."""

    enabled: bool = True
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    security_mirror: str | None = "http://deb.debian.org/debian-security"


@dataclass(frozen=True)
class Python:
    package: str
    path: str


@dataclass(frozen=True)
class Base:
    """The base image; its name defaults to the definition's images.base_image."""

    image: str
    family: str
    package_manager: str = "dnf"
    python: Python | None = None
    bootstrap: Bootstrap = field(default_factory=Bootstrap)


@dataclass(frozen=True)
class Trust:
    ca_bundles: tuple[Path, ...] = ()
    keep_in_final: bool = False
    http_proxy: str | None = None
    https_proxy: str | None = None
    no_proxy: str | None = None
    pip_index_url: str | None = None
    pip_trusted_host: str | None = None

    def proxy_env(self) -> dict[str, str]:
        """Proxy variables for the build, upper and lower case as tools disagree on which they read."""
        out = {}
        for name in ("http_proxy", "https_proxy", "no_proxy"):
            value = getattr(self, name)
            if value:
                out[name] = out[name.upper()] = value
        return out


@dataclass(frozen=True)
class Collections:
    source: str = "auto"
    local_path: Path | None = None
    pypi_package: str = "ansible==12.3.0"
    galaxy_server: str = "https://galaxy.ansible.com"


@dataclass(frozen=True)
class AwxExecutionEnvironment:
    name: str = "AWX EE (ee-builder)"
    pull: str = "missing"
    registry_credential: str | None = None   # an AWX "Container Registry" credential's name


@dataclass(frozen=True)
class AwxContainerGroup:
    name: str = "ee-builder jobs"
    namespace: str = "awx"
    credential: str | None = None            # AWX Kubernetes credential; none: AWX's own cluster
    configmap: str = "ee-krb5-conf"
    image_pull_secret: str | None = None
    keepalive_seconds: int = 240             # below the 4-minute idle cut of cloud load balancers
    host_aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Awx:
    organization: str | None = None
    mount_isolated_paths_on_k8s: bool = False   # mirrors the AWX setting AWX_MOUNT_ISOLATED_PATHS_ON_K8S
    execution_environment: AwxExecutionEnvironment = field(default_factory=AwxExecutionEnvironment)
    container_group: AwxContainerGroup = field(default_factory=AwxContainerGroup)


@dataclass(frozen=True)
class Receptor:
    """receptor in the image: none (job-only EEs), or copied from a receptor image or a local file,
    at a pinned version."""
    source: str = "none"
    version: str | None = None
    image: str | None = None
    file: Path | None = None
    binary: Path | None = None   # a receptor on this host, for the commands that run one (not the image's)

    @property
    def release(self) -> str | None:
        """The pin without a leading v: what ``receptor --version`` and receptorctl's version say."""
        return self.version.removeprefix("v") if self.version else None


@dataclass(frozen=True)
class Publish:
    repository: str
    tags: tuple[str, ...] = ("version", "git")


@dataclass(frozen=True)
class Image:
    name: str = "localhost/awx-ee"
    tags: tuple[str, ...] = ("latest",)
    labels: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    source: str | None = None   # default: the git remote "origin" of the project

    @property
    def refs(self) -> list[str]:
        return [f"{self.name}:{tag}" for tag in self.tags]


@dataclass(frozen=True)
class Build:
    parallel_compile: bool = True
    cache: str | None = None    # the registry repository of the build cache; default <publish.repository>-cache


@dataclass(frozen=True)
class EngineSettings:
    type: str = "docker"
    url: str | None = None


@dataclass(frozen=True)
class Realm:
    kdcs: tuple[str, ...] = ()
    admin_server: str | None = None


@dataclass(frozen=True)
class Kerberos:
    """The realms krb5.conf is rendered from (krb5.py holds each field's grammar)."""

    default_realm: str
    realms: dict[str, Realm]
    domain_realm: dict[str, str] = field(default_factory=dict)
    dns_lookup_kdc: bool = False
    dns_lookup_realm: bool = False
    dns_canonicalize_hostname: bool | str = False  # or "fallback"
    forwardable: bool = True
    ticket_lifetime: str = "10h"
    renew_lifetime: str = "7d"
    default_ccache_name: str = "FILE:/tmp/krb5cc_%{uid}"
    permitted_enctypes: tuple[str, ...] = ()
    includedir: str | None = None
    template: Path = Path("krb5/krb5.conf.j2")


@dataclass(frozen=True)
class Settings:
    path: Path
    definition: Definition
    base: Base
    image: Image = field(default_factory=Image)
    engine: EngineSettings = field(default_factory=EngineSettings)
    build: Build = field(default_factory=Build)
    trust: Trust = field(default_factory=Trust)
    collections: Collections = field(default_factory=Collections)
    kerberos: Kerberos | None = None
    publish: Publish | None = None
    awx: Awx = field(default_factory=Awx)
    receptor: Receptor = field(default_factory=Receptor)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def cache_repository(self) -> str | None:
        """Where ``--cache-from-registry``/``--cache-to-registry`` pull and push the build cache."""
        if self.build.cache:
            return self.build.cache
        return f"{self.publish.repository}-cache" if self.publish else None


_FAMILY_HINTS = {"dpkg": ("debian", "ubuntu"), "rpm": ("centos", "ubi", "rhel", "fedora", "awx-ee",
                                                       "rocky", "alma", "ansible-runner", "ee-minimal")}


def load(path: Path | str = DEFAULT_FILE) -> Settings:
    """Read and validate ``path``; raise UserError naming file, line, key path and expectation."""
    path = Path(path)
    doc = yamlfile.load(path, what="ee-builder settings")
    if doc.data is None:  # an empty file: every section is optional
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise UserError(f"{doc.where(())}: ee-builder settings must be a mapping of sections "
                        f"({', '.join(SCHEMA['properties'])}), got {type(doc.data).__name__}.")
    doc.validate(SCHEMA)
    for rule in RULES:
        rule(doc)
    return _build(doc, path)


def _build(doc: yamlfile.Document, path: Path) -> Settings:
    """Resolve what needs the disk or another setting (paths, the base from the definition, the
    proxies from the environment), then map the data onto the dataclasses."""
    root = path.parent
    data = copy.deepcopy(doc.data)

    def local(keypath: yamlfile.KeyPath, value: str, what: str, kind: str = "file") -> Path:
        return files.project_path(root, value, f"{doc.where(keypath)}: {yamlfile.dotted(keypath)}", what,
                                  kind=kind)

    definition = definition_file.load(
        local(("definition",), data.get("definition", DEFAULT_DEFINITION), "EE definition"), root)
    base = data.setdefault("base", {})
    base.setdefault("image", definition.base_image)
    if not base["image"]:
        raise UserError(f"{doc.where(('base',))}: base.image: no base image. Expected base.image here or "
                        f"images.base_image.name in {definition.path}.")
    base.setdefault("family", _infer_family(base["image"]))
    if base["family"] is None:
        raise UserError(f"{doc.where(('base', 'image'))}: base.family: cannot tell the package family of "
                        f"{base['image']!r}. Expected base.family: dpkg (Debian/Ubuntu) or rpm (RHEL family).")
    trust = data.setdefault("trust", {})
    trust["ca_bundles"] = [_ca_bundle(local(("trust", "ca_bundles", i), bundle, "CA bundle"),
                                      f"{doc.where(('trust', 'ca_bundles', i))}: trust.ca_bundles[{i}]")
                           for i, bundle in enumerate(trust.get("ca_bundles", []))]
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        # Unset proxies fall back to the environment, as CI runners usually provide them there.
        trust[name] = trust.get(name) or os.environ.get(name) or os.environ.get(name.upper()) or None
    collections = data.get("collections") or {}
    if collections.get("local_path"):
        collections["local_path"] = local(("collections", "local_path"), collections["local_path"],
                                          "collections directory", "directory")
    for key in ("file", "binary"):
        if _get(data, "receptor", key):
            data["receptor"][key] = local(("receptor", key), data["receptor"][key], "receptor binary")
    if "kerberos" in data:
        data["kerberos"]["template"] = local(("kerberos", "template"),
                                             data["kerberos"].get("template", str(Kerberos.template)),
                                             "krb5.conf template")
    return _construct(Settings, {**data, "path": path, "definition": definition})


def _construct(cls: type, data: dict) -> Any:
    """``cls`` from validated data: nested dataclasses, tuples and Paths by the field types; an
    absent key takes the dataclass's default (defaults live only there)."""
    hints = typing.get_type_hints(cls)
    return cls(**{item.name: _convert(hints[item.name], data[item.name])
                  for item in fields(cls) if item.name in data})


def _convert(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    if is_dataclass(hint):
        return _construct(hint, value or {})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _convert(next(arg for arg in args if arg is not type(None)), value)
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if origin is dict:
        return {key: _convert(args[1], item) for key, item in value.items()}
    if hint is Path:
        return Path(value)
    return value


# Rules across fields: each a named check of the validated document, raising at the setting that
# contradicts another.

def _at(doc: yamlfile.Document, keypath: yamlfile.KeyPath, message: str) -> UserError:
    return UserError(f"{doc.where(keypath)}: {yamlfile.dotted(keypath)}: {message}")


def _get(data: dict, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def credentials_in_index_url(doc: yamlfile.Document) -> None:
    if re.search(r"//[^/@]+@", _get(doc.data, "trust", "pip_index_url") or ""):
        raise _at(doc, ("trust", "pip_index_url"), "holds credentials, which would be stored in the image "
                  "history. Expected a URL without user:password; give credentials to pip through a netrc file "
                  "outside the image instead.")


def collection_source_and_its_settings(doc: yamlfile.Document) -> None:
    """Each source has its own settings; one set for another source would be silently ignored."""
    source = _get(doc.data, "collections", "source") or "auto"
    if source == "local" and not _get(doc.data, "collections", "local_path"):
        raise _at(doc, ("collections", "source"), "is 'local' but collections.local_path is not set. Expected "
                  "the directory holding the collections.")
    used_by = {"local_path": ("auto", "local"), "galaxy_server": ("auto", "galaxy"), "pypi_package": ("auto", "pypi")}
    for key, sources in used_by.items():
        if _get(doc.data, "collections", key) is not None and source not in sources:
            raise _at(doc, ("collections", key), f"is set, but collections.source is {source!r}, which does not "
                      f"use it. Expected collections.source: {' or '.join(sources)}, or drop {key}.")


def family_and_its_settings(doc: yamlfile.Document) -> None:
    family = _get(doc.data, "base", "family")
    if family == "dpkg" and _get(doc.data, "base", "package_manager"):
        raise _at(doc, ("base", "package_manager"), "chooses dnf or microdnf, but base.family is dpkg (apt). "
                  "Expected no package_manager for Debian-family bases, or base.family: rpm.")
    if family == "rpm" and _get(doc.data, "base", "bootstrap", "enabled"):
        raise _at(doc, ("base", "bootstrap", "enabled"), "is true, but only Debian-family bases can be built "
                  "from a mirror and base.family is rpm. Expected enabled: false, or a Debian base.")


def version_tag_needs_a_version(doc: yamlfile.Document) -> None:
    if "publish" in doc.data and "version" in (_get(doc.data, "publish", "tags") or Publish.tags) \
            and not _get(doc.data, "image", "version"):
        raise _at(doc, ("publish", "tags"), "'version' needs image.version. Expected image.version (e.g. 1.0.0), "
                  "or drop 'version' from publish.tags.")


def receptor_source_and_its_settings(doc: yamlfile.Document) -> None:
    source = _get(doc.data, "receptor", "source") or "none"
    for key in ("image", "file"):
        given = _get(doc.data, "receptor", key) is not None
        if source == key and not given:
            raise _at(doc, ("receptor", "source"), f"is {key!r} but receptor.{key} is not set. Expected receptor.{key}"
                      + (": a receptor image such as quay.io/ansible/receptor:v1.6.9." if key == "image"
                         else ": the path of a receptor binary."))
        if given and source != key:
            raise _at(doc, ("receptor", key), f"is set, but receptor.source is {source!r}. Expected "
                      f"receptor.source: {key}, or drop {key}.")
    if source != "none" and not _get(doc.data, "receptor", "version"):
        raise _at(doc, ("receptor", "source"), "needs a pinned receptor.version (receptor and the receptorctl "
                  "AWX talks to must match). Expected receptor.version, e.g. 1.6.9.")


def one_way_to_pull(doc: yamlfile.Document) -> None:
    if _get(doc.data, "awx", "container_group", "image_pull_secret") and \
            _get(doc.data, "awx", "execution_environment", "registry_credential"):
        raise _at(doc, ("awx", "container_group", "image_pull_secret"), "is set, and so is "
                  "awx.execution_environment.registry_credential: with a credential on the execution environment, "
                  "AWX replaces the pod's imagePullSecrets with a secret it creates itself, so this one is never "
                  "used. Expected one of the two: registry_credential (AWX manages the pull secret, and execution "
                  "nodes can pull too) or image_pull_secret (a secret that exists in the namespace; drop "
                  "registry_credential).")


def configmap_needs_kerberos(doc: yamlfile.Document) -> None:
    if _get(doc.data, "awx", "container_group", "configmap") and "kerberos" not in doc.data:
        raise _at(doc, ("awx", "container_group", "configmap"), "names the krb5.conf ConfigMap, but there is no "
                  "kerberos: section to render krb5.conf from. Expected a kerberos: section, or drop configmap.")


def realm_names(doc: yamlfile.Document) -> None:
    for name in _get(doc.data, "kerberos", "realms") or {}:
        if krb5.realm_problem(name):
            raise _at(doc, ("kerberos", "realms", name), krb5.realm_fix(
                name, "realm names are upper case (Active Directory's is, and Kerberos compares them exactly). "
                      "Expected {}.", f"{name!r} {krb5.realm_problem(name)}. Expected a realm name such as "
                                      f"AD.EXAMPLE.COM."))


def realms_have_kdcs(doc: yamlfile.Document) -> None:
    for name, realm in (_get(doc.data, "kerberos", "realms") or {}).items():
        if not (realm or {}).get("kdcs") and not _get(doc.data, "kerberos", "dns_lookup_kdc"):
            raise _at(doc, ("kerberos", "realms", name), "no KDC. Expected kdcs: [<domain controller fqdn>], or "
                      "kerberos.dns_lookup_kdc: true to find them through DNS SRV records.")


def default_realm_is_a_realm(doc: yamlfile.Document) -> None:
    realms, default = _get(doc.data, "kerberos", "realms"), _get(doc.data, "kerberos", "default_realm")
    if realms is not None and default not in realms:
        hint = f" (realm names are upper case: {default.upper()})" if default.upper() in realms else ""
        raise _at(doc, ("kerberos", "default_realm"), f"{default!r} is not among kerberos.realms "
                  f"({', '.join(realms)}){hint}.")


def domain_realm_targets_are_realms(doc: yamlfile.Document) -> None:
    realms = _get(doc.data, "kerberos", "realms") or {}
    for domain, realm in (_get(doc.data, "kerberos", "domain_realm") or {}).items():
        if realm not in realms:
            raise _at(doc, ("kerberos", "domain_realm", domain), f"maps to {realm!r}, which is not among "
                      f"kerberos.realms ({', '.join(realms)}).")


# The order is the order a user fixes things in: one message at a time, earliest first.
RULES = (credentials_in_index_url, collection_source_and_its_settings, family_and_its_settings,
         version_tag_needs_a_version, receptor_source_and_its_settings, one_way_to_pull, configmap_needs_kerberos,
         realm_names, realms_have_kdcs, default_realm_is_a_realm, domain_realm_targets_are_realms)


def _ca_bundle(path: Path, where: str) -> Path:
    """A CA bundle must hold a certificate: an empty or wrong file otherwise fails minutes later
    as an unrelated-looking TLS error at the first pip install."""
    try:
        data = files.read_bytes(path, "CA bundle", files.BUNDLE_LIMIT)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        pass
    if not context.cert_store_stats()["x509"]:
        raise UserError(f"{where}: {path} holds no PEM certificate that OpenSSL can read. Expected a CA bundle "
                        f"of '-----BEGIN CERTIFICATE-----' blocks, such as /etc/ssl/certs/ca-certificates.crt.")
    return path


def _infer_family(image_ref: str) -> str | None:
    name = image_ref.rsplit(":", 1)[0].lower()
    for family, hints in _FAMILY_HINTS.items():
        if any(hint in name for hint in hints):
            return family
    return None
