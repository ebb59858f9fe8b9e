# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of ``cluster_facts``: Velero's backup scope, aggregation, Velero settings, drift.

No I/O and no Ansible imports; ``_facts_gather`` feeds these functions with API answers.
Sources for Velero behaviour (vmware-tanzu/velero, 1.12-1.18):

- resource types: ``pkg/discovery/helper.go`` (preferred version per resource, verbs
  list+create+get+delete, ``extensions`` sorted last);
- ``pkg/backup/item_collector.go``: cohabiting resources listed once, namespaces filtered to
  Active ones, cluster-scoped types skipped unless the namespace filter includes everything
  (``includeClusterResources`` unset) — ``pkg/util/collections/includes_excludes.go``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
import typing as t

from ._fields import nested_get, string_list
from ._quantity import parse_cpu_millicores, parse_duration, parse_memory
from ._velero_server import (
    config_key,
    container_runs,
    maintenance_job_resources,
    parse_timestamp,
    repository_config_key,
    workload_containers,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ._kube_discovery import APIResource

# item_collector.go cohabitatingResources(): the same objects served by two groups are listed once.
COHABITATING_RESOURCES: dict[str, tuple[str, str]] = {
    "deployments": ("extensions", "apps"),
    "daemonsets": ("extensions", "apps"),
    "replicasets": ("extensions", "apps"),
    "networkpolicies": ("extensions", "networking.k8s.io"),
    "events": ("", "events.k8s.io"),
}
# discovery/helper.go filterByVerbs.
BACKUP_VERBS = ("list", "create", "get", "delete")
DEFAULT_PAGE_SIZE = 500
_GLOB = re.compile(r"[*?\[]")


# --------------------------------------------------------------------------------------------
# Backup scope
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scope:
    """What one Velero backup would cover; the defaults are a whole-cluster backup."""

    include_namespaces: tuple[str, ...] = ("*",)
    exclude_namespaces: tuple[str, ...] = ()
    exclude_resources: tuple[str, ...] = ()
    include_cluster_resources: bool | None = None

    @classmethod
    def from_options(cls, include_namespaces: t.Any = None, exclude_namespaces: t.Any = None,
                     exclude_resources: t.Any = None, include_cluster_resources: t.Any = None) -> "Scope":
        include = string_list(include_namespaces, "include_namespaces") or ("*",)
        if include_cluster_resources is not None and not isinstance(include_cluster_resources, bool):
            raise ValueError(f"include_cluster_resources: expected true, false or null (auto), "
                             f"got {include_cluster_resources!r}")
        return cls(include, string_list(exclude_namespaces, "exclude_namespaces"),
                   tuple(r.lower() for r in string_list(exclude_resources, "exclude_resources")),
                   include_cluster_resources)

    @property
    def includes_everything(self) -> bool:
        """collections.NamespaceIncludesExcludes.IncludeEverything: ``*`` and no excludes."""
        return set(self.include_namespaces) == {"*"} and not self.exclude_namespaces

    @property
    def cluster_resources_included(self) -> bool:
        if self.include_cluster_resources is not None:
            return self.include_cluster_resources
        return self.includes_everything

    def namespace_selected(self, name: str) -> bool:
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.include_namespaces):
            return False
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude_namespaces)

    def resource_excluded(self, resource: "APIResource") -> bool:
        """Velero resolves each entry to one resource (``deployments``, ``deploy``, ``events.events.k8s.io``);
        here a bare name matches that name in any group, ``name.group`` one group, globs the
        ``resource.group`` spelling."""
        names = {resource.plural.lower(), resource.singular.lower(), resource.kind.lower()}
        names.update(s.lower() for s in resource.short_names)
        names.discard("")
        for entry in self.exclude_resources:
            if entry == "*":
                return True
            if _GLOB.search(entry):
                if fnmatch.fnmatchcase(resource.group_resource.lower(), entry) or \
                        fnmatch.fnmatchcase(resource.plural.lower(), entry):
                    return True
                continue
            name, _dot, group = entry.partition(".")
            if name in names and (not group or group == resource.group.lower()):
                return True
        return False

    def as_dict(self) -> dict[str, t.Any]:
        return {"include_namespaces": list(self.include_namespaces),
                "exclude_namespaces": list(self.exclude_namespaces),
                "exclude_resources": list(self.exclude_resources),
                "include_cluster_resources": self.include_cluster_resources,
                "cluster_resources_included": self.cluster_resources_included,
                "whole_cluster": self.includes_everything and not self.exclude_resources}


def backup_resource_types(resources: t.Sequence["APIResource"], scope: Scope) -> tuple[list["APIResource"], list[dict]]:
    """Resource types a backup with ``scope`` lists, in Velero's order, and the skipped ones with why."""
    ordered = sorted(resources, key=lambda r: r.group == "extensions")  # stable: extensions last
    selected: list["APIResource"] = []
    skipped: list[dict] = []
    seen_cohabitants: set[str] = set()
    for resource in ordered:
        reason = None
        if not resource.supports(*BACKUP_VERBS):
            reason = "does not support list, create, get and delete"
        elif scope.resource_excluded(resource):
            reason = "excluded by exclude_resources"
        elif resource.plural in COHABITATING_RESOURCES and resource.group in COHABITATING_RESOURCES[resource.plural]:
            if resource.plural in seen_cohabitants:
                reason = "same objects as another group's " + resource.plural + " (listed once)"
            seen_cohabitants.add(resource.plural)
        if reason is None and not resource.namespaced and not (resource.group == "" and resource.plural == "namespaces") \
                and not scope.cluster_resources_included:
            reason = "cluster-scoped and the backup covers only some namespaces"
        if reason is None:
            selected.append(resource)
        else:
            skipped.append({"resource": resource.group_resource, "api_version": resource.api_version, "reason": reason})
    return selected, skipped


def namespace_active(namespace: t.Mapping[str, t.Any]) -> bool:
    return ((namespace.get("status") or {}).get("phase") or "Active") == "Active"


def namespace_count_strategy(total: int, first_page_items: int, page_size: int, namespaces_in_scope: int) -> str:
    """For a namespace-restricted scope: page through the cluster-wide metadata list ("page"), or
    count namespace by namespace ("per-namespace") — whichever needs fewer requests."""
    if page_size <= 0:
        return "page"
    remaining_pages = math.ceil(max(0, total - first_page_items) / page_size)
    return "page" if remaining_pages <= namespaces_in_scope else "per-namespace"


# --------------------------------------------------------------------------------------------
# Namespace statistics (pods, PVCs, bound capacity)
# --------------------------------------------------------------------------------------------


def pvc_bound_bytes(pvc: t.Mapping[str, t.Any]) -> int | None:
    status = pvc.get("status") or {}
    if status.get("phase") != "Bound":
        return None
    storage = (status.get("capacity") or {}).get("storage")
    if storage is None:
        return None
    try:
        return parse_memory(storage, "status.capacity.storage")
    except ValueError:
        return None


class NamespaceStats:
    """Per-namespace pods / PVCs / bound capacity; memory grows with namespaces, never with objects."""

    def __init__(self) -> None:
        self.by_namespace: dict[str, dict[str, int]] = {}

    def _entry(self, namespace: str) -> dict[str, int]:
        entry = self.by_namespace.get(namespace)
        if entry is None:
            entry = {"pods": 0, "pvcs": 0, "bound_pvcs": 0, "bound_capacity_bytes": 0}
            self.by_namespace[namespace] = entry
        return entry

    def add_pod(self, namespace: str) -> None:
        self._entry(namespace)["pods"] += 1

    def add_pvc(self, pvc: t.Mapping[str, t.Any]) -> None:
        entry = self._entry(str((pvc.get("metadata") or {}).get("namespace", "")))
        entry["pvcs"] += 1
        size = pvc_bound_bytes(pvc)
        if size is not None:
            entry["bound_pvcs"] += 1
            entry["bound_capacity_bytes"] += size

    def totals(self, selected: t.Callable[[str], bool]) -> dict[str, int]:
        total = {"pods": 0, "pvcs": 0, "bound_pvcs": 0, "bound_capacity_bytes": 0}
        for namespace, entry in self.by_namespace.items():
            if selected(namespace):
                for key in total:
                    total[key] += entry[key]
        return total

    def largest(self, selected: t.Callable[[str], bool]) -> tuple[str, int] | None:
        best = None
        for namespace, entry in sorted(self.by_namespace.items()):
            if selected(namespace) and entry["bound_capacity_bytes"] > 0 and (
                    best is None or entry["bound_capacity_bytes"] > best[1]):
                best = (namespace, entry["bound_capacity_bytes"])
        return best


# --------------------------------------------------------------------------------------------
# Velero: node-agent, ConfigMaps (the server Deployment, image version and flags: _velero_server)
# --------------------------------------------------------------------------------------------


def find_node_agent(daemonsets: t.Sequence[t.Mapping[str, t.Any]]) -> tuple[dict, dict] | None:
    for daemonset in daemonsets:
        for container in workload_containers(daemonset):
            if container_runs(container, "node-agent") or container_runs(container, "restic"):
                return dict(daemonset), dict(container)
    return None


def _float(text: t.Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _int(text: t.Any) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


FLOAT32_MAX = 3.4028234663852886e38
# Above this a client-side limit no longer limits anything (client-go's token bucket never runs dry).
UNLIMITED_QPS = 1e6
UNLIMITED_BURST = 10**6


def _go_float32(text: str) -> float | None:
    """pflag's Float32 (``strconv.ParseFloat(s, 32)``): None when Go refuses the text or it overflows."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if math.isfinite(value) and abs(value) > FLOAT32_MAX:
        return None  # ErrRange
    return value


def _go_int(text: str) -> int | None:
    """pflag's Int (``strconv.ParseInt(s, 0, 64)``): base prefixes allowed, no exponent, 64-bit range."""
    try:
        value = int(text.strip(), 0)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def client_flag_findings(server_flags: t.Mapping[str, str]) -> dict[str, dict[str, t.Any]]:
    """``--client-qps``/``--client-burst`` values Velero refuses or reads differently than written.

    Velero 1.12-1.18 (velero.md section 1): ``--client-qps`` is a float32 flag and ``--client-burst`` an int flag
    (a value pflag cannot parse stops ``velero server`` before it starts); ``newServer`` then refuses
    ``client-qps < 0`` ("client-qps must be positive") and ``client-burst <= 0``; ``client.Config`` leaves
    ``rest.Config.QPS`` unset for 0, so client-go's default of 5 applies. Returns, per setting path, the value as
    written and a ``note`` saying what Velero does with it.
    """
    findings: dict[str, dict[str, t.Any]] = {}
    if "client-qps" in server_flags:
        text = str(server_flags["client-qps"])
        qps = _go_float32(text)
        note = None
        if qps is None:
            note = (f"--client-qps={text} is not a float32: velero server refuses to start (invalid argument for "
                    f"the flag)")
        elif math.isnan(qps):
            note = f"--client-qps={text} is NaN: Velero accepts it but the client rate limit is then undefined"
        elif qps < 0:
            note = f"--client-qps={text}: velero server refuses to start (\"client-qps must be positive\")"
        elif qps == 0:
            note = "--client-qps=0: Velero leaves QPS unset, so client-go's default of 5 requests per second applies"
        elif qps >= UNLIMITED_QPS:
            note = (f"--client-qps={text}: accepted, but it removes Velero's client-side rate limit; only the API "
                    f"server's priority and fairness limits Velero then")
        if note:
            findings["server.client_qps"] = {"value": text, "note": note, "refused": qps is None or (
                qps is not None and not math.isnan(qps) and qps < 0)}
    if "client-burst" in server_flags:
        text = str(server_flags["client-burst"])
        burst = _go_int(text)
        note = None
        if burst is None:
            note = (f"--client-burst={text} is not a 64-bit integer: velero server refuses to start (invalid "
                    f"argument for the flag)")
        elif burst <= 0:
            note = f"--client-burst={text}: velero server refuses to start (client-burst must be positive)"
        elif burst >= UNLIMITED_BURST:
            note = f"--client-burst={text}: accepted, but a burst this large does not limit anything"
        if note:
            findings["server.client_burst"] = {"value": text, "note": note,
                                               "refused": burst is None or burst <= 0}
    return findings


def parse_json_value(text: t.Any, where: str) -> tuple[dict | None, str | None]:
    if text in (None, ""):
        return None, None
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        return None, f"{where}: not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"{where}: expected a JSON object"
    return value, None


def parse_maintenance_configmap(configmap: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """``global`` and per-repository entries (``<volumeNamespace>-<bsl>-<repositoryType>``), each JSON."""
    result: dict[str, t.Any] = {"global": None, "repositories": {}, "problems": []}
    if not configmap:
        return result
    name = (configmap.get("metadata") or {}).get("name", "")
    for key, text in sorted((configmap.get("data") or {}).items()):
        value, problem = parse_json_value(text, f"ConfigMap {name} key {key}")
        if problem:
            result["problems"].append(problem)
            continue
        if key == "global":
            result["global"] = value
        else:
            result["repositories"][key] = value
    return result


def parse_single_key_configmap(configmap: t.Mapping[str, t.Any] | None) -> tuple[dict | None, list[str]]:
    """Node-agent ConfigMap: exactly one data key (any name) holding JSON."""
    if not configmap:
        return None, []
    name = (configmap.get("metadata") or {}).get("name", "")
    data = configmap.get("data") or {}
    if not data:
        return None, [f"ConfigMap {name} has no data"]
    problems = [] if len(data) == 1 else [f"ConfigMap {name} has {len(data)} keys; Velero expects exactly one"]
    key = sorted(data)[0]
    value, problem = parse_json_value(data[key], f"ConfigMap {name} key {key}")
    return value, problems + ([problem] if problem else [])


def _resources(container: t.Mapping[str, t.Any] | None) -> dict | None:
    if not container:
        return None
    resources = container.get("resources") or {}
    result = {part: dict(resources.get(part) or {}) for part in ("requests", "limits")}
    return result


def _default_group(defaults: t.Mapping[str, t.Any], prefix: str) -> dict[str, t.Any]:
    """The leaves of ``prefix`` in a release's ``defaults()`` as one mapping (maintenance.pod_resources)."""
    return {path[len(prefix) + 1:]: value for path, value in defaults.items() if path.startswith(prefix + ".")}


def current_settings(*, release: t.Any, server_flags: t.Mapping[str, str],
                     server_container: t.Mapping[str, t.Any] | None,
                     maintenance_cm: t.Mapping[str, t.Any], backup_repository_cm: t.Mapping[str, t.Any] | None,
                     node_agent_container: t.Mapping[str, t.Any] | None,
                     node_agent_config: t.Mapping[str, t.Any] | None) -> dict[str, dict[str, t.Any]]:
    """Current value of every tunable, keyed by the recommendation's dotted path, with its source.

    ``release`` is a ``_releases.VeleroRelease`` (or None when the version is unknown: Velero's
    defaults are then unknown too and only explicit settings are reported).
    """
    settings: dict[str, dict[str, t.Any]] = {}

    def put(path: str, value: t.Any, source: str) -> None:
        settings[path] = {"value": value, "source": source}

    def flag_or_default(path: str, flag: str, parse: t.Callable[[t.Any], t.Any], default: t.Any) -> None:
        if flag in server_flags and parse(server_flags[flag]) is not None:
            put(path, parse(server_flags[flag]), "server flag --" + flag)
        elif default is not None:
            put(path, default, "Velero default")

    # Velero's defaults of this release (None: not known, only explicit settings are reported).
    defaults: t.Mapping[str, t.Any] = release.defaults() if release is not None else {}
    findings = client_flag_findings(server_flags)
    for path, flag, parse in (("server.client_qps", "client-qps", _float), ("server.client_burst", "client-burst", _int)):
        if path in findings:
            # Reported as written: Velero refuses it or reads it differently (the finding says how).
            put(path, findings[path]["value"], "server flag --" + flag)
        else:
            flag_or_default(path, flag, parse, defaults.get(path))
    flag_or_default("server.client_page_size", "client-page-size", _int,
                    defaults.get("server.client_page_size", DEFAULT_PAGE_SIZE))
    if server_container is not None:
        put("server.resources", _resources(server_container), "server Deployment")

    maintenance_global = (maintenance_cm or {}).get("global") or {}
    in_server = release is not None and defaults.get("maintenance.mechanism") == "in-server"
    if "podResources" in maintenance_global:
        put("maintenance.pod_resources", dict(maintenance_global["podResources"] or {}),
            "maintenance ConfigMap global.podResources")
    elif maintenance_job_resources(server_flags):
        put("maintenance.pod_resources", maintenance_job_resources(server_flags), "server flags --maintenance-job-*")
    elif release is not None and not in_server:
        put("maintenance.pod_resources", {field: value for field, value in
                                          _default_group(defaults, "maintenance.pod_resources").items()
                                          if not field.startswith("ephemeralStorage")},
            "Velero default (no requests or limits)")
    elif server_container is not None:
        server_resources = _resources(server_container) or {}
        put("maintenance.pod_resources", {
            "cpuRequest": server_resources["requests"].get("cpu", "0"),
            "memoryRequest": server_resources["requests"].get("memory", "0"),
            "cpuLimit": server_resources["limits"].get("cpu", "0"),
            "memoryLimit": server_resources["limits"].get("memory", "0")},
            "server Deployment (maintenance runs inside the server before 1.14)")
    for key, entry in sorted(((maintenance_cm or {}).get("repositories") or {}).items()):
        if isinstance(entry, dict) and "podResources" in entry:
            put(f"maintenance.repositories.{key}.pod_resources", dict(entry["podResources"] or {}),
                f"maintenance ConfigMap {key}.podResources")
    if "keepLatestMaintenanceJobs" in maintenance_global and _int(maintenance_global["keepLatestMaintenanceJobs"]) is not None:
        put("maintenance.keep_latest_jobs", _int(maintenance_global["keepLatestMaintenanceJobs"]),
            "maintenance ConfigMap global.keepLatestMaintenanceJobs")
    elif "keep-latest-maintenance-jobs" in server_flags and _int(server_flags["keep-latest-maintenance-jobs"]) is not None:
        put("maintenance.keep_latest_jobs", _int(server_flags["keep-latest-maintenance-jobs"]),
            "server flag --keep-latest-maintenance-jobs")
    elif defaults.get("maintenance.keep_latest_jobs") is not None:
        put("maintenance.keep_latest_jobs", defaults["maintenance.keep_latest_jobs"], "Velero default")
    frequency = server_flags.get("default-repo-maintain-frequency")
    if frequency and frequency not in ("0", "0s"):
        put("maintenance.frequency", frequency, "server flag --default-repo-maintain-frequency")
    elif defaults.get("maintenance.frequency") is not None:
        put("maintenance.frequency", defaults["maintenance.frequency"], "Velero default (kopia)")

    kopia = (backup_repository_cm or {}).get("kopia") or {}
    if "cacheLimitMB" in kopia and _int(kopia["cacheLimitMB"]) is not None:
        put("repository.cache_limit_mb", _int(kopia["cacheLimitMB"]), "backup-repository ConfigMap kopia.cacheLimitMB")
    elif defaults.get("repository.cache_limit_mb") is not None:
        put("repository.cache_limit_mb", defaults["repository.cache_limit_mb"], "Velero default")
    if kopia.get("fullMaintenanceInterval"):
        put("repository.full_maintenance_interval", kopia["fullMaintenanceInterval"],
            "backup-repository ConfigMap kopia.fullMaintenanceInterval")
    elif defaults.get("repository.full_maintenance_interval") is not None:
        put("repository.full_maintenance_interval", defaults["repository.full_maintenance_interval"], "Velero default")

    if node_agent_container is not None:
        put("node_agent.resources", _resources(node_agent_container), "node-agent DaemonSet")
    concurrency = ((node_agent_config or {}).get("loadConcurrency") or {}).get("globalConfig")
    if _int(concurrency) is not None:
        put("node_agent.load_concurrency", _int(concurrency), "node-agent ConfigMap loadConcurrency.globalConfig")
    elif node_agent_container is not None and defaults.get("node_agent.load_concurrency") is not None:
        put("node_agent.load_concurrency", defaults["node_agent.load_concurrency"], "Velero default")
    if node_agent_config and "podResources" in node_agent_config:
        put("node_agent.pod_resources", dict(node_agent_config["podResources"] or {}),
            "node-agent ConfigMap podResources")
    return settings


# --------------------------------------------------------------------------------------------
# Velero custom resources
# --------------------------------------------------------------------------------------------


def summarize_repository(repo: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    spec = repo.get("spec") or {}
    status = repo.get("status") or {}
    recent = [entry for entry in status.get("recentMaintenance") or [] if isinstance(entry, dict)]
    failures = [entry for entry in recent if entry.get("result") == "Failed"]
    last_failure = max(failures, key=lambda e: str(e.get("startTimestamp") or ""), default=None)
    return {
        "name": (repo.get("metadata") or {}).get("name"),
        "key": repository_config_key(repo),
        "volume_namespace": spec.get("volumeNamespace"),
        "backup_storage_location": spec.get("backupStorageLocation"),
        "repository_type": spec.get("repositoryType"),
        "maintenance_frequency": spec.get("maintenanceFrequency"),
        "phase": status.get("phase"),
        "message": status.get("message") or None,
        "last_maintenance_time": status.get("lastMaintenanceTime"),
        "recent_maintenance": recent,
        "recent_failures": len(failures),
        "last_failure_message": (last_failure or {}).get("message"),
    }


def summarize_bsl(bsl: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    spec = bsl.get("spec") or {}
    status = bsl.get("status") or {}
    object_storage = spec.get("objectStorage") or {}
    return {
        "name": (bsl.get("metadata") or {}).get("name"),
        "provider": spec.get("provider"),
        "bucket": object_storage.get("bucket"),
        "prefix": object_storage.get("prefix"),
        "default": bool(spec.get("default")),
        "access_mode": spec.get("accessMode") or "ReadWrite",
        "phase": status.get("phase"),
        "last_validation_time": status.get("lastValidationTime"),
    }


RETAINED_PHASES = ("Completed", "PartiallyFailed")


class BackupStats:
    """Streams Backup objects: phases, retained count and the observed backup rate."""

    WINDOW_SECONDS = 7 * 86400

    def __init__(self, now: float) -> None:
        self.now = now
        self.by_phase: dict[str, int] = {}
        self.retained = 0
        self.total = 0
        self._recent = 0
        self._oldest_recent: float | None = None
        self._newest_recent: float | None = None
        self.schedules: set[str] = set()

    def add(self, backup: t.Mapping[str, t.Any]) -> None:
        self.total += 1
        status = backup.get("status") or {}
        phase = str(status.get("phase") or "New")
        self.by_phase[phase] = self.by_phase.get(phase, 0) + 1
        meta = backup.get("metadata") or {}
        if phase in RETAINED_PHASES and not meta.get("deletionTimestamp"):
            self.retained += 1
        schedule = (meta.get("labels") or {}).get("velero.io/schedule-name")
        if schedule:
            self.schedules.add(str(schedule))
        started = parse_timestamp(status.get("startTimestamp") or meta.get("creationTimestamp"))
        # Rate of backups that wrote data (failed ones are retried by the next schedule run).
        if phase in RETAINED_PHASES and started is not None and \
                self.now - self.WINDOW_SECONDS <= started <= self.now + 300:
            self._recent += 1
            self._oldest_recent = started if self._oldest_recent is None else min(self._oldest_recent, started)
            self._newest_recent = started if self._newest_recent is None else max(self._newest_recent, started)

    def per_day(self) -> float | None:
        """Completed backups per day in the last 7 days: (n - 1) intervals between the oldest and newest
        start, so an hourly schedule with a 24h TTL reads 24, not 24 over 7 days."""
        if self._recent < 2 or self._oldest_recent is None or self._newest_recent is None:
            return None
        span = self._newest_recent - self._oldest_recent
        if span <= 0:
            return None
        return round((self._recent - 1) * 86400.0 / span, 3)

    def as_dict(self) -> dict[str, t.Any]:
        return {"total": self.total, "retained": self.retained, "by_phase": dict(sorted(self.by_phase.items())),
                "per_day": self.per_day(), "schedules": sorted(self.schedules)}


class ProtectedData:
    """Bytes actually protected: newest completed DataUpload / PodVolumeBackup per volume."""

    def __init__(self, default_bsl: str | None = None) -> None:
        self._volumes: dict[tuple[str, str, str], tuple[str, int, str]] = {}  # (kind, ns, volume) -> (ts, bytes, key)
        self._backups_per_repo: dict[str, set[str]] = {}
        self.data_uploads = 0
        self.pod_volume_backups = 0
        self.default_bsl = default_bsl

    def _add(self, kind: str, namespace: str, volume: str, when: str, size: t.Any, key: str, backup: str | None) -> None:
        if backup:
            self._backups_per_repo.setdefault(key, set()).add(backup)
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
            return
        slot = (kind, namespace, volume)
        previous = self._volumes.get(slot)
        if previous is None or when >= previous[0]:
            self._volumes[slot] = (when, int(size), key)

    def add_data_upload(self, du: t.Mapping[str, t.Any]) -> None:
        status = du.get("status") or {}
        if status.get("phase") != "Completed":
            return
        self.data_uploads += 1
        spec = du.get("spec") or {}
        namespace = str(spec.get("sourceNamespace", ""))
        bsl = str(spec.get("backupStorageLocation") or self.default_bsl or "default")
        labels = (du.get("metadata") or {}).get("labels") or {}
        self._add("DataUpload", namespace, str(spec.get("sourcePVC", "")),
                  str(status.get("completionTimestamp") or ""), (status.get("progress") or {}).get("totalBytes"),
                  config_key(namespace, bsl, "kopia"), labels.get("velero.io/backup-name"))

    def add_pod_volume_backup(self, pvb: t.Mapping[str, t.Any]) -> None:
        status = pvb.get("status") or {}
        if status.get("phase") != "Completed":
            return
        self.pod_volume_backups += 1
        spec = pvb.get("spec") or {}
        pod = spec.get("pod") or {}
        namespace = str(pod.get("namespace", ""))
        bsl = str(spec.get("backupStorageLocation") or self.default_bsl or "default")
        labels = (pvb.get("metadata") or {}).get("labels") or {}
        volume = f"{pod.get('name', '')}/{spec.get('volume', '')}"
        self._add("PodVolumeBackup", namespace, volume, str(status.get("completionTimestamp") or ""),
                  (status.get("progress") or {}).get("totalBytes"),
                  config_key(namespace, bsl, str(spec.get("uploaderType") or "kopia")),
                  labels.get("velero.io/backup-name"))

    @property
    def volumes(self) -> int:
        return len(self._volumes)

    def total_bytes(self) -> int:
        return sum(entry[1] for entry in self._volumes.values())

    def per_repository(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for _when, size, key in self._volumes.values():
            totals[key] = totals.get(key, 0) + size
        return totals

    def largest_repository(self) -> tuple[str, int] | None:
        totals = self.per_repository()
        if not totals:
            return None
        key = max(sorted(totals), key=lambda k: totals[k])
        return key, totals[key]

    def max_backups_per_repository(self) -> int | None:
        counts = [len(names) for names in self._backups_per_repo.values()]
        return max(counts) if counts else None


# --------------------------------------------------------------------------------------------
# Sizing inputs
# --------------------------------------------------------------------------------------------


def sizing_cluster(*, namespaces: int, objects: int, resource_types: int, namespaced_resource_types: int,
                   api_groups: int | None, aggregated_discovery: bool | None, nodes: int | None, pods: int | None,
                   volumes: int | None) -> dict[str, t.Any]:
    """``cluster`` exactly as the sizing inputs accept it; unknown or out-of-range values are left out."""
    cluster: dict[str, t.Any] = {"namespaces": namespaces, "objects": objects, "resource_types": resource_types,
                                 "namespaced_resource_types": namespaced_resource_types}
    if api_groups:
        cluster["api_groups"] = api_groups
    if aggregated_discovery is not None:
        cluster["aggregated_discovery"] = aggregated_discovery
    if nodes:
        cluster["nodes"] = nodes
    if pods is not None:
        cluster["pods"] = pods
    if volumes is not None:
        cluster["volumes"] = volumes
    return cluster


def sizing_data(*, volume_bytes: int, repositories: int | None, largest: tuple[str | None, int] | None,
                backups_retained: int | None, backups_per_day: float | None) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {"volume_bytes": int(volume_bytes)}
    if repositories is not None:
        data["repositories"] = repositories
    if largest is not None:
        key, size = largest
        data["largest_repository_bytes"] = min(int(size), int(volume_bytes))
        if key and re.match(r"^[-._a-zA-Z0-9]+$", key) and len(key) <= 253:
            data["largest_repository_key"] = key
    if backups_retained:
        data["backups_retained"] = backups_retained
    if backups_per_day and backups_per_day > 0:
        data["backups_per_day"] = min(float(backups_per_day), 1440.0)
    return data


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------


def _quantity_equal(a: t.Any, b: t.Any, cpu: bool) -> bool:
    if a in (None, "") and b in (None, "", "0", 0):
        return True
    if b in (None, "") and a in ("0", 0):
        return True
    try:
        if cpu:
            return parse_cpu_millicores(a, "current") == parse_cpu_millicores(b, "recommended")
        return parse_memory(a, "current") == parse_memory(b, "recommended")
    except ValueError:
        return str(a) == str(b)


_CPU_KEYS = ("cpu", "cpuRequest", "cpuLimit")


def _same(current: t.Any, recommended: t.Any, key: str = "") -> bool:
    if isinstance(recommended, dict) or isinstance(current, dict):
        current_map = current if isinstance(current, dict) else {}
        recommended_map = recommended if isinstance(recommended, dict) else {}
        return all(_same(current_map.get(k), recommended_map.get(k), k)
                   for k in set(current_map) | set(recommended_map))
    if key in _CPU_KEYS or key.startswith("cpu"):
        return _quantity_equal(current, recommended, cpu=True)
    if key in ("memory", "memoryRequest", "memoryLimit") or key.startswith(("memory", "ephemeralStorage")):
        return _quantity_equal(current, recommended, cpu=False)
    if isinstance(current, (int, float)) and isinstance(recommended, (int, float)) and \
            not isinstance(current, bool) and not isinstance(recommended, bool):
        return math.isclose(float(current), float(recommended), rel_tol=1e-9, abs_tol=1e-9)
    if key == "frequency" and isinstance(current, str) and isinstance(recommended, str):
        try:
            return parse_duration(current, "current") == parse_duration(recommended, "recommended")
        except ValueError:
            return current == recommended
    return current == recommended


def _recommended_paths(recommendation: t.Mapping[str, t.Any]) -> list[str]:
    paths = ["server.client_qps", "server.client_burst", "server.client_page_size", "server.resources",
             "maintenance.pod_resources", "maintenance.keep_latest_jobs", "maintenance.frequency",
             "repository.cache_limit_mb", "repository.full_maintenance_interval",
             "node_agent.resources", "node_agent.pod_resources", "node_agent.load_concurrency"]
    repositories = nested_get(recommendation, "maintenance.repositories") or {}
    if isinstance(repositories, dict):
        paths += [f"maintenance.repositories.{key}.pod_resources" for key in sorted(repositories)]
    return paths


def _flat_lookup(flat: t.Mapping[str, t.Any], path: str) -> t.Any:
    """``velero_defaults`` / ``explanations`` are keyed by leaf paths; rebuild the value of ``path``."""
    if path in flat:
        return flat[path]
    prefix = path + "."
    nested: dict[str, t.Any] = {}
    for key in sorted(flat):
        if not key.startswith(prefix):
            continue
        node = nested
        parts = key[len(prefix):].split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = flat[key]
    return nested or None


def _explanation(explanations: t.Mapping[str, t.Any], path: str) -> str | None:
    if path in explanations:
        return str(explanations[path])
    texts: list[str] = []
    for key in sorted(explanations):
        if key.startswith(path + ".") and str(explanations[key]) not in texts:
            texts.append(str(explanations[key]))
    return "; ".join(texts) or None


def drift(current: t.Mapping[str, t.Mapping[str, t.Any]], recommendation: t.Mapping[str, t.Any]) -> list[dict]:
    """Settings whose current value differs from the recommendation (recommended ``null`` = leave as is)."""
    flat_defaults = recommendation.get("velero_defaults") or {}
    explanations = recommendation.get("explanations") or {}
    defaults = {path: _flat_lookup(flat_defaults, path) for path in _recommended_paths(recommendation)}
    result = []
    for path in _recommended_paths(recommendation):
        recommended = nested_get(recommendation, path)
        if recommended is None:
            continue
        entry = current.get(path)
        if entry is None and path.startswith("maintenance.repositories.") and "maintenance.pod_resources" in current:
            # No per-repository entry: Velero falls back to the global podResources (getJobConfig).
            fallback = current["maintenance.pod_resources"]
            entry = {"value": fallback["value"], "source": fallback["source"] + " (no per-repository entry)"}
        if entry is None:
            # Not observable (e.g. no node-agent) and nothing to compare against.
            default = defaults.get(path)
            if default is None:
                continue
            entry = {"value": default, "source": "Velero default"}
        if _same(entry["value"], recommended, path.rsplit(".", 1)[-1]):
            continue
        result.append({"setting": path, "current": entry["value"], "recommended": recommended,
                       "velero_default": defaults.get(path), "source": entry["source"],
                       "explanation": _explanation(explanations, path)})
    return result


def flag_drift(findings: t.Mapping[str, t.Mapping[str, t.Any]], entries: list[dict],
               recommendation: t.Mapping[str, t.Any] | None, release: t.Any) -> list[dict]:
    """``entries`` (drift) with a ``note`` on every finding of ``client_flag_findings``; a finding the
    recommendation did not flag (or without any recommendation) is added as its own entry."""
    result = [dict(entry) for entry in entries]
    by_setting = {entry["setting"]: entry for entry in result}
    release_defaults: t.Mapping[str, t.Any] = release.defaults() if release is not None else {}
    defaults = {path: release_defaults.get(path) for path in ("server.client_qps", "server.client_burst")}
    for path, finding in sorted(findings.items()):
        entry = by_setting.get(path)
        if entry is None:
            recommended = nested_get(recommendation, path) if recommendation else None
            entry = {"setting": path, "current": finding["value"], "recommended": recommended,
                     "velero_default": defaults.get(path), "source": "server flag --" + path.split(".")[1].replace(
                         "_", "-"), "explanation": None}
            result.append(entry)
        entry["note"] = finding["note"]
        entry["refused_by_velero"] = bool(finding["refused"])
    return result
