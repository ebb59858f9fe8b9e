# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Repository maintenance: the pure decisions behind the ``repo_maintenance`` module.

Everything here works on plain dicts (Kubernetes objects as the API returns them) and numbers;
nothing talks to a cluster. ``_maintenance_run.py`` fetches objects, calls these functions and
applies what they plan. Facts come from ``velero.md`` sections 3-5 (maintenance internals) and
``kopia.md`` sections 1.3-1.5 and 2.2-2.3; the short comments name the Velero code they mirror.

Pure Python, no Ansible imports; invalid input raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
import re
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import describe_value as _describe
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get, string_list
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import (
    MEMORY_FORM,
    MiB,
    format_memory,
    parse_cpu_millicores,
    parse_memory,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import (
    SUPPORTED_MINORS_TEXT,
    VeleroRelease,
    release,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import (
    MAINTENANCE_JOB_FLAGS,
    SERVER_DEPLOYMENT_NAME,
    maintenance_job_resources,
    parse_timestamp,
    repository_config_key,
)

# Outcomes of one repository (public contract of the module) and of one maintenance attempt.
OUTCOMES = ("succeeded", "failed", "oom_cap_reached", "timed_out", "skipped")
ATTEMPT_OUTCOMES = ("succeeded", "failed", "oom_killed", "evicted", "timed_out")
# Attempts that ran out of memory: OOMKilled at the limit, or evicted because the node ran low on memory
# (the kubelet evicts pods using more than their request first, so a higher rung helps both).
MEMORY_FAILURES = ("oom_killed", "evicted")

# pkg/repository/maintenance/maintenance.go (1.14-1.18.1).
REPO_NAME_LABEL = "velero.io/repo-name"
GLOBAL_CONFIG_KEY = "global"
TERMINATION_LOG_INDICATOR = "Repo maintenance error: "
JOB_NAME_POD_LABEL = "job-name"  # set by the Kubernetes Job controller; Velero's getResultFromJob lists pods by it
DNS1035_LABEL_MAX_LENGTH = 63
# Helm chart 10.1.0+ default name of the maintenance ConfigMap (repositoryConfigData.name).
DEFAULT_CONFIGMAP_NAME = "velero-repo-maintenance"
CONFIGMAP_FLAG = "--repo-maintenance-job-configmap"
# kopia repo/content/content_manager_lock_free.go indexBlobCompactionWarningThreshold.
INDEX_BLOB_WARNING_THRESHOLD = 1000
KOPIA_FULL_CYCLE_HOURS = 24  # kopia maintenance DefaultParams FullCycle
FULL_MAINTENANCE_INTERVALS = {"normalGC": 24, "fastGC": 12, "eagerGC": 6}  # repo_options.go (1.16+)

POD_RESOURCE_FIELDS = ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit")
EPHEMERAL_FIELDS = ("ephemeralStorageRequest", "ephemeralStorageLimit")
FLAG_FOR_FIELD = MAINTENANCE_JOB_FLAGS  # 1.14-1.16 server flags per podResources field
# Chart keys that render those flags (eras with the "chart-keys" maintenance route).
HELM_KEY_FOR_FIELD = {
    "cpuRequest": eras.MAINTENANCE_REQUESTS + ".cpu",
    "cpuLimit": eras.MAINTENANCE_LIMITS + ".cpu",
    "memoryRequest": eras.MAINTENANCE_REQUESTS + ".memory",
    "memoryLimit": eras.MAINTENANCE_LIMITS + ".memory",
}

TRIGGER_METHODS = ("last_maintenance_time", "frequency")
# Short enough that a repository maintained a minute ago is due again; restored as soon as the Job starts.
TRIGGER_FREQUENCY = "1m"
ON_BUSY_CHOICES = ("wait", "skip")
CONFIG_SCOPES = ("repository", "global")
MEMORY_STEP_MIN = 1.1
MEMORY_STEP_MAX = 4.0

# Phases during which an operation reads or writes the repository (velero.io/v1 Backup/Restore types).
_ACTIVE_PHASES = frozenset(
    ("InProgress", "WaitingForPluginOperations", "WaitingForPluginOperationsPartiallyFailed", "Finalizing",
     "FinalizingPartiallyFailed")
)
_DELETION_DONE_PHASE = "Processed"

KOPIA_AUTO_MODE = (
    "Velero always runs kopia maintenance in auto mode (lib_repo.go: ModeAuto, never forced): kopia runs a full "
    "cycle (snapshot garbage collection, content rewrite, blob deletion) only when its next full time has passed, "
    "by default every 24h, and a quick cycle (index compaction, epoch advance) otherwise. There is no "
    f"'velero repo maintenance run --full': 'velero repo' has only 'get' in every release {SUPPORTED_MINORS_TEXT}. "
    "A triggered run is therefore full only if the 24h full cycle is due; on Velero 1.16+ the backup-repository setting "
    "fullMaintenanceInterval (normalGC 24h, fastGC 12h, eagerGC 6h) changes that cycle."
)


# --------------------------------------------------------------------------------------------- options

@dataclasses.dataclass(frozen=True)
class Options:
    """Validated module options (connection options are handled by ``_kube``)."""

    velero_namespace: str = "velero"
    repositories: tuple[str, ...] = ()
    volume_namespaces: tuple[str, ...] = ()
    pod_resources: dict[str, str] | None = None
    memory_cap: int | None = None
    memory_step: float = 1.5
    timeout: float = 3600.0
    poll_interval: float = 10.0
    trigger: str = "last_maintenance_time"
    on_busy: str = "wait"
    busy_timeout: float = 1800.0
    config_scope: str = "repository"
    configmap_name: str = DEFAULT_CONFIGMAP_NAME
    velero_version: str | None = None
    recommendation: dict[str, t.Any] | None = None
    sizing: dict[str, t.Any] | None = None


def _positive_number(value: t.Any, field: str, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{field}: expected a positive number of seconds, got {_describe(value)}") from None
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{field}: expected a positive number of seconds, got {_describe(value)}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{field}: expected at most {maximum:g}, got {_describe(value)}")
    return number


def _choice(value: t.Any, field: str, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise ValueError(f"{field}: expected one of {', '.join(choices)}, got {_describe(value)}")
    return t.cast(str, value)


def parse_options(params: t.Mapping[str, t.Any]) -> Options:
    """Validate the module's maintenance options (everything except the connection options)."""
    namespace = params.get("velero_namespace") or "velero"
    if not isinstance(namespace, str):
        raise ValueError(f"velero_namespace: expected a namespace name, got {_describe(namespace)}")
    step = params.get("memory_step")
    step = 1.5 if step is None else step
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(float(step)):
        raise ValueError(f"memory_step: expected a factor between {MEMORY_STEP_MIN} and {MEMORY_STEP_MAX}, got {_describe(step)}")
    if not MEMORY_STEP_MIN <= float(step) <= MEMORY_STEP_MAX:
        raise ValueError(f"memory_step: expected a factor between {MEMORY_STEP_MIN} and {MEMORY_STEP_MAX}, got {step}")
    cap = params.get("memory_cap")
    cap_bytes = None
    if cap is not None and cap != "":
        cap_bytes = parse_memory(cap, "memory_cap")
        if cap_bytes < MiB:
            raise ValueError(f"memory_cap: expected {MEMORY_FORM} of at least 1Mi, got {_describe(cap)}")
    pod_resources = params.get("pod_resources")
    resources = None
    if pod_resources:
        resources = normalize_pod_resources(pod_resources, "pod_resources", complete=False)
        limit = resources.get("memoryLimit")
        if cap_bytes is not None and limit is not None and memory_bytes(limit) > cap_bytes:
            raise ValueError(
                f"pod_resources.memoryLimit: {limit} is above memory_cap {cap}; the ladder starts at the memory limit "
                f"and never exceeds the cap")
    timeout = _positive_number(params.get("timeout", 3600) if params.get("timeout") is not None else 3600, "timeout")
    poll = _positive_number(params.get("poll_interval") if params.get("poll_interval") is not None else 10, "poll_interval")
    if poll > timeout:
        raise ValueError(f"poll_interval: {poll:g} is longer than timeout {timeout:g}; expected poll_interval <= timeout")
    busy_timeout = params.get("busy_timeout")
    busy = _positive_number(busy_timeout if busy_timeout is not None else 1800, "busy_timeout")
    configmap_name = params.get("configmap_name") or DEFAULT_CONFIGMAP_NAME
    if not isinstance(configmap_name, str) or not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", configmap_name):
        raise ValueError(f"configmap_name: expected a Kubernetes object name such as {DEFAULT_CONFIGMAP_NAME}, got {_describe(configmap_name)}")
    if params.get("sizing") is not None and not isinstance(params.get("sizing"), dict):
        raise ValueError(f"sizing: expected a dictionary, got {_describe(params.get('sizing'))}")
    version = params.get("velero_version")
    if version not in (None, ""):
        release(version, "velero_version")  # "velero_version: ... supported versions are 1.12.0 to 1.18.x"
    return Options(
        velero_namespace=namespace,
        repositories=string_list(params.get("repositories"), "repositories", "name"),
        volume_namespaces=string_list(params.get("volume_namespaces"), "volume_namespaces", "name"),
        pod_resources=resources,
        memory_cap=cap_bytes,
        memory_step=float(step),
        timeout=timeout,
        poll_interval=poll,
        trigger=_choice(params.get("trigger"), "trigger", TRIGGER_METHODS, "last_maintenance_time"),
        on_busy=_choice(params.get("on_busy"), "on_busy", ON_BUSY_CHOICES, "wait"),
        busy_timeout=busy,
        config_scope=_choice(params.get("config_scope"), "config_scope", CONFIG_SCOPES, "repository"),
        configmap_name=configmap_name,
        velero_version=version or None,
        recommendation=unwrap_recommendation(params.get("recommendation")),
        sizing=params.get("sizing") or None,
    )


def unwrap_recommendation(value: t.Any) -> dict[str, t.Any] | None:
    """The sizing recommendation, given either as itself or as the whole task result registered from
    ``velero_ops.tuning.sizing`` (``{changed, recommendation, ...}``); anything else is an error rather
    than silently ignored."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"recommendation: expected a dictionary, got {_describe(value)}")
    if "maintenance" not in value and isinstance(value.get("recommendation"), dict):
        value = value["recommendation"]
    if not isinstance(value.get("maintenance"), dict):
        keys = ", ".join(sorted(str(k) for k in value)) or "none"
        raise ValueError("recommendation: expected the recommendation of velero_ops.tuning.sizing (a dictionary with "
                         "a 'maintenance' key) or the task result registered from it (its 'recommendation' key), "
                         f"got a dictionary with keys {keys}")
    return dict(value)


# --------------------------------------------------------------------------------------------- pod resources

def memory_bytes(value: t.Any, field: str = "memoryLimit") -> int:
    """Bytes of a memory quantity; ``0`` (Velero's "unbounded") stays 0."""
    return parse_memory(value, field)


def normalize_pod_resources(value: t.Any, field: str, *, complete: bool = True,
                            ephemeral_allowed: bool = True) -> dict[str, str]:
    """Validate a ``podResources`` mapping and return it with string quantities.

    ``complete=True`` fills missing cpu/memory fields with ``"0"``: Velero parses all four whenever
    ``podResources`` is present and an empty string stops the Job from being created (velero.md 3.3).
    Requests above bounded limits are rejected, as Kubernetes would reject the pod.
    """
    if not isinstance(value, dict):
        raise ValueError(f"{field}: expected a dictionary with {', '.join(POD_RESOURCE_FIELDS)}, got {_describe(value)}")
    allowed = POD_RESOURCE_FIELDS + (EPHEMERAL_FIELDS if ephemeral_allowed else ())
    result: dict[str, str] = {}
    for key, raw in value.items():
        if key not in allowed:
            raise ValueError(f"{field}.{key}: unknown field; accepted fields are {', '.join(allowed)}")
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(f"{field}.{key}: expected a quantity string, got {_describe(raw)}")
        text = str(raw).strip()
        if key.startswith("cpu"):
            parse_cpu_millicores(text, f"{field}.{key}")
        else:
            parse_memory(text, f"{field}.{key}")
        result[key] = text
    if complete:
        for key in POD_RESOURCE_FIELDS:
            result.setdefault(key, "0")
    for request, limit in (("cpuRequest", "cpuLimit"), ("memoryRequest", "memoryLimit"),
                           ("ephemeralStorageRequest", "ephemeralStorageLimit")):
        if request in result and limit in result:
            parse = parse_cpu_millicores if request.startswith("cpu") else parse_memory
            low, high = parse(result[request], f"{field}.{request}"), parse(result[limit], f"{field}.{limit}")
            if high and low > high:
                raise ValueError(f"{field}.{request}: {result[request]} is above {field}.{limit} {result[limit]}; "
                                 f"a request must not exceed its limit")
    return {key: result[key] for key in allowed if key in result}


def render_memory(num_bytes: int) -> str:
    """Exact memory quantity: ``1536Mi``/``2Gi`` when whole mebibytes, else plain bytes."""
    if num_bytes <= 0:
        return "0"
    if num_bytes % MiB == 0:
        return format_memory(num_bytes)
    return str(num_bytes)


def _round_up_mib(num_bytes: float) -> int:
    return int(math.ceil(num_bytes / MiB)) * MiB


def memory_ladder(start: int, step: float, cap: int | None) -> list[int]:
    """Memory limits (bytes) to try in order: ``start``, then x``step`` rounded up to whole Mi, capped.

    Strictly increasing, never above ``cap``, finite: each rung is at least ``step`` times the
    previous one or equals the cap, and the ladder stops at the cap. Without a cap there is no
    retry: the ladder is just ``[start]``.
    """
    if start <= 0:
        raise ValueError(f"memoryLimit: the memory ladder needs a bounded starting limit, got {start}")
    if not MEMORY_STEP_MIN <= step <= MEMORY_STEP_MAX:
        raise ValueError(f"memory_step: expected a factor between {MEMORY_STEP_MIN} and {MEMORY_STEP_MAX}, got {step}")
    if cap is None:
        return [start]
    if cap < start:
        raise ValueError(f"memory_cap: {render_memory(cap)} is below the starting memory limit {render_memory(start)}")
    rungs = [start]
    while rungs[-1] < cap:
        rungs.append(min(_round_up_mib(math.ceil(rungs[-1] * step)), cap))
    return rungs


def resources_for_limit(base: t.Mapping[str, str], limit: int) -> dict[str, str]:
    """``base`` with memoryLimit = ``limit`` and memoryRequest scaled by the same factor (never above the limit)."""
    result = dict(base)
    old_limit = memory_bytes(base.get("memoryLimit", "0"))
    request = memory_bytes(base.get("memoryRequest", "0"), "memoryRequest")
    result["memoryLimit"] = render_memory(limit)
    if request and old_limit:
        scaled = min(_round_up_mib(request * limit / old_limit), limit)
        result["memoryRequest"] = render_memory(scaled)
    elif request > limit:
        result["memoryRequest"] = render_memory(limit)
    return result


def cap_resources(resources: t.Mapping[str, str], cap: int | None) -> tuple[dict[str, str], str | None]:
    """Clamp a starting configuration to the cap; returns the resources and a note when clamped."""
    limit = memory_bytes(resources.get("memoryLimit", "0"))
    if cap is None or not limit or limit <= cap:
        return dict(resources), None
    return resources_for_limit(resources, cap), (
        f"starting memory limit {resources.get('memoryLimit')} is above memory_cap {render_memory(cap)}; started at the cap")


# --------------------------------------------------------------------------------------------- names

def config_key(repository: t.Mapping[str, t.Any]) -> str:
    """Per-repository key of the maintenance ConfigMap: ``<volumeNamespace>-<bsl>-<repoType>``, verbatim."""
    return repository_config_key(repository)


def repo_name_label(name: str, release: VeleroRelease) -> str:
    """Value of ``velero.io/repo-name`` on maintenance Jobs: the name, or from 1.18.0 its SHA3-224 hex
    digest when longer than 63 characters (``label.ReturnNameOrHash``, PR #9350)."""
    if len(name) > DNS1035_LABEL_MAX_LENGTH and release.at_least(18, 0):
        return hashlib.sha3_224(name.encode("utf-8")).hexdigest()
    return name


def label_problem(name: str, release: VeleroRelease) -> str | None:
    if len(name) > DNS1035_LABEL_MAX_LENGTH and not release.at_least(18, 0):
        return (f"the repository name is {len(name)} characters long; Velero {release.text} uses it unhashed as the "
                f"{REPO_NAME_LABEL} label value (max 63), so its maintenance Job cannot be created; Velero 1.18.0+ "
                f"hashes long names (PR #9350)")
    return None


# --------------------------------------------------------------------------------------------- server Deployment

def flag_resources(flags: t.Mapping[str, str]) -> dict[str, str]:
    """Maintenance Job resources from 1.14-1.16 server flags (``parse_flags`` names, without dashes;
    default "0" = unbounded)."""
    resources = maintenance_job_resources(flags) or {}
    return {field: resources.get(field, "0") for field in POD_RESOURCE_FIELDS}


def deployment_name_problem(deployment_name: str, release: VeleroRelease) -> str:
    return (
        f"the Velero server Deployment is named '{deployment_name}', but Velero {release.text} builds maintenance Jobs "
        f"from the Deployment named exactly '{SERVER_DEPLOYMENT_NAME}' (hard-coded from 1.14 on, issue #7987), so "
        f"every maintenance Job fails to start. Helm charts "
        f"{eras.describe_chart_ranges(lambda era: not era.deployment_named_velero)} name the Deployment after the "
        f"release ('<release>-velero' unless the release name contains 'velero'): install with release name 'velero' "
        f"or set fullnameOverride: velero, or upgrade to chart "
        f"{eras.describe_chart_ranges(lambda era: era.deployment_named_velero)}, which always names it 'velero'.")


def server_flags_chart_advice(release: VeleroRelease) -> str:
    """Where the charts that ship this Velero put the --maintenance-job-* flags (from the era table)."""
    minor = release.version[1]
    keys = eras.describe_chart_ranges(lambda era: era.velero_minor == minor and era.maintenance == "chart-keys")
    extra_args = eras.describe_chart_ranges(lambda era: era.velero_minor == minor and era.maintenance == "server-flags"
                                            and era.server_extra_args is not None)
    parts = ([f"Helm chart {keys}: the keys below"] if keys else []) + (
        [f"chart {extra_args}: {eras.SERVER_EXTRA_ARGS}"] if extra_args else [])
    return "; ".join(parts) or "the server's command line"


def configmap_chart_advice() -> str:
    """The charts that render the maintenance ConfigMap from values (from the era table)."""
    return f"Helm chart {eras.describe_chart_ranges(lambda era: era.maintenance == 'config-data')}"


def in_server_explanation(release: VeleroRelease, peak_memory: str | None) -> str:
    size = (f" The sizing model predicts a maintenance peak of about {peak_memory}: give the velero Deployment at "
            f"least that much memory on top of what the server itself needs.") if peak_memory else ""
    return (
        f"Velero {release.text} runs repository maintenance inside the velero server pod (no Job, no maintenance "
        f"resources to set). Size the velero Deployment's memory instead (Helm 'resources.limits.memory'; "
        f"'velero install --velero-pod-mem-limit').{size} Velero 1.14+ moves maintenance into a Job that this module "
        f"can size, trigger and recover.")


# --------------------------------------------------------------------------------------------- maintenance ConfigMap

def parse_config_entry(configmap: t.Mapping[str, t.Any] | None, key: str) -> dict[str, t.Any] | None:
    """The JSON object stored under ``key``; None when absent. Invalid JSON raises ValueError."""
    data = (configmap or {}).get("data") or {}
    if key not in data:
        return None
    try:
        value = json.loads(data[key])
    except (TypeError, ValueError):
        raise ValueError(f"ConfigMap key {key}: expected a JSON object as Velero reads it, got {_describe(data[key])}") from None
    if not isinstance(value, dict):
        raise ValueError(f"ConfigMap key {key}: expected a JSON object, got {_describe(value)}")
    return value


def current_pod_resources(configmap: t.Mapping[str, t.Any] | None, key: str) -> tuple[dict[str, str] | None, str | None]:
    """podResources Velero would use for a repository: its own key, else ``global`` (getJobConfig)."""
    for source in (key, GLOBAL_CONFIG_KEY):
        entry = parse_config_entry(configmap, source)
        if entry and isinstance(entry.get("podResources"), dict):
            return {k: str(v) for k, v in entry["podResources"].items() if v is not None}, source
    return None, None


def is_helm_managed(obj: t.Mapping[str, t.Any] | None) -> bool:
    labels = nested_get(obj, "metadata.labels", {}) or {}
    annotations = nested_get(obj, "metadata.annotations", {}) or {}
    return labels.get("app.kubernetes.io/managed-by") == "Helm" or "meta.helm.sh/release-name" in annotations


def config_entry_update(configmap: t.Mapping[str, t.Any] | None, key: str,
                        resources: t.Mapping[str, str]) -> tuple[dict[str, t.Any] | None, dict[str, t.Any]]:
    """Old and new JSON object for ``key`` with ``podResources`` replaced, other fields kept."""
    before = parse_config_entry(configmap, key)
    after = dict(before or {})
    after["podResources"] = dict(resources)
    return before, after


def encode_entry(entry: t.Mapping[str, t.Any]) -> str:
    return json.dumps(entry, indent=2, sort_keys=True)


# --------------------------------------------------------------------------------------------- repositories

def repository_view(repository: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the report lists for every BackupRepository."""
    spec = repository.get("spec") or {}
    status = repository.get("status") or {}
    recent = status.get("recentMaintenance") or []
    return {
        "name": nested_get(repository, "metadata.name"),
        "volume_namespace": spec.get("volumeNamespace"),
        "backup_storage_location": spec.get("backupStorageLocation"),
        "repository_type": spec.get("repositoryType"),
        "maintenance_frequency": spec.get("maintenanceFrequency"),
        "phase": status.get("phase"),
        "last_maintenance_time": status.get("lastMaintenanceTime"),
        "recent_maintenance": [dict(entry) for entry in recent],
        "message": status.get("message") or "",
    }


def _listing(values: t.Iterable[str], limit: int = 20) -> str:
    ordered = sorted(set(values))
    if not ordered:
        return "none"
    shown = ", ".join(ordered[:limit])
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def select_repositories(repositories: t.Sequence[t.Mapping[str, t.Any]], names: t.Sequence[str],
                        namespaces: t.Sequence[str], velero_namespace: str = "velero") -> list[dict[str, t.Any]]:
    """Repositories matching any given name or volume namespace (all when neither is given), sorted by name.

    A name or volume namespace that matches nothing is a mistake (a typo would otherwise pass as "nothing to
    do"): ValueError naming it and what exists.
    """
    known = {nested_get(r, "metadata.name"): dict(r) for r in repositories}
    if not names and not namespaces:
        return [known[name] for name in sorted(known)]
    problems = []
    missing = [name for name in names if name not in known]
    if missing:
        problems.append(f"no BackupRepository named {', '.join(repr(n) for n in missing)} in namespace "
                        f"{velero_namespace}; found: {_listing(known)}")
    volume_namespaces = {str(nested_get(repo, "spec.volumeNamespace", "")) for repo in known.values()}
    unmatched = [ns for ns in namespaces if ns not in volume_namespaces]
    if unmatched:
        problems.append(f"no BackupRepository with volume namespace {', '.join(repr(n) for n in unmatched)} in "
                        f"namespace {velero_namespace}; found volume namespaces: {_listing(volume_namespaces)}")
    if problems:
        field = "repositories" if missing else "volume_namespaces"
        raise ValueError(f"{field}: " + "; ".join(problems))
    chosen = {name for name in names if name in known}
    chosen.update(name for name, repo in known.items() if nested_get(repo, "spec.volumeNamespace") in namespaces)
    return [known[name] for name in sorted(chosen)]


def bsl_problem(bsl: t.Mapping[str, t.Any] | None, name: str) -> str | None:
    """Why maintenance cannot run against this BackupStorageLocation, or None."""
    if bsl is None:
        return f"BackupStorageLocation '{name}' does not exist"
    if nested_get(bsl, "spec.accessMode") == "ReadOnly":
        return (f"BackupStorageLocation '{name}' is ReadOnly; Velero skips maintenance of its repositories "
                f"(1.16+, issue #8238) and maintenance must not write to it")
    phase = nested_get(bsl, "status.phase")
    if phase != "Available":
        return f"BackupStorageLocation '{name}' is {phase or 'not validated yet'}, not Available"
    return None


def repository_phase_problem(repository: t.Mapping[str, t.Any]) -> str | None:
    phase = nested_get(repository, "status.phase")
    if phase != "Ready":
        message = nested_get(repository, "status.message", "")
        return f"BackupRepository phase is {phase or 'New'}, not Ready" + (f": {message}" if message else "")
    return None


def _namespace_covered(namespace: str, included: t.Any, excluded: t.Any) -> bool:
    included = [str(p) for p in (included or [])]
    excluded = [str(p) for p in (excluded or [])]
    if included and not any(p == "*" or fnmatch.fnmatchcase(namespace, p) for p in included):
        return False
    return not any(fnmatch.fnmatchcase(namespace, p) for p in excluded)


def _backup_touches(backup: t.Mapping[str, t.Any] | None, namespace: str, bsl: str) -> bool:
    if backup is None:
        return True  # unknown backup: assume it may use the repository
    location = nested_get(backup, "spec.storageLocation")
    if location and location != bsl:
        return False
    return _namespace_covered(namespace, nested_get(backup, "spec.includedNamespaces"),
                              nested_get(backup, "spec.excludedNamespaces"))


def busy_operations(repository: t.Mapping[str, t.Any], backups: t.Sequence[t.Mapping[str, t.Any]],
                    restores: t.Sequence[t.Mapping[str, t.Any]],
                    deletions: t.Sequence[t.Mapping[str, t.Any]]) -> list[str]:
    """Backups, restores and backup deletions in progress that may use this repository.

    Conservative: a backup without a storage location (the default one) or an operation whose backup
    cannot be found counts as using it.
    """
    namespace = nested_get(repository, "spec.volumeNamespace", "")
    bsl = nested_get(repository, "spec.backupStorageLocation", "")
    by_name = {nested_get(b, "metadata.name"): b for b in backups}
    busy = []
    for backup in backups:
        phase = nested_get(backup, "status.phase")
        if phase in _ACTIVE_PHASES and _backup_touches(backup, namespace, bsl):
            busy.append(f"Backup {nested_get(backup, 'metadata.name')} ({phase})")
    for restore in restores:
        phase = nested_get(restore, "status.phase")
        if phase not in _ACTIVE_PHASES:
            continue
        source = by_name.get(nested_get(restore, "spec.backupName"))
        if _backup_touches(source, namespace, bsl) and _namespace_covered(
                namespace, nested_get(restore, "spec.includedNamespaces"), nested_get(restore, "spec.excludedNamespaces")):
            busy.append(f"Restore {nested_get(restore, 'metadata.name')} ({phase})")
    for deletion in deletions:
        phase = nested_get(deletion, "status.phase") or "New"
        if phase == _DELETION_DONE_PHASE:
            continue
        if _backup_touches(by_name.get(nested_get(deletion, "spec.backupName")), namespace, bsl):
            busy.append(f"DeleteBackupRequest {nested_get(deletion, 'metadata.name')} for backup "
                        f"{nested_get(deletion, 'spec.backupName')} ({phase})")
    return busy


def trigger_patch(repository: t.Mapping[str, t.Any], method: str) -> dict[str, t.Any] | None:
    """Merge patch that makes the repository due now; None when nothing needs to change.

    ``resourceVersion`` is part of the patch so a concurrent writer (Velero's controller) turns it into a
    409 instead of being overwritten; the caller re-reads and recomputes.
    """
    version = nested_get(repository, "metadata.resourceVersion")
    if method == "frequency":
        if nested_get(repository, "spec.maintenanceFrequency") == TRIGGER_FREQUENCY:
            return None
        patch: dict[str, t.Any] = {"spec": {"maintenanceFrequency": TRIGGER_FREQUENCY}}
    elif method == "last_maintenance_time":
        if nested_get(repository, "status.lastMaintenanceTime") is None:
            return None
        patch = {"status": {"lastMaintenanceTime": None}}
    else:
        raise ValueError(f"trigger: expected one of {', '.join(TRIGGER_METHODS)}, got {_describe(method)}")
    if version:
        patch["metadata"] = {"resourceVersion": version}
    return patch


def trigger_field(method: str) -> tuple[str, str]:
    """Where the trigger writes: ``("spec", "maintenanceFrequency")`` or ``("status", "lastMaintenanceTime")``."""
    return ("spec", "maintenanceFrequency") if method == "frequency" else ("status", "lastMaintenanceTime")


def trigger_value(method: str) -> t.Any:
    """The value the trigger writes (what a field still holds when a restore did not happen)."""
    return TRIGGER_FREQUENCY if method == "frequency" else None


def restore_body(method: str, original: t.Any) -> dict[str, t.Any] | None:
    """The merge patch that puts ``original`` back (no resourceVersion); None when the trigger replaced
    nothing that needs putting back (no previous lastMaintenanceTime, or the frequency was already the
    trigger's)."""
    if original == trigger_value(method):
        return None
    section, key = trigger_field(method)
    return {section: {key: original}}


def restore_patch(repository: t.Mapping[str, t.Any], method: str, original: t.Any) -> dict[str, t.Any] | None:
    """``restore_body`` with the repository's resourceVersion, if the trigger value is still in place (else
    None: Velero recorded a success since, or someone else changed the frequency)."""
    if nested_get(repository, trigger_field(method)) != trigger_value(method):
        return None
    patch = restore_body(method, original)
    version = nested_get(repository, "metadata.resourceVersion")
    if patch is not None and version:
        patch["metadata"] = {"resourceVersion": version}
    return patch


def result_recorded(current: t.Mapping[str, t.Any], baseline: t.Mapping[str, t.Any]) -> bool:
    """Whether Velero recorded a maintenance result on the repository since ``baseline`` was read.

    A result is a new ``status.recentMaintenance`` entry (1.16+; the list keeps the last 3, so a changed last
    entry counts too), a new non-empty ``status.message`` (1.14/1.15 failures, which name the Job), or a
    ``lastMaintenanceTime`` that is set and differs (a success). The trigger's own null is not a result, so
    the baseline can be read before the trigger is written.
    """
    before = baseline.get("status") or {}
    after = current.get("status") or {}
    recent_before = before.get("recentMaintenance") or []
    recent_after = after.get("recentMaintenance") or []
    if len(recent_after) != len(recent_before) or (recent_after and recent_after[-1] != recent_before[-1]):
        return True
    if after.get("message") and after.get("message") != before.get("message"):
        return True
    last = after.get("lastMaintenanceTime")
    return last is not None and last != before.get("lastMaintenanceTime")


def latest_recent_maintenance(repository: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    recent = nested_get(repository, "status.recentMaintenance", []) or []
    return dict(recent[-1]) if recent else None


# --------------------------------------------------------------------------------------------- Jobs and pods

@dataclasses.dataclass
class JobState:
    """Where one maintenance Job stands, from the Job and its pod."""

    phase: str  # pending | running | succeeded | failed | oom_killed | evicted
    job_name: str
    pod_name: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    termination_message: str | None = None
    pod_reason: str | None = None  # pod status.reason, e.g. Evicted
    pod_message: str | None = None  # pod status.message, e.g. "The node was low on resource: memory. ..."
    started: str | None = None
    completed: str | None = None
    memory_limit: str = "0"

    @property
    def finished(self) -> bool:
        return self.phase in ("succeeded", "failed") + MEMORY_FAILURES


def job_memory_limit(job: t.Mapping[str, t.Any]) -> str:
    containers = nested_get(job, "spec.template.spec.containers", []) or []
    for container in containers[:1]:
        return str(nested_get(container, "resources.limits.memory", "0"))
    return "0"


def _terminated_states(pod: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    states = []
    for status in nested_get(pod, "status.containerStatuses", []) or []:
        for key in ("state", "lastState"):
            terminated = nested_get(status, (key, "terminated"))
            if isinstance(terminated, dict):
                states.append(terminated)
    return states


def _condition_true(job: t.Mapping[str, t.Any], kind: str) -> bool:
    return any(c.get("type") == kind and str(c.get("status")) == "True"
               for c in nested_get(job, "status.conditions", []) or [])


# The kubelet's node-pressure eviction message: "The node was low on resource: memory. Threshold quantity: ..."
_MEMORY_PRESSURE = re.compile(r"low on resource:\s*memory", re.IGNORECASE)


def _pod_eviction(pod: t.Mapping[str, t.Any]) -> tuple[str | None, str | None, bool]:
    """(reason, message, memory pressure) of a pod the kubelet evicted; (None, None, False) otherwise.

    ``status.reason: Evicted`` with the kubelet's message; from Kubernetes 1.26 also the
    ``DisruptionTarget`` condition (reason ``TerminationByKubelet``) carries the message.
    """
    reason = nested_get(pod, "status.reason")
    message = nested_get(pod, "status.message")
    for condition in nested_get(pod, "status.conditions", []) or []:
        if condition.get("type") == "DisruptionTarget" and str(condition.get("status")) == "True" \
                and condition.get("reason") == "TerminationByKubelet":
            reason = reason or "Evicted"
            message = message or condition.get("message")
    if reason != "Evicted":
        return (str(reason) if reason else None), (str(message) if message else None), False
    text = str(message or "")
    return "Evicted", text or None, bool(_MEMORY_PRESSURE.search(text))


def classify_job(job: t.Mapping[str, t.Any], pods: t.Sequence[t.Mapping[str, t.Any]]) -> JobState:
    """Job status plus the pod's container termination reason (OOMKilled is only on the pod) and the pod's
    own ``status.reason``/``message`` (a node-pressure eviction is only there)."""
    state = JobState(phase="pending", job_name=str(nested_get(job, "metadata.name", "")),
                     started=nested_get(job, "status.startTime") or nested_get(job, "metadata.creationTimestamp"),
                     completed=nested_get(job, "status.completionTime"), memory_limit=job_memory_limit(job))
    oom = None
    memory_evicted = False
    for pod in pods:
        state.pod_name = nested_get(pod, "metadata.name")
        for terminated in _terminated_states(pod):
            state.reason = terminated.get("reason") or state.reason
            state.exit_code = terminated.get("exitCode", state.exit_code)
            state.termination_message = terminated.get("message") or state.termination_message
            state.completed = state.completed or terminated.get("finishedAt")
            if terminated.get("reason") == "OOMKilled":
                oom = terminated
        pod_reason, pod_message, memory_pressure = _pod_eviction(pod)
        state.pod_reason = pod_reason or state.pod_reason
        state.pod_message = pod_message or state.pod_message
        memory_evicted = memory_evicted or memory_pressure
        if nested_get(pod, "status.phase") == "Running" and state.phase == "pending":
            state.phase = "running"
    succeeded = int(nested_get(job, "status.succeeded", 0) or 0) > 0 or _condition_true(job, "Complete")
    failed = int(nested_get(job, "status.failed", 0) or 0) > 0 or _condition_true(job, "Failed")
    if oom is not None:
        # backoffLimit is 0: an OOMKilled container fails the Job even before the Job status says so.
        state.phase, state.reason = "oom_killed", "OOMKilled"
    elif memory_evicted:
        state.phase, state.reason = "evicted", "Evicted"
    elif succeeded:
        state.phase = "succeeded"
    elif failed:
        state.phase = "failed"
        if not state.reason:
            state.reason = state.pod_reason
        if not state.reason:
            for condition in nested_get(job, "status.conditions", []) or []:
                if condition.get("type") == "Failed":
                    state.reason = condition.get("reason")
    elif int(nested_get(job, "status.active", 0) or 0) > 0 and state.phase == "pending":
        state.phase = "running"
    return state


def job_duration(state: JobState, fallback: float | None) -> float | None:
    start, end = parse_timestamp(state.started), parse_timestamp(state.completed)
    if start is not None and end is not None and end >= start:
        return round(end - start, 3)
    return None if fallback is None else round(fallback, 3)


def is_job_active(job: t.Mapping[str, t.Any]) -> bool:
    return not (int(nested_get(job, "status.succeeded", 0) or 0) > 0
                or int(nested_get(job, "status.failed", 0) or 0) > 0
                or _condition_true(job, "Complete") or _condition_true(job, "Failed"))


# --------------------------------------------------------------------------------------------- logs

_INDEX_BLOBS = re.compile(r"Found too many index blobs \((\d+)\)")
_KOPIA_MODE = re.compile(r"Running (full|quick) maintenance")
_MMAP_FALLBACK = "unable to create memory-mapped segment"


@dataclasses.dataclass(frozen=True)
class LogFindings:
    index_blobs: int | None = None
    kopia_mode: str | None = None  # "full" | "quick" | None (not logged)
    mmap_fallback: bool = False
    error: str | None = None


def parse_maintenance_log(text: t.Any) -> LogFindings:
    """What the Job log says: kopia's index-blob warning (largest count), the maintenance mode kopia
    chose, the bigmap mmap fallback (GC sets on the heap), and Velero's error indicator line."""
    if not isinstance(text, str) or not text:
        return LogFindings()
    counts = [int(match.group(1)) for match in _INDEX_BLOBS.finditer(text)]
    modes = [match.group(1) for match in _KOPIA_MODE.finditer(text)]
    error = None
    for line in text.splitlines():
        if TERMINATION_LOG_INDICATOR in line:
            error = line.split(TERMINATION_LOG_INDICATOR, 1)[1].strip().strip('"') or error
    mode = "full" if "full" in modes else (modes[-1] if modes else None)
    return LogFindings(index_blobs=max(counts) if counts else None, kopia_mode=mode,
                       mmap_fallback=_MMAP_FALLBACK in text, error=error)


def termination_error(message: t.Any) -> str | None:
    """Text after Velero's "Repo maintenance error: " indicator in a termination message (1.16+)."""
    if not isinstance(message, str) or TERMINATION_LOG_INDICATOR not in message:
        return None
    return message.split(TERMINATION_LOG_INDICATOR, 1)[1].strip() or None


# --------------------------------------------------------------------------------------------- outcome and advice

def final_outcome(attempts: t.Sequence[t.Mapping[str, t.Any]], ceiling: int | None = None) -> str:
    """Repository outcome from its attempts (dicts with ``outcome``, ``memory_limit``, optional ``extra``).

    The last attempt decides. A last attempt that ran out of memory means ``oom_cap_reached`` only if an
    attempt that really had the highest limit allowed (``ceiling``, bytes; None = no ladder, the limit the
    Job had is all there is) ran out of memory: a ladder that stopped below the cap is ``failed``.
    ``extra`` attempts (Jobs Velero started with another limit than the planned rung) never count as the cap.
    """
    if not attempts:
        return "skipped"
    for attempt in attempts:
        if attempt.get("outcome") not in ATTEMPT_OUTCOMES:
            raise ValueError(f"attempt outcome: expected one of {', '.join(ATTEMPT_OUTCOMES)}, "
                             f"got {_describe(attempt.get('outcome'))}")
    last = attempts[-1]["outcome"]
    if last not in MEMORY_FAILURES:
        return str(last)
    for attempt in attempts:
        if attempt["outcome"] in MEMORY_FAILURES and not attempt.get("extra") and (
                ceiling is None or memory_bytes(attempt.get("memory_limit") or "0") >= ceiling):
            return "oom_cap_reached"
    return "failed"


def maintenance_advice(release: VeleroRelease, *, outcome: str, index_blobs: int | None, kopia_mode: str | None,
                       mmap_fallback: bool, repository_config: t.Mapping[str, t.Any] | None) -> list[str]:
    """Advice on kopia's full cycle (fullMaintenanceInterval) and on what the run showed."""
    advice = []
    interval = (repository_config or {}).get("fullMaintenanceInterval")
    if index_blobs is not None and index_blobs > INDEX_BLOB_WARNING_THRESHOLD:
        advice.append(
            f"kopia reported {index_blobs} index blobs (warning threshold {INDEX_BLOB_WARNING_THRESHOLD}): index "
            f"compaction has fallen behind, usually because earlier maintenance runs were OOMKilled. Every index blob "
            f"is loaded when the repository opens, so memory needs grow with the backlog; keep the memory limit that "
            f"succeeded and run maintenance again until the warning disappears.")
    if mmap_fallback:
        advice.append(
            "kopia logged 'unable to create memory-mapped segment': its garbage-collection sets live on the Go heap "
            "(kopia bug #2415, fixed in kopia 0.20 = Velero 1.17+), so full cycles need noticeably more memory.")
    if kopia_mode == "quick":
        advice.append(
            "This run was a quick cycle (kopia auto mode); the memory-heavy full cycle (snapshot GC) runs when 24h "
            "have passed since the last full one, so the peak may still come in a later hourly run.")
    if not release.full_maintenance_interval:
        advice.append(
            f"fullMaintenanceInterval is not available on Velero {release.text} (1.16+): kopia keeps its default full "
            f"cycle of {KOPIA_FULL_CYCLE_HOURS}h.")
    elif index_blobs is not None and index_blobs > INDEX_BLOB_WARNING_THRESHOLD and interval not in ("fastGC", "eagerGC"):
        advice.append(
            "Consider fullMaintenanceInterval: fastGC (12h) so each full cycle has less to collect: for existing "
            "repositories set spec.repositoryConfig.fullMaintenanceInterval on the BackupRepository, for new ones put "
            "{\"fullMaintenanceInterval\": \"fastGC\"} under the 'kopia' key of the backup-repository ConfigMap "
            "(--backup-repository-configmap). Shorter intervals mean more frequent GC peaks and, per the Velero docs, "
            "may weaken data safety; kopia applies the interval when it initializes its maintenance parameters, so "
            "check the next runs' logs for the effect.")
    else:
        advice.append(
            f"fullMaintenanceInterval: {interval or 'normalGC (default, 24h)'} is fine; change it only if index "
            f"blobs pile up (> {INDEX_BLOB_WARNING_THRESHOLD}) or full cycles run out of memory.")
    if outcome == "oom_cap_reached":
        advice.append(
            "Maintenance ran out of memory at the highest limit allowed: raise memory_cap (the sizing module's "
            "predicted maintenance_peak_memory is a starting point), check the node has that much allocatable memory, "
            "and reduce what maintenance must load (fewer retained backups, fewer index blobs after an upgrade to "
            "Velero 1.15+ where kopia compaction needs about half the memory).")
    return advice


def summary_lines(results: t.Sequence[t.Mapping[str, t.Any]]) -> list[str]:
    """One readable line per repository for the role's summary."""
    lines = []
    for item in results:
        attempts = ", ".join(
            f"{a.get('memory_limit')}{' (planned ' + str(a.get('planned_memory_limit')) + ')' if a.get('extra') else ''}: "
            f"{a.get('outcome')}" for a in item.get("attempts") or [])
        blobs = item.get("index_blobs")
        parts = [f"{item.get('name')}: {item.get('outcome')}"]
        if attempts:
            parts.append(f"attempts [{attempts}]")
        if blobs is not None:
            parts.append(f"index blobs {blobs}")
        if item.get("duration_seconds") is not None:
            parts.append(f"{item['duration_seconds']:.1f}s")
        lines.append("; ".join(parts) + (f" - {item['message']}" if item.get("message") else ""))
    return lines
