"""The generated context for a CentOS Stream 9 base. It cannot be built here (no registry), so the
Containerfile and the bindep resolution are checked instead. And the composed definition in
``.ee-builder/``, moved away from its project and built with plain ansible-builder."""
from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from builder import base_image, settings, sysdeps
from builder.report import Reporter
from tests.helpers import KERBEROS_SETTINGS, ee_builder, project_settings, project_with, run_in

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


# The composed definition travels: moved away from its project, plain ansible-builder builds it ----

def ansible_builder(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Plain ``ansible-builder ARGS`` (this venv's), in ``cwd``; docker's classic builder, as
    ee-builder's engine uses, so layers built by either are shared."""
    return subprocess.run([sys.executable, "-m", "ansible_builder", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "DOCKER_BUILDKIT": "0"})


def moved_away(tmp_path: Path, project: Path) -> Path:
    """``ee-builder context`` in ``project``, then its ``.ee-builder`` moved to another directory and
    the project renamed (what a CI job or a colleague gets is that directory alone)."""
    result = ee_builder("context", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    moved = tmp_path / "elsewhere" / "ee"
    moved.parent.mkdir()
    shutil.move(project / ".ee-builder", moved)
    project.rename(project.with_name(project.name + "-gone"))
    text = (moved / "execution-environment.yml").read_text()
    assert str(project) not in text and str(tmp_path) not in text, text
    return moved


def test_moved_composed_definition_creates_the_same_context(tmp_path):
    outside = tmp_path / "outside"
    (outside / "extra").mkdir(parents=True)
    (outside / "extra" / "site.cfg").write_text("[site]\n")
    project = tmp_path / "project"
    definition = yaml.safe_load((Path(__file__).parents[2] / "execution-environment.yml").read_text())
    definition["additional_build_files"] = [{"src": str(outside / "extra"), "dest": "extra"},
                                            {"src": "conf/*.cfg", "dest": "conf"}]
    project_with(project, """
trust:
  ca_bundles: [/etc/ssl/certs/ca-certificates.crt]
collections:
  source: pypi
receptor:
  source: file
  version: 1.6.9
  file: bin/receptor
""" + KERBEROS_SETTINGS, definition)
    (project / "bin").mkdir()
    (project / "bin" / "receptor").write_text("#!/bin/sh\necho 1.6.9\n")
    (project / "conf").mkdir()
    (project / "conf" / "ansible.cfg").write_text("[defaults]\n")
    original = tmp_path / "original-context"
    moved_away(tmp_path, project)  # to elsewhere/ee
    shutil.copytree(tmp_path / "project-gone" / "context", original)
    shutil.rmtree(tmp_path / "project-gone")
    shutil.rmtree(outside)

    work = tmp_path / "work"
    work.mkdir()
    result = ansible_builder("create", "-f", "../elsewhere/ee/execution-environment.yml", "-c", "context",
                             "--output-filename", "Containerfile", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No matches" not in result.stdout + result.stderr and "does not exist" not in result.stdout + result.stderr
    context = work / "context"
    containerfile = (context / "Containerfile").read_text()
    assert containerfile == (original / "Containerfile").read_text()
    for line in containerfile.splitlines():
        words = line.split()
        if words and words[0] == "COPY" and not words[1].startswith("--from"):
            assert (context / words[1]).exists(), line
    # The same _build, file for file, as ee-builder's own context before the move.
    compared = filecmp.dircmp(original / "_build", context / "_build")
    def same(cmp: filecmp.dircmp) -> bool:
        return (not cmp.left_only and not cmp.right_only and not cmp.diff_files and not cmp.funny_files
                and all(same(sub) for sub in cmp.subdirs.values()))
    assert same(compared), compared.report_full_closure()
    built = context / "_build"
    assert (built / "extra" / "site.cfg").read_text() == "[site]\n"
    assert (built / "conf" / "ansible.cfg").is_file()
    assert (built / "ee-builder" / "receptor" / "receptor").read_text() == "#!/bin/sh\necho 1.6.9\n"
    assert sorted(p.name for p in (built / "ee-builder" / "collections").iterdir()) == [
        "ansible-windows-3.3.0.tar.gz", "community-windows-3.1.0.tar.gz", "microsoft-ad-1.10.0.tar.gz"]


def test_moved_composed_definition_builds_with_plain_ansible_builder(tmp_path, engine):
    """The full build (a few seconds when the layers of `make build` are cached, minutes cold)."""
    image = "localhost/ee-builder-test-portable:plain"
    project = project_with(tmp_path / "project", project_settings("localhost/ee-builder-test-portable"))
    base_image.ensure(engine, settings.load(project / "ee-builder.yml").base, Reporter())
    moved = moved_away(tmp_path, project)
    krb5_conf = (moved / "files" / "ee-builder" / "krb5" / "krb5.conf").read_text()
    shutil.rmtree(tmp_path / "project-gone")
    work = tmp_path / "work"
    work.mkdir()
    result = ansible_builder("build", "-f", "../elsewhere/ee/execution-environment.yml", "-c", "context",
                             "--container-runtime", "docker", "-t", image, cwd=work, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    try:
        rc, out = engine.run(image, ["cat", "/etc/krb5.conf"], entrypoint=[])
        assert rc == 0 and out == krb5_conf, out
        rc, out = run_in(engine, image, "python3 -c \"import winrm, kerberos; "
                         "assert hasattr(kerberos, 'authGSSWinRMEncryptMessage'); print('encryption ok')\" "
                         "&& command -v kinit && ansible-galaxy collection list && cat /usr/share/ee-builder/manifest.json")
        assert rc == 0 and "encryption ok" in out and "/usr/bin/kinit" in out, out
        for name in ("ansible.windows", "community.windows", "microsoft.ad"):
            assert name in out, out
    finally:
        engine.remove(image, force=True)
