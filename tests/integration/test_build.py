"""The default image, built by `make build` from a clean clone, checked from the inside."""
from __future__ import annotations

import io
import json
import subprocess
import tarfile
import textwrap

import yaml

from tests.helpers import ROOT, ee_builder, run_in


def test_make_build_prints_summary(built):
    for expected in ("built localhost/awx-ee-kerberos:latest", "ansible-core", "2.19.14", "ansible-runner",
                     "2.4.3", "python", "3.11", "ansible.windows", "community.windows", "microsoft.ad", "size"):
        assert expected in built.output, expected


def test_ansible_and_runner_versions(built, engine):
    rc, out = run_in(engine, built.image, "ansible --version && ansible-runner --version")
    assert rc == 0, out
    assert "ansible [core 2.19.14]" in out
    assert "2.4.3" in out


def test_collections_installed(built, engine):
    rc, out = run_in(engine, built.image, "ansible-galaxy collection list")
    assert rc == 0, out
    for name in ("ansible.windows", "community.windows", "microsoft.ad"):
        assert name in out, out


def test_winrm_kerberos_with_message_encryption(built, engine):
    rc, out = run_in(engine, built.image, "python3 -c \"import winrm, kerberos; "
                     "assert hasattr(kerberos, 'authGSSWinRMEncryptMessage'); print('encryption ok')\"")
    assert rc == 0 and "encryption ok" in out, out


def test_kinit_present(built, engine):
    rc, out = run_in(engine, built.image, "command -v kinit && command -v klist")
    assert rc == 0, out
    assert "/usr/bin/kinit" in out


def test_krb5_conf_baked_at_etc_is_the_rendered_one(built, engine):
    rendered = ee_builder("krb5", "render", cwd=built.clone)
    assert rendered.returncode == 0, rendered.stderr
    rc, out = engine.run(built.image, ["cat", "/etc/krb5.conf"], entrypoint=[])
    assert rc == 0 and out == rendered.stdout, out
    assert "/etc/krb5.conf" in built.output and "default_realm EXAMPLE.TEST" in built.output


def test_runs_as_non_root(built, engine):
    assert engine.image(built.image).user not in ("", "0", "root")
    rc, out = run_in(engine, built.image, "id -u")
    assert rc == 0 and out.strip().splitlines()[-1] != "0", out


def test_ansible_runner_runs_a_local_playbook(built, engine):
    playbook = textwrap.dedent("""\
        - hosts: localhost
          gather_facts: true
          tasks:
            - name: say hello
              debug:
                msg: "hello from {{ ansible_facts.distribution }}"
            - name: loop
              command: echo item-{{ item }}
              loop: [1, 2, 3]
    """)
    script = textwrap.dedent(f"""\
        set -e
        mkdir -p /tmp/pdd/project /tmp/pdd/inventory
        cat > /tmp/pdd/project/site.yml <<'YML'
        {textwrap.indent(playbook, '        ').strip()}
        YML
        echo 'localhost ansible_connection=local' > /tmp/pdd/inventory/hosts
        ansible-runner run /tmp/pdd -p site.yml > /tmp/run.log 2>&1 || true
        cat /tmp/run.log
        echo "STATUS=$(cat /tmp/pdd/artifacts/*/status) RC=$(cat /tmp/pdd/artifacts/*/rc)"
    """)
    rc, out = run_in(engine, built.image, script)
    assert "STATUS=successful RC=0" in out, out
    assert "hello from Debian" in out
    assert "(item=3)" in out


def test_no_gcc_and_no_apt_lists_in_any_layer(built, engine):
    """Checks every layer of the saved image, not just the top filesystem: a file deleted in a
    later layer still ships in an earlier one."""
    archive = io.BytesIO(engine.save(built.image).read())  # tarfile seeks between members
    offenders = []
    with tarfile.open(fileobj=archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for name in inner.getnames():
                    if name.startswith("var/lib/apt/lists/") and not name.endswith(("/partial", "/lock")):
                        offenders.append(f"{layer}: {name}")
                    if name in ("usr/bin/gcc", "usr/bin/cc") or name.startswith("usr/lib/gcc/x86_64-linux-gnu/12/cc1"):
                        offenders.append(f"{layer}: {name}")
    assert not offenders, "\n".join(offenders[:20])


def test_build_only_ca_removed_from_final_trust_store(built, engine):
    rc, out = run_in(engine, built.image, "ls /usr/local/share/ca-certificates/")
    assert rc == 0, out
    assert "ee-builder" not in out


def test_compiled_wheels_are_kept_for_later_builds(built):
    from builder import settings
    from builder.build import wheel_cache
    kept = {p.name.split("-")[0].lower() for p in wheel_cache(settings.load(built.clone / "ee-builder.yml")).rglob("*.whl")}
    # sdist-only packages of this EE that the builder stage had to compile
    assert {"pykerberos", "gssapi", "krb5"} <= kept, kept


def test_inspect_reports_what_the_image_holds(built):
    result = ee_builder("inspect", built.image, "--json", cwd=built.clone)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ansible_core"] == "2.19.14" and summary["ansible_runner"] == "2.4.3"
    assert summary["winrm_encryption"] is True and summary["kinit"] == "/usr/bin/kinit"
    assert summary["user"] == "1000" and summary["uid"] == 1000
    assert summary["entrypoint"] == ["/opt/builder/bin/entrypoint", "dumb-init"]
    assert summary["labels"]["ansible-execution-environment"] == "true"
    assert set(summary["collections"]) == {"ansible.windows", "community.windows", "microsoft.ad"}
    assert 50 < summary["size_mb"] < 300


def test_oci_labels_name_the_commit_and_version(built, engine):
    labels = engine.image(built.image).labels
    head = subprocess.run(["git", "-C", str(built.clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    committed = subprocess.run(["git", "-C", str(built.clone), "log", "-1", "--format=%cI"],
                               capture_output=True, text=True).stdout.strip()
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.created"] == committed
    assert labels["org.opencontainers.image.title"] == "awx-ee-kerberos"
    assert labels["org.opencontainers.image.version"] == yaml.safe_load(
        (built.clone / "ee-builder.yml").read_text())["image"]["version"]
    assert labels["org.opencontainers.image.source"] == str(ROOT)  # the clone's origin


def test_content_manifest_is_stored_in_the_image_and_inspect_prints_it(built, engine):
    rc, out = engine.run(built.image, ["cat", "/usr/share/ee-builder/manifest.json"])
    assert rc == 0, out
    manifest = json.loads(out.strip().splitlines()[-1])
    assert (manifest["ansible_core"], manifest["ansible_runner"], manifest["python"][:4]) == ("2.19.14", "2.4.3", "3.11")
    assert manifest["collections"] == {"ansible.windows": "3.3.0", "community.windows": "3.1.0", "microsoft.ad": "1.10.0"}
    assert manifest["python_packages"]["pykerberos"] == "1.2.4" and manifest["krb5_version"].startswith("1.20")
    assert manifest["receptor"] is None and "uid" not in manifest
    result = ee_builder("inspect", built.image, "--json", cwd=built.clone)
    assert json.loads(result.stdout)["manifest"] == manifest


def test_inspect_any_image_without_python(built):
    """The bootstrapped base has no Python: inspect still answers, and says why versions are absent."""
    result = ee_builder("inspect", "localhost/debian:bookworm", cwd=built.clone)
    assert result.returncode == 0, result.stderr
    assert "probe" in result.stdout and "Traceback" not in result.stdout + result.stderr
