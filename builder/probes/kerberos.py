"""Kerberos to a Windows host, seen from inside an image (stdlib only: it runs in any image with
python3). Run by ``ee-builder doctor`` in a throw-away container: checks run in order, each prints
one JSON line, and later checks use earlier results. The password comes in the environment only.
"""
import datetime, json, os, shutil, socket, subprocess, tempfile
host, user, port = os.environ["EE_DOCTOR_HOST"], os.environ["EE_DOCTOR_USER"], int(os.environ["EE_DOCTOR_PORT"])
cache = "FILE:" + tempfile.mkdtemp() + "/ccache"
env = dict(os.environ, KRB5CCNAME=cache, HOME=tempfile.mkdtemp())

def report(check, rc, output):
    print(json.dumps({"check": check, "rc": rc, "output": output.strip()}), flush=True)

def run(check, cmd, stdin=None, timeout=60):
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout)
        report(check, done.returncode, done.stdout + done.stderr)
        return done
    except FileNotFoundError as err:
        report(check, 127, str(err))
    except subprocess.TimeoutExpired:
        report(check, 124, f"no answer within {timeout}s")

kdcs = []
try:
    conf = open("/etc/krb5.conf").read()
    report("krb5.conf", 0, conf)
    kdcs = [line.split("=", 1)[1].strip() for line in conf.splitlines() if line.strip().startswith("kdc ")
            or line.strip().startswith("kdc=")]
except OSError as err:
    report("krb5.conf", 1, str(err))
report("kinit present", 0 if shutil.which("kinit") else 127, shutil.which("kinit") or "kinit: command not found")
try:
    address = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0]
    report("DNS forward", 0, f"{host} -> {address}")
    try:
        report("DNS reverse", 0, f"{address} -> {socket.gethostbyaddr(address)[0]}")
    except OSError as err:
        report("DNS reverse", 1, f"{address}: {err}")
except OSError as err:
    report("DNS forward", 1, f"{host}: {err}")
for kdc in kdcs:
    name, _, kport = kdc.partition(":")
    try:
        socket.create_connection((name, int(kport or 88)), timeout=5).close()
        report(f"KDC {kdc} reachable", 0, f"TCP {name}:{kport or 88} open")
    except OSError as err:
        report(f"KDC {kdc} reachable", 1, f"TCP {name}:{kport or 88}: {err}")
before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
done = run("kinit", ["kinit", user], stdin=os.environ.get("EE_DOCTOR_PASSWORD", "") + "\n")
if done is not None and done.returncode == 0:
    listing = run("klist -e", ["klist", "-e"])
    for line in (listing.stdout if listing else "").splitlines():
        if "krbtgt/" in line:
            start = datetime.datetime.strptime(" ".join(line.split()[:2]), "%m/%d/%y %H:%M:%S")
            report("clock offset to KDC", 0, f"{(start - before).total_seconds():+.0f}s")
            break
    run("kvno HTTP/" + host, ["kvno", "HTTP/" + host])
    scheme = "http" if port == 5985 else "https"
    variables = {"ansible_connection": "winrm", "ansible_winrm_transport": "kerberos", "ansible_port": port,
                 "ansible_winrm_scheme": scheme, "ansible_user": user,
                 "ansible_password": "{{ lookup('env', 'EE_DOCTOR_PASSWORD') }}",
                 "ansible_winrm_server_cert_validation": os.environ.get("EE_DOCTOR_CERT_VALIDATION", "validate")}
    path = tempfile.mktemp(suffix=".json")
    with open(path, "w") as handle:
        json.dump(variables, handle)
    run("win_ping", ["ansible", "all", "-i", host + ",", "-m", "ansible.windows.win_ping", "-e", "@" + path],
        timeout=180)
