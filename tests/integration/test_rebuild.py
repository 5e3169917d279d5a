"""Rebuilds: what the layer cache and the kept wheels save."""
from __future__ import annotations

import yaml

from tests.helpers import ROOT, ee_builder, project_settings, project_with


def test_adding_a_package_reuses_compiled_wheels(tmp_path, built, engine):
    """A rebuild after adding one Python package installs it without compiling pykerberos again."""
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    definition["dependencies"]["python"].append("jmespath==1.0.1")
    project = project_with(tmp_path, project_settings("localhost/ee-builder-test-added"), definition)
    try:
        result = ee_builder("build", "--verbose", cwd=project)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert "jmespath" in output
        assert "Building wheel for pykerberos" not in output
        assert "Building wheel for gssapi" not in output
        rc, out = engine.run("localhost/ee-builder-test-added:latest",
                             ["python3", "-c", "import jmespath, kerberos; print(jmespath.__version__)"])
        assert rc == 0 and "1.0.1" in out, out
    finally:
        engine.remove("localhost/ee-builder-test-added:latest")
