# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulated clusters for the molecule scenario ``cluster``: loopback Kubernetes API servers with Velero's
maintenance controller simulated, as one background process.

    python tests/support/sim_cluster.py start --state-dir DIR   # returns once every cluster answers
    python tests/support/sim_cluster.py mark  --state-dir DIR side_effect
    python tests/support/sim_cluster.py stop  --state-dir DIR   # idempotent: nothing running is fine

``start`` leaves, per cluster ``<name>`` of ``CLUSTERS``:

- ``DIR/<name>/kubeconfig``: bearer-token kubeconfig for that cluster's server;
- ``DIR/<name>/requests.jsonl``: every request the server answered, one JSON object a line (method, path,
  query, status, user agent and, for writes, the body), written before the answer is sent;
- ``DIR/<name>/cluster.json``: what was loaded (Velero version, repositories, the kept OOMKilled Job), for
  the scenario's verify to compare against;

and ``DIR/sim.pid`` / ``DIR/sim.log`` for the process. ``mark`` appends ``{"mark": <phase>}`` to every request
log, so verify can tell the requests of one playbook from those of the next.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``support.*`` importable like the tests do
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.kube_api_server import DEFAULT_TOKEN, KubeAPITestServer, RecordedRequest  # noqa: E402
from support.velero_sim import Scenario, VeleroSim  # noqa: E402

GB = 10**9
GiB = 2**30
MAINTENANCE_FREQUENCY = "1h0m0s"  # every repository's spec.maintenanceFrequency

# Two clusters of different Velero eras. Server args are what ``helm template`` of the named chart renders
# with configuration.clientQPS=40 / clientBurst=60 and the maintenance resources shown (chart 7.2.2 turns
# repositoryMaintenanceJob.{requests,limits} into flags; chart 12.1.0 writes repositoryConfigData into the
# velero-repo-maintenance ConfigMap and passes its name).
CLUSTERS: dict[str, dict[str, t.Any]] = {
    "east": {
        "velero_version": "1.14.1",
        "chart_version": "7.2.2",
        "namespaces": 320,
        "server_args": ["server", "--uploader-type=kopia", "--client-burst=60", "--client-qps=40",
                        "--maintenance-job-mem-request=2Gi", "--maintenance-job-mem-limit=4Gi",
                        "--keep-latest-maintenance-jobs=3"],
        "maintenance_configmap": None,
        # volume namespace -> protected bytes (the newest upload of each volume)
        "repositories": {"orders": 180 * GB, "catalog": 40 * GB, "search": 6 * GB},
        # Velero 1.14 builds Jobs from the server flags: the hourly run of the largest repository was OOMKilled at
        # the flag's limit, well above what a model derives from bytes alone (more files and index blobs than
        # bytes suggest): only the observed OOM can tell.
        "kept_oom": {"namespace": "orders", "memory_limit": "4Gi", "memory_request": "2Gi"},
    },
    "west": {
        "velero_version": "1.18.1",
        "chart_version": "12.1.0",
        "namespaces": 480,
        "server_args": ["server", "--uploader-type=kopia", "--client-burst=60", "--client-qps=40",
                        "--repo-maintenance-job-configmap=velero-repo-maintenance"],
        "maintenance_configmap": {
            "global": {"keepLatestMaintenanceJobs": 3, "podResources": {
                "cpuRequest": "100m", "cpuLimit": "0", "memoryRequest": "512Mi", "memoryLimit": "1Gi"}},
            # Raised by hand for the largest repository, and still not enough (kept_oom).
            "analytics-default-kopia": {"podResources": {
                "cpuRequest": "500m", "cpuLimit": "0", "memoryRequest": "4Gi", "memoryLimit": "8Gi"}}},
        "repositories": {"analytics": 700 * GB, "billing": 120 * GB, "wiki": 15 * GB, "tools": 2 * GB},
        # Velero's own hourly run of the largest repository was OOMKilled at its configured limit and kept.
        "kept_oom": {"namespace": "analytics", "memory_limit": "8Gi", "memory_request": "4Gi"},
        # The next maintenance of that repository needs more than 8Gi and at most the ladder's next rung
        # (8Gi x 1.5 = 12Gi): it OOMs once and succeeds on the next step.
        "maintenance_scenario": {"namespace": "analytics", "oom_below": 10 * GiB, "index_blobs": 2438},
    },
}

# Kinds beyond the built-in defaults and Velero's CRDs, as a typical platform cluster serves them.
_EXTRA_TYPES = [
    ("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ("events.k8s.io", "v1", "Event", "events", True),
    ("cert-manager.io", "v1", "Certificate", "certificates", True),
    ("cert-manager.io", "v1", "Issuer", "issuers", True),
    ("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", False),
    ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", True),
    ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules", True),
]
# Objects per application namespace (synthetic: generated when listed).
_PER_NAMESPACE = [("v1", "Pod", 8), ("v1", "ConfigMap", 6), ("v1", "Secret", 5), ("v1", "Service", 2),
                  ("v1", "ServiceAccount", 2), ("v1", "Endpoints", 2), ("v1", "Event", 12),
                  ("apps/v1", "Deployment", 2), ("apps/v1", "ReplicaSet", 5),
                  ("networking.k8s.io/v1", "Ingress", 1), ("networking.k8s.io/v1", "NetworkPolicy", 2),
                  ("rbac.authorization.k8s.io/v1", "Role", 1), ("rbac.authorization.k8s.io/v1", "RoleBinding", 2),
                  ("monitoring.coreos.com/v1", "ServiceMonitor", 1), ("cert-manager.io/v1", "Certificate", 1)]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class RecordingServer(KubeAPITestServer):
    """The test server, also writing each recorded request to a JSON-lines file (before it is answered)."""

    def __init__(self, log_path: Path, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._log_file = log_path.open("a", encoding="utf-8")
        self._log_lock = threading.Lock()

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        line: dict[str, t.Any] = {"time": time.time(), "method": request.method, "path": request.path,
                                  "query": request.query, "status": request.status,
                                  "user_agent": request.headers.get("user-agent", "")}
        if request.method != "GET":
            line["body"] = request.body
        self.append_log(line)

    def append_log(self, line: t.Mapping[str, t.Any]) -> None:
        with self._log_lock:
            self._log_file.write(json.dumps(line, sort_keys=True, default=str) + "\n")
            self._log_file.flush()

    def stop(self) -> None:
        super().stop()
        with self._log_lock:
            if not self._log_file.closed:
                self._log_file.close()


def load(server: KubeAPITestServer, spec: t.Mapping[str, t.Any], now: float | None = None) -> VeleroSim:
    """Fill ``server`` with the cluster ``spec`` (one of ``CLUSTERS``); return its Velero simulator (not started)."""
    now = time.time() if now is None else now
    version = spec["velero_version"]
    server.register_velero_crds()
    for group, api_version, kind, plural, namespaced in _EXTRA_TYPES:
        server.register_resource(group, api_version, kind, plural, namespaced,
                                 categories=("all",) if kind == "Ingress" else ())

    system = ["velero", "kube-system", "kube-public", "cert-manager", "monitoring", "ingress-nginx"]
    volume_namespaces = list(spec["repositories"])
    apps = [f"team-{i:03d}" for i in range(spec["namespaces"] - len(system) - len(volume_namespaces))]
    for name in system + volume_namespaces + apps:
        server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for api_version, kind, count in _PER_NAMESPACE:
        server.add_synthetic(api_version, kind, volume_namespaces + apps, count)
    server.add_synthetic("v1", "Pod", "kube-system", 60)
    server.add_synthetic("v1", "ConfigMap", "kube-system", 40)
    server.add_synthetic("v1", "Node", None, 24)
    server.add_synthetic("rbac.authorization.k8s.io/v1", "ClusterRole", None, 90)
    server.add_synthetic("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, 70)
    server.add_synthetic("storage.k8s.io/v1", "StorageClass", None, 3)
    server.add_synthetic("cert-manager.io/v1", "ClusterIssuer", None, 2)

    sim = VeleroSim(server, version, tick=0.05, resync=30.0)
    minor = sim.minor
    server.put({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "velero", "namespace": "velero",
                             "labels": {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero",
                                        "component": "velero"}},
                "spec": {"replicas": 1, "template": {"spec": {"serviceAccountName": "velero-server", "containers": [{
                    "name": "velero", "image": f"velero/velero:v{version}", "command": ["/velero"],
                    "args": list(spec["server_args"]),
                    "resources": {"requests": {"cpu": "500m", "memory": "128Mi"},
                                  "limits": {"cpu": "1", "memory": "512Mi"}}}]}}}})
    server.put({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "node-agent", "namespace": "velero"},
                "spec": {"template": {"spec": {"containers": [{
                    "name": "node-agent", "image": f"velero/velero:v{version}", "command": ["/velero"],
                    "args": ["node-agent", "server"], "resources": {}}]}}}})
    if spec.get("maintenance_configmap") is not None:
        server.put({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "velero-repo-maintenance", "namespace": "velero",
                                 "labels": {"app.kubernetes.io/managed-by": "Helm"},
                                 "annotations": {"meta.helm.sh/release-name": "velero"}},
                    "data": {key: json.dumps(value) for key, value in spec["maintenance_configmap"].items()}})
    server.put({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                "metadata": {"name": "default", "namespace": "velero"},
                "spec": {"provider": "aws", "default": True, "accessMode": "ReadWrite",
                         "objectStorage": {"bucket": "backups", "prefix": "velero"}, "config": {"region": "eu-west-1"}},
                "status": {"phase": "Available"}})

    scenario = spec.get("maintenance_scenario") or {}
    for namespace, size in spec["repositories"].items():
        repo_scenario = None
        if scenario.get("namespace") == namespace:
            repo_scenario = Scenario(oom_below=scenario["oom_below"], index_blobs=scenario.get("index_blobs"),
                                     run_seconds=0.2)
        # Maintained 10 minutes ago, every hour: nothing is due while the scenario runs unless a playbook asks.
        sim.add_repository(namespace, frequency=MAINTENANCE_FREQUENCY, last_maintenance_ago=600, scenario=repo_scenario)
        _protected_volume(server, namespace, size, minor, now)
    _daily_backups(server, list(spec["repositories"]), now)
    kept = spec.get("kept_oom")
    if kept:
        sim.add_kept_oom_job(f"{kept['namespace']}-default-kopia", memory_limit=kept["memory_limit"],
                             memory_request=kept.get("memory_request", "0"), finished_ago=2 * 3600)
    return sim


def _protected_volume(server: KubeAPITestServer, namespace: str, size: int, minor: int, now: float) -> None:
    """A bound PVC and, for the last three daily backups, its upload (DataUpload from 1.14, which moves
    snapshot data; the newest one counts)."""
    server.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": namespace},
                "spec": {"resources": {"requests": {"storage": f"{size // GB + 1}G"}}},
                "status": {"phase": "Bound", "capacity": {"storage": f"{size // GB + 1}G"}}})
    for day in range(3):
        finished = now - day * 86400 - 300
        total = size - day * (size // 100)
        server.put({"apiVersion": "velero.io/v2alpha1", "kind": "DataUpload",
                    "metadata": {"name": f"daily-{day:02d}-{namespace}-data", "namespace": "velero",
                                 "labels": {"velero.io/backup-name": f"daily-{day:02d}"}},
                    "spec": {"sourceNamespace": namespace, "sourcePVC": "data", "backupStorageLocation": "default"},
                    "status": {"phase": "Completed", "completionTimestamp": _iso(finished),
                               "progress": {"totalBytes": total, "bytesDone": total}}})


def _daily_backups(server: KubeAPITestServer, namespaces: list[str], now: float) -> None:
    for day in range(14):
        started = now - day * 86400 - 900
        server.put({"apiVersion": "velero.io/v1", "kind": "Backup",
                    "metadata": {"name": f"daily-{day:02d}", "namespace": "velero",
                                 "labels": {"velero.io/schedule-name": "daily"}},
                    "spec": {"includedNamespaces": namespaces, "storageLocation": "default"},
                    "status": {"phase": "Completed", "startTimestamp": _iso(started),
                               "completionTimestamp": _iso(started + 600)}})
    server.put({"apiVersion": "velero.io/v1", "kind": "Schedule", "metadata": {"name": "daily", "namespace": "velero"},
                "spec": {"schedule": "0 1 * * *", "template": {"includedNamespaces": namespaces}}})


def expectations(name: str, url: str = "") -> dict[str, t.Any]:
    """What the scenario's verify compares against (``cluster.json``), in terms a real cluster can state too."""
    spec = CLUSTERS[name]
    kept = spec.get("kept_oom")
    scenario = spec.get("maintenance_scenario")
    maintenance = None
    if scenario:
        key = f"{scenario['namespace']}-default-kopia"
        entry = (spec.get("maintenance_configmap") or {}).get(key) or (spec.get("maintenance_configmap") or {})["global"]
        maintenance = {"repository": key, "frequency": MAINTENANCE_FREQUENCY,
                       "first_limit": entry["podResources"]["memoryLimit"]}
    # The maintenance limit every Job gets unless its repository has its own entry (drift is reported against it).
    if spec.get("maintenance_configmap"):
        deployed = spec["maintenance_configmap"]["global"]["podResources"]["memoryLimit"]
    else:
        deployed = next(arg.split("=", 1)[1] for arg in spec["server_args"]
                        if arg.startswith("--maintenance-job-mem-limit="))
    return {"name": name, "url": url, "velero_version": spec["velero_version"],
            "chart_version": spec["chart_version"], "namespaces": spec["namespaces"],
            "repository_bytes": {f"{ns}-default-kopia": size for ns, size in spec["repositories"].items()},
            "kept_oom": {"repository": f"{kept['namespace']}-default-kopia", "memory_limit": kept["memory_limit"]}
            if kept else None,
            "deployed_maintenance_limit": deployed, "maintenance": maintenance}


# ------------------------------------------------------------------------------------------------ process


def serve(state_dir: Path) -> int:
    """Run every cluster until SIGTERM/SIGINT (the background process ``start`` launches)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    running: list[tuple[RecordingServer, VeleroSim]] = []
    try:
        for name, spec in CLUSTERS.items():
            cluster_dir = state_dir / name
            cluster_dir.mkdir(parents=True, exist_ok=True)
            server = RecordingServer(cluster_dir / "requests.jsonl", aggregated_discovery=True)
            sim = load(server, spec)
            server.start()
            sim.start()
            running.append((server, sim))
            server.write_kubeconfig(cluster_dir / "kubeconfig", token=DEFAULT_TOKEN, namespace="velero",
                                    context=f"sim-{name}")
            (cluster_dir / "cluster.json").write_text(json.dumps(expectations(name, server.url), indent=2) + "\n",
                                                      encoding="utf-8")
        (state_dir / "ready").write_text("ready\n", encoding="utf-8")
        while not stop.wait(0.5):
            for server, sim in running:
                for error in sim.errors + server.callback_errors:
                    print(f"{server.url}: {error}", file=sys.stderr, flush=True)
                sim.errors.clear()
                server.callback_errors.clear()
    finally:
        for server, sim in running:
            sim.stop()
            server.stop()
        (state_dir / "ready").unlink(missing_ok=True)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "sim.pid").read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None


def start(state_dir: Path, timeout: float = 60.0) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    pid = _read_pid(state_dir)
    if pid is not None and _alive(pid) and (state_dir / "ready").exists():
        print(f"already running (pid {pid})")
        return 0
    stop(state_dir, quiet=True)  # a dead process or a half-started one
    for name in CLUSTERS:  # a fresh request log per start
        (state_dir / name / "requests.jsonl").unlink(missing_ok=True)
    (state_dir / "ready").unlink(missing_ok=True)
    with (state_dir / "sim.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", "--state-dir",
                                    str(state_dir)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, close_fds=True)
    (state_dir / "sim.pid").write_text(f"{process.pid}\n", encoding="utf-8")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (state_dir / "ready").exists():
            print(json.dumps({name: str(state_dir / name / "kubeconfig") for name in CLUSTERS}))
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(state_dir, quiet=True)
    log_text = (state_dir / "sim.log").read_text(encoding="utf-8", errors="replace")[-3000:]
    print(f"simulated clusters did not start within {timeout:.0f}s:\n{log_text}", file=sys.stderr)
    return 1


def stop(state_dir: Path, timeout: float = 10.0, *, quiet: bool = False) -> int:
    """Stop the process of ``state_dir/sim.pid``; fine when nothing runs (destroy after a failed create)."""
    pid = _read_pid(state_dir)
    if pid is None or not _alive(pid):
        (state_dir / "sim.pid").unlink(missing_ok=True)
        if not quiet:
            print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while _alive(pid) and time.time() < deadline:
        try:  # our own child when start() gave up: reap it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (state_dir / "sim.pid").unlink(missing_ok=True)
    (state_dir / "ready").unlink(missing_ok=True)
    if not quiet:
        print(f"stopped (pid {pid})")
    return 0


def mark(state_dir: Path, phase: str) -> int:
    """Append a phase marker to every request log. The server writes each request before answering it, so
    every request of a playbook that has ended is above the marker."""
    for name in CLUSTERS:
        path = state_dir / name / "requests.jsonl"
        if not path.exists():
            print(f"{path}: no request log (is the simulator running?)", file=sys.stderr)
            return 1
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"mark": phase}) + "\n")
    return 0


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["start", "stop", "serve", "mark"])
    parser.add_argument("phase", nargs="?", help="mark: the phase that begins")
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_intermixed_args(argv)
    state_dir = args.state_dir.resolve()
    if args.command == "start":
        return start(state_dir)
    if args.command == "stop":
        return stop(state_dir)
    if args.command == "mark":
        if not args.phase:
            parser.error("mark needs a phase name")
        return mark(state_dir, args.phase)
    return serve(state_dir)


if __name__ == "__main__":
    sys.exit(main())
