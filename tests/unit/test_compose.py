"""Composition for both base families, compared with reviewed golden files.

Regenerate the goldens after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit`` and
review the diff like code.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from ansible_builder.user_definition import UserDefinition

from builder import compose, settings
from builder.cache import cache_dir
from builder.collection_sources import Artifact
from builder.errors import UserError
from tests.helpers import KERBEROS_SETTINGS, ROOT, ca_pem

GOLDEN = Path(__file__).parent / "golden"

RPM_SETTINGS = """
definition: {definition}
base:
  image: quay.io/centos/centos:stream9
  package_manager: dnf
  python: {{package: python3.11, path: /usr/bin/python3.11}}
trust:
  ca_bundles: [ca.crt]
  pip_index_url: https://pypi.corp.test/simple
  pip_trusted_host: pypi.corp.test
  http_proxy: http://proxy.corp.test:3128
  no_proxy: localhost,.corp.test
collections:
  source: galaxy
"""

DPKG_SETTINGS = """
definition: {definition}
trust:
  ca_bundles: [ca.crt]
collections:
  source: pypi
""" + KERBEROS_SETTINGS


def composed(project, text: str, artifacts) -> tuple[dict, compose.Composed]:
    project("ca.crt", ca_pem())
    path = project("ee-builder.yml", text.format(definition=ROOT / "execution-environment.yml", root=ROOT))
    result = compose.compose(settings.load(path), Path("/staging"), artifacts)
    return result.definition, result


def check_golden(name: str, data: dict) -> None:
    text = yaml.safe_dump(data, sort_keys=False).replace(str(ROOT), "<project>")
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"composition changed; review and regenerate {golden}"


@pytest.fixture
def artifacts(tmp_path):
    return [Artifact("ansible.windows", "3.3.0", Path("/cache/ansible-windows-3.3.0.tar.gz")),
            Artifact("microsoft.ad", "1.10.0", Path("/cache/microsoft-ad-1.10.0.tar.gz"))]


def test_dpkg_composition_matches_golden(project, artifacts):
    definition, result = composed(project, DPKG_SETTINGS, artifacts)
    check_golden("compose-dpkg.yml", definition)
    assert result.build_args == {}


def test_rpm_composition_matches_golden(project):
    definition, result = composed(project, RPM_SETTINGS, None)
    check_golden("compose-rpm.yml", definition)
    assert result.build_args == {
        "http_proxy": "http://proxy.corp.test:3128", "HTTP_PROXY": "http://proxy.corp.test:3128",
        "no_proxy": "localhost,.corp.test", "NO_PROXY": "localhost,.corp.test",
    }


def test_dpkg_uses_apt_front_and_skips_ensurepip(project, artifacts):
    definition, result = composed(project, DPKG_SETTINGS, artifacts)
    assert definition["options"]["package_manager_path"] == "/usr/local/sbin/ee-apt"
    assert definition["options"]["skip_pip_install"] is True
    front = result.generated[Path("/staging/files/ee-builder/ee-apt")].decode()
    assert "rm -rf /var/lib/apt/lists/*" in front and "--no-install-recommends" in front


def test_ca_is_trusted_first_and_removed_last(project, artifacts):
    definition, result = composed(project, DPKG_SETTINGS, artifacts)
    steps = definition["additional_build_steps"]
    assert "COPY _build/ee-builder/trust/ /usr/local/share/ca-certificates/ee-builder/" in steps["prepend_base"]
    assert any(step.startswith("RUN rm -rf /usr/local/share/ca-certificates/ee-builder")
               for step in steps["append_final"])
    assert result.generated[Path("/staging/files/ee-builder/trust/ee-builder-0.crt")].startswith(b"-----BEGIN")


def test_keep_in_final_keeps_ca(project, artifacts):
    keep = DPKG_SETTINGS.replace("ca_bundles: [ca.crt]", "ca_bundles: [ca.crt]\n  keep_in_final: true")
    definition, _ = composed(project, keep, artifacts)
    assert not any("ca-certificates" in step for step in definition["additional_build_steps"]["append_final"])


def test_user_steps_sit_between_feature_set_up_and_clean_up(project, artifacts):
    user = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    user["additional_build_steps"] = {"prepend_base": ["RUN echo user-prepend"], "append_final": ["RUN echo user-append"]}
    project("ee.yml", user)
    text = DPKG_SETTINGS.format(definition="ee.yml", root=ROOT)
    project("ca.crt", ca_pem())
    result = compose.compose(settings.load(project("ee-builder.yml", text)), Path("/staging"), artifacts)
    steps = result.definition["additional_build_steps"]
    assert steps["prepend_base"][-1] == "RUN echo user-prepend"
    assert steps["prepend_base"][0].startswith("COPY _build/ee-builder/ee-apt")
    assert steps["append_final"][0] == "RUN echo user-append"


def test_offline_collections_replace_galaxy_requirements(project, artifacts):
    definition, _ = composed(project, DPKG_SETTINGS, artifacts)
    assert definition["dependencies"]["galaxy"] == {"collections": [
        {"name": "/build/ee-builder/collections/ansible-windows-3.3.0.tar.gz", "type": "file"},
        {"name": "/build/ee-builder/collections/microsoft-ad-1.10.0.tar.gz", "type": "file"}]}
    assert definition["build_arg_defaults"]["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] == "--offline"


def test_pip_index_reaches_every_stage_through_base_and_leaves_final(project):
    definition, result = composed(project, RPM_SETTINGS, None)
    steps = definition["additional_build_steps"]
    assert "COPY _build/ee-builder/pip.conf /etc/pip.conf" in steps["prepend_base"]
    assert "RUN rm -f /etc/pip.conf" in steps["append_final"]
    assert result.generated[Path("/staging/files/ee-builder/pip.conf")] == (
        b"[global]\nindex-url = https://pypi.corp.test/simple\ntrusted-host = pypi.corp.test\n")
    assert not any("pypi.corp.test" in line for lines in steps.values() for line in lines)


def test_wheel_cache_step_is_present_even_when_cold(project, artifacts):
    definition, result = composed(project, DPKG_SETTINGS, artifacts)
    assert definition["additional_build_steps"]["prepend_builder"][-1] == \
        "COPY _build/ee-builder/pip-cache/ /output/wheels/wheels/"
    assert result.generated[Path("/staging/files/ee-builder/pip-cache/.keep")] == b""


def test_kept_wheels_are_seeded_into_pip_cache(project, artifacts, tmp_path):
    seed = tmp_path / "seed"
    (seed / "ab").mkdir(parents=True)
    (seed / "ab" / "pykerberos-1.2.4-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
    path = project("ee-builder.yml", DPKG_SETTINGS.format(definition=ROOT / "execution-environment.yml", root=ROOT))
    project("ca.crt", ca_pem())
    result = compose.compose(settings.load(path), Path("/staging"), artifacts, wheels=seed)
    # Copied next to the composed definition (the host's cache does not travel with it).
    assert {"src": "files/ee-builder/pip-cache", "dest": "ee-builder/pip-cache"} in \
        result.definition["additional_build_files"]
    assert (Path("/staging/files/ee-builder/pip-cache"), seed) in result.copies
    assert not any(p.name == ".keep" for p in result.generated)


def test_parallel_compile_only_in_builder_stage_and_can_be_turned_off(project, artifacts):
    definition, _ = composed(project, DPKG_SETTINGS, artifacts)
    steps = definition["additional_build_steps"]
    assert any(".pydistutils.cfg" in line for line in steps["prepend_builder"])
    assert not any(".pydistutils.cfg" in line for key, lines in steps.items() if key != "prepend_builder"
                   for line in lines)
    definition, _ = composed(project, DPKG_SETTINGS + "build:\n  parallel_compile: false\n", artifacts)
    assert not any(".pydistutils.cfg" in line for line in definition["additional_build_steps"]["prepend_builder"])


def test_kerberos_adds_client_packages_and_bakes_krb5_conf_late(project, artifacts):
    definition, result = composed(project, DPKG_SETTINGS, artifacts)
    assert {"krb5-user [platform:dpkg]", "krb5-workstation [platform:rpm]"} <= set(definition["dependencies"]["system"])
    final = definition["additional_build_steps"]["append_final"]
    # Late, so a realm change rebuilds little; before the manifest, which records the realm.
    assert final.index("COPY _build/ee-builder/krb5/krb5.conf /etc/krb5.conf") == len(final) - 3
    assert "manifest.json" in final[-1]
    conf = result.generated[Path("/staging/files/ee-builder/krb5/krb5.conf")].decode()
    assert "default_realm = CORP.TEST" in conf and "kdc = dc1.corp.test" in conf


def test_without_kerberos_section_no_client_and_no_krb5_conf(project, artifacts):
    text = DPKG_SETTINGS[:DPKG_SETTINGS.index("kerberos:")]
    definition, result = composed(project, text, artifacts)
    assert not any(line.startswith(("krb5-user", "krb5-workstation")) for line in definition["dependencies"]["system"])
    assert not any("krb5.conf" in step for steps in definition["additional_build_steps"].values() for step in steps)


@pytest.mark.parametrize("key, entry, says", [
    ("system", "python3-kerberos [platform:dpkg]", "Apple's PyKerberos"),
    ("system", "python3-winrm", "pywinrm 0.3.0"),
    ("python", "kerberos==1.3.1", "ccs-pykerberos"),
])
def test_bindings_without_winrm_encryption_are_refused(project, artifacts, key, entry, says):
    user = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    user["dependencies"][key].append(entry)
    project("ee.yml", user)
    with pytest.raises(UserError) as err:
        composed(project, DPKG_SETTINGS.replace("{definition}", "ee.yml"), artifacts)
    message = str(err.value)
    assert f"ee.yml: dependencies.{key}: {entry!r}" in message and says in message


def test_refused_binding_found_in_a_requirements_file(project, artifacts):
    user = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    user["dependencies"]["python"] = "requirements.txt"
    project("requirements.txt", "pywinrm==0.5.0\nkerberos  # from an old guide\n")
    project("ee.yml", user)
    with pytest.raises(UserError, match=r"requirements.txt: dependencies.python: 'kerberos'"):
        composed(project, DPKG_SETTINGS.replace("{definition}", "ee.yml"), artifacts)


def test_kerberos_feature_brings_its_libraries_and_bindings_to_a_bare_definition(project, artifacts):
    project("ee.yml", {"version": 3, "images": {"base_image": {"name": "localhost/debian:bookworm"}},
                       "dependencies": {"python": ["pywinrm==0.4.3"]}})
    definition, _ = composed(project, DPKG_SETTINGS.replace("{definition}", "ee.yml"), artifacts)
    deps = definition["dependencies"]
    # The definition's own pywinrm pin wins; pykerberos is added; MIT headers only for compiling.
    assert deps["python"] == ["pywinrm==0.4.3", "pykerberos==1.2.4"]
    assert {"libgssapi-krb5-2 [platform:dpkg]", "libkrb5-dev [platform:dpkg compile]", "gcc [compile]",
            "krb5-user [platform:dpkg]"} <= set(deps["system"])


# The composed definition is portable: no host path, every file it names next to it -----------------

PORTABLE_SETTINGS = """
trust:
  ca_bundles: [{outside}/ca.crt]
collections:
  source: pypi
receptor:
  source: file
  version: 1.6.9
  file: bin/receptor
""" + KERBEROS_SETTINGS


def portable_project(project, outside: Path) -> Path:
    """A project naming every kind of file ee-builder stages: a CA bundle, collection artifacts,
    kept wheels and an absolute additional build file outside the project; a receptor file, a
    glob and a directory inside it."""
    outside.mkdir()
    (outside / "ca.crt").write_text(ca_pem())
    (outside / "site.cfg").write_text("[site]\n")
    (outside / "wheels" / "ab").mkdir(parents=True)
    (outside / "wheels" / "ab" / "pykerberos-1.2.4-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
    for name in ("ansible-windows-3.3.0.tar.gz", "microsoft-ad-1.10.0.tar.gz"):
        (outside / name).write_bytes(b"tarball " + name.encode())
    project("bin/receptor", "#!/bin/sh\necho 1.6.9\n").chmod(0o755)
    project("conf/a.cfg", "a\n")
    project("conf/b.cfg", "b\n")
    project("conf/skip.txt", "not matched\n")
    project("data/nested/x.txt", "x\n")
    project("execution-environment.yml", yaml.safe_load((ROOT / "execution-environment.yml").read_text()) | {
        "additional_build_files": [{"src": "conf/*.cfg", "dest": "configs"}, {"src": "data", "dest": "data"},
                                   {"src": str(outside / "site.cfg"), "dest": "configs"},
                                   {"src": "nothing/*.cfg", "dest": "none"}]})
    return project("ee-builder.yml", PORTABLE_SETTINGS.format(outside=outside))


def files_project(project) -> Path:
    """Dependencies given as files next to the user's definition, which no feature replaces."""
    project("deps/requirements.txt", "pypsrp==0.9.1\n")
    project("deps/bindep.txt", "libgssapi-krb5-2 [platform:dpkg]\n")
    project("deps/requirements.yml", {"collections": [{"name": "ansible.windows"}]})
    project("execution-environment.yml", {
        "version": 3, "images": {"base_image": {"name": "localhost/debian:bookworm"}},
        "dependencies": {"python": "deps/requirements.txt", "system": "deps/bindep.txt",
                         "galaxy": "deps/requirements.yml"}})
    return project("ee-builder.yml", "collections:\n  source: galaxy\n")


def referenced(definition: dict) -> list[str]:
    """Every host path the composed definition names: additional build files and dependency files."""
    deps = [value for key, value in definition["dependencies"].items()
            if key in ("python", "system", "galaxy") and isinstance(value, str)]
    return deps + [entry["src"] for entry in definition.get("additional_build_files", [])]


@pytest.mark.parametrize("kind", ["features", "files"])
def test_written_definition_names_no_host_path_and_travels_with_its_files(project, tmp_path, kind):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    if kind == "features":
        path = portable_project(project, outside)
        artifacts = [Artifact(name, "1", outside / f"{name}.tar.gz")
                     for name in ("ansible-windows-3.3.0", "microsoft-ad-1.10.0")]
        wheels = outside / "wheels"
    else:
        path, artifacts, wheels = files_project(project), None, None
    staging = tmp_path / ".ee-builder"
    result = compose.compose(settings.load(path), staging, artifacts, wheels)
    written = compose.write(result, staging)

    text = written.read_text()
    for host in (str(tmp_path), str(outside), str(ROOT), str(cache_dir())):
        assert host not in text, f"{host} in the composed definition:\n{text}"
    definition = yaml.safe_load(text)
    names = referenced(definition)
    assert names and all(not Path(name).is_absolute() and ".." not in Path(name).parts for name in names)

    # Moved elsewhere, with the project and the host files gone: ansible-builder finds every file.
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.move(staging, moved)
    for gone in [tmp_path, outside]:
        shutil.rmtree(gone, ignore_errors=True)
    user = UserDefinition(str(moved / "execution-environment.yml"))
    user.validate()  # every dependency file exists relative to the definition
    for entry in definition.get("additional_build_files", []):
        assert list(moved.glob(entry["src"])), f"{entry['src']} is not in {moved}"
    for name in names:
        assert (moved / name).exists(), name

    staged = {p.relative_to(moved).as_posix(): p for p in (moved / "files").rglob("*") if p.is_file()}
    if kind == "files":
        assert definition["dependencies"] == {"python": "files/project/dependencies/python/requirements.txt",
                                              "system": "files/project/dependencies/system/bindep.txt",
                                              "galaxy": "files/project/dependencies/galaxy/requirements.yml"}
        assert staged["files/project/dependencies/python/requirements.txt"].read_text() == "pypsrp==0.9.1\n"
        return
    assert definition["additional_build_files"][:3] == [
        {"src": "files/project/additional_build_files/0", "dest": "configs"},
        {"src": "files/project/additional_build_files/1", "dest": "data"},
        {"src": "files/project/additional_build_files/2", "dest": "configs"}]  # the unmatched glob is left out
    assert {"files/project/additional_build_files/0/a.cfg", "files/project/additional_build_files/0/b.cfg",
            "files/project/additional_build_files/1/nested/x.txt", "files/project/additional_build_files/2/site.cfg",
            "files/ee-builder/collections/ansible-windows-3.3.0.tar.gz",
            "files/ee-builder/collections/microsoft-ad-1.10.0.tar.gz",
            "files/ee-builder/pip-cache/ab/pykerberos-1.2.4-cp311-cp311-linux_x86_64.whl",
            "files/ee-builder/receptor/receptor", "files/ee-builder/probe/image.py", "files/ee-builder/krb5/krb5.conf",
            "files/ee-builder/trust/ee-builder-0.crt"} <= set(staged)
    assert "files/project/additional_build_files/0/skip.txt" not in staged
    assert staged["files/ee-builder/probe/image.py"].read_bytes() == (ROOT / "builder/probes/image.py").read_bytes()
    assert os.access(staged["files/ee-builder/receptor/receptor"], os.X_OK)


def test_rewriting_replaces_the_staged_files_and_never_copies_the_staging_directory(project, tmp_path):
    project("conf/a.cfg", "a\n")
    project("execution-environment.yml", {
        "version": 3, "images": {"base_image": {"name": "localhost/debian:bookworm"}},
        "additional_build_files": [{"src": "*", "dest": "everything"}]})
    loaded = settings.load(project("ee-builder.yml", "collections:\n  source: galaxy\n"))
    staging = tmp_path / ".ee-builder"
    for _ in range(2):  # the second time, the glob also matches .ee-builder
        compose.write(compose.compose(loaded, staging, None), staging)
    copied = staging / "files" / "project" / "additional_build_files" / "0"
    # As ansible-builder copies them: a matched directory's contents land in dest.
    assert (copied / "a.cfg").read_text() == "a\n" and (copied / "ee-builder.yml").is_file()
    assert not (copied / ".ee-builder").exists() and not (copied / "files").exists()
