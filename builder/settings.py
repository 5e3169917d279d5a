"""The wrapper's own settings (``ee-builder.yml``), validated once and turned into typed objects.

These stay out of ``execution-environment.yml`` so that file remains valid for plain
ansible-builder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import definition as definition_file
from . import yamlfile
from .definition import Definition
from .krb5 import REALM, Kerberos, Realm
from .errors import UserError

DEFAULT_FILE = "ee-builder.yml"

_TAG = {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        "description": "a Docker tag: letters, digits, '_', '.', '-', at most 128 characters"}
_IMAGE_REF = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$",
              "description": "a lowercase image reference with a tag, e.g. localhost/debian:bookworm"}
_REPO = {"type": "string", "pattern": r"^[a-z0-9]+([._/:-][a-z0-9]+)*$",
         "description": "a lowercase repository name without a tag, e.g. localhost/awx-ee"}
_TEXT = {"type": "string", "minLength": 1, "description": "a non-empty string"}
_URL = {"type": "string", "pattern": r"^https?://[^\s]+$", "description": "an http:// or https:// URL"}
_HOST_PORT = {"type": "string", "pattern": r"^[A-Za-z0-9.-]+(:\d{1,5})?$",
              "description": "a host name with an optional port, e.g. dc1.example.com:88"}
_LIFETIME = {"type": "string", "pattern": r"^\d+[smhd]?$", "description": "a lifetime such as 10h or 7d"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "definition": _TEXT,
        "image": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "name": _REPO,
                "tags": {"type": "array", "items": _TAG, "minItems": 1},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "version": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$",
                            "description": "the image's version, e.g. 1.4.0 (also a tag when publishing)"},
                "source": {"type": "string", "pattern": r"^\S+$",
                           "description": "the URL of this project's repository"},
            },
        },
        "build": {
            "type": "object", "additionalProperties": False,
            "properties": {"parallel_compile": {"type": "boolean"}},
        },
        "engine": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "type": {"enum": ["docker", "podman"]},
                "url": {"type": "string", "pattern": r"^(unix|tcp|ssh|npipe)://.+",
                        "description": "an engine URL such as unix:///run/podman/podman.sock"},
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
                    "properties": {"package": _TEXT,
                                   "path": {"type": "string", "pattern": r"^/\S+$",
                                            "description": "an absolute path"}},
                },
                "bootstrap": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "suite": {"type": "string", "pattern": r"^[a-z]+$",
                                  "description": "a lowercase Debian/Ubuntu suite name such as bookworm"},
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
                "domain_realm": {"type": "object", "additionalProperties": _TEXT},
                "dns_lookup_kdc": {"type": "boolean"},
                "dns_lookup_realm": {"type": "boolean"},
                "dns_canonicalize_hostname": {"enum": [True, False, "fallback"]},
                "forwardable": {"type": "boolean"},
                "ticket_lifetime": _LIFETIME,
                "renew_lifetime": _LIFETIME,
                "default_ccache_name": {
                    "type": "string", "pattern": r"^(FILE|DIR|MEMORY):\S+$",
                    "description": "a FILE:, DIR: or MEMORY: cache (KEYRING and KCM do not work in containers), "
                                   "e.g. FILE:/tmp/krb5cc_%{uid}"},
                "permitted_enctypes": {"type": "array", "items": _TEXT, "minItems": 1},
                "includedir": {"type": "string", "pattern": r"^/\S+$", "description": "an absolute path"},
            },
        },
        "collections": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "source": {"enum": ["auto", "galaxy", "local", "pypi"]},
                "local_path": _TEXT,
                "pypi_package": {"type": "string", "pattern": r"^ansible==\d+(\.\d+)*$",
                                 "description": "an exact pin of the ansible package, e.g. ansible==12.3.0"},
                "galaxy_server": _URL,
            },
        },
        "awx": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "organization": _TEXT,
                "execution_environment": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"name": _TEXT, "pull": {"enum": ["always", "missing", "never"]},
                                   "registry_credential": _TEXT},
                },
                "container_group": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "name": _TEXT,
                        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                                      "description": "a Kubernetes namespace name"},
                        "credential": _TEXT,
                        "configmap": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                        "image_pull_secret": _TEXT,
                        "keepalive_seconds": {"type": "integer", "minimum": 0},
                        "host_aliases": {"type": "object", "additionalProperties": {"type": "array", "items": _TEXT}},
                    },
                },
            },
        },
        "publish": {
            "type": "object", "additionalProperties": False, "required": ["repository"],
            "properties": {
                "repository": {"type": "string", "pattern": r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$",
                               "description": "registry/path to push to, e.g. registry.example.com/team/awx-ee"},
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
    execution_environment: AwxExecutionEnvironment = field(default_factory=AwxExecutionEnvironment)
    container_group: AwxContainerGroup = field(default_factory=AwxContainerGroup)


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


@dataclass(frozen=True)
class Engine:
    type: str = "docker"
    url: str | None = None


@dataclass(frozen=True)
class Settings:
    path: Path
    definition: Definition
    base: Base
    image: Image = field(default_factory=Image)
    engine: Engine = field(default_factory=Engine)
    build: Build = field(default_factory=Build)
    trust: Trust = field(default_factory=Trust)
    collections: Collections = field(default_factory=Collections)
    kerberos: Kerberos | None = None
    publish: Publish | None = None
    awx: Awx = field(default_factory=Awx)

    @property
    def root(self) -> Path:
        return self.path.parent


_FAMILY_HINTS = {"dpkg": ("debian", "ubuntu"), "rpm": ("centos", "ubi", "rhel", "fedora", "awx-ee",
                                                       "rocky", "alma", "ansible-runner", "ee-minimal")}


def load(path: Path | str = DEFAULT_FILE) -> Settings:
    """Read and validate ``path``; raise UserError naming file, line, key path and expectation."""
    path = Path(path)
    doc = yamlfile.load(path, what="ee-builder settings")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise UserError(f"{doc.where(())}: ee-builder settings must be a mapping of sections "
                        f"({', '.join(SCHEMA['properties'])}), got {type(data).__name__}.")
    doc.validate(SCHEMA)
    return _build(doc, data, path)


def _build(doc: yamlfile.Document, data: dict, path: Path) -> Settings:
    root = path.parent

    def section(name: str) -> dict:
        return data.get(name) or {}

    def local(keypath: yamlfile.KeyPath, value: str, what: str) -> Path:
        resolved = (root / value).resolve()
        if not resolved.exists():
            raise UserError(f"{doc.where(keypath)}: {yamlfile.dotted(keypath)}: {what} {resolved} does not "
                            f"exist. Fix the path (relative paths start at {root.resolve()}).")
        return resolved

    definition = definition_file.load(
        local(("definition",), data.get("definition", "execution-environment.yml"), "EE definition"))
    base = section("base")
    image_ref = base.get("image") or definition.base_image
    if not image_ref:
        raise UserError(f"{doc.where(('base',))}: base.image: no base image. Expected base.image here or "
                        f"images.base_image.name in {definition.path}.")
    family = base.get("family") or _infer_family(image_ref)
    if family is None:
        raise UserError(f"{doc.where(('base', 'image'))}: base.family: cannot tell the package family of "
                        f"{image_ref!r}. Expected base.family: dpkg (Debian/Ubuntu) or rpm (RHEL family).")

    trust = section("trust")
    index = trust.get("pip_index_url")
    if index and re.search(r"//[^/@]+@", index):
        raise UserError(f"{doc.where(('trust', 'pip_index_url'))}: trust.pip_index_url: holds credentials, "
                        f"which would be stored in the image history. Expected a URL without user:password; "
                        f"give credentials to pip through a netrc file outside the image instead.")
    collections = section("collections")
    source = collections.get("source", "auto")
    local_path = collections.get("local_path")
    if source == "local" and not local_path:
        raise UserError(f"{doc.where(('collections', 'source'))}: collections.source is 'local' but "
                        f"collections.local_path is not set. Expected the directory holding the collections.")

    image = section("image")
    if "version" in (section("publish").get("tags") or Publish.tags) and data.get("publish") and not image.get("version"):
        raise UserError(f"{doc.where(('publish', 'tags'))}: publish.tags: 'version' needs image.version. "
                        f"Expected image.version (e.g. 1.0.0), or drop 'version' from publish.tags.")
    kerberos = _kerberos(doc, section("kerberos"), local) if "kerberos" in data else None
    return Settings(
        path=path,
        definition=definition,
        image=Image(name=image.get("name", Image.name), tags=tuple(image.get("tags", Image.tags)),
                    labels=dict(image.get("labels", {})), version=image.get("version"), source=image.get("source")),
        engine=Engine(**section("engine")),
        build=Build(**section("build")),
        base=Base(
            image=image_ref, family=family, package_manager=base.get("package_manager", "dnf"),
            python=Python(**base["python"]) if base.get("python") else None,
            bootstrap=Bootstrap(**base.get("bootstrap", {})),
        ),
        trust=Trust(
            ca_bundles=tuple(local(("trust", "ca_bundles", i), p, "CA bundle")
                             for i, p in enumerate(trust.get("ca_bundles", []))),
            keep_in_final=trust.get("keep_in_final", False),
            # Unset proxies fall back to the environment, as CI runners usually provide them there.
            **{k: trust.get(k) or os.environ.get(k) or os.environ.get(k.upper()) or None
               for k in ("http_proxy", "https_proxy", "no_proxy")},
            pip_index_url=index, pip_trusted_host=trust.get("pip_trusted_host"),
        ),
        collections=Collections(
            source=source,
            local_path=local(("collections", "local_path"), local_path, "collections directory")
            if local_path and source in ("local", "auto") else None,
            pypi_package=collections.get("pypi_package", Collections.pypi_package),
            galaxy_server=collections.get("galaxy_server", Collections.galaxy_server),
        ),
        kerberos=kerberos,
        publish=Publish(repository=data["publish"]["repository"],
                        tags=tuple(data["publish"].get("tags", Publish.tags))) if data.get("publish") else None,
        awx=Awx(organization=section("awx").get("organization"),
                execution_environment=AwxExecutionEnvironment(**section("awx").get("execution_environment", {})),
                container_group=AwxContainerGroup(**section("awx").get("container_group", {}))),
    )


def _kerberos(doc: yamlfile.Document, data: dict, local) -> Kerberos:
    """The checks a schema cannot say clearly: realm case, KDCs, default_realm among realms."""
    def fail(keypath: yamlfile.KeyPath, message: str) -> UserError:
        return UserError(f"{doc.where(keypath)}: {yamlfile.dotted(keypath)}: {message}")

    realms = data["realms"]
    dns_lookup_kdc = data.get("dns_lookup_kdc", False)
    for name, realm in realms.items():
        if not REALM.match(name):
            raise fail(("kerberos", "realms", name), f"realm names are upper case (Active Directory's is, and "
                       f"Kerberos compares them exactly). Expected {name.upper()}.")
        if not (realm or {}).get("kdcs") and not dns_lookup_kdc:
            raise fail(("kerberos", "realms", name), "no KDC. Expected kdcs: [<domain controller fqdn>], or "
                       "kerberos.dns_lookup_kdc: true to find them through DNS SRV records.")
    default_realm = data["default_realm"]
    if default_realm not in realms:
        hint = f" (realm names are upper case: {default_realm.upper()})" if default_realm.upper() in realms else ""
        raise fail(("kerberos", "default_realm"), f"{default_realm!r} is not among kerberos.realms "
                   f"({', '.join(realms)}){hint}.")
    for domain, realm in (data.get("domain_realm") or {}).items():
        if realm not in realms:
            raise fail(("kerberos", "domain_realm", domain), f"maps to {realm!r}, which is not among "
                       f"kerberos.realms ({', '.join(realms)}).")
    values = {key: value for key, value in data.items() if key not in ("realms", "template")}
    values["permitted_enctypes"] = tuple(values.get("permitted_enctypes", ()))
    return Kerberos(
        **values,
        realms={name: Realm(kdcs=tuple((realm or {}).get("kdcs", ())), admin_server=(realm or {}).get("admin_server"))
                for name, realm in realms.items()},
        template=local(("kerberos", "template"), data.get("template", "krb5/krb5.conf.j2"), "krb5.conf template"),
    )


def _infer_family(image_ref: str) -> str | None:
    name = image_ref.rsplit(":", 1)[0].lower()
    for family, hints in _FAMILY_HINTS.items():
        if any(hint in name for hint in hints):
            return family
    return None
