"""The Kerberos client for WinRM: kinit/klist/kvno from the base's own packages, the rendered
krb5.conf at /etc/krb5.conf, and the checks that catch bindings without WinRM message encryption.

krb5.conf goes to /etc because Ansible's managed kinit runs with only PATH and KRB5CCNAME in its
environment: a KRB5_CONFIG pointing elsewhere is invisible to it.
"""
from __future__ import annotations

import re

from typing import TYPE_CHECKING

from .. import krb5
from ..definition import Definition
from ..errors import UserError
from .composition import Composition, Feature, ImageCheck, Inputs

if TYPE_CHECKING:
    from ..summary import Summary

KRB5_CONF = "/etc/krb5.conf"
# bindep lines: one definition serves both base families.
CLIENT = ("krb5-user [platform:dpkg]", "krb5-workstation [platform:rpm]")
# What pykerberos needs: MIT's GSSAPI library at run time; a compiler, MIT's headers and
# krb5-config (pykerberos enables its WinRM functions only for MIT >= 1.10) in the builder stage.
LIBRARIES = (
    "libgssapi-krb5-2 [platform:dpkg]", "krb5-libs [platform:rpm]",
    "gcc [compile]", "libkrb5-dev [platform:dpkg compile]", "krb5-devel [platform:rpm compile]",
    "python3-dev [platform:dpkg compile]", "python3-devel [platform:rpm compile]",
)
# Added only when the definition does not name them itself (its pins win).
BINDINGS = {"pywinrm": "pywinrm[kerberos]==0.5.0", "pykerberos": "pykerberos==1.2.4"}

_WITHOUT_ENCRYPTION = ("it lacks WinRM message encryption (authGSSWinRMEncryptMessage), so pywinrm sends "
                       "plaintext and Windows rejects it on port 5985")
REFUSED_SYSTEM = {
    "python3-kerberos": f"Debian's python3-kerberos is Apple's PyKerberos: {_WITHOUT_ENCRYPTION}. "
                        "Use pykerberos from PyPI under dependencies.python",
    "python3-winrm": "Debian's python3-winrm is pywinrm 0.3.0, too old for current Ansible. "
                     "Use pywinrm[kerberos] from PyPI under dependencies.python",
}
REFUSED_PYTHON = {
    "kerberos": f"PyPI's 'kerberos' is Apple's ccs-pykerberos: {_WITHOUT_ENCRYPTION}. Use pykerberos",
}


class Kerberos(Feature):
    def applies(self, settings) -> bool:
        return settings.kerberos is not None

    def check_definition(self, definition: Definition) -> None:
        """Debian's and Apple's Kerberos bindings import fine and then fail only against Windows."""
        for key, refused in (("system", REFUSED_SYSTEM), ("python", REFUSED_PYTHON)):
            for line in definition.dependency_lines(key):
                name = _name(line)
                if name in refused:
                    where = definition.dependency_file(key) or definition.path
                    raise UserError(f"{where}: dependencies.{key}: {line!r}: {refused[name]}.")

    def apply(self, comp: Composition, inputs: Inputs) -> None:
        comp.system.extend(CLIENT + LIBRARIES)
        named = {_name(line) for line in inputs.settings.definition.dependency_lines("python")}
        comp.python.extend(requirement for name, requirement in BINDINGS.items() if name not in named)
        conf = comp.add_file("ee-builder/krb5", "krb5.conf", krb5.render(inputs.settings.kerberos).encode())
        comp.append["final"].append(f"COPY {conf} {KRB5_CONF}")

    def image_checks(self, summary: Summary) -> list[ImageCheck]:
        return checks(summary.kinit, summary.winrm_encryption, summary.krb5_realm is not None,
                      summary.krb5_conf_error)


FEATURE = Kerberos()


def _name(requirement: str) -> str:
    """The distribution or package name a requirement or bindep line starts with."""
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower()


def checks(kinit: str | None, winrm_encryption: bool | None, krb5_conf_present: bool = False,
           krb5_conf_error: str | None = None) -> list[ImageCheck]:
    """What a built image must show for Kerberos to Windows, each failure with its cause and fix."""
    rows = [ImageCheck("kinit present", bool(kinit), kinit or (
        "kinit is missing (Ansible's managed kinit fails with 'No such file or directory'); "
        "the Kerberos client package did not install"))]
    if winrm_encryption is None:
        detail = "python cannot import 'kerberos'; add pywinrm[kerberos] and pykerberos to dependencies.python"
    elif not winrm_encryption:
        detail = (f"the 'kerberos' module in the image: {_WITHOUT_ENCRYPTION}; pykerberos must be built from "
                  "source against MIT krb5 (libkrb5-dev / krb5-devel at build time)")
    else:
        detail = "authGSSWinRMEncryptMessage present"
    rows.append(ImageCheck("pykerberos with WinRM encryption", winrm_encryption is True, detail))
    if krb5_conf_present:  # every kinit reads it first
        rows.append(ImageCheck("MIT krb5 reads /etc/krb5.conf", not krb5_conf_error, (
            f"MIT krb5 cannot read {KRB5_CONF} ({krb5_conf_error}), so every kinit fails; fix the kerberos: "
            f"settings or the krb5.conf template") if krb5_conf_error else "parsed by klist"))
    return rows
