"""What an image holds, seen from inside it (stdlib only: it runs in any image with python3).

Run by ``ee-builder inspect`` in a throw-away container, and at the end of every build to write
the image's content manifest (``/usr/share/ee-builder/manifest.json``). Prints one JSON object.
"""

import json, os, platform, re, shutil, subprocess, sys, tempfile
from importlib import metadata

def version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None

def collections():
    try:
        # Any UID may run this (AWX uses arbitrary ones): give ansible a writable HOME.
        env = dict(os.environ, HOME=tempfile.mkdtemp())
        out = subprocess.run(["ansible-galaxy", "collection", "list", "--format", "json"],
                             capture_output=True, text=True, timeout=120, env=env).stdout
        found = {}
        for path in json.loads(out or "{}").values():
            for name, info in path.items():
                if not name.split(".")[-1].startswith("_"):  # ansible-core's internal collections
                    found.setdefault(name, info.get("version"))
        return found
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}

def winrm_encryption():
    try:
        import kerberos
        return hasattr(kerberos, "authGSSWinRMEncryptMessage")
    except ImportError:
        return None

def krb5_realm():
    try:
        for line in open("/etc/krb5.conf"):
            key, _, value = line.partition("=")
            if key.strip() == "default_realm":
                return value.strip()
        return ""
    except OSError:
        return None

def krb5_conf_error():
    """MIT krb5's own verdict on /etc/krb5.conf: klist reads it first, and a file it cannot parse
    fails every job's kinit with "Improper format of Kerberos configuration file"."""
    if not os.path.exists("/etc/krb5.conf") or not shutil.which("klist"):
        return None
    try:
        out = subprocess.run(["klist", "-c", "MEMORY:ee-builder-probe"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return out.stderr.strip() if "while initializing krb5" in out.stderr else None

def command_version(argv, pattern):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(pattern, out.stdout + out.stderr)
    return found.group(1) if found else None

def python_packages():
    return {dist.metadata["Name"]: dist.version for dist in metadata.distributions() if dist.metadata["Name"]}

facts = {
    "python": platform.python_version(),
    "ansible_core": version("ansible-core"),
    "ansible_runner": version("ansible-runner"),
    "pywinrm": version("pywinrm"),
    "pykerberos": version("pykerberos"),
    "winrm_encryption": winrm_encryption(),
    "kinit": shutil.which("kinit"),
    "krb5_realm": krb5_realm(),
    "krb5_conf_error": krb5_conf_error(),
    # MIT's klist -V: "Kerberos 5 version 1.20.1"
    "krb5_version": command_version(["klist", "-V"], r"version ([0-9][0-9.]*)"),
    "receptor": command_version(["receptor", "--version"], r"v?([0-9][0-9.]*)"),
    "uid": os.getuid(),
    "collections": collections(),
    "python_packages": python_packages(),
}
MANIFEST = "/usr/share/ee-builder/manifest.json"  # written by the build (features/manifest.py)
if "--manifest" in sys.argv:  # written at build time, as root: the user that runs jobs is not known here
    del facts["uid"]
else:
    try:
        facts["manifest"] = json.load(open(MANIFEST))
    except (OSError, ValueError):
        facts["manifest"] = None
print(json.dumps(facts, sort_keys=True))
