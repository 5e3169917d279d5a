"""Collection sources without Galaxy: local trees/tarballs and the ansible wheel, with real
ansible-galaxy-compatible artifacts (checked against FILES.json like ansible-galaxy does)."""
from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from builder import collection_sources as cs
from builder.errors import UserError
from builder.progress import Silent
from builder.settings import Collections


def manifest(name: str, version: str, deps: dict | None = None) -> str:
    namespace, short = name.split(".")
    return json.dumps({"collection_info": {"namespace": namespace, "name": short, "version": version,
                                           "dependencies": deps or {}},
                       "file_manifest_file": {"name": "FILES.json"}, "format": 1})


def make_tree(root: Path, name: str, version: str, deps: dict | None = None) -> Path:
    tree = root / "ansible_collections" / name.replace(".", "/")
    (tree / "plugins/modules").mkdir(parents=True)
    (tree / "MANIFEST.json").write_text(manifest(name, version, deps))
    (tree / "FILES.json").write_text('{"files": [{"name": ".azure-pipelines", "ftype": "dir"}]}')
    (tree / "plugins/modules/ping.py").write_text(f"# {name}\n")
    return tree


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EE_BUILDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_requirements_accept_strings_and_mappings():
    reqs = cs.requirements({"collections": ["ns.a", "ns.b:>=1.0", {"name": "ns.c", "version": "2.0.0"}]})
    assert [(r.name, r.spec) for r in reqs] == [("ns.a", "*"), ("ns.b", ">=1.0"), ("ns.c", "2.0.0")]


def test_requirements_with_git_source_need_galaxy():
    assert cs.requirements({"collections": [{"name": "https://git.example/x.git", "type": "git"}]}) is None
    assert cs.requirements({"roles": [{"name": "geerlingguy.java"}]}) is None


def test_local_trees_close_over_dependencies(tmp_path, cache):
    make_tree(tmp_path / "src", "ns.app", "1.2.0", {"ns.base": ">=1.0.0,<2.0.0"})
    make_tree(tmp_path / "src", "ns.base", "1.5.0")
    make_tree(tmp_path / "src", "ns.unused", "9.9.9")
    settings = Collections(source="local", local_path=tmp_path / "src")
    source, artifacts = cs.resolve(settings, {"collections": ["ns.app"]}, progress=Silent())
    assert source.startswith("local directory")
    assert sorted((a.name, a.version) for a in artifacts) == [("ns.app", "1.2.0"), ("ns.base", "1.5.0")]


def test_artifact_files_json_matches_packed_content(tmp_path, cache):
    make_tree(tmp_path / "src", "ns.app", "1.0.0")
    _, [artifact] = cs.resolve(Collections(source="local", local_path=tmp_path / "src"),
                               {"collections": ["ns.app"]}, progress=Silent())
    with tarfile.open(artifact.path) as tar:
        names = tar.getnames()
        files = json.load(tar.extractfile("FILES.json"))
        meta = json.load(tar.extractfile("MANIFEST.json"))
        files_raw = tar.extractfile("FILES.json").read()
        module = tar.extractfile("plugins/modules/ping.py").read()
    assert "plugins" in names and "plugins/modules" in names  # directory entries exist
    listed = {f["name"]: f for f in files["files"]}
    assert ".azure-pipelines" not in listed  # only what is packed
    assert listed["plugins/modules/ping.py"]["chksum_sha256"] == hashlib.sha256(module).hexdigest()
    assert meta["file_manifest_file"]["chksum_sha256"] == hashlib.sha256(files_raw).hexdigest()


def test_artifacts_are_reproducible(tmp_path, cache):
    make_tree(tmp_path / "src", "ns.app", "1.0.0")
    settings = Collections(source="local", local_path=tmp_path / "src")
    _, [first] = cs.resolve(settings, {"collections": ["ns.app"]}, progress=Silent())
    digest = hashlib.sha256(first.path.read_bytes()).hexdigest()
    first.path.unlink()
    _, [second] = cs.resolve(settings, {"collections": ["ns.app"]}, progress=Silent())
    assert hashlib.sha256(second.path.read_bytes()).hexdigest() == digest


def test_local_tarballs_are_used_as_they_are(tmp_path, cache):
    make_tree(tmp_path / "src", "ns.app", "1.0.0")
    _, [built] = cs.resolve(Collections(source="local", local_path=tmp_path / "src"),
                            {"collections": ["ns.app"]}, progress=Silent())
    (tmp_path / "tarballs").mkdir()
    copy = tmp_path / "tarballs" / built.path.name
    copy.write_bytes(built.path.read_bytes())
    _, [artifact] = cs.resolve(Collections(source="local", local_path=tmp_path / "tarballs"),
                               {"collections": ["ns.app"]}, progress=Silent())
    assert artifact.path == copy


def test_version_mismatch_and_missing_are_named(tmp_path, cache):
    make_tree(tmp_path / "src", "ns.app", "1.0.0", {"ns.gone": "*"})
    with pytest.raises(UserError) as err:
        cs.resolve(Collections(source="local", local_path=tmp_path / "src"),
                   {"collections": [{"name": "ns.app", "version": ">=2.0.0"}, "ns.other"]}, progress=Silent())
    message = str(err.value)
    assert "ns.app 1.0.0 does not satisfy '>=2.0.0'" in message
    assert "ns.other (wanted by the definition) not found" in message


def test_wheel_index_cuts_only_requested_collections(tmp_path, cache):
    wheel = cache / "pypi" / "ansible-99.0.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, version, deps in [("ns.app", "3.0.0", {"ns.dep": ">=1.0.0"}), ("ns.dep", "1.1.0", {}),
                                    ("ns.big", "5.0.0", {})]:
            prefix = "ansible_collections/" + name.replace(".", "/")
            zf.writestr(f"{prefix}/MANIFEST.json", manifest(name, version, deps))
            zf.writestr(f"{prefix}/plugins/modules/m.py", "# module\n")
    source, artifacts = cs.resolve(Collections(source="pypi", pypi_package="ansible==99.0.0"),
                                   {"collections": ["ns.app"]}, progress=Silent())
    assert source == "PyPI package ansible==99.0.0"
    assert sorted(a.name for a in artifacts) == ["ns.app", "ns.dep"]
    with tarfile.open(next(a.path for a in artifacts if a.name == "ns.app")) as tar:
        assert "plugins/modules/m.py" in tar.getnames()


def test_galaxy_only_requirements_fail_clearly_when_galaxy_is_down(monkeypatch):
    monkeypatch.setattr(cs, "galaxy_reachable", lambda server, timeout=5.0: False)
    with pytest.raises(UserError) as err:
        cs.resolve(Collections(source="auto"), {"collections": [{"name": "x", "type": "git"}]}, progress=Silent())
    assert "Galaxy at https://galaxy.ansible.com is not reachable" in str(err.value)
