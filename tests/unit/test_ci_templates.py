"""The CI templates are valid for their CI systems (the schemas check-jsonschema ships) and run
the same steps as `make ci`."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.helpers import ROOT

TEMPLATES = {"github-actions.yml": "vendor.github-workflows", "gitlab-ci.yml": "vendor.gitlab-ci"}


def validate(path, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("name, schema", TEMPLATES.items())
def test_template_is_valid(name, schema):
    result = validate(ROOT / "ci-templates" / name, schema)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name, schema", TEMPLATES.items())
def test_a_broken_template_is_caught(name, schema, tmp_path):
    data = yaml.safe_load((ROOT / "ci-templates" / name).read_text())
    if name == "github-actions.yml":
        del data["jobs"]["ee"]["runs-on"]
    else:
        data["build"]["when"] = "sometimes"  # not one of on_success, manual, always, …
    (tmp_path / name).write_text(yaml.safe_dump(data))
    assert validate(tmp_path / name, schema).returncode != 0


def test_templates_run_what_make_ci_runs():
    makefile = (ROOT / "Makefile").read_text()
    for name in TEMPLATES:
        text = (ROOT / "ci-templates" / name).read_text()
        for step in ("make build", "make test", "ee-builder check", "make publish", "ee-builder awx objects"):
            assert step in text, f"{name} lacks {step}"
    ci = makefile[makefile.index("\nci:"):].split("\n\n")[0]
    for step in ("build test", "--cache-from-registry --cache-to-registry", "ee-builder check",
                 "ee-builder publish", "ee-builder awx objects"):
        assert step in ci


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_build_with_the_registry_cache_and_its_credentials(name):
    template = yaml.safe_load((ROOT / "ci-templates" / name).read_text())
    steps = ([step.get("run", "") for step in template["jobs"]["ee"]["steps"]] if name == "github-actions.yml"
             else template["build"]["script"])
    [build] = [step for step in steps if "make build" in step]
    assert 'BUILD_ARGS="--cache-from-registry --cache-to-registry"' in build
    if name == "github-actions.yml":  # sudo drops the environment the credentials are in
        assert "EE_REGISTRY_USERNAME,EE_REGISTRY_PASSWORD" in build
