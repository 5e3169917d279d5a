"""Hostile and broken input through the CLI: each is one located message, exit 2,
no traceback, nothing written, and nothing from outside the project read."""
from __future__ import annotations

import os
import time

import pytest
import yaml

from builder import krb5
from builder.settings import Kerberos, Realm
from builder.errors import UserError
from tests.helpers import KERBEROS_SETTINGS, ROOT, ca_pem, ee_builder, minimal_definition

INJECTION = "x = EXAMPLE.TEST\n[libdefaults]\n    default_keytab_name = FILE:/tmp/injected.keytab\n#"


def refused(cwd, *args: str) -> str:
    """``ee-builder ARGS`` in ``cwd`` fails as a user error: exit 2, one message, no traceback."""
    result = ee_builder(*args, cwd=cwd)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and output.startswith("ee-builder: error: "), output
    return output


def kerberos(**changes) -> str:
    """The scratch kerberos: section with ``changes`` (YAML-dumped, so any string is a legal scalar)."""
    data = yaml.safe_load(KERBEROS_SETTINGS)
    data["kerberos"].update(changes)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def scratch(project):
    project("execution-environment.yml", minimal_definition())
    return project


# 1. Nothing reaches krb5.conf that could change its structure ------------------------------------

KRB5_INJECTIONS = [
    ("domain_realm key with a section", {"domain_realm": {INJECTION: "CORP.TEST"}}, "kerberos.domain_realm"),
    ("domain_realm key with a space", {"domain_realm": {"win host.corp.test": "CORP.TEST"}}, "kerberos.domain_realm"),
    ("domain_realm key with a comment", {"domain_realm": {"x#y": "CORP.TEST"}}, "kerberos.domain_realm"),
    ("enctype with a new line", {"permitted_enctypes": ["aes256-cts\n[realms]"]}, "kerberos.permitted_enctypes[0]"),
    ("unknown enctype", {"permitted_enctypes": ["aes512-magic"]}, "kerberos.permitted_enctypes[0]"),
    ("realm with a trailing new line", {"realms": {"CORP.TEST\n": {"kdcs": ["dc1.corp.test"]}}}, "kerberos.realms"),
    ("realm with a brace", {"realms": {"CORP}": {"kdcs": ["dc1.corp.test"]}}, "default_realm": "CORP}"},
     "not a realm name"),
    ("kdc with a new line", {"realms": {"CORP.TEST": {"kdcs": ["dc1.corp.test\n  admin_server = evil"]}}},
     "kerberos.realms.CORP.TEST.kdcs[0]"),
    ("admin_server with a brace", {"realms": {"CORP.TEST": {"kdcs": ["dc1"], "admin_server": "dc1 }"}}},
     "kerberos.realms.CORP.TEST.admin_server"),
    ("ccache with a new line", {"default_ccache_name": "FILE:/tmp/x\n[libdefaults]"}, "kerberos.default_ccache_name"),
    ("lifetime with a new line", {"ticket_lifetime": "10h\n"}, "kerberos.ticket_lifetime"),
    ("lifetime that is not one", {"renew_lifetime": "a week"}, "kerberos.renew_lifetime"),
    ("includedir with a space", {"includedir": "/etc/krb5.conf.d x"}, "kerberos.includedir"),
    ("default_realm with a new line", {"default_realm": "CORP.TEST\n"}, "kerberos.default_realm"),
]


@pytest.mark.parametrize("changes, where", [case[1:] for case in KRB5_INJECTIONS],
                         ids=[case[0] for case in KRB5_INJECTIONS])
def test_krb5_values_outside_their_grammar_are_refused_where_written(scratch, changes, where):
    scratch("ee-builder.yml", kerberos(**changes))
    output = refused(scratch.root, "krb5", "render")
    assert where in output and "ee-builder.yml:" in output
    assert "injected" not in output.split("error:", 1)[1].split("ee-builder.yml")[0]  # nothing rendered first


@pytest.mark.parametrize("field, value", [
    ("domain_realm", {INJECTION: "CORP.TEST"}),
    ("permitted_enctypes", ("aes256-cts", "x\n[libdefaults]")),
    ("ticket_lifetime", "10h\n[realms]"),
    ("default_ccache_name", "FILE:/tmp/a b"),
    ("realms", {"CORP.TEST": Realm(kdcs=("dc1 = x",))}),
])
def test_the_renderer_writes_only_single_words(field, value):
    """Settings built in code bypass the schema: the renderer itself refuses what could change structure."""
    settings = Kerberos(default_realm="CORP.TEST", realms={"CORP.TEST": Realm(kdcs=("dc1.corp.test",))},
                             template=ROOT / "krb5" / "krb5.conf.j2")
    from dataclasses import replace
    with pytest.raises(UserError, match="not a single krb5.conf word"):
        krb5.render(replace(settings, **{field: value}))


def test_a_template_whose_output_mit_cannot_read_is_refused(project):
    template = project("bad.j2", "[libdefaults]\n    default_realm = {{ default_realm }}\n  broken line here\n")
    settings = Kerberos(default_realm="CORP.TEST", realms={}, template=template)
    with pytest.raises(UserError, match="cannot be read by MIT krb5: Improper format"):
        krb5.render(settings)


def test_a_template_that_is_no_krb5_conf_template_is_refused(project):
    settings = Kerberos(default_realm="CORP.TEST", realms={}, template=project("passwd", "root:x:0:0::/root:/bin/sh\n"))
    with pytest.raises(UserError, match="has default_realm None in \\[libdefaults\\], not kerberos.default_realm"):
        krb5.render(settings)


def test_krb5_check_reports_what_mit_cannot_read(tmp_path):
    conf = tmp_path / "krb5.conf"
    conf.write_text("[libdefaults]\n    default_realm = A.TEST\n    rdns = false\n[realms]\n    A.TEST = {\n"
                    "        kdc = dc.a.test\n    }\n[domain_realm]\n    x y = A.TEST\n")
    result = ee_builder("krb5", "check", str(conf), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "MIT krb5 cannot read this file: Improper format of Kerberos configuration file" in output


# 5. Paths stay inside the project; a named file must exist ---------------------------------------

@pytest.mark.parametrize("definition, expected", [
    (minimal_definition(dependencies={"python": "../../../../etc/passwd"}),
     "dependencies.python: '../../../../etc/passwd' leads outside the project"),
    (minimal_definition(dependencies={"python": "requirements.txt"}),
     "dependencies.python: file"),
    (minimal_definition(dependencies={"system": "deps/bindep.txt"}), "dependencies.system: file"),
    (minimal_definition(dependencies={"galaxy": "requirements.yml"}), "dependencies.galaxy: file"),
    (minimal_definition(additional_build_files=[{"src": "../outside", "dest": "x"}]),
     "additional_build_files[0].src: '../outside' leads outside the project"),
], ids=["python outside", "python missing", "system missing", "galaxy missing", "build file outside"])
def test_definition_files_must_exist_inside_the_project(project, definition, expected):
    project("execution-environment.yml", definition)
    project("ee-builder.yml", "{}\n")
    output = refused(project.root, "krb5", "render")
    assert "execution-environment.yml:" in output and expected in output


@pytest.mark.parametrize("settings_text, expected", [
    (kerberos(template="../../etc/passwd"), "kerberos.template: '../../etc/passwd' leads outside the project"),
    ("definition: ../ee.yml\n", "definition: '../ee.yml' leads outside the project"),
    ("collections:\n  source: local\n  local_path: ../..\n", "collections.local_path: '../..' leads outside"),
    ("collections:\n  source: local\n  local_path: execution-environment.yml\n", "is not a directory"),
    (kerberos(template="."), "is a directory. Expected a file"),
], ids=["template outside", "definition outside", "collections outside", "collections a file", "template a dir"])
def test_settings_paths_stay_inside_the_project(scratch, settings_text, expected):
    scratch("ee-builder.yml", settings_text)
    output = refused(scratch.root, "krb5", "render")
    assert "ee-builder.yml:" in output and expected in output


def test_an_absolute_path_is_the_user_saying_where(scratch):
    from builder import settings
    loaded = settings.load(scratch("ee-builder.yml", kerberos(template=str(ROOT / "krb5" / "krb5.conf.j2"))))
    assert loaded.kerberos.template == ROOT / "krb5" / "krb5.conf.j2"


# 6. Only regular files, bounded; a CA bundle holds a certificate ---------------------------------

def _special(kind: str, tmp_path):
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return str(path)
    if kind == "big":
        path = tmp_path / "big.crt"
        with open(path, "wb") as handle:
            handle.truncate(64 << 20)  # sparse: no disk used
        return str(path)
    files = {"empty": "", "text": "not a certificate\n", "key-only": "-----BEGIN CERTIFICATE-----\nAAAA\n"}
    if kind in files:
        (tmp_path / f"{kind}.crt").write_text(files[kind])
        return str(tmp_path / f"{kind}.crt")
    return {"zero": "/dev/zero", "dir": str(tmp_path)}[kind]


@pytest.mark.parametrize("kind, expected", [
    ("zero", "is not a regular file"), ("fifo", "is not a regular file"), ("dir", "is not a directory"),
    ("big", "Expected at most"), ("empty", "holds no PEM certificate"), ("text", "holds no PEM certificate"),
    ("key-only", "holds no PEM certificate"),
])
def test_ca_bundles_are_bounded_regular_files_with_a_certificate(scratch, tmp_path, kind, expected):
    bundle = _special(kind, tmp_path)
    scratch("ee-builder.yml", f"trust:\n  ca_bundles: [{bundle}]\n")
    started = time.monotonic()
    output = refused(scratch.root, "context")
    assert "trust.ca_bundles[0]" in output and (expected in output or "is a directory" in output), output
    assert time.monotonic() - started < 20


def test_a_real_ca_bundle_is_accepted(scratch):
    from builder import settings
    scratch("ca.crt", ca_pem())
    assert settings.load(scratch("ee-builder.yml", "trust:\n  ca_bundles: [ca.crt]\n")).trust.ca_bundles


@pytest.mark.parametrize("kind, expected", [("zero", "not a regular file"), ("fifo", "not a regular file"),
                                            ("big", "Expected at most")])
def test_krb5_check_reads_only_bounded_regular_files(tmp_path, kind, expected):
    started = time.monotonic()
    output = refused(tmp_path, "krb5", "check", _special(kind, tmp_path))
    assert expected in output and time.monotonic() - started < 20


# Robustness: located messages instead of Python exceptions ---------------------------------------

@pytest.mark.parametrize("target", ["ee-builder.yml", "execution-environment.yml", "template.j2"])
def test_files_that_are_not_utf8(scratch, target):
    scratch("ee-builder.yml", kerberos(template="template.j2"))
    scratch("template.j2", (ROOT / "krb5" / "krb5.conf.j2").read_text())
    path = scratch.root / target
    path.write_bytes(path.read_bytes() + b"\n# caf\xe9\n")
    output = refused(scratch.root, "krb5", "render")
    assert f"{target}:" in output and "is not UTF-8 text" in output


@pytest.mark.parametrize("args", [("--settings", "."), ("--settings", "missing.yml")])
def test_settings_path_that_is_no_file(scratch, args):
    output = refused(scratch.root, "krb5", "render", *args)
    assert "ee-builder settings" in output


@pytest.mark.parametrize("template, expected", [
    ("[libdefaults]\n    default_realm = {{ default_realm }\n", "template.j2:2: krb5.conf template syntax error"),
    ("{{ no_such_setting }}\n", "uses an undefined value"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}\n", "krb5.conf template"),
])
def test_template_errors(scratch, template, expected):
    scratch("template.j2", template)
    scratch("ee-builder.yml", kerberos(template="template.j2"))
    output = refused(scratch.root, "krb5", "render")
    assert expected in output


def test_output_folder_that_does_not_exist(scratch):
    scratch("ee-builder.yml", KERBEROS_SETTINGS)
    output = refused(scratch.root, "krb5", "render", "-o", "no/such/dir/krb5.conf")
    assert "no/such/dir/krb5.conf: cannot write" in output and "does not exist" in output


@pytest.mark.parametrize("args, expected", [
    (("inspect", "Localhost/EE:latest"), "IMAGE: 'Localhost/EE:latest' is not an image reference"),
    (("inspect", "a b"), "is not an image reference"),
    (("check", "registry.test/ee:tag with space"), "is not an image reference"),
    (("krb5", "render", "--image", "UPPER:1"), "--image: 'UPPER:1' is not an image reference"),
    (("awx", "objects", "--image", "x@sha256:short"), "is not an image reference"),
    (("krb5", "render", "--namespace", "Bad_NS"), "--namespace: 'Bad_NS' is not a Kubernetes name"),
    (("krb5", "render", "--configmap-name", "x y"), "--configmap-name: 'x y' is not a Kubernetes name"),
])
def test_names_on_the_command_line_are_checked(scratch, args, expected):
    scratch("ee-builder.yml", KERBEROS_SETTINGS)
    output = refused(scratch.root, *args)
    assert expected in output


def test_uppercase_base_image_is_refused_before_any_build(project):
    project("execution-environment.yml", minimal_definition(images={"base_image": {"name": "Localhost/Debian:12"}}))
    project("ee-builder.yml", "{}\n")
    output = refused(project.root, "context")
    assert "execution-environment.yml:4: images.base_image.name: expected a lowercase image reference" in output


YAML_CASES = [
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)),
     "aliases (*name) expand to more than"),
    ("duplicate key", "image:\n  name: localhost/a\n  name: localhost/b\n",
     "ee-builder.yml:3: image.name: duplicate key (first at line 2)"),
    ("non-string key", "awx:\n  container_group:\n    host_aliases:\n      1: [a.test]\n", "is not a string"),
    ("deep nesting", "x: " + "[" * 5000 + "]" * 5000 + "\n", "ee-builder.yml"),
    ("two documents", "image: {}\n---\nimage: {}\n", "not valid YAML"),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in YAML_CASES], ids=[case[0] for case in YAML_CASES])
def test_yaml_that_is_hostile_or_ambiguous(scratch, text, expected):
    scratch("ee-builder.yml", text)
    started = time.monotonic()
    output = refused(scratch.root, "krb5", "render")
    assert expected in output and time.monotonic() - started < 20


def test_duplicate_key_in_the_definition(project):
    project("execution-environment.yml", "version: 3\nimages:\n  base_image:\n    name: localhost/debian:bookworm\n"
                                         "version: 3\n")
    project("ee-builder.yml", "{}\n")
    output = refused(project.root, "context")
    assert "execution-environment.yml:5: version: duplicate key (first at line 1)" in output


CONTRADICTIONS = [
    ("collections:\n  source: galaxy\n  pypi_package: ansible==12.3.0\n", "collections.pypi_package: is set, but"),
    ("collections:\n  source: pypi\n  galaxy_server: https://galaxy.test\n", "collections.galaxy_server: is set"),
    ("collections:\n  source: galaxy\n  local_path: .\n", "collections.local_path: is set, but"),
    ("base:\n  family: dpkg\n  package_manager: microdnf\n", "base.package_manager: chooses dnf or microdnf"),
    ("base:\n  family: rpm\n  bootstrap:\n    enabled: true\n", "base.bootstrap.enabled: is true, but"),
    ("awx:\n  container_group:\n    configmap: krb5\n", "no kerberos: section"),
    ("image:\n  tags: [a, a]\n", "image.tags"),
]


@pytest.mark.parametrize("text, expected", CONTRADICTIONS)
def test_settings_that_contradict_each_other(scratch, text, expected):
    scratch("ee-builder.yml", text)
    output = refused(scratch.root, "context")
    assert "ee-builder.yml:" in output and expected in output


def test_an_empty_settings_file_means_every_default(scratch):
    from builder import settings
    loaded = settings.load(scratch("ee-builder.yml", ""))
    assert loaded.image.name == "localhost/awx-ee" and loaded.kerberos is None


def test_a_realm_that_is_not_a_name_is_not_told_to_be_upper_case(scratch):
    scratch("ee-builder.yml", kerberos(realms={"CORP}": {"kdcs": ["dc1"]}}, default_realm="CORP}"))
    output = refused(scratch.root, "krb5", "render")
    assert "Expected a realm name such as AD.EXAMPLE.COM" in output and "Expected CORP}" not in output
