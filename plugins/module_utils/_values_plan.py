# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What to set for one sizing recommendation in one chart era: the values keys, extraArgs flags and ConfigMaps
(``plan_tuning`` -> ``TuningPlan``), each tuned value with the place it lands (``Placement``, for the report).

Also the value vocabulary the later steps share: Kubernetes quantities, equality as Helm sees it
(``same_value``), one-line text of a value (``describe``) and the chart's naming (``chart_fullname``).
Pure Python, no Ansible imports; raises ``ValueError`` naming the field to fix.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing as t

from . import _chart_eras as eras
from ._fields import describe_value, nested_get, type_name
from ._quantity import parse_cpu_millicores, parse_memory, parse_quantity
from ._releases import KOPIA_DEFAULT_MAINTENANCE_FREQUENCY, RESTIC_DEFAULT_MAINTENANCE_FREQUENCY
from ._values_dump import helm_number
from ._velero_server import MAINTENANCE_JOB_FLAGS

POD_RESOURCE_FIELDS = ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit")
EPHEMERAL_FIELDS = ("ephemeralStorageRequest", "ephemeralStorageLimit")

# Our ConfigMaps (configMaps keys; the chart names them <fullname>-<key>).
NODE_AGENT_CONFIG_KEY = "node-agent-config"
BACKUP_REPOSITORY_CONFIG_KEY = "backup-repository-config"
REPO_MAINTENANCE_CONFIG_KEY = "repo-maintenance"
# Velero 1.13/1.14 read the node-agent ConfigMap by this exact name (pkg/nodeagent/node_agent.go).
FIXED_NODE_AGENT_CONFIG_NAME = "node-agent-config"
NODE_AGENT_CONFIG_DATA_KEY = "node-agent-config.json"
# Helm's release-name rule (pkg/chartutil/validate_name.go): DNS-1123 labels joined by dots, at most 53 characters.
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RELEASE_NAME_MAX = 53
UPLOADER_TYPE = "configuration.uploaderType"

# Server flags that the chart also renders from a key: a user flag in extraArgs comes after the key's flag
# on the command line, so it silently overrides our key.
KEY_FLAGS = {
    eras.CLIENT_QPS: "--client-qps",
    eras.CLIENT_BURST: "--client-burst",
    eras.CLIENT_PAGE_SIZE: "--client-page-size",
    eras.MAINTAIN_FREQUENCY: "--default-repo-maintain-frequency",
    eras.MAINTENANCE_REQUESTS + ".cpu": "--maintenance-job-cpu-request",
    eras.MAINTENANCE_REQUESTS + ".memory": "--maintenance-job-mem-request",
    eras.MAINTENANCE_LIMITS + ".cpu": "--maintenance-job-cpu-limit",
    eras.MAINTENANCE_LIMITS + ".memory": "--maintenance-job-mem-limit",
    eras.MAINTENANCE_LATEST_JOBS: "--keep-latest-maintenance-jobs",
}
# Velero 1.14-1.16 maintenance Job resource flags and the podResources field each one sets.
MAINTENANCE_FLAG_FIELDS = {flag: field for field, flag in MAINTENANCE_JOB_FLAGS.items()}
# The chart key that renders each flag of KEY_FLAGS, and the podResources field of each maintenance key.
FLAG_KEYS = {flag: key for key, flag in KEY_FLAGS.items()}
MAINTENANCE_KEY_FIELDS = {FLAG_KEYS[flag]: field for flag, field in MAINTENANCE_FLAG_FIELDS.items()}


# ---------------------------------------------------------------------------------------------------------------
# Small value helpers


def quantity(value: t.Any, field: str, kind: str) -> str:
    """A Kubernetes quantity as a string (YAML quotes "1" and "0", so Helm keeps them strings)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a {kind} quantity string, got {value!r}")
    text = str(value).strip() if not isinstance(value, float) or not value.is_integer() else str(int(value))
    if kind == "cpu":
        parse_cpu_millicores(text, field)
    else:
        parse_memory(text, field)
    return text


def _is_unbounded(text: str | None) -> bool:
    return text is None or text in ("0", "")


def _compare_quantity(left: str, right: str, kind: str) -> int:
    parse = parse_cpu_millicores if kind == "cpu" else parse_memory
    a, b = parse(left, "quantity"), parse(right, "quantity")
    return (a > b) - (a < b)


def _max_quantity(values: t.Iterable[str | None], kind: str) -> str | None:
    best: str | None = None
    for value in values:
        if value is None or _is_unbounded(value):
            continue
        if best is None or _compare_quantity(value, best, kind) > 0:
            best = value
    return best


def same_value(left: t.Any, right: t.Any) -> bool:
    """Equal for Helm's purposes: 300 == "300", "1Gi" == "1024Mi", dicts field by field."""
    if left == right and type(left) is type(right):
        return True
    if isinstance(left, dict) and isinstance(right, dict):
        return set(left) == set(right) and all(same_value(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right))
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return left == right
    if isinstance(left, (int, float, str)) and isinstance(right, (int, float, str)):
        try:
            return float(left) == float(right)
        except ValueError:
            pass
        try:
            return math.isclose(parse_quantity(left, "a"), parse_quantity(right, "b"), rel_tol=1e-9)
        except ValueError:
            return False
    return False


def _q(value: t.Any) -> str:
    return "none" if value in (None, "", "0") else str(value)


def describe(value: t.Any) -> str:
    """Compact one-line text of a value for reports and messages."""
    if isinstance(value, dict):
        if value and set(value) >= set(POD_RESOURCE_FIELDS):
            text = (f"cpu {_q(value['cpuRequest'])}/{_q(value['cpuLimit'])}, "
                    f"memory {_q(value['memoryRequest'])}/{_q(value['memoryLimit'])} (request/limit)")
            if value.get("ephemeralStorageRequest") or value.get("ephemeralStorageLimit"):
                text += (f", ephemeral storage {_q(value.get('ephemeralStorageRequest'))}/"
                         f"{_q(value.get('ephemeralStorageLimit'))}")
            return text
        if value and set(value) <= {"requests", "limits"}:
            requests, limits = value.get("requests") or {}, value.get("limits") or {}
            return (f"cpu {_q(requests.get('cpu'))}/{_q(limits.get('cpu'))}, "
                    f"memory {_q(requests.get('memory'))}/{_q(limits.get('memory'))} (request/limit)")
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "-"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Chart naming


def check_release_name(release_name: t.Any, field: str = "velero_release_name") -> str:
    """A Helm release name as ``helm`` accepts it: lowercase DNS-1123 labels joined by dots, at most 53 characters."""
    if not isinstance(release_name, str) or not release_name:
        raise ValueError(f"{field}: expected a Helm release name such as velero, got {type_name(release_name)} "
                         f"{describe_value(release_name)}")
    if len(release_name) > RELEASE_NAME_MAX or not RELEASE_NAME.match(release_name):
        raise ValueError(f"{field}: {release_name!r} is not a valid Helm release name: lowercase letters, digits and "
                         f"'-', starting and ending with a letter or digit (dots may separate such parts), at most "
                         f"{RELEASE_NAME_MAX} characters; use the name `helm list -n <namespace>` shows")
    return release_name


def chart_fullname(release_name: str, values: t.Mapping[str, t.Any] | None = None) -> str:
    """The chart's ``velero.fullname`` helper: fullnameOverride, else release name (+ ``-velero``)."""
    check_release_name(release_name)
    values = values or {}
    override = values.get("fullnameOverride")
    if override:
        return _trim(str(override)[:63])
    name = values.get("nameOverride") or "velero"
    full = release_name if str(name) in release_name else f"{release_name}-{name}"
    return _trim(full[:63])


def _trim(text: str) -> str:
    # sprig trimSuffix "-" removes one trailing dash.
    return text[:-1] if text.endswith("-") else text


# ---------------------------------------------------------------------------------------------------------------
# The plan: what to set for one recommendation in one era


@dataclasses.dataclass
class Placement:
    """One tuned value and where it lands in the chart values (for the report)."""

    item: str                 # recommendation dotted path, e.g. server.client_qps
    value: t.Any
    location: str             # e.g. configuration.clientQPS or "configuration.extraArgs: --client-page-size=0"
    # Conflict paths this value depends on (values keys, "<extraArgs key> <flag>", ConfigMaps): when the user keeps
    # their own value at one of them (or at a parent or child), the cluster does not get the tuned value.
    paths: list[str] = dataclasses.field(default_factory=list)
    applied: bool = True
    kept: list[t.Any] = dataclasses.field(default_factory=list)   # the user's values kept instead


@dataclasses.dataclass
class TuningPlan:
    era: eras.ChartEra
    fullname: str
    leaves: list[tuple[str, t.Any]] = dataclasses.field(default_factory=list)   # (dotted key, value)
    server_args: list[str] = dataclasses.field(default_factory=list)
    node_agent_args: list[str] = dataclasses.field(default_factory=list)
    config_maps: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    # configMaps key -> the (extraArgs key, flag) pairs naming that ConfigMap. If the user keeps their own value of
    # such a flag, our ConfigMap would be read by nobody, so it is not written.
    config_map_refs: dict[str, list[tuple[str, str]]] = dataclasses.field(default_factory=dict)
    extra_objects: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    placements: list[Placement] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    assumptions: list[str] = dataclasses.field(default_factory=list)
    uploader: str = "kopia"

    def set(self, key: str, value: t.Any) -> None:
        self.leaves.append((key, value))

    def key_paths(self, key: str) -> list[str]:
        """A key, plus the extraArgs flag that would override it on the command line."""
        flag = KEY_FLAGS.get(key)
        if flag and self.era.server_extra_args:
            return [key, f"{self.era.server_extra_args} {flag}"]
        return [key]

    def place(self, item: str, value: t.Any, location: str, paths: t.Iterable[str]) -> None:
        self.placements.append(Placement(item, value, location, list(dict.fromkeys(paths))))

    def server_flag(self, flag: str, value: t.Any) -> tuple[str, str]:
        """(location text, conflict path) of a server flag added to configuration.extraArgs."""
        return _add_flag(self.server_args, self.era.server_extra_args, flag, value)

    def node_agent_flag(self, flag: str, value: t.Any) -> tuple[str, str]:
        """(location text, conflict path) of a node-agent flag added to nodeAgent.extraArgs."""
        return _add_flag(self.node_agent_args, self.era.node_agent_extra_args, flag, value)

    def config_map(self, key: str, data: dict[str, str], refs: list[tuple[str, str]]) -> str:
        self.config_maps[key] = {"data": data}
        self.config_map_refs[key] = list(refs)
        return f"{self.fullname}-{key}"


def _add_flag(args: list[str], args_key: str | None, flag: str, value: t.Any) -> tuple[str, str]:
    text = f"{flag}={value}"
    args.append(text)
    return f"{args_key}: {text}", f"{args_key} {flag}"


_MISSING = object()


def _required(recommendation: t.Mapping[str, t.Any], dotted: str) -> t.Any:
    value = nested_get(recommendation, dotted, _MISSING)
    if value is _MISSING:
        raise ValueError(f"recommendation.{dotted}: missing from the recommendation")
    return value


def _pod_resources(value: t.Any, field: str) -> dict[str, str]:
    if not isinstance(value, t.Mapping):
        raise ValueError(f"{field}: expected a mapping with {', '.join(POD_RESOURCE_FIELDS)}, got {value!r}")
    missing = [name for name in POD_RESOURCE_FIELDS if value.get(name) in (None, "")]
    if missing:
        raise ValueError(f"{field}: missing {', '.join(missing)}; Velero needs all four of "
                         f"{', '.join(POD_RESOURCE_FIELDS)} (\"0\" = unbounded)")
    result = {name: quantity(value[name], f"{field}.{name}", "cpu" if name.startswith("cpu") else "memory")
              for name in POD_RESOURCE_FIELDS}
    for name in EPHEMERAL_FIELDS:
        if value.get(name) not in (None, ""):
            result[name] = quantity(value[name], f"{field}.{name}", "memory")
    return result


def _container_resources(value: t.Any, field: str) -> dict[str, dict[str, str | None]]:
    if not isinstance(value, t.Mapping):
        raise ValueError(f"{field}: expected {{requests: {{cpu, memory}}, limits: {{cpu, memory}}}}, got {value!r}")
    result: dict[str, dict[str, str | None]] = {}
    for section in ("requests", "limits"):
        part = value.get(section) or {}
        if not isinstance(part, t.Mapping):
            raise ValueError(f"{field}.{section}: expected a mapping with cpu and memory, got {part!r}")
        entry: dict[str, str | None] = {}
        for kind in ("cpu", "memory"):
            raw = part.get(kind)
            text = None if raw in (None, "") else quantity(raw, f"{field}.{section}.{kind}", kind)
            # "0" / absent = no value: null also drops the chart's own default (charts <= 6.6.0 merge them).
            entry[kind] = None if _is_unbounded(text) else text
        result[section] = entry
    return result


def _max_pod_resources(pods: list[dict[str, str]]) -> dict[str, str]:
    """Field-wise maximum of podResources; a limit is unbounded ("0") if any of them is."""
    result: dict[str, str] = {}
    for name in POD_RESOURCE_FIELDS + EPHEMERAL_FIELDS:
        values = [pod.get(name) for pod in pods]
        if all(value is None for value in values):
            continue
        kind = "cpu" if name.startswith("cpu") else "memory"
        if name.endswith("Limit") and any(_is_unbounded(value) for value in values):
            result[name] = "0"
        else:
            result[name] = _max_quantity(values, kind) or "0"
    return result


def _set_resources(plan: TuningPlan, key: str, resources: dict[str, dict[str, str | None]]) -> None:
    for section in ("requests", "limits"):
        for kind in ("cpu", "memory"):
            value = resources[section][kind]
            # No value = no request/limit. Only charts whose own defaults fill the map need an explicit null
            # to drop the default; elsewhere a null would reach the pod spec as a zero quantity.
            if value is not None or plan.era.resource_defaults_merge:
                plan.set(f"{key}.{section}.{kind}", value)


def _json(value: t.Any) -> str:
    # Deterministic one-line JSON for ConfigMap data; never contains "{{" (extraObjects go through tpl).
    return json.dumps(value, sort_keys=False, separators=(", ", ": "))


def rendered_uploader(user_values: t.Mapping[str, t.Any] | None, chart_version: t.Any) -> tuple[str, bool]:
    """(uploader the chart renders, whether the user chose it): configuration.uploaderType, else the chart's
    template default (restic before chart 5.4.1, kopia after)."""
    chosen = nested_get(user_values or {}, UPLOADER_TYPE)
    if isinstance(chosen, str) and chosen.strip():
        return chosen.strip().lower(), True
    return eras.chart_default_uploader(chart_version), False


def plan_tuning(recommendation: t.Mapping[str, t.Any], era: eras.ChartEra, *, release_name: str = "velero",
                user_values: t.Mapping[str, t.Any] | None = None, chart_version: t.Any = None) -> TuningPlan:
    """Where every recommended value goes in this chart era (keys, extraArgs flags, ConfigMaps)."""
    rec = recommendation
    chart = chart_version or era.last
    plan = TuningPlan(era=era, fullname=chart_fullname(release_name, user_values))
    defaults = rec.get("velero_defaults") or {}

    # Client rate limits: the same three keys in every chart. 0 is dropped by the template's `with`.
    qps = helm_number(_required(rec, "server.client_qps"), "recommendation.server.client_qps", integer=False)
    burst = helm_number(_required(rec, "server.client_burst"), "recommendation.server.client_burst", integer=True)
    page = helm_number(_required(rec, "server.client_page_size"), "recommendation.server.client_page_size", integer=True)
    plan.set(eras.CLIENT_QPS, qps)
    plan.place("server.client_qps", qps, eras.CLIENT_QPS, plan.key_paths(eras.CLIENT_QPS))
    plan.set(eras.CLIENT_BURST, burst)
    plan.place("server.client_burst", burst, eras.CLIENT_BURST, plan.key_paths(eras.CLIENT_BURST))
    if page == 0:
        if era.server_extra_args:
            location, path = plan.server_flag("--client-page-size", 0)
            plan.place("server.client_page_size", 0, location, [path, eras.CLIENT_PAGE_SIZE])
        else:
            plan.warnings.append(f"server.client_page_size 0 (no paging) cannot be expressed on chart {era.first} to "
                                 f"{era.last} (configuration.clientPageSize drops 0 and there is no extraArgs key); "
                                 "Velero keeps its default 500")
    else:
        plan.set(eras.CLIENT_PAGE_SIZE, page)
        plan.place("server.client_page_size", page, eras.CLIENT_PAGE_SIZE, plan.key_paths(eras.CLIENT_PAGE_SIZE))

    # Resources of the server pod. On Velero 1.12/1.13 the sizing model already adds in-server maintenance of
    # the largest repository to them (docs/sizing-model.md section 7), so they are written as recommended.
    server = _container_resources(_required(rec, "server.resources"), "recommendation.server.resources")
    _set_resources(plan, eras.SERVER_RESOURCES, server)
    plan.place("server.resources", server, eras.SERVER_RESOURCES, [eras.SERVER_RESOURCES])

    maintenance = rec.get("maintenance") or {}
    pod = _pod_resources(_required(rec, "maintenance.pod_resources"), "recommendation.maintenance.pod_resources")
    keep = nested_get(rec, "maintenance.keep_latest_jobs")
    repositories = maintenance.get("repositories") or {}
    if not isinstance(repositories, t.Mapping):
        raise ValueError("recommendation.maintenance.repositories: expected a mapping of "
                         f"<volumeNamespace>-<bsl>-<repoType> keys, got {repositories!r}")
    per_repo = {str(key): _pod_resources((entry or {}).get("pod_resources"),
                                         f"recommendation.maintenance.repositories.{key}.pod_resources")
                for key, entry in sorted(repositories.items())}

    if per_repo and era.per_repository == "none":
        # No per-repository settings in this Velero: every repository gets the global size, so the global
        # size must hold the largest repository.
        pod = _max_pod_resources([pod] + list(per_repo.values()))
    if era.maintenance == "server-resources":
        plan.place("maintenance.pod_resources", pod,
                   f"{eras.SERVER_RESOURCES} (Velero 1.{era.velero_minor} runs maintenance inside the server pod; "
                   "the server resources above include it)", [eras.SERVER_RESOURCES])
        if per_repo:
            plan.warnings.append(f"Velero 1.{era.velero_minor} cannot size maintenance per repository: the server "
                                 f"pod must hold the largest repository's maintenance ({', '.join(per_repo)})")
    else:
        _plan_maintenance(plan, pod, keep, per_repo)

    plan.uploader, chosen = rendered_uploader(user_values, chart)
    frequency = maintenance.get("frequency")
    tuned_frequency = frequency not in (None, "") and not same_value(frequency, defaults.get("maintenance.frequency"))
    if plan.uploader == "restic":
        why = ("your configuration.uploaderType" if chosen else
               "the chart's template default up to 5.4.0; set configuration.uploaderType: kopia to use kopia")
        plan.warnings.append(
            f"Chart {chart} renders --uploader-type=restic ({why}): the maintenance sizing models kopia repositories "
            "and does not apply to restic repositories"
            + (f"; maintenance.frequency {frequency} is not written, because --default-repo-maintain-frequency also "
               f"sets the maintenance interval of new restic repositories, whose own default is "
               f"{RESTIC_DEFAULT_MAINTENANCE_FREQUENCY} (a restic prune every {frequency} would be far too often)"
               if tuned_frequency else ""))
        plan.assumptions.append("Repository maintenance is sized for kopia repositories; this cluster's backups "
                                "write restic repositories (--uploader-type=restic), which the model does not cover.")
    elif tuned_frequency:
        plan.set(eras.MAINTAIN_FREQUENCY, str(frequency))
        plan.place("maintenance.frequency", str(frequency), eras.MAINTAIN_FREQUENCY,
                   plan.key_paths(eras.MAINTAIN_FREQUENCY))
        patch = json.dumps({"spec": {"maintenanceFrequency": str(frequency)}}, separators=(",", ":"))
        plan.warnings.append(
            f"--default-repo-maintain-frequency={frequency} only seeds spec.maintenanceFrequency of BackupRepositories "
            f"created after the upgrade (velero.md 3.1); existing kopia repositories keep "
            f"{KOPIA_DEFAULT_MAINTENANCE_FREQUENCY} until patched, e.g. in the Velero namespace: "
            f"`kubectl -n velero get backuprepositories -l velero.io/repository-type=kopia -o name | "
            f"xargs -I@ kubectl -n velero patch @ --type merge -p '{patch}'`")

    _plan_node_agent(plan, rec)
    _plan_backup_repository(plan, rec)
    return plan


def _plan_maintenance(plan: TuningPlan, pod: dict[str, str], keep: t.Any, per_repo: dict[str, dict[str, str]]) -> None:
    era = plan.era
    if era.maintenance == "server-flags":
        paths = []
        for flag, field in MAINTENANCE_FLAG_FIELDS.items():
            paths.append(plan.server_flag(flag, pod[field])[1])
            # A chart key of the user that renders the same flag (charts 7.1.2/7.1.3) may be kept instead.
            paths.append(FLAG_KEYS[flag])
        plan.place("maintenance.pod_resources", pod,
                   f"{era.server_extra_args}: --maintenance-job-{{cpu,mem}}-{{request,limit}}", paths)
    elif era.maintenance == "chart-keys":
        paths = []
        for key, field in MAINTENANCE_KEY_FIELDS.items():
            plan.set(key, pod[field])
            paths += plan.key_paths(key)
        plan.place("maintenance.pod_resources", pod, f"{eras.MAINTENANCE_REQUESTS}, {eras.MAINTENANCE_LIMITS}", paths)
    else:  # config-data
        key = eras.REPOSITORY_CONFIG_GLOBAL + ".podResources"
        plan.set(key, pod)
        paths = [key]
        if era.legacy_maintenance_keys_dropped:
            # The user's legacy requests/limits (dropped by the chart) or --maintenance-job-* flags (overridden by
            # the ConfigMap) are moved here when they win (merge_values).
            paths += [eras.MAINTENANCE_REQUESTS, eras.MAINTENANCE_LIMITS]
            paths += [f"{era.server_extra_args} {flag}" for flag in MAINTENANCE_FLAG_FIELDS]
        plan.place("maintenance.pod_resources", pod, key, paths)

    if keep is not None:
        keep_value = helm_number(keep, "recommendation.maintenance.keep_latest_jobs", integer=True)
        if era.keep_latest == "key":
            key = eras.GLOBAL_KEEP_LATEST if era.maintenance == "config-data" else eras.MAINTENANCE_LATEST_JOBS
            plan.set(key, int(keep_value))
            plan.place("maintenance.keep_latest_jobs", keep_value, key, plan.key_paths(key))
        elif era.keep_latest == "flag":
            location, path = plan.server_flag("--keep-latest-maintenance-jobs", keep_value)
            plan.place("maintenance.keep_latest_jobs", keep_value, location, [path, eras.MAINTENANCE_LATEST_JOBS])

    if not per_repo:
        return
    if era.per_repository == "config-data":
        for repo_key, resources in per_repo.items():
            key = f"{eras.REPOSITORY_CONFIG_REPOSITORIES}.{repo_key}.podResources"
            plan.set(key, resources)
            plan.place(f"maintenance.repositories.{repo_key}", resources, key, [key])
    elif era.per_repository == "config-map":
        # Velero 1.15/1.16 read per-repository entries from a ConfigMap named by a flag; a repository's own
        # podResources replace the --maintenance-job-* flag values for that repository.
        data = {repo_key: _json({"podResources": resources}) for repo_key, resources in per_repo.items()}
        flag = "--repo-maintenance-job-configmap"
        name = plan.config_map(REPO_MAINTENANCE_CONFIG_KEY, data, [(t.cast(str, era.server_extra_args), flag)])
        location, path = plan.server_flag(flag, name)
        for repo_key, resources in per_repo.items():
            plan.place(f"maintenance.repositories.{repo_key}", resources,
                       f"configMaps.{REPO_MAINTENANCE_CONFIG_KEY} (ConfigMap {name}) + {location}",
                       [f"{eras.CONFIG_MAPS}.{REPO_MAINTENANCE_CONFIG_KEY}", path])
    else:
        plan.warnings.append(f"Velero 1.{era.velero_minor} cannot size maintenance per repository (the ConfigMap "
                             f"arrives in 1.15): the global maintenance resources are raised to those of "
                             f"{', '.join(per_repo)}, so every maintenance Job gets them")


def _plan_node_agent(plan: TuningPlan, rec: t.Mapping[str, t.Any]) -> None:
    era = plan.era
    node_agent = rec.get("node_agent") or {}
    resources = node_agent.get("resources")
    if resources is not None:
        parsed = _container_resources(resources, "recommendation.node_agent.resources")
        _set_resources(plan, eras.NODE_AGENT_RESOURCES, parsed)
        plan.place("node_agent.resources", parsed, eras.NODE_AGENT_RESOURCES, [eras.NODE_AGENT_RESOURCES])

    defaults = rec.get("velero_defaults") or {}
    config: dict[str, t.Any] = {}
    items: list[tuple[str, t.Any]] = []
    concurrency = node_agent.get("load_concurrency")
    # A ConfigMap only for values that differ from Velero's own default.
    if concurrency is not None and not same_value(concurrency, defaults.get("node_agent.load_concurrency")):
        value = int(helm_number(concurrency, "recommendation.node_agent.load_concurrency", integer=True))
        config["loadConcurrency"] = {"globalConfig": value}
        items.append(("node_agent.load_concurrency", value))
    pod = node_agent.get("pod_resources")
    if pod is not None:
        parsed_pod = _pod_resources(pod, "recommendation.node_agent.pod_resources")
        config["podResources"] = parsed_pod
        items.append(("node_agent.pod_resources", parsed_pod))
    if not config:
        return
    if era.node_agent_config == "none":
        plan.warnings.append(f"Velero 1.{era.velero_minor} has no node-agent ConfigMap; "
                             f"{', '.join(item for item, _value in items)} not applied")
        return
    data = {NODE_AGENT_CONFIG_DATA_KEY: _json(config)}
    if era.node_agent_config == "extra-object":
        # Velero 1.13/1.14 read the fixed name node-agent-config; configMaps would prefix it with <fullname>-.
        plan.extra_objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": FIXED_NODE_AGENT_CONFIG_NAME}, "data": data})
        location = f"extraObjects: ConfigMap {FIXED_NODE_AGENT_CONFIG_NAME} (fixed name read by Velero 1.{era.velero_minor})"
        paths = [f"{eras.EXTRA_OBJECTS}[ConfigMap/{FIXED_NODE_AGENT_CONFIG_NAME}]"]
    else:
        flag = "--node-agent-configmap"
        name = plan.config_map(NODE_AGENT_CONFIG_KEY, data, [(t.cast(str, era.node_agent_extra_args), flag)])
        flag_location, flag_path = plan.node_agent_flag(flag, name)
        location = f"configMaps.{NODE_AGENT_CONFIG_KEY} (ConfigMap {name}) + {flag_location}"
        paths = [f"{eras.CONFIG_MAPS}.{NODE_AGENT_CONFIG_KEY}", flag_path]
    for item, value in items:
        plan.place(item, value, location, paths)
    plan.notes.append("The node-agent reads its ConfigMap at start-up: restart the node-agent DaemonSet after "
                      "the upgrade if Helm does not roll it (deployNodeAgent must be true).")


def _plan_backup_repository(plan: TuningPlan, rec: t.Mapping[str, t.Any]) -> None:
    era = plan.era
    repository = rec.get("repository") or {}
    defaults = rec.get("velero_defaults") or {}
    settings: dict[str, t.Any] = {}
    items: list[tuple[str, t.Any]] = []
    cache = repository.get("cache_limit_mb")
    if cache is not None and not same_value(cache, defaults.get("repository.cache_limit_mb")):
        settings["cacheLimitMB"] = int(helm_number(cache, "recommendation.repository.cache_limit_mb", integer=True))
        items.append(("repository.cache_limit_mb", settings["cacheLimitMB"]))
    interval = repository.get("full_maintenance_interval")
    if interval is not None and interval != defaults.get("repository.full_maintenance_interval"):
        if interval not in ("normalGC", "fastGC", "eagerGC"):
            raise ValueError("recommendation.repository.full_maintenance_interval: expected normalGC, fastGC or "
                             f"eagerGC, got {interval!r}")
        settings["fullMaintenanceInterval"] = interval
        items.append(("repository.full_maintenance_interval", interval))
    if not settings:
        return
    if not era.backup_repository_config:
        plan.warnings.append(f"Velero 1.{era.velero_minor} has no backup-repository ConfigMap; "
                             f"{', '.join(item for item, _value in items)} not applied")
        return
    flag = "--backup-repository-configmap"
    refs = [(t.cast(str, era.server_extra_args), flag)]
    if era.node_agent_backup_repository_flag:
        refs.append((t.cast(str, era.node_agent_extra_args), flag))
    name = plan.config_map(BACKUP_REPOSITORY_CONFIG_KEY, {"kopia": _json(settings)}, refs)
    location, path = plan.server_flag(flag, name)
    paths = [f"{eras.CONFIG_MAPS}.{BACKUP_REPOSITORY_CONFIG_KEY}", path]
    if era.node_agent_backup_repository_flag:
        paths.append(plan.node_agent_flag(flag, name)[1])
        location += f" (and {era.node_agent_extra_args})"
    # Velero copies this ConfigMap into new BackupRepositories only; the sizing warning says so.
    for item, value in items:
        plan.place(item, value, f"configMaps.{BACKUP_REPOSITORY_CONFIG_KEY} (ConfigMap {name}) + {location}", paths)
