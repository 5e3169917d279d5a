"""``ee-builder``: a thin click CLI over the jobs (build, summary, doctor, gate, publish, awx, krb5).
Each command is ``<name>_command``; the modules keep their own names."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from . import awx, build, doctor, files, gate, krb5, publish, references, settings, summary, yamlfile
from . import receptor_binary, receptor_config, receptor_mesh, verify
from .engine import Engine
from .errors import UserError
from .report import Reporter


def _settings(path: str, engine: str | None) -> settings.Settings:
    loaded = settings.load(Path(path))
    if engine:
        loaded = replace(loaded, engine=replace(loaded.engine, type=engine, url=None))
    return loaded


def _engine(settings_path: str, engine: str | None) -> Engine:
    """The engine the settings name, if there are settings here; commands on any image work without."""
    if Path(settings_path).exists():
        return Engine(_settings(settings_path, engine).engine)
    return Engine(settings.EngineSettings(type=engine or "docker"))


def _image(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Image references from the command line meet the same grammar as those in settings."""
    return None if value is None else references.image(value, _named(param))


def _k8s_name(subdomain: bool):
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return references.k8s_name(value, _named(param), subdomain)
    return check


def _named(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


settings_option = click.option("--settings", "-s", "settings_path", default=settings.DEFAULT_FILE,
                               show_default=True, help="ee-builder settings file.")
engine_option = click.option("--engine", type=click.Choice(["docker", "podman"]),
                             help="Container engine (overrides engine.type).")


class _Commands(click.Group):
    """Turns a UserError from any command into its message and exit status 2, here rather than
    in main(), so that the tests' in-process runs (click's CliRunner) see what users see."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"ee-builder: error: {err}", err=True)
            ctx.exit(2)


@click.group(cls=_Commands)
def cli() -> None:
    """Compose, build and inspect AWX Execution Environments."""


@cli.command(name="build")
@settings_option
@engine_option
@click.option("--no-cache", is_flag=True, help="Ignore the engine's layer cache.")
@click.option("--cache-from-registry", is_flag=True,
              help="Before building, pull the build cache (compiled wheels; Docker: stage layers) from build.cache.")
@click.option("--cache-to-registry", is_flag=True,
              help="After a build the gate passes, push the build cache to build.cache.")
@click.option("--verbose", "-v", is_flag=True, help="Show the output of every build step.")
def build_command(settings_path: str, engine: str | None, no_cache: bool, cache_from_registry: bool,
                  cache_to_registry: bool, verbose: bool) -> None:
    """Compose the definition, build the image and print its summary."""
    reporter = Reporter(verbose=verbose)
    loaded = _settings(settings_path, engine)
    built = build.build(loaded, Engine(loaded.engine), reporter, nocache=no_cache,
                        cache_from_registry=cache_from_registry, cache_to_registry=cache_to_registry)
    reporter.summary(built, title=f"built {built.image} in {reporter.elapsed():.0f}s")


@cli.command(name="context")
@settings_option
def context_command(settings_path: str) -> None:
    """Compose the definition and write context/ (ansible-builder create) without building."""
    build.prepare(_settings(settings_path, None), Reporter())


@cli.command(name="inspect")
@click.argument("image", callback=_image)
@settings_option
@engine_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_command(image: str, settings_path: str, engine: str | None, as_json: bool) -> None:
    """Summarise any IMAGE: versions, collections, user, entrypoint, labels, size."""
    found = summary.summarize(_engine(settings_path, engine), image)
    if as_json:
        click.echo(found.to_json())
    else:
        Reporter().summary(found, title=image)


@cli.command(name="doctor")
@click.argument("image", callback=_image)
@click.option("--host", required=True, help="The Windows host's FQDN (as the job's inventory names it).")
@click.option("--user", required=True, help="user@REALM, as in the AWX machine credential.")
@click.option("--port", default=5985, show_default=True, type=int, help="WinRM port (5985 HTTP, 5986 HTTPS).")
@click.option("--password-env", default=doctor.PASSWORD_ENV, show_default=True,
              help="Environment variable holding the password (asked for when unset).")
@click.option("--krb5-conf", type=click.Path(exists=True, dir_okay=False, readable=True),
              help="Mount this krb5.conf at /etc/krb5.conf instead of the image's own (as a ConfigMap would).")
@click.option("--add-host", "add_hosts", multiple=True, metavar="NAME:ADDRESS",
              help="Extra /etc/hosts entry in the container (as hostAliases would); repeatable.")
@click.option("--network", default="host", show_default=True, help="Container network (host, bridge, or a name).")
@click.option("--cert-validation", type=click.Choice(["validate", "ignore"]), default="validate", show_default=True,
              help="HTTPS certificate validation for win_ping.")
@settings_option
@engine_option
def doctor_command(image: str, host: str, user: str, port: int, password_env: str, krb5_conf: str | None,
           add_hosts: tuple[str, ...], network: str, cert_validation: str, settings_path: str,
           engine: str | None) -> None:
    """Check Kerberos to a Windows host from inside IMAGE: krb5.conf, kinit, DNS, KDC, clock,
    kvno, klist -e and win_ping; each failure with its known cause and fix."""
    password = os.environ.get(password_env) or click.prompt(f"password for {user}", hide_input=True)
    hosts = {}
    for entry in add_hosts:
        name, sep, address = entry.partition(":")
        if not sep or not name or not address:
            raise UserError(f"--add-host {entry!r}: expected NAME:ADDRESS, e.g. dc1.corp.example:10.0.0.5")
        hosts[name] = address
    reporter = Reporter()
    reporter.say(f"checking Kerberos to {host}:{port} as {user} from inside {image}")
    mounts = {str(Path(krb5_conf).resolve()): "/etc/krb5.conf"} if krb5_conf else None
    diagnosis = doctor.run(_engine(settings_path, engine), image, host, user, password, port, network=network,
                               hosts=hosts, mounts=mounts, cert_validation=cert_validation)
    reporter.diagnosis(diagnosis, title=f"doctor: {image} -> {host}:{port}")
    if not diagnosis.ok:
        raise SystemExit(1)


@cli.command(name="check")
@click.argument("image", required=False, callback=_image)
@settings_option
@engine_option
def gate_command(image: str | None, settings_path: str, engine: str | None) -> None:
    """The gate before publishing: non-root, kinit, WinRM encryption, and no secret material
    (private keys, keytabs, known passwords and tokens) in any layer or history entry.
    IMAGE defaults to the settings' image."""
    reporter = Reporter()
    image = image or _settings(settings_path, engine).image.refs[0]
    reporter.say(f"checking {image}: probing it, then reading every layer")
    verdict = gate.judge(_engine(settings_path, engine), image)
    reporter.verdict(verdict)
    if not verdict.ok:
        raise SystemExit(1)


@cli.command(name="publish")
@settings_option
@engine_option
@click.option("--dry-run", is_flag=True, help="Run the gate and show what would be pushed; push nothing.")
def publish_command(settings_path: str, engine: str | None, dry_run: bool) -> None:
    """Gate the built image, push it to publish.repository under publish.tags, print the digest."""
    reporter = Reporter()
    loaded = _settings(settings_path, engine)
    published = publish.publish(loaded, Engine(loaded.engine), reporter, dry_run)
    if published:
        reporter.say(f"published {published.by_digest} in {reporter.elapsed():.0f}s")


@cli.group(name="awx")
def awx_group() -> None:
    """The AWX objects that use the published image."""


@awx_group.command(name="objects")
@settings_option
@click.option("--image", callback=_image, help="Image reference, by digest (default: the digest `ee-builder "
              "publish` recorded; with nothing published, the image built here).")
@click.option("--output", "-o", "output_dir", default="awx", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the files.")
def awx_objects_command(settings_path: str, image: str | None, output_dir: str) -> None:
    """Write the execution environment, container group (pod spec), AWX job settings and krb5
    ConfigMap as an awx.awx playbook, AWX API requests and Kubernetes YAML, referencing the image by
    digest."""
    loaded = _settings(settings_path, None)
    image, warning = publish.image_for_awx(loaded, image, None if image else Engine(loaded.engine))
    if warning:
        click.echo(f"warning: {warning}", err=True)
    krb5_conf = krb5.render(loaded.kerberos) if loaded.kerberos else None
    out = Path(output_dir)
    written = awx.objects(loaded, image, krb5_conf)  # before the folder: a failure leaves nothing behind
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--output {out}: cannot create the folder: {err.strerror}.") from None
    for name, text in written.items():
        files.write_text(out / name, text, "AWX object file")
        click.echo(f"wrote {out / name}")


@cli.group(name="krb5")
def krb5_group() -> None:
    """Render krb5.conf from the kerberos: settings, or check any krb5.conf."""


FORMATS = ("conf", "configmap", "pod-spec", "isolation-path")


@krb5_group.command(name="render")
@settings_option
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="conf", show_default=True,
              help="conf: krb5.conf itself (baked at /etc/krb5.conf); configmap: it as a Kubernetes ConfigMap; "
                   "pod-spec: an AWX container group pod spec mounting that ConfigMap at /etc/krb5.conf; "
                   "isolation-path: the AWX setting exposing an execution node's /etc/krb5.conf to jobs.")
@click.option("--namespace", default=awx.DEFAULT_NAMESPACE, show_default=True, callback=_k8s_name(False),
              help="Namespace where container-group jobs run (configmap, pod-spec).")
@click.option("--configmap-name", default=awx.DEFAULT_CONFIGMAP, show_default=True, callback=_k8s_name(True),
              help="ConfigMap name.")
@click.option("--image", callback=_image, help="Image for the pod spec (default: the first of image.name:tags).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
def krb5_render_command(settings_path: str, fmt: str, namespace: str, configmap_name: str, image: str | None,
           output: str | None) -> None:
    """Render krb5.conf from the kerberos: section of the settings, or an object that carries it."""
    loaded = _settings(settings_path, None)
    if loaded.kerberos is None:
        raise UserError(f"{loaded.path}: no kerberos: section. Expected default_realm and realms, "
                        f"see the README's Kerberos settings.")
    text = krb5.render(loaded.kerberos)
    if fmt == "configmap":
        text = yamlfile.dump(awx.krb5_configmap(text, configmap_name, namespace))
    elif fmt == "pod-spec":
        pod = awx.container_group_pod_spec(image or loaded.image.refs[0], namespace, configmap_name)
        text = yamlfile.dump(pod)
    elif fmt == "isolation-path":
        text = json.dumps(awx.isolation_paths()) + "\n"
    if output:
        files.write_text(output, text, "rendered krb5 output")
    else:
        click.echo(text, nl=False)


@krb5_group.command(name="check")
@click.argument("path", type=click.Path(dir_okay=False))
def krb5_check_command(path: str) -> None:
    """Check an existing krb5.conf for the pitfalls of Kerberos in AWX job containers."""
    text = files.read_text(path, "krb5.conf")
    findings = krb5.lint(text)
    unreadable = krb5.mit_error(text)
    if unreadable:
        findings.append(krb5.Finding(0, f"MIT krb5 cannot read this file: {unreadable}",
                                            "Fix its syntax: [section] lines, key = value, key = { … } blocks"))
    for finding in findings:
        click.echo(f"{path}:{finding.line}: {finding.message}" if finding.line else f"{path}: {finding.message}")
    if findings:
        raise SystemExit(1)
    click.echo(f"{path}: no problems found")


# receptor mesh configs ----------------------------------------------------------------------------

@cli.group(name="receptor")
def receptor_group() -> None:
    """receptor configs for the nodes of an AWX mesh."""


def _checked(check):
    """A click callback running ``check(value, option)`` on each value of a (multiple) option."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(check(item, _named(param)) for item in value)
        return check(value, _named(param))
    return callback


@receptor_group.command(name="config")
@click.option("--role", required=True, type=click.Choice(receptor_config.ROLES),
              help="control: AWX's side, signs work; execution: runs signed ansible-runner work; hop: relays only.")
@click.option("--node-id", required=True, callback=_checked(receptor_config.node_id),
              help="The node's receptor ID (AWX: the instance hostname).")
@click.option("--listen", type=click.IntRange(1, 65535), metavar="PORT",
              help=f"TCP port of the TLS listener [default: {receptor_config.DEFAULT_PORT} for execution and hop, "
                   f"none for control].")
@click.option("--bind", callback=_checked(receptor_config.hostname), metavar="ADDRESS",
              help="The address the listener binds to [default: every interface].")
@click.option("--peer", "peers", multiple=True, callback=_checked(receptor_config.peer), metavar="HOST:PORT",
              help="A node to connect to (repeatable).")
@click.option("--hostname", "hostnames", multiple=True, callback=_checked(receptor_config.hostname),
              metavar="NAME|IP", help="A name or address peers dial this node by, for its certificate (repeatable; "
                                      "default: the node ID).")
@click.option("--allow-peer", "allow_peers", multiple=True, callback=_checked(receptor_config.node_id),
              metavar="NODE", help="Only these nodes may connect, either way (repeatable; default: any node with a "
                                   "certificate from the mesh CA).")
@click.option("--accept-work-from", multiple=True, callback=_checked(receptor_config.node_id), metavar="NODE",
              help="Only these nodes may use this node's control service over the mesh (repeatable; default: any).")
@click.option("--mesh", default="receptor-mesh", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the mesh CA and work-signing keys, made on first use and reused after.")
@click.option("--ca-cert", type=click.Path(dir_okay=False), help="Your CA certificate instead of the mesh's own.")
@click.option("--ca-key", type=click.Path(dir_okay=False), help="The private key of --ca-cert.")
@click.option("--install-dir", default=receptor_config.INSTALL_DIR, show_default=True,
              callback=_checked(receptor_config.install_dir), help="Where the bundle will live on the node.")
@click.option("--out", type=click.Path(file_okay=False), help="Bundle folder [default: MESH/NODE_ID].")
@click.option("--check", is_flag=True, help="Then run receptor on the bundle for a moment, as the node will "
              "(receptor.binary in the settings, else receptor on PATH, else the image's own).")
@settings_option
def receptor_config_command(role: str, node_id: str, listen: int | None, bind: str | None, peers: tuple[str, ...],
                            hostnames: tuple[str, ...], allow_peers: tuple[str, ...],
                            accept_work_from: tuple[str, ...], mesh: str, ca_cert: str | None, ca_key: str | None,
                            install_dir: str, out: str | None, check: bool, settings_path: str) -> None:
    """Write a node's receptor.conf, TLS certificate and work key, as AWX's install bundle."""
    binary = None
    if check:  # found before anything is written
        loaded = _settings(settings_path, None) if Path(settings_path).exists() else None
        binary = receptor_binary.locate(loaded, "check the bundle (--check)", Engine(loaded.engine) if loaded else None)
    # A repeated value would make receptor dial the same peer twice and refuse the second connection.
    peers, hostnames, allow_peers, accept_work_from = (tuple(dict.fromkeys(values)) for values in
                                                       (peers, hostnames, allow_peers, accept_work_from))
    if listen is None and role != "control":
        listen = receptor_config.DEFAULT_PORT
    if not hostnames:
        try:
            hostnames = (receptor_config.hostname(node_id, "--node-id"),)
        except UserError:
            hostnames = ()  # not a DNS name: the certificate carries the node ID alone
    if bind and listen is None:
        raise UserError("--bind: there is no listener (a control node listens only with --listen). Expected "
                        "--listen PORT with it, or no --bind.")
    spec = receptor_config.NodeSpec(node_id=node_id, role=role, listen=listen, bind=bind, peers=peers,
                                    allow_peers=allow_peers, accept_work_from=accept_work_from,
                                    install_dir=install_dir)
    written = receptor_mesh.write_bundle(spec, hostnames, Path(mesh), Path(out) if out else None,
                                         Path(ca_cert) if ca_cert else None, Path(ca_key) if ca_key else None)
    click.echo(f"receptor {role} node {node_id}: wrote {written.out}/ (copy it to {install_dir} on the node)")
    for relative, mode in written.files:
        click.echo(f"  {relative}" + (" (0600)" if mode == receptor_mesh.PRIVATE else ""))
    names = ", ".join(hostnames) if hostnames else "none"
    click.echo(f"certificate: node ID {node_id}, names {names}")
    origin = {"generated": "generated", "reused": "reused", "given": "yours (--ca-cert)"}[written.ca]
    click.echo(f"mesh CA: {origin}, {written.ca_fingerprint}")
    click.echo(f"work-signing keys: {written.work_keys} ({written.mesh / receptor_config.SIGNING_KEY})")
    for note in written.notes:
        click.echo(f"note: {note}")
    key_home = "your CA key" if written.ca == "given" else str(written.mesh / receptor_mesh.MESH_CA_KEY)
    click.echo(f"Keep {key_home} off the nodes; the work-signing private key goes to control nodes only.")
    if binary is not None:
        receptor_binary.check_bundle(binary, spec, written.out)
        click.echo(f"checked: receptor {receptor_binary.version(binary)} ({binary}) runs on this bundle")


@cli.command(name="verify")
@click.argument("image", required=False, callback=_image)
@settings_option
@click.option("--receptor-socket", type=click.Path(dir_okay=False),
              help="Control socket of a running receptor node with AWX's work types [default: start one from "
                   "receptor.binary, PATH or the image's own].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig of the cluster container-group "
              "jobs run in, as AWX's Kubernetes credential [default: $KUBECONFIG, ~/.kube/config].")
@click.option("--namespace", help="Namespace of the jobs [default: awx.container_group.namespace].")
@click.option("--pod-spec-override", type=click.Path(dir_okay=False),
              help="The container group's pod_spec_override [default: the one `awx objects` writes].")
@click.option("--path", "paths", multiple=True, type=click.Choice(verify.PATHS),
              help="container-group, instance-group (Podman on this host, as an execution node) [default: both].")
@click.option("--suite", "suites", multiple=True, type=click.Choice(sorted([*verify.SUITES, verify.WINDOWS])),
              help="Job suites to run [default: all, and windows when --windows-host is given].")
@click.option("--silence", type=click.IntRange(1), metavar="SECONDS",
              help="Run a job silent for SECONDS (alone, unless --suite is given): more than your load balancer's "
                   "idle timeout (AKS: 240) shows whether the keepalive (awx.container_group.keepalive_seconds) "
                   "saves it.")
@click.option("--run-option", "run_options", multiple=True,
              help="Podman option for instance-group jobs, as AWX's DEFAULT_CONTAINER_RUN_OPTIONS (repeatable).")
@click.option("--pending-timeout", default="2m", show_default=True, help="pod_pending_timeout of container-group jobs.")
@click.option("--report", "report_path", default="verify-report.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where the JSON report goes.")
# The windows suite: a Windows host over WinRM with Kerberos.
@click.option("--windows-host", metavar="FQDN", help="Windows host of the windows suite (its FQDN: the service "
              "ticket is for HTTP/<FQDN>).")
@click.option("--windows-user", metavar="USER@REALM", help="User of the windows suite, the realm upper case.")
@click.option("--windows-password-env", metavar="NAME", default="EE_VERIFY_WINDOWS_PASSWORD", show_default=True,
              help="Environment variable holding the user's password (never on the command line; masked in "
                   "the output and the report).")
@click.option("--windows-cert-validation", type=click.Choice(verify.CERT_VALIDATION), default="validate",
              show_default=True, help="ansible_winrm_server_cert_validation of the HTTPS (5986) job.")
@click.option("--isolation-path", "isolation_paths", multiple=True, metavar="SRC:DEST[:ro]",
              help="AWX_ISOLATION_SHOW_PATHS for instance-group jobs (repeatable) [default: /etc/krb5.conf of "
                   "this host, with a kerberos: section].")
def verify_command(image: str | None, settings_path: str, receptor_socket: str | None, kubeconfig: str | None,
                   namespace: str | None, pod_spec_override: str | None, paths: tuple[str, ...],
                   suites: tuple[str, ...], silence: int | None, run_options: tuple[str, ...],
                   pending_timeout: str, report_path: str, windows_host: str | None, windows_user: str | None,
                   windows_password_env: str, windows_cert_validation: str,
                   isolation_paths: tuple[str, ...]) -> None:
    """Run jobs against IMAGE [default: the image built here] the way AWX runs them: through receptor,
    in a container group's pod and on an execution node. Exit 1 when a job did not do what it should."""
    reporter = Reporter()
    loaded = _settings(settings_path, None)
    image = image or loaded.image.refs[0]
    paths = paths or verify.PATHS
    krb5_conf = krb5.render(loaded.kerberos) if loaded.kerberos else None
    override = (yamlfile.load(Path(pod_spec_override), what="pod spec override (--pod-spec-override)").data
                if pod_spec_override else awx.pod_spec_override(loaded, image, krb5_conf))
    if namespace:
        override.setdefault("metadata", {})["namespace"] = references.k8s_name(namespace, "--namespace")
    config = None
    if verify.CONTAINER_GROUP in paths:
        config = files.read_text(Path(kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube/config"),
                                 "kubeconfig (--kubeconfig)")
    windows = None
    if verify.WINDOWS in suites or (windows_host and not suites):
        windows = verify.windows_host(windows_host, windows_user, windows_password_env, windows_cert_validation)
    with receptor_binary.control_socket(loaded, receptor_socket, "run the jobs (or give --receptor-socket)",
                                        verify.node_entries(), reporter) as control:
        target = verify.Target(
            control=control, image=image, pull=loaded.awx.execution_environment.pull, kubeconfig=config,
            override=override, keepalive_seconds=loaded.awx.container_group.keepalive_seconds,
            pending_timeout=pending_timeout, run_options=run_options,
            isolation_paths=isolation_paths or (tuple(awx.isolation_paths()["AWX_ISOLATION_SHOW_PATHS"])
                                                if krb5_conf else ()))
        outcomes = verify.run_suite(target, verify.jobs(suites, silence), paths, reporter)
        if windows:
            outcomes += verify.run_windows(target, windows, paths, reporter)
    verify.write_report(outcomes, Path(report_path))
    reporter.verify_table(outcomes, image, report_path)
    if not all(outcome.passed for outcome in outcomes):
        raise SystemExit(1)


def main() -> None:
    try:
        code = cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("ee-builder: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
