"""Cluster DNS in the local Kubernetes (tests/harness/cluster/coredns.py): CoreDNS built from its
Go module answers pods for cluster.local at once (no MissingClusterDNS, no 10 s timeouts), and
reproduces an AD shop's conditional forwarder: the realm's zone forwarded to a Samba AD DC, so a
job pod finds the KDC (SRV) and the Windows host (A) by DNS with no hostAliases; kinit with
dns_lookup_kdc = true works from the EE image in a pod. ``ee-builder doctor``'s name probe tells
DNS from /etc/hosts (hostAliases) inside such a pod and in its own container."""
from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml

from builder import doctor, probes
from builder.probes.names import query
from tests.harness.cluster import coredns
from tests.harness.windows.target import EmulatedTarget
from tests.helpers import IMAGE

REALM, DOMAIN = "EXAMPLE.TEST", "example.test"
AD_ADDRESS, AD_INTERFACE = "10.254.252.1", "ee-ad0"   # a bridge this module creates; pods reach it
WINHOST = f"winhost.{DOMAIN}"


def run_pod(cluster, script: str, timeout: float = 180, env: dict[str, str] | None = None,
            krb5_conf: str | None = None, **spec) -> tuple[dict, str]:
    """Run ``python3 -c script`` in a pod of the EE image; return (pod, logs)."""
    name = f"dns-{uuid.uuid4().hex[:6]}"
    container = {"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": ["python3", "-c", script],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    manifest = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                 "spec": {"restartPolicy": "Never", "containers": [container], **spec}}]
    if krb5_conf is not None:
        manifest.insert(0, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                            "data": {"krb5.conf": krb5_conf}})
        container["volumeMounts"] = [{"name": "krb5", "mountPath": "/etc/krb5.conf", "subPath": "krb5.conf"}]
        manifest[1]["spec"]["volumes"] = [{"name": "krb5", "configMap": {"name": name}}]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifest))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(cluster.kubectl("get", "pod", name, "-o", "json").stdout)
        if state["status"].get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"pod {name} did not finish in {timeout}s: {json.dumps(state['status'])[:1500]}")
    logs = cluster.kubectl("logs", name).stdout
    events = cluster.kubectl("get", "events", f"--field-selector=involvedObject.name={name}", "-o", "json").stdout
    state["events"] = [event["reason"] for event in json.loads(events)["items"]]
    cluster.kubectl("delete", "pod", name, "--wait=false")
    if krb5_conf is not None:
        cluster.kubectl("delete", "configmap", name, "--wait=false")
    return state, logs


def result(logs: str) -> dict:
    return json.loads(logs.strip().splitlines()[-1])


LOOKUPS = """
import json, socket, time
def lookup(name):
    started = time.monotonic()
    try:
        address = socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)[0][4][0]
    except OSError as err:
        address = f"error: {err}"
    return {"address": address, "seconds": round(time.monotonic() - started, 3)}
print(json.dumps({"resolv": open("/etc/resolv.conf").read(), "hosts": open("/etc/hosts").read(),
                  **{name: lookup(name) for name in NAMES}}))
"""


def lookups(*names: str) -> str:
    return f"NAMES = {list(names)!r}\n" + LOOKUPS


def test_coredns_answers_cluster_names_on_the_host(cluster):
    assert cluster.daemons.alive("coredns")
    assert query(cluster.dns, "kubernetes.default.svc.cluster.local", "A") == ("NOERROR", [("A", "10.96.0.1")])
    assert query(cluster.dns, "kube-dns.kube-system.svc.cluster.local", "A") == ("NOERROR", [("A", cluster.dns)])
    # Nothing is sent off this host: names outside the cluster and its forwards are NXDOMAIN here.
    assert query(cluster.dns, "pypi.org", "A") == ("NXDOMAIN", [])
    assert (cluster.logs / "coredns.log").exists()


def test_a_pod_resolves_cluster_names_at_once(cluster, ee_in_cluster):
    """The job pod's lookup that took 10 s without cluster DNS; MissingClusterDNS is gone."""
    state, logs = run_pod(cluster, lookups("kubernetes.default.svc.cluster.local", "kubernetes.default",
                                           "no-such-name.invalid"))
    assert state["status"]["phase"] == "Succeeded", logs
    found = result(logs)
    print("pod lookups:", {k: v for k, v in found.items() if k not in ("resolv", "hosts")})
    assert f"nameserver {cluster.dns}" in found["resolv"]
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in found["resolv"]
    for name in ("kubernetes.default.svc.cluster.local", "kubernetes.default"):   # FQDN, and through the search list
        assert found[name]["address"] == "10.96.0.1", found
        assert found[name]["seconds"] < 1, found
    assert found["no-such-name.invalid"]["address"].startswith("error"), found
    assert found["no-such-name.invalid"]["seconds"] < 1, found   # NXDOMAIN, not a timeout
    assert "MissingClusterDNS" not in state["events"], state["events"]


@pytest.fixture(scope="module")
def ad(tmp_path_factory, cluster):
    """A Samba AD DC (KDC + its DNS zone) and the WinRM test server on a bridge address pods reach,
    the realm's zone forwarded to the DC from the cluster DNS (the AD shop's conditional forwarder)."""
    with EmulatedTarget(tmp_path_factory.mktemp("ad"), realm=REALM, hostname=WINHOST, kdc_host=f"kdc.{DOMAIN}",
                        address=AD_ADDRESS, interface=AD_INTERFACE, kdc="samba", dns_port=53) as target:
        cluster.forward_zone(DOMAIN, f"{AD_ADDRESS}:53")
        try:
            yield target
        finally:
            cluster.drop_zone(DOMAIN)


def test_the_forward_reaches_the_domain_controllers_zone(cluster, ad):
    assert query(cluster.dns, f"_kerberos._tcp.{DOMAIN}", "SRV") == ("NOERROR", [("SRV", f"0 100 88 dc1.{DOMAIN}")])
    assert query(cluster.dns, WINHOST, "A") == ("NOERROR", [("A", AD_ADDRESS)])
    assert f"forward . {AD_ADDRESS}:53" in (cluster.state / "coredns" / "Corefile").read_text()


SRV_AND_A = """
import json, socket, time
exec(NAMES_PROBE)   # builder/probes/names.py: a stdlib DNS client, here asking the pod's nameserver
server = nameservers(open("/etc/resolv.conf").read())[0]
started = time.monotonic()
srv = query(server, "_kerberos._tcp.%s" % DOMAIN, "SRV")
srv_seconds = time.monotonic() - started
started = time.monotonic()
address = socket.getaddrinfo(WINHOST, 5985, proto=socket.IPPROTO_TCP)[0][4][0]
print(json.dumps({"srv": srv, "srv_seconds": srv_seconds, "host": address, "host_seconds": time.monotonic() - started,
                  "dc": socket.gethostbyname("dc1.%s" % DOMAIN), "hosts": open("/etc/hosts").read()}))
"""


def names_probe_as_library() -> str:
    return "NAMES_PROBE = " + repr(probes.source("names").replace('if __name__ == "__main__":\n    main()', ""))


def test_a_pod_finds_the_kdc_and_the_host_by_dns_without_host_aliases(cluster, ee_in_cluster, ad):
    script = f"{names_probe_as_library()}\nDOMAIN = {DOMAIN!r}\nWINHOST = {WINHOST!r}\n{SRV_AND_A}"
    state, logs = run_pod(cluster, script)
    assert state["status"]["phase"] == "Succeeded", logs
    found = result(logs)
    print("pod AD lookups:", {k: v for k, v in found.items() if k != "hosts"})
    assert found["srv"] == ["NOERROR", [["SRV", f"0 100 88 dc1.{DOMAIN}"]]]
    assert found["host"] == AD_ADDRESS and found["dc"] == AD_ADDRESS
    assert WINHOST not in found["hosts"] and DOMAIN not in found["hosts"]   # no hostAliases
    assert found["host_seconds"] < 1 and found["srv_seconds"] < 1, found


KINIT = """
import json, os, subprocess
env = dict(os.environ, KRB5CCNAME="FILE:/tmp/ccache")
kinit = subprocess.run(["kinit", os.environ["USER_PRINCIPAL"]], input=os.environ["PASSWORD"] + "\\n",
                       capture_output=True, text=True, env=env)
klist = subprocess.run(["klist"], capture_output=True, text=True, env=env)
kvno = subprocess.run(["kvno", "HTTP/" + os.environ["WINHOST"]], capture_output=True, text=True, env=env)
print(json.dumps({"kinit": [kinit.returncode, kinit.stdout + kinit.stderr], "klist": klist.stdout,
                  "kvno": [kvno.returncode, kvno.stdout + kvno.stderr]}))
"""


def test_kinit_in_a_pod_finds_the_kdc_through_dns(cluster, ee_in_cluster, ad):
    """krb5.conf as AD shops write it when DNS works: no kdc line, dns_lookup_kdc = true."""
    conf = (f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = true\n dns_lookup_realm = false\n"
            f" rdns = false\n default_ccache_name = FILE:/tmp/krb5cc_%{{uid}}\n[realms]\n {REALM} = {{\n }}\n"
            f"[domain_realm]\n .{DOMAIN} = {REALM}\n")
    state, logs = run_pod(cluster, KINIT, krb5_conf=conf,
                          env={"USER_PRINCIPAL": ad.user, "PASSWORD": ad.password, "WINHOST": WINHOST})
    found = result(logs)
    assert found["kinit"][0] == 0, found
    assert f"krbtgt/{REALM}@{REALM}" in found["klist"], found
    assert found["kvno"][0] == 0 and f"HTTP/{WINHOST}@{REALM}" in found["kvno"][1], found


def probe_in_pod(cluster, host: str, krb5_conf: str, **spec) -> list[doctor.Check]:
    state, logs = run_pod(cluster, probes.source("names"), krb5_conf=krb5_conf, env={"EE_DOCTOR_HOST": host}, **spec)
    assert state["status"]["phase"] == "Succeeded", logs
    return doctor.diagnose([json.loads(line) for line in logs.splitlines() if line.startswith("{")]).checks


DNS_CONF = (f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = true\n rdns = false\n"
            f"[realms]\n {REALM} = {{\n  kdc = dc1.{DOMAIN}\n }}\n")


def test_doctor_probe_in_a_pod_tells_dns_from_host_aliases(cluster, ee_in_cluster, ad):
    by_dns = {check.name: check for check in probe_in_pod(cluster, WINHOST, DNS_CONF)}
    winhost, dc, srv = by_dns[f"name source {WINHOST}"], by_dns[f"name source dc1.{DOMAIN}"], by_dns[f"KDC SRV {REALM}"]
    assert doctor.name_source(winhost) == "dns" and doctor.name_source(dc) == "dns", by_dns
    assert f"via DNS (nameserver {cluster.dns})" in winhost.detail
    assert srv.ok and f"dc1.{DOMAIN}" in srv.detail

    aliased = probe_in_pod(cluster, WINHOST, DNS_CONF,
                           hostAliases=[{"ip": AD_ADDRESS, "hostnames": [WINHOST, f"dc1.{DOMAIN}"]}])
    winhost = next(check for check in aliased if check.name == f"name source {WINHOST}")
    assert doctor.name_source(winhost) == "hosts" and "hostAliases" in winhost.detail

    # A zone nobody forwards: neither way works, and the fix names both.
    [lost] = [check for check in probe_in_pod(cluster, "winhost.other.test", DNS_CONF)
              if check.name == "name source winhost.other.test"]
    assert not lost.ok and "NXDOMAIN" in lost.detail
    assert "conditional forwarder for other.test" in lost.fix and "hostAliases" in lost.fix


def test_doctor_run_finds_everything_by_dns(engine, ad, cluster, tmp_path):
    """The whole doctor (its container on the host network) with the cluster DNS as its resolver
    and a DNS-only krb5.conf: names via DNS, kinit, kvno and win_ping against the AD target."""
    (tmp_path / "resolv.conf").write_text(f"nameserver {cluster.dns}\n")
    (tmp_path / "krb5.conf").write_text(
        f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = true\n dns_lookup_realm = false\n rdns = false\n"
        f" dns_canonicalize_hostname = false\n default_ccache_name = FILE:/tmp/krb5cc_%{{uid}}\n"
        f"[realms]\n {REALM} = {{\n }}\n")
    diagnosis = doctor.run(engine, IMAGE, WINHOST, ad.user, ad.password, mounts={
        str(tmp_path / "resolv.conf"): "/etc/resolv.conf", str(tmp_path / "krb5.conf"): "/etc/krb5.conf"})
    checks = {check.name: check for check in diagnosis.checks}
    assert diagnosis.ok, [(c.name, c.detail, c.cause) for c in diagnosis.checks if not c.ok]
    assert doctor.name_source(checks[f"name source {WINHOST}"]) == "dns"
    assert f"dc1.{DOMAIN}" in checks[f"KDC SRV {REALM}"].detail
    assert "win_ping" in checks and checks["win_ping"].ok


def test_corefile_forwards_only_what_it_is_told():
    text = coredns.corefile({"corp.test": ["10.0.0.5:53", "10.0.0.6"]}, coredns.HERE / "x.kubeconfig", None)
    assert "corp.test:53 {" in text and "forward . 10.0.0.5:53 10.0.0.6" in text
    assert "template ANY ANY" in text and "/etc/resolv.conf" not in text
    assert text.count(f"bind {coredns.ADDRESS}") == 3
