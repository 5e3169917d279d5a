"""Settings and definition validation: every message names file:line, key path and expectation."""
from __future__ import annotations

import pytest

from builder import settings
from builder.errors import UserError
from tests.helpers import ROOT, minimal_definition


def load_error(project, text: str, definition=None) -> str:
    project("execution-environment.yml", definition or minimal_definition())
    path = project("ee-builder.yml", text)
    with pytest.raises(UserError) as err:
        settings.load(path)
    return str(err.value)


def test_project_settings_load_with_definition_base():
    loaded = settings.load(ROOT / "ee-builder.yml")
    assert loaded.base.image == "localhost/debian:bookworm"
    assert loaded.base.family == "dpkg"
    assert loaded.image.refs == ["localhost/awx-ee-kerberos:latest"]
    assert loaded.definition.path == ROOT / "execution-environment.yml"


def test_yaml_syntax_error_names_file_and_line(project):
    message = load_error(project, "image:\n  name: a\n   tags: [x]\n")
    assert "ee-builder.yml:3:" in message
    assert "not valid YAML" in message


def test_unknown_key_names_line_path_and_allowed_keys(project):
    message = load_error(project, "image:\n  name: localhost/x\n  tagz: [a]\n")
    assert "ee-builder.yml:3: image.tagz: unknown key" in message
    assert "Expected one of: labels, name, source, tags, version" in message


def test_wrong_type_names_expected_type(project):
    message = load_error(project, "trust:\n  keep_in_final: 'yes'\n")
    assert "ee-builder.yml:2: trust.keep_in_final: expected a value of type boolean, got 'yes'" in message


def test_uppercase_image_name_is_refused(project):
    message = load_error(project, "image:\n  name: Localhost/EE\n")
    assert "image.name: expected a lowercase repository name" in message


def test_empty_value_is_refused(project):
    message = load_error(project, "trust:\n  no_proxy: ''\n")
    assert "trust.no_proxy: expected a non-empty string, got ''" in message


def test_base_image_without_tag_in_definition(project):
    definition = minimal_definition(images={"base_image": {"name": "localhost/debian"}})
    message = load_error(project, "{}\n", definition)
    assert "execution-environment.yml:4: images.base_image.name: expected an image with a tag" in message


def test_definition_schema_error_is_located(project):
    definition = minimal_definition(options={"user": 1000})
    message = load_error(project, "{}\n", definition)
    assert "execution-environment.yml" in message and "options.user: expected a value of type string" in message


def test_unknown_family_must_be_named(project):
    message = load_error(project, "base:\n  image: registry.local/custom:1\n")
    assert "base.family: cannot tell the package family" in message


def test_family_inferred_from_rpm_image(project):
    project("execution-environment.yml", minimal_definition())
    loaded = settings.load(project("ee-builder.yml", "base:\n  image: quay.io/centos/centos:stream9\n"))
    assert loaded.base.family == "rpm"


def test_missing_ca_bundle_names_path(project):
    message = load_error(project, "trust:\n  ca_bundles: [certs/corp.crt]\n")
    assert "ee-builder.yml:2: trust.ca_bundles[0]: CA bundle" in message and "corp.crt does not exist" in message


def test_index_url_with_credentials_is_refused(project):
    message = load_error(project, "trust:\n  pip_index_url: https://user:secret@pypi.corp/simple\n")
    assert "trust.pip_index_url: holds credentials" in message


def test_proxy_falls_back_to_environment(project, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    project("execution-environment.yml", minimal_definition())
    loaded = settings.load(project("ee-builder.yml", "{}\n"))
    assert loaded.trust.proxy_env() == {"https_proxy": "http://proxy.test:3128",
                                        "HTTPS_PROXY": "http://proxy.test:3128"}
