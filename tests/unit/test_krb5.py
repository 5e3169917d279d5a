"""krb5.conf rendering from settings, the pitfall checker, and the kerberos: settings validation."""
from __future__ import annotations

import pytest

from builder import krb5, settings
from builder.errors import UserError
from tests.helpers import ROOT, ee_builder, minimal_definition

KERBEROS = """
kerberos:
  template: {template}
  default_realm: AD.EXAMPLE.TEST
  realms:
    AD.EXAMPLE.TEST:
      kdcs: [dc1.ad.example.test, dc2.ad.example.test:88]
      admin_server: dc1.ad.example.test
  domain_realm:
    .ad.example.test: AD.EXAMPLE.TEST
    ad.example.test: AD.EXAMPLE.TEST
  permitted_enctypes: [aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96]
"""


def load(project, text: str) -> settings.Settings:
    project("execution-environment.yml", minimal_definition())
    return settings.load(project("ee-builder.yml", text.format(template=ROOT / "krb5" / "krb5.conf.j2")))


def error(project, text: str) -> str:
    with pytest.raises(UserError) as err:
        load(project, text)
    return str(err.value)


def test_render_has_what_windows_needs(project):
    text = krb5.render(load(project, KERBEROS).kerberos)
    lines = [line.strip() for line in text.splitlines()]
    assert "default_realm = AD.EXAMPLE.TEST" in lines
    assert "rdns = false" in lines and "dns_canonicalize_hostname = false" in lines
    assert "default_ccache_name = FILE:/tmp/krb5cc_%{uid}" in lines
    assert "kdc = dc1.ad.example.test" in lines and "kdc = dc2.ad.example.test:88" in lines
    assert "admin_server = dc1.ad.example.test" in lines
    assert ".ad.example.test = AD.EXAMPLE.TEST" in lines
    assert "permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96" in lines
    assert "includedir" not in text


def test_rendered_file_passes_the_checker(project):
    assert krb5.lint(krb5.render(load(project, KERBEROS).kerberos)) == []


BAD = """\
[libdefaults]
    default_realm = ad.example.test
    default_ccache_name = KEYRING:persistent:%{uid}

[realms]
    ad.example.test = {
        admin_server = dc1
    }

[domain_realm]
    .ad.example.test = ad.example.test
"""


def test_checker_names_every_pitfall_with_its_line():
    findings = {(f.line, f.problem.split(" ")[0]) for f in krb5.lint(BAD)}
    messages = " | ".join(f.message for f in krb5.lint(BAD))
    assert (2, "default_realm") in findings and "use AD.EXAMPLE.TEST" in messages
    assert (3, "default_ccache_name") in findings and "Use FILE:/tmp/krb5cc_%{uid}" in messages
    assert (6, "realm") in findings and "Rename it AD.EXAMPLE.TEST" in messages
    assert "realm ad.example.test has no kdc and dns_lookup_kdc is off" in messages
    assert "rdns is on" in messages
    assert (11, "domain_realm") in findings


def test_checker_wants_a_default_realm():
    assert krb5.lint("[libdefaults]\n    rdns = false\n")[0].problem == "no default_realm in [libdefaults]"


def test_check_command_exit_codes(tmp_path):
    bad, good = tmp_path / "bad.conf", tmp_path / "good.conf"
    bad.write_text(BAD)
    good.write_text("[libdefaults]\n default_realm = A.TEST\n rdns = false\n[realms]\n A.TEST = {\n  kdc = dc.a.test\n }\n")
    result = ee_builder("krb5", "check", str(bad), cwd=ROOT)
    assert result.returncode == 1 and f"{bad}:2: default_realm 'ad.example.test' is not upper case" in result.stdout
    result = ee_builder("krb5", "check", str(good), cwd=ROOT)
    assert result.returncode == 0 and "no problems found" in result.stdout


def test_lowercase_realm_is_refused_where_it_is_written(project):
    message = error(project, KERBEROS.replace("    AD.EXAMPLE.TEST:\n", "    ad.example.test:\n"))
    assert "ee-builder.yml:6: kerberos.realms.ad.example.test: realm names are upper case" in message
    assert "Expected AD.EXAMPLE.TEST" in message


def test_realm_without_kdc_is_refused(project):
    message = error(project, KERBEROS.replace("      kdcs: [dc1.ad.example.test, dc2.ad.example.test:88]\n", ""))
    assert "kerberos.realms.AD.EXAMPLE.TEST: no KDC" in message


def test_keyring_ccache_is_refused(project):
    message = error(project, KERBEROS + "  default_ccache_name: KEYRING:persistent:%{{uid}}\n")
    assert "kerberos.default_ccache_name: expected a FILE:, DIR: or MEMORY: cache" in message


def test_default_realm_must_be_a_realm(project):
    message = error(project, KERBEROS.replace("default_realm: AD.EXAMPLE.TEST", "default_realm: ad.example.test"))
    assert "kerberos.default_realm: 'ad.example.test' is not among kerberos.realms" in message
    assert "realm names are upper case: AD.EXAMPLE.TEST" in message


def test_unknown_kerberos_key(project):
    message = error(project, KERBEROS + "  dns_lookup_kdcs: true\n")
    assert "kerberos.dns_lookup_kdcs: unknown key" in message
