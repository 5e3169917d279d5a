"""receptor in the image: composed from a receptor image or a local file at a pinned version; the
settings that go with each source; and the check that holds the image to its pin."""
from __future__ import annotations

from pathlib import Path

import pytest

from builder import compose, settings
from builder.errors import UserError
from builder.features.receptor import BINARY, CONFIG, PIN_LABEL, SOCKET_DIR, checks
from tests.helpers import minimal_definition


def composed(project, receptor: str):
    project("execution-environment.yml", minimal_definition())
    loaded = settings.load(project("ee-builder.yml", f"collections:\n  source: pypi\nreceptor:\n{receptor}"))
    return compose.compose(loaded, Path("/staging"), [])


def test_from_a_receptor_image(project):
    result = composed(project, "  source: image\n  version: v1.6.9\n  image: quay.io/ansible/receptor:v1.6.9\n")
    final = result.definition["additional_build_steps"]["append_final"]
    assert f"COPY --from=quay.io/ansible/receptor:v1.6.9 {BINARY} {BINARY}" in final
    assert f"COPY _build/ee-builder/receptor-config/receptor.conf {CONFIG}" in final
    assert any(step.startswith("RUN chmod 0755 /usr/bin/receptor") and f"chmod ug+rwx {SOCKET_DIR}" in step
               for step in final)
    assert f"LABEL {PIN_LABEL}=1.6.9" in final
    assert "receptorctl==1.6.9" in result.definition["dependencies"]["python"]


def test_from_a_local_file(project):
    project("bin/receptor", "#!/bin/sh\necho 1.6.9\n")
    result = composed(project, "  source: file\n  version: 1.6.9\n  file: bin/receptor\n")
    # Staged inside the context (relocatable), from the project's file.
    assert {"src": "files/ee-builder/receptor/receptor", "dest": "ee-builder/receptor"} in \
        result.definition["additional_build_files"]
    assert any(source == project.root / "bin" / "receptor" for _, source in result.copies)
    assert f"COPY _build/ee-builder/receptor/receptor {BINARY}" in \
        result.definition["additional_build_steps"]["append_final"]


def test_none_adds_nothing(project):
    result = composed(project, "  source: none\n")
    assert not any("receptor" in str(step) for step in result.definition["additional_build_steps"].values())
    assert not any("receptorctl" in line for line in result.definition["dependencies"]["python"])


@pytest.mark.parametrize("receptor, expected", [
    ("  source: image\n  version: 1.6.9\n", "receptor.source: is 'image' but receptor.image is not set"),
    ("  source: file\n  version: 1.6.9\n", "receptor.source: is 'file' but receptor.file is not set"),
    ("  source: image\n  image: quay.io/ansible/receptor:v1.6.9\n", "needs a pinned receptor.version"),
    ("  source: file\n  version: 1.6.9\n  image: quay.io/ansible/receptor:v1.6.9\n  file: x\n",
     "receptor.image: is set, but receptor.source is 'file'"),
    ("  version: '1.6'\n", "receptor.version: expected a receptor release such as 1.6.9"),
    ("  source: image\n  version: 1.6.9\n  image: Quay.io/Receptor\n", "receptor.image: expected a receptor image"),
    ("  source: file\n  version: 1.6.9\n  file: ../../usr/bin/receptor\n", "leads outside the project"),
    ("  source: file\n  version: 1.6.9\n  file: missing/receptor\n", "receptor binary"),
])
def test_each_source_needs_its_settings(project, receptor, expected):
    with pytest.raises(UserError) as err:
        composed(project, receptor)
    assert "ee-builder.yml:" in str(err.value) and expected in str(err.value)


def test_the_pin_holds_receptor_to_its_version():
    assert checks(None, None) == []  # no receptor pinned: nothing to hold
    [ok] = checks("1.6.9", "1.6.9")
    assert ok.ok
    [skew] = checks("1.6.9", "1.6.8")
    assert not skew.ok and skew.detail.startswith("receptor --version says 1.6.8, but the image is pinned to 1.6.9")
    [missing] = checks("1.6.9", None)
    assert not missing.ok and "receptor is missing" in missing.detail
