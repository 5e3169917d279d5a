"""bindep resolution of the project's system dependencies for both families."""
from __future__ import annotations

from builder import sysdeps
from builder.features import kerberos
from tests.helpers import ROOT
import yaml


def project_bindep() -> str:
    """The project's system dependencies plus the Kerberos feature's client packages."""
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    return "\n".join(definition["dependencies"]["system"] + list(kerberos.CLIENT)) + "\n"


def test_dpkg_resolution():
    assert sysdeps.resolve(project_bindep(), "dpkg") == {
        "runtime": ["krb5-user", "libgssapi-krb5-2"], "compile": ["gcc", "libkrb5-dev", "python3-dev"]}


def test_rpm_resolution():
    assert sysdeps.resolve(project_bindep(), "rpm") == {
        "runtime": ["krb5-libs", "krb5-workstation"], "compile": ["gcc", "krb5-devel", "python3-devel"]}


def test_runtime_packages_never_include_compile_only_ones():
    text = "gcc [compile]\nlibfoo [platform:dpkg]\nlibfoo-dev [platform:dpkg compile]\nbar [platform:rpm]\n"
    assert sysdeps.resolve(text, "dpkg") == {"runtime": ["libfoo"], "compile": ["gcc", "libfoo-dev"]}
