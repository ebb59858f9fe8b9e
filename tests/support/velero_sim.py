# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Velero's BackupRepository controller, played against the loopback Kubernetes API test server.

What it does, per Velero version (velero.md sections 3.4-3.5, 4.2):

- a Ready BackupRepository is due when ``status.lastMaintenanceTime`` is empty or
  ``lastMaintenanceTime + spec.maintenanceFrequency < now``; repositories of a ReadOnly
  BackupStorageLocation are skipped (1.16+);
- 1.12/1.13: maintenance "runs inside the server": lastMaintenanceTime is set, no Job;
- 1.14+: a Job ``<repo>-maintain-job-<millis>`` labelled ``velero.io/repo-name`` (SHA3-224 of long
  names from 1.18) and its pod (labels ``job-name``, ``velero.io/repo-name``) are created, only if
  the server Deployment is named ``velero``; resources come from the ConfigMap named by
  ``--repo-maintenance-job-configmap`` (``<ns>-<bsl>-<type>`` key, else ``global``; 1.15+), else
  from the ``--maintenance-job-*`` flags (1.14-1.16); one Job at a time;
- the Job then succeeds, fails, is OOMKilled (when its memory limit is below the scenario's
  ``oom_below``, or unbounded), is evicted under node memory pressure (when its memory request is
  below ``evict_below``: the kubelet evicts pods using more than their request first) or hangs, per
  scenario; the pod log is served;
- results are recorded like the real controller: 1.16+ ``recentMaintenance`` (last 3) and
  ``lastMaintenanceTime`` = Job completion; 1.14/1.15 ``lastMaintenanceTime`` = reconcile start on
  success, ``status.message`` on failure.

Deliberate simplifications: the real controller reacts to spec changes at once and to anything
else every 5 minutes; the simulator looks every ``tick`` seconds. What happens after a failed Job
(the repository is still due: a failure never updates ``lastMaintenanceTime``) is the ``retry`` mode:

- ``retry="on_change"`` (default): wait for a write to the repository or the maintenance ConfigMap
  (or ``resync`` seconds) before the next Job - a client that is quicker than the 5-minute period;
- ``retry="immediate"``: the next Job starts at the next tick, with whatever the ConfigMap says at
  that moment - Velero's periodic enqueue fired while the failed Job ran, so the controller
  reconciles the repository again as soon as it has recorded the failure. A client must then cope
  with a Job that got the previous memory limit. Ladder tests use this mode, so the default's
  friendlier timing cannot hide that.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import threading
import time
import typing as t

from support.kube_api_server import KubeAPITestServer, ResourceType

VELERO_V1 = "velero.io/v1"
REPO_NAME_LABEL = "velero.io/repo-name"
_PLURALS = {"BackupRepository": "backuprepositories"}
OOM_FAILURE_MESSAGE = ("Repo maintenance failed but result is not retrieveable, err: error to locate repo maintenance "
                       "error indicator from termination message")
INDEX_BLOB_LOG = ('time="{time}" level=warning msg="Found too many index blobs ({count}), this may result in degraded '
                  'performance! Please ensure periodic repository maintenance is enabled." logModule=kopia/kopia/format '
                  'logSource="pkg/kopia/kopia_log.go:101" sublevel=error\n')


@dataclasses.dataclass
class Scenario:
    """How maintenance Jobs of one repository end."""

    outcome: str = "succeed"  # succeed | fail | hang
    oom_below: int | None = None  # bytes; a Job with a lower (or no) memory limit is OOMKilled
    index_blobs: int | None = None  # logged as kopia's "Found too many index blobs (N)"
    kopia_mode: str = "quick"  # logged as "Running <mode> maintenance..."
    run_seconds: float = 0.05  # how long a Job runs before it ends
    fail_message: str = "failed to open repository: unable to read format blob"
    evict_below: int | None = None  # bytes; a Job with a lower (or no) memory request is evicted (node memory pressure)


@dataclasses.dataclass
class JobRecord:
    """One Job the simulator started (for assertions)."""

    name: str
    repository: str
    memory_limit: str
    result: str | None = None  # succeeded | failed | oom_killed | evicted | None while running
    reconcile_start: float = 0.0
    finish_at: float = float("inf")
    scenario: Scenario = dataclasses.field(default_factory=Scenario)
    memory_request: str = "0"


def _now_text(epoch: float | None = None) -> str:
    moment = datetime.datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: t.Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def _go_duration(text: str) -> float:
    """Enough of Go's time.ParseDuration for the frequencies used here (``1h0m0s``, ``1m``, ``168h``)."""
    seconds, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            seconds += float(number) * units[char]
            number = ""
        else:
            raise ValueError(f"unsupported duration {text!r}")
    return seconds


def _memory_bytes(text: str) -> int:
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text or 0))


class VeleroSim:
    """Install Velero objects into a ``KubeAPITestServer`` and run its maintenance controller."""

    RETRY_MODES = ("on_change", "immediate")

    def __init__(self, server: KubeAPITestServer, version: str = "1.16.2", *, namespace: str = "velero",
                 tick: float = 0.01, resync: float = 30.0, retry: str = "on_change") -> None:
        if retry not in self.RETRY_MODES:
            raise ValueError(f"retry: expected one of {self.RETRY_MODES}, got {retry!r}")
        self.retry = retry
        self.server = server
        self.version = version
        self.minor = int(version.split(".")[1])
        self.patch = int(version.split(".")[2])
        self.namespace = namespace
        self.tick = tick
        self.resync = resync
        self.scenarios: dict[str, Scenario] = {}
        self.default_scenario = Scenario()
        self.jobs: list[JobRecord] = []
        self.in_server_runs: list[str] = []
        self.errors: list[str] = []
        self._blocked: dict[str, tuple[t.Any, ...]] = {}  # repo -> (repo rv, configmap rv, since)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._counter = 0

    # ------------------------------------------------------------------------------------- objects

    def _rtype(self, api_version: str, kind: str) -> ResourceType:
        plural = _PLURALS.get(kind, kind.lower() + "s")
        for rtype in self.server.resource_types():
            if rtype.api_version == api_version and rtype.kind == kind and rtype.plural == plural:
                return rtype
        # Registered under another plural (or not at all): serve the real one, as the CRD does.
        group, version = api_version.rpartition("/")[::2]
        return self.server.register_resource(group, version, kind, plural, True, categories=("velero",))

    def _get(self, api_version: str, kind: str, name: str) -> dict[str, t.Any] | None:
        """One object, read through its resource type (``server.get`` looks types up by kind only)."""
        listed = self.server.list_objects(self._rtype(api_version, kind), self.namespace,
                                          {"fieldSelector": f"metadata.name={name}"})
        return listed["items"][0] if listed["items"] else None

    def _list(self, api_version: str, kind: str) -> list[dict[str, t.Any]]:
        return self.server.list_objects(self._rtype(api_version, kind), self.namespace, {})["items"]

    def install(self, *, deployment_name: str = "velero", configmap: str | None = "velero-repo-maintenance",
                configmap_data: t.Mapping[str, t.Any] | None = None, extra_args: t.Sequence[str] = (),
                image: str | None = None, helm_managed_configmap: bool = False) -> None:
        """The server Deployment (args as the Helm chart renders them), a BSL ``default`` and, when
        ``configmap_data`` is given, the maintenance ConfigMap (JSON-encoded per key)."""
        args = ["server", "--uploader-type=kopia"]
        if configmap and self.minor >= 15:
            args.append(f"--repo-maintenance-job-configmap={configmap}")
        args += list(extra_args)
        self.server.put({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": deployment_name, "namespace": self.namespace, "labels": {"component": "velero"}},
            "spec": {"replicas": 1, "template": {"spec": {"serviceAccountName": "velero", "containers": [{
                "name": "velero", "image": image or f"velero/velero:v{self.version}", "command": ["/velero"],
                "args": args}]}}},
        })
        self.add_bsl("default")
        if configmap_data is not None:
            metadata: dict[str, t.Any] = {"name": configmap or "velero-repo-maintenance", "namespace": self.namespace}
            if helm_managed_configmap:
                metadata["labels"] = {"app.kubernetes.io/managed-by": "Helm"}
                metadata["annotations"] = {"meta.helm.sh/release-name": "velero"}
            self.server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                             "data": {k: json.dumps(v) for k, v in configmap_data.items()}})

    def add_bsl(self, name: str, *, phase: str = "Available", access_mode: str = "ReadWrite") -> None:
        self.server.put({"apiVersion": VELERO_V1, "kind": "BackupStorageLocation",
                         "metadata": {"name": name, "namespace": self.namespace},
                         "spec": {"provider": "aws", "accessMode": access_mode,
                                  "objectStorage": {"bucket": "backups", "prefix": "velero"},
                                  "config": {"region": "us-east-1"}},
                         "status": {"phase": phase}})

    def add_repository(self, volume_namespace: str, *, bsl: str = "default", repo_type: str = "kopia",
                       name: str | None = None, frequency: str = "1h0m0s", last_maintenance_ago: float | None = 600.0,
                       phase: str = "Ready", scenario: Scenario | None = None,
                       repository_config: t.Mapping[str, str] | None = None) -> str:
        """A BackupRepository named like 1.16+ (``<ns>-<bsl>-<type>``), maintained ``last_maintenance_ago`` s ago."""
        name = name or f"{volume_namespace}-{bsl}-{repo_type}"
        status: dict[str, t.Any] = {"phase": phase}
        if last_maintenance_ago is not None:
            status["lastMaintenanceTime"] = _now_text(time.time() - last_maintenance_ago)
        if self.minor >= 16:
            status["recentMaintenance"] = []
        spec: dict[str, t.Any] = {"volumeNamespace": volume_namespace, "backupStorageLocation": bsl,
                                  "repositoryType": repo_type, "maintenanceFrequency": frequency,
                                  "resticIdentifier": f"s3:s3.amazonaws.com/backups/velero/restic/{volume_namespace}"}
        if repository_config is not None:
            spec["repositoryConfig"] = dict(repository_config)
        labels = {"velero.io/volume-namespace": volume_namespace, "velero.io/storage-location": bsl,
                  "velero.io/repository-type": repo_type}
        self.server.create_object(self._rtype(VELERO_V1, "BackupRepository"), self.namespace, {
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels}, "spec": spec, "status": status})
        if scenario is not None:
            self.scenarios[name] = scenario
        return name

    def after_first_job(self, action: t.Callable[[], t.Any], wait: float = 300.0) -> threading.Thread:
        """A thread (not started) that waits until this simulator created a Job, then runs ``action``; if no Job
        appears before the simulator stops (or ``wait`` seconds), ``action`` never runs - never too early, however
        slowly a loaded machine starts ansible-playbook."""

        def waiter() -> None:
            deadline = time.time() + wait
            while not self.jobs:
                if time.time() >= deadline or self._stop.is_set():
                    return
                time.sleep(0.01)
            action()

        return threading.Thread(target=waiter, daemon=True)

    def break_repository_patches_after_first_job(self, name: str, wait: float = 300.0) -> threading.Thread:
        """A thread (not started) that waits until this simulator created a Job, then makes every PATCH of the
        BackupRepository answer 503: whatever the module tries to restore afterwards cannot be written."""
        return self.after_first_job(lambda: self.server.inject(
            "PATCH", f"/backuprepositories/{name}$", 503, times=None, headers={"Retry-After": "0"}), wait)

    def endless_job_lists(self, name: str, *, same_token: bool = True) -> None:
        """From the moment repository ``name`` is made due (its trigger field holds the temporary value), every
        list of Jobs over HTTP answers an empty page with a continue token: the same one again
        (``same_token``), or a new one each time - a broken API server or aggregation layer whose pagination
        never ends. The simulator's own reads are not affected (it does not list Jobs over HTTP)."""
        server = self.server
        original = server.list_objects
        state = {"triggered": False, "pages": 0}

        def list_objects(rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict:
            if rtype.plural == "jobs" and not state["triggered"]:
                repo = self._get(VELERO_V1, "BackupRepository", name) or {}
                status, spec = repo.get("status") or {}, repo.get("spec") or {}
                state["triggered"] = status.get("lastMaintenanceTime") is None or spec.get("maintenanceFrequency") == "1m"
            if rtype.plural != "jobs" or not state["triggered"]:
                return original(rtype, namespace, query)
            state["pages"] += 1
            token = "c2FtZQ==" if same_token else f"page-{state['pages']}"
            return {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"continue": token, "resourceVersion": "1"},
                    "items": []}

        server.list_objects = list_objects  # type: ignore[method-assign]

    def repository(self, name: str) -> dict[str, t.Any]:
        found = self._get(VELERO_V1, "BackupRepository", name)
        if found is None:
            raise KeyError(name)
        return found

    def configmap(self, name: str = "velero-repo-maintenance") -> dict[str, t.Any] | None:
        return self.server.get("v1", "ConfigMap", self.namespace, name)

    # ------------------------------------------------------------------------------------- controller loop

    def start(self) -> "VeleroSim":
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="velero-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "VeleroSim":
        return self.start()

    def __exit__(self, *exc_info: t.Any) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reconcile()
            except Exception as exc:  # recorded for the test to assert on; the loop keeps going
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.tick)

    def _running(self) -> JobRecord | None:
        return next((job for job in self.jobs if job.result is None), None)

    def _reconcile(self) -> None:
        now = time.time()
        running = self._running()
        if running is not None:
            if now < running.finish_at:
                return  # the controller blocks on the running Job: one maintenance at a time
            self._finish(running)
            if self.retry != "immediate":
                return
            # The periodic enqueue fired while the Job ran: reconcile again right after recording the result.
        for repo in self._list(VELERO_V1, "BackupRepository"):
            name = repo["metadata"]["name"]
            if not self._due(repo, now) or self._is_blocked(repo):
                continue
            if self.minor <= 13:
                self.in_server_runs.append(name)
                self._patch_repo(name, {"status": {"lastMaintenanceTime": _now_text(now), "message": ""}})
                continue
            self._start_job(repo, now)
            return

    def _due(self, repo: t.Mapping[str, t.Any], now: float) -> bool:
        status = repo.get("status") or {}
        if status.get("phase") != "Ready":
            return False
        bsl = self.server.get(VELERO_V1, "BackupStorageLocation", self.namespace,
                              repo["spec"].get("backupStorageLocation", ""))
        if self.minor >= 16 and bsl is not None and (bsl.get("spec") or {}).get("accessMode") == "ReadOnly":
            return False
        last = _parse_time(status.get("lastMaintenanceTime"))
        return last is None or last + _go_duration(repo["spec"].get("maintenanceFrequency") or "0s") < now

    def _configmap_name(self) -> str | None:
        deployment = self.server.get("apps/v1", "Deployment", self.namespace, "velero")
        if deployment is None or self.minor < 15:
            return None
        for arg in deployment["spec"]["template"]["spec"]["containers"][0].get("args") or []:
            if arg.startswith("--repo-maintenance-job-configmap="):
                return arg.split("=", 1)[1]
        return None

    def _is_blocked(self, repo: t.Mapping[str, t.Any]) -> bool:
        """After a failure, wait for a write to the repository or the ConfigMap (or ``resync``); in the
        ``immediate`` retry mode never."""
        blocked = self._blocked.get(repo["metadata"]["name"])
        if blocked is None or self.retry == "immediate":
            self._blocked.pop(repo["metadata"]["name"], None)
            return False
        repo_rv, cm_rv, since = blocked
        if repo["metadata"].get("resourceVersion") != repo_rv or self._configmap_rv() != cm_rv \
                or time.time() - since >= self.resync:
            del self._blocked[repo["metadata"]["name"]]
            return False
        return True

    def _configmap_rv(self) -> str | None:
        name = self._configmap_name()
        cm = self.server.get("v1", "ConfigMap", self.namespace, name) if name else None
        return (cm or {}).get("metadata", {}).get("resourceVersion")

    def _resources(self, repo: t.Mapping[str, t.Any]) -> dict[str, str]:
        """What Velero puts into the Job: ConfigMap podResources (repo key, else global), else flags."""
        deployment = self.server.get("apps/v1", "Deployment", self.namespace, "velero") or {}
        args = (deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}])[0].get("args") or []
        flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        resources = {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "0"}
        if self.minor <= 16:
            resources = {"cpuRequest": flags.get("maintenance-job-cpu-request", "0"),
                         "cpuLimit": flags.get("maintenance-job-cpu-limit", "0"),
                         "memoryRequest": flags.get("maintenance-job-mem-request", "0"),
                         "memoryLimit": flags.get("maintenance-job-mem-limit", "0")}
        name = self._configmap_name()
        cm = self.server.get("v1", "ConfigMap", self.namespace, name) if name else None
        if cm is not None:
            spec = repo["spec"]
            key = f"{spec['volumeNamespace']}-{spec['backupStorageLocation']}-{spec['repositoryType']}"
            data = cm.get("data") or {}
            for candidate in (key, "global"):
                if candidate in data:
                    entry = json.loads(data[candidate])
                    if entry.get("podResources"):
                        # Velero parses all four; a missing one would stop the Job (not simulated).
                        resources = dict(entry["podResources"])
                        break
        return resources

    def _job_config(self, repo: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """priorityClassName and affinity Velero puts on the Job from the maintenance ConfigMap (getJobConfig):
        loadAffinity from the repository's key, else global (1.15+; 1.18 uses only the first entry, PR #9494);
        priorityClassName only from global (1.17+). Affinity as kube.ToSystemAffinity builds it."""
        name = self._configmap_name()
        cm = self.server.get("v1", "ConfigMap", self.namespace, name) if name and self.minor >= 15 else None
        data = (cm or {}).get("data") or {}
        spec = repo["spec"]
        key = f"{spec['volumeNamespace']}-{spec['backupStorageLocation']}-{spec['repositoryType']}"
        own = json.loads(data[key]) if key in data else {}
        global_entry = json.loads(data["global"]) if "global" in data else {}
        result: dict[str, t.Any] = {}
        affinities = own.get("loadAffinity") or global_entry.get("loadAffinity") or []
        if affinities:
            chosen = affinities[:1] if self.minor >= 18 else affinities
            requirements = []
            for affinity in chosen:
                selector = affinity.get("nodeSelector") or {}
                requirements += [{"key": k, "operator": "In", "values": [v]}
                                 for k, v in (selector.get("matchLabels") or {}).items()]
                requirements += [dict(expression) for expression in selector.get("matchExpressions") or []]
            if requirements:
                result["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": requirements}]}}}
        if self.minor >= 17 and global_entry.get("priorityClassName"):
            result["priorityClassName"] = global_entry["priorityClassName"]
        return result

    def _label(self, name: str) -> str:
        if len(name) > 63 and self.minor >= 18:
            return hashlib.sha3_224(name.encode()).hexdigest()
        return name

    def _patch_repo(self, name: str, patch: dict[str, t.Any]) -> None:
        self.server.patch_object(self._rtype(VELERO_V1, "BackupRepository"), self.namespace, name, patch)

    def _start_job(self, repo: dict[str, t.Any], now: float) -> None:
        name = repo["metadata"]["name"]
        if self.server.get("apps/v1", "Deployment", self.namespace, "velero") is None:
            message = ('Failed to start maintenance job, err: error to build maintenance job: failed to get velero '
                       'server deployment: deployments.apps "velero" not found')
            self._record_failure(name, message, now, None)
            return
        scenario = self.scenarios.get(name, self.default_scenario)
        resources = self._resources(repo)
        millis = int(now * 1000) + self._counter
        self._counter += 1
        job_name = f"{name}-maintain-job-{millis}"
        if len(job_name) > 63:
            job_name = f"repo-maintain-job-{millis}"
        label = self._label(name)
        limits = {k: v for k, v in (("cpu", resources.get("cpuLimit")), ("memory", resources.get("memoryLimit")))
                  if v and v != "0"}
        requests = {k: v for k, v in (("cpu", resources.get("cpuRequest")),
                                      ("memory", resources.get("memoryRequest"))) if v and v != "0"}
        container = {"name": "velero-repo-maintenance-container", "image": f"velero/velero:v{self.version}",
                     "command": ["/velero"],
                     "args": ["repo-maintenance", f"--repo-name={repo['spec']['volumeNamespace']}",
                              f"--repo-type={repo['spec']['repositoryType']}",
                              f"--backup-storage-location={repo['spec']['backupStorageLocation']}",
                              "--log-level=info", "--log-format=text"],
                     "resources": {"limits": limits, "requests": requests}}
        job = self.server.create_object(self._rtype("batch/v1", "Job"), self.namespace, {
            "metadata": {"name": job_name, "namespace": self.namespace, "labels": {REPO_NAME_LABEL: label}},
            "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {REPO_NAME_LABEL: label}},
                                                     "spec": {"restartPolicy": "Never", "containers": [container],
                                                              **self._job_config(repo)}}},
            "status": {"active": 1, "startTime": _now_text(now)},
        })
        self.server.create_object(self._rtype("v1", "Pod"), self.namespace, {
            "metadata": {"name": f"{job_name}-pod", "namespace": self.namespace,
                         "labels": {"job-name": job_name, "batch.kubernetes.io/job-name": job_name,
                                    REPO_NAME_LABEL: label},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                              "uid": job["metadata"]["uid"], "controller": True}]},
            "spec": {"restartPolicy": "Never", "containers": [container]},
            "status": {"phase": "Running", "containerStatuses": [{"name": container["name"], "ready": True,
                                                                  "state": {"running": {"startedAt": _now_text(now)}}}]},
        })
        finish_at = float("inf") if scenario.outcome == "hang" else now + scenario.run_seconds
        self.jobs.append(JobRecord(job_name, name, resources.get("memoryLimit", "0"), None, now, finish_at, scenario,
                                   resources.get("memoryRequest", "0")))

    def _log(self, record: JobRecord, oom: bool, evicted: bool = False) -> str:
        scenario = record.scenario
        lines = [f'time="{_now_text()}" level=info msg="Start to maintenance repo" repo={record.repository}\n',
                 f'time="{_now_text()}" level=info msg="Running {scenario.kopia_mode} maintenance..." '
                 f'logModule=kopia/kopia/format\n']
        if scenario.index_blobs is not None:
            lines.append(INDEX_BLOB_LOG.format(time=_now_text(), count=scenario.index_blobs))
        if evicted:
            pass  # killed by the kubelet mid-run: the log just stops
        elif oom:
            lines.append(f'time="{_now_text()}" level=warning msg="unable to create memory-mapped segment: unable to '
                         f'create memory-mapped file: open : no such file or directory" logModule=kopia/bigmap\n')
        elif scenario.outcome == "fail":
            lines.append(f"Repo maintenance error: {scenario.fail_message}\n")
        else:
            lines.append(f'time="{_now_text()}" level=info msg="Finished {scenario.kopia_mode} maintenance."\n')
        return "".join(lines)

    def _finish(self, record: JobRecord) -> None:
        now = time.time()
        scenario = record.scenario
        limit = _memory_bytes(record.memory_limit or "0")
        request = _memory_bytes(record.memory_request or "0")
        oom = scenario.oom_below is not None and (limit == 0 or limit < scenario.oom_below)
        evicted = not oom and scenario.evict_below is not None and request < scenario.evict_below
        succeeded = not oom and not evicted and scenario.outcome == "succeed"
        record.result = "oom_killed" if oom else ("evicted" if evicted else ("succeeded" if succeeded else "failed"))
        pod_name = f"{record.name}-pod"
        self.server.set_pod_log(self.namespace, pod_name, self._log(record, oom, evicted))
        pod_status: dict[str, t.Any] = {}
        if evicted:
            # What the kubelet writes for a node-pressure eviction (the container is killed, exit 137).
            terminated = {"exitCode": 137, "reason": "Error", "startedAt": _now_text(record.reconcile_start),
                          "finishedAt": _now_text(now)}
            pod_status = {"reason": "Evicted", "message": (
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 64Mi. Container "
                f"velero-repo-maintenance-container was using {record.memory_limit or '3Gi'}, request is "
                f"{record.memory_request or '0'}, has larger consumption of memory. "),
                "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                                "message": "The node was low on resource: memory."}]}
        elif oom:
            terminated = {"exitCode": 137, "reason": "OOMKilled", "startedAt": _now_text(record.reconcile_start),
                          "finishedAt": _now_text(now)}
        elif succeeded:
            terminated = {"exitCode": 0, "reason": "Completed", "startedAt": _now_text(record.reconcile_start),
                          "finishedAt": _now_text(now)}
        else:
            terminated = {"exitCode": 1, "reason": "Error", "message": f"Repo maintenance error: {scenario.fail_message}",
                          "startedAt": _now_text(record.reconcile_start), "finishedAt": _now_text(now)}
        pod_phase = "Succeeded" if succeeded else "Failed"
        self.server.patch_object(self._rtype("v1", "Pod"), self.namespace, pod_name, {"status": {
            "phase": pod_phase, "containerStatuses": [{"name": "velero-repo-maintenance-container", "ready": False,
                                                       "state": {"terminated": terminated}}], **pod_status}})
        if succeeded:
            job_status = {"active": None, "succeeded": 1, "completionTime": _now_text(now),
                          "conditions": [{"type": "Complete", "status": "True"}]}
        else:
            job_status = {"active": None, "failed": 1, "conditions": [{"type": "Failed", "status": "True",
                                                                       "reason": "BackoffLimitExceeded"}]}
        self.server.patch_object(self._rtype("batch/v1", "Job"), self.namespace, record.name, {"status": job_status})
        if succeeded:
            self._record_success(record, now)
        elif oom or evicted:
            message = (OOM_FAILURE_MESSAGE if self.minor >= 16 else
                       f"error to wait for maintenance job complete: maintenance job {self.namespace}/{record.name} failed")
            self._record_failure(record.repository, message, record.reconcile_start, now)
        else:
            message = (scenario.fail_message if self.minor >= 16 else
                       f"Maintenance job {record.name} failed: {scenario.fail_message}")
            self._record_failure(record.repository, message, record.reconcile_start, now)

    def _history(self, name: str, entry: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        recent = copy.deepcopy(self.repository(name).get("status", {}).get("recentMaintenance") or [])
        recent.append(entry)
        return recent[-3:]

    def _record_success(self, record: JobRecord, now: float) -> None:
        if self.minor >= 16:
            entry = {"result": "Succeeded", "startTimestamp": _now_text(record.reconcile_start),
                     "completeTimestamp": _now_text(now)}
            self._patch_repo(record.repository, {"status": {"lastMaintenanceTime": _now_text(now),
                                                            "recentMaintenance": self._history(record.repository, entry)}})
        else:
            self._patch_repo(record.repository, {"status": {"lastMaintenanceTime": _now_text(record.reconcile_start),
                                                            "message": ""}})

    def _record_failure(self, name: str, message: str, started: float, completed: float | None) -> None:
        if self.minor >= 16:
            entry = {"result": "Failed", "startTimestamp": _now_text(started), "message": message}
            if completed is not None:
                entry["completeTimestamp"] = _now_text(completed)
            self._patch_repo(name, {"status": {"recentMaintenance": self._history(name, entry)}})
        else:
            self._patch_repo(name, {"status": {"message": message}})
        repo = self.repository(name)
        self._blocked[name] = (repo["metadata"].get("resourceVersion"), self._configmap_rv(), time.time())

    # ------------------------------------------------------------------------------------- history

    def add_kept_oom_job(self, repository: str, *, memory_limit: str, memory_request: str = "0",
                         finished_ago: float = 3600.0) -> str:
        """A maintenance Job of ``repository`` that Velero ran ``finished_ago`` seconds ago and kept
        (``keepLatestMaintenanceJobs``): its pod OOMKilled at ``memory_limit``, and the failure recorded in the
        repository status, as this simulator's own Jobs end. Returns the Job name."""
        started = time.time() - finished_ago - 60
        finished = started + 60
        job_name = f"{repository}-maintain-job-{int(started * 1000)}"
        if len(job_name) > 63:
            job_name = f"repo-maintain-job-{int(started * 1000)}"
        label = self._label(repository)
        limits = {"memory": memory_limit}
        requests = {"memory": memory_request} if memory_request not in ("", "0") else {}
        container = {"name": "velero-repo-maintenance-container", "image": f"velero/velero:v{self.version}",
                     "command": ["/velero"], "args": ["repo-maintenance", "--log-level=info", "--log-format=text"],
                     "resources": {"limits": limits, "requests": requests}}
        job = self.server.put({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name, "namespace": self.namespace, "labels": {REPO_NAME_LABEL: label},
                         "creationTimestamp": _now_text(started)},
            "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {REPO_NAME_LABEL: label}},
                                                     "spec": {"restartPolicy": "Never", "containers": [container]}}},
            "status": {"failed": 1, "startTime": _now_text(started),
                       "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        })
        pod_name = f"{job_name}-pod"
        self.server.put({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": self.namespace, "creationTimestamp": _now_text(started),
                         "labels": {"job-name": job_name, "batch.kubernetes.io/job-name": job_name,
                                    REPO_NAME_LABEL: label},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                              "uid": job["metadata"]["uid"], "controller": True}]},
            "spec": {"restartPolicy": "Never", "containers": [container]},
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": container["name"], "ready": False, "restartCount": 0, "image": container["image"],
                "imageID": f"docker.io/{container['image']}",
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": _now_text(started),
                                         "finishedAt": _now_text(finished)}}}]},
        })
        record = JobRecord(job_name, repository, memory_limit, "oom_killed", started, finished,
                           Scenario(oom_below=_memory_bytes(memory_limit) + 1), memory_request)
        self.server.set_pod_log(self.namespace, pod_name, self._log(record, oom=True))
        message = (OOM_FAILURE_MESSAGE if self.minor >= 16 else
                   f"error to wait for maintenance job complete: maintenance job {self.namespace}/{job_name} failed")
        if self.minor >= 16:
            entry = {"result": "Failed", "startTimestamp": _now_text(started), "completeTimestamp": _now_text(finished),
                     "message": message}
            self._patch_repo(repository, {"status": {"recentMaintenance": self._history(repository, entry)}})
        else:
            self._patch_repo(repository, {"status": {"message": message}})
        return job_name
