"""What can be checked of the container and service definitions without a Docker engine.

The Dockerfile must build through the same install script CI runs, and its runtime stage must
install a Debian package for every shared library the built binary links. The manifests must
point their probes and volumes at what the daemon really serves and writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_BIN = Path(os.environ.get("FAST_CREWAI_SERVER_BIN")
                  or REPO_ROOT / "build" / "server" / "fast-crewai-server")

DOCKERFILE = REPO_ROOT / "Dockerfile"
INSTALL = REPO_ROOT / "deploy" / "install-deps.sh"


def _stages(text: str) -> dict[str, str]:
    """Dockerfile text of each stage, by stage name."""
    stages: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            name = match.group(1)
            stages[name] = ""
        elif name:
            stages[name] += line + "\n"
    return stages


def runtime_packages() -> set[str]:
    out = subprocess.run(["bash", str(INSTALL), "--print-runtime-packages"], check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_both_stages_install_through_the_project_script() -> None:
    stages = _stages(DOCKERFILE.read_text())
    assert set(stages) == {"build", "runtime"}
    assert "install-deps.sh --system" in stages["build"]
    assert "install-deps.sh --runtime" in stages["runtime"]
    # The runtime stage runs as a dedicated non-root user, with a volume, a port and a probe.
    assert re.search(r"^USER\s+fast-crewai", stages["runtime"], re.MULTILINE)
    assert 'VOLUME ["/var/lib/fast-crewai"]' in stages["runtime"]
    assert re.search(r"^EXPOSE\s+50051", stages["runtime"], re.MULTILINE)
    assert "--probe=127.0.0.1:50051" in stages["runtime"]
    assert "FAST_CREWAI_DATA_DIR=/var/lib/fast-crewai" in stages["runtime"]


def test_runtime_stage_provides_every_shared_library_the_binary_links() -> None:
    ldd = subprocess.run(["ldd", str(SERVER_BIN)], check=True, capture_output=True, text=True).stdout
    libraries = re.findall(r"=>\s+(/\S+)", ldd)
    assert libraries, ldd
    wanted = runtime_packages()
    missing = {}
    for lib in libraries:
        owner = subprocess.run(["dpkg", "-S", str(Path(lib).resolve())], capture_output=True, text=True)
        if owner.returncode != 0:  # /lib vs /usr/lib: ask for the path as given too
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        assert owner.returncode == 0, f"no Debian package owns {lib}"
        package = owner.stdout.split(":")[0]
        if package not in wanted:
            missing[lib] = package
    assert not missing, f"runtime stage lacks packages for: {missing}"


def test_probe_reports_a_serving_daemon_and_fails_on_a_dead_one(daemon, run_server) -> None:  # type: ignore[no-untyped-def]
    ok = run_server(f"--probe={daemon.target}")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "SERVING"
    daemon.stop()
    dead = run_server(f"--probe={daemon.target}")
    assert dead.returncode == 1
    assert len(dead.stderr.strip().splitlines()) == 1
    assert "probe" in dead.stderr


def test_probe_without_address_is_a_usage_error(run_server) -> None:  # type: ignore[no-untyped-def]
    result = run_server("--probe")
    assert result.returncode == 2
    assert "--probe" in result.stderr


def test_example_config_is_accepted(daemon_factory, tmp_path: Path, free_port) -> None:  # type: ignore[no-untyped-def]
    # The example's paths and ports are for a real install; flags override them here, everything
    # else (socket mode, log level, grace period) is read from the file as written.
    config = REPO_ROOT / "deploy" / "fast-crewai.conf"
    assert "\nmetrics_listen = 127.0.0.1:9464\n" in config.read_text()
    metrics = f"127.0.0.1:{free_port()}"
    daemon = daemon_factory(f"--config={config}", "--unix_socket=", f"--data_dir={tmp_path / 'd'}",
                            f"--metrics_listen={metrics}")
    assert daemon.process.poll() is None
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        assert b"fast_crewai_build_info" in response.read()
    assert daemon.stop() == 0
    assert 'grace_period=10s' in daemon.logs()  # read from the file, not a default


def test_kubernetes_manifest_probes_and_persists() -> None:
    docs = list(yaml.safe_load_all((REPO_ROOT / "deploy" / "kubernetes" / "fast-crewai-server.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert {"Service", "StatefulSet", "Secret"} <= set(kinds)
    pod = kinds["StatefulSet"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == 50051
    assert container["livenessProbe"]["grpc"]["port"] == 50051
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["FAST_CREWAI_DATA_DIR"]["value"] == container["volumeMounts"][0]["mountPath"]
    assert env["FAST_CREWAI_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "fast-crewai-token"
    claim = kinds["StatefulSet"]["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == container["volumeMounts"][0]["name"]
    assert kinds["StatefulSet"]["spec"]["replicas"] == 1  # one owner per data directory
    # Metrics: the port the daemon is told to serve them on is the one declared and annotated.
    port = int(env["FAST_CREWAI_METRICS_LISTEN"]["value"].rsplit(":", 1)[1])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    annotations = kinds["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_compose_runs_the_daemon_and_an_agent_through_the_shim() -> None:
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["agent"]["environment"]["FAST_CREWAI_ENDPOINT"] == "fast-crewai-server:50051"
    assert services["agent"]["depends_on"]["fast-crewai-server"]["condition"] == "service_healthy"
    agent = (REPO_ROOT / "deploy" / "example-agent" / "agent.py").read_text()
    assert "import fast_crewai.shim" in agent
    compile(agent, "agent.py", "exec")


def test_systemd_unit_runs_the_daemon_with_a_valid_config_flag(run_server) -> None:  # type: ignore[no-untyped-def]
    unit = (REPO_ROOT / "deploy" / "systemd" / "fast-crewai-server.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE).group(1).split()
    assert exec_start[0] == "/usr/local/bin/fast-crewai-server"
    # Every flag the unit passes must be one the binary knows (usage errors exit 2).
    help_text = run_server("--help").stdout
    for flag in exec_start[1:]:
        name = flag.split("=")[0].lstrip("-").replace("-", "_")
        assert f"--{name}=" in help_text, flag
    assert "KillSignal=SIGTERM" in unit
    assert re.search(r"^RestartPreventExitStatus=.*\b2\b", unit, re.MULTILINE)
