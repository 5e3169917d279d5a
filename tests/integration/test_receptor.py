"""receptor pinned in real images, from both sources. The "receptor" here is a small script that
prints a version, in a local image of its own, so that the COPY --from path really runs (no
registry is reachable, and no receptor binary can be built on these machines)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from builder import receptor_binary, settings
from tests.helpers import build_image, ee_builder, project_settings, project_with, run_in

PIN = "1.6.9"


def receptor_script(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "receptor"
    script.write_text(f"#!/bin/sh\n# stands in for receptor --version only\necho {version}\n")
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def receptor_images(tmp_path_factory, engine):
    """Two local "receptor images" carrying /usr/bin/receptor: one at the pin, one at another version."""
    images = {}
    for version in (PIN, "1.6.8"):
        directory = tmp_path_factory.mktemp(f"receptor-{version}")
        receptor_script(directory, version)
        (directory / "Containerfile").write_text("FROM scratch\nCOPY receptor /usr/bin/receptor\n")
        images[version] = f"localhost/ee-builder-test-receptor-src:{version}-{uuid.uuid4().hex[:6]}"
        build_image(engine, directory, images[version])
    yield images
    for image in images.values():
        engine.remove(image, force=True)


def built_with(tmp_path: Path, receptor: str) -> tuple[str, object]:
    image = f"localhost/ee-builder-test-receptor-{uuid.uuid4().hex[:6]}"
    project = project_with(tmp_path, project_settings(image) + f"\nreceptor:\n{receptor}")
    return f"{image}:latest", ee_builder("build", cwd=project, env={"COLUMNS": "200"})


def test_from_an_image_at_its_pin(tmp_path, built, engine, receptor_images, monkeypatch):
    image, result = built_with(tmp_path, f"  source: image\n  version: {PIN}\n  image: {receptor_images[PIN]}\n")
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        assert f"/ {PIN}" in result.stdout  # the summary's "krb5 / receptor" row
        rc, out = run_in(engine, image, "receptor --version && test -f /etc/receptor/receptor.conf && "
                                        "touch /var/run/receptor/probe && python3 -c "
                                        "\"import importlib.metadata as m; print('receptorctl', m.version('receptorctl'))\"")
        assert rc == 0 and f"receptorctl {PIN}" in out, out
        gate = ee_builder("check", image, cwd=tmp_path, env={"COLUMNS": "250"})
        assert gate.returncode == 0 and "receptor matches its pin" in gate.stdout, gate.stdout + gate.stderr
        # With no receptor on this host, ee-builder takes the image's own (copied out once, by version).
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        monkeypatch.setenv("EE_BUILDER_CACHE", str(tmp_path / "cache"))
        found = receptor_binary.locate(settings.load(tmp_path / "ee-builder.yml"), "test", engine)
        assert found == tmp_path / "cache" / "receptor" / PIN / "receptor" and receptor_binary.version(found) == PIN
    finally:
        engine.remove(image, force=True)


def test_from_a_local_file(tmp_path, built, engine):
    receptor_script(tmp_path / "bin", PIN)
    image, result = built_with(tmp_path, f"  source: file\n  version: {PIN}\n  file: bin/receptor\n")
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        rc, out = run_in(engine, image, "receptor --version")
        assert rc == 0 and out.strip().endswith(PIN), out
    finally:
        engine.remove(image, force=True)


def test_a_receptor_that_is_not_its_pin_is_not_tagged(tmp_path, built, engine, receptor_images):
    image, result = built_with(tmp_path, f"  source: image\n  version: {PIN}\n  image: {receptor_images['1.6.8']}\n")
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output[-4000:]
    assert "was built but not tagged" in output and f"receptor --version says 1.6.8, but the image is pinned to {PIN}" \
        in " ".join(output.split())
    assert engine.image(image) is None


def test_the_gate_refuses_an_image_whose_receptor_left_its_pin(tmp_path, built, engine):
    """An image changed after its build (here: another receptor over the pinned one) is refused."""
    receptor_script(tmp_path, "1.6.8")
    (tmp_path / "Containerfile").write_text(f"FROM {built.image}\nLABEL io.ee-builder.receptor.version={PIN}\n"
                                            f"COPY receptor /usr/bin/receptor\n")
    image = f"localhost/ee-builder-test-receptor-skew:{uuid.uuid4().hex[:6]}"
    build_image(engine, tmp_path, image)
    try:
        gate = ee_builder("check", image, cwd=tmp_path, env={"COLUMNS": "250"})
        assert gate.returncode == 1, gate.stdout + gate.stderr
        assert "receptor matches its pin" in gate.stdout and "REFUSED" in gate.stdout
    finally:
        engine.remove(image, force=True)
