"""The generated context for a CentOS Stream 9 base. It cannot be built here (no registry), so the
Containerfile and the bindep resolution are checked instead."""
from __future__ import annotations

from builder import sysdeps
from tests.helpers import KERBEROS_SETTINGS, ee_builder, project_with

STREAM9 = """
base:
  image: quay.io/centos/centos:stream9
  python: {package: python3.11, path: /usr/bin/python3.11}
trust:
  ca_bundles: [/etc/ssl/certs/ca-certificates.crt]
collections:
  source: pypi
""" + KERBEROS_SETTINGS


def test_centos_stream9_context(tmp_path):
    project = project_with(tmp_path, STREAM9)
    result = ee_builder("context", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (project / "context" / "Containerfile").read_text()
    lines = [line.strip() for line in containerfile.splitlines()]
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in lines
    assert 'ARG PKGMGR="/usr/bin/dnf"' in lines
    assert 'ARG PYPKG="python3.11"' in lines and 'ARG PYCMD="/usr/bin/python3.11"' in lines
    # CA trusted before the first package/pip step of the base stage, removed at the end.
    anchors = lines.index("COPY _build/ee-builder/trust/ /etc/pki/ca-trust/source/anchors/")
    assert anchors < lines.index("RUN $PKGMGR install $PYPKG -y ; if [ -z $PKGMGR_PRESERVE_CACHE ]; "
                                 "then $PKGMGR clean all; fi")
    assert lines.index("RUN rm -rf /etc/pki/ca-trust/source/anchors/ee-builder-*.crt && update-ca-trust") \
        > lines.index("RUN /output/scripts/install-from-bindep && rm -rf /output/wheels")
    assert "RUN alternatives --install /usr/bin/python3 python3 /usr/bin/python3.11 0 && " \
           "alternatives --set python3 /usr/bin/python3.11" in lines
    assert not any("ee-apt" in line for line in lines)
    bindep = (project / "context" / "_build" / "bindep.txt").read_text()
    assert sysdeps.resolve(bindep, "rpm") == {"runtime": ["krb5-libs", "krb5-workstation"],
                                               "compile": ["gcc", "krb5-devel", "python3-devel"]}
    tarballs = sorted(p.name for p in (project / "context" / "_build" / "ee-builder" / "collections").iterdir())
    assert tarballs == ["ansible-windows-3.3.0.tar.gz", "community-windows-3.1.0.tar.gz", "microsoft-ad-1.10.0.tar.gz"]
    assert "COPY _build/ee-builder/krb5/krb5.conf /etc/krb5.conf" in lines
    assert "system packages for rpm: runtime krb5-libs krb5-workstation; build only gcc krb5-devel python3-devel" \
        in " ".join(result.stdout.split())
