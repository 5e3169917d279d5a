"""Bad input through the real CLI: each failure is one clear message, exit code 2, no traceback,
and nothing lost (existing tags stay where they were)."""
from __future__ import annotations

import yaml

from tests.helpers import ROOT, ee_builder, project_settings, project_with


def failed(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    return output


def test_yaml_syntax_error(tmp_path):
    project = project_with(tmp_path, "image:\n  name: localhost/x\n    tags: [a]\n")
    output = failed(ee_builder("context", cwd=project))
    assert "ee-builder.yml:3:" in output and "not valid YAML" in output


def test_unknown_key_and_wrong_type_reported_together(tmp_path):
    project = project_with(tmp_path, "engine:\n  kind: docker\nimage:\n  tags: latest\n")
    output = failed(ee_builder("context", cwd=project))
    assert "ee-builder.yml:2: engine.kind: unknown key" in output
    assert "ee-builder.yml:4: image.tags: expected a value of type array, got 'latest'" in output


def test_engine_not_running(tmp_path):
    project = project_with(tmp_path, "engine:\n  url: unix:///tmp/ee-builder-no-engine.sock\n")
    output = failed(ee_builder("inspect", "anything:latest", cwd=project))
    assert "container engine (docker) at unix:///tmp/ee-builder-no-engine.sock is not answering" in output
    assert "start it with `dockerd &`" in output


def test_base_image_absent_and_not_buildable(tmp_path, engine):
    project = project_with(tmp_path, "base:\n  image: localhost/ee-builder-absent-centos:9\n  family: rpm\n"
                                     "collections:\n  source: pypi\n")
    output = failed(ee_builder("build", cwd=project))
    assert "base.image: localhost/ee-builder-absent-centos:9 is not present and cannot be pulled" in output
    assert "only Debian-family bases can be built from a mirror" in output


def test_collection_from_no_source(tmp_path):
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    definition["dependencies"]["galaxy"] = {"collections": ["ansible.windows", "nosuch.collection"]}
    project = project_with(tmp_path, "collections:\n  source: pypi\n", definition)
    output = failed(ee_builder("context", cwd=project))
    assert "cannot find ansible.windows, nosuch.collection" in output
    assert "nosuch.collection (wanted by the definition) not found" in output


def test_failing_build_step_names_step_and_keeps_tags(tmp_path, built, engine):
    """A failing step late in the build: the message names it and shows its output; the tag the
    image already had still points at the old image."""
    target = "localhost/ee-builder-test-failing:latest"
    previous = engine.image(built.image)
    engine.tag(previous.id, [target])
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    definition["additional_build_steps"] = {"append_final": ["RUN echo 'checking site policy' && exit 3"]}
    project = project_with(tmp_path, project_settings("localhost/ee-builder-test-failing"), definition)
    try:
        output = failed(ee_builder("build", cwd=project))
        assert "build step failed:" in output and "RUN echo 'checking site policy' && exit 3" in output
        assert "| checking site policy" in output  # the step's own output
        assert "returned a non-zero code: 3" in output
        assert engine.image(target).id == previous.id
    finally:
        engine.remove(target)

