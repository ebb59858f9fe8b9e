# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a sizing recommendation into Velero Helm chart values for one chart era.

Steps (each a function, so tests can take them apart):
  plan_tuning()    recommendation + era -> the keys, flags and ConfigMaps to set (``TuningPlan``)
  merge_values()   the user's values + the plan -> merged values and the conflicts found
  validate_values() merged values against the era's strict schema (schemas/helm-values/)
  dump_values()    YAML text Helm reads back exactly (quantities and big numbers quoted)
``render_values()`` runs them in order. Pure Python, no Ansible imports; raises ``ValueError``
with a message that names the field to fix.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
import typing as t
from pathlib import Path

from . import _chart_eras as eras
from ._fields import describe_value, type_name
from ._quantity import parse_cpu_millicores, parse_memory, parse_quantity
from ._releases import KOPIA_DEFAULT_MAINTENANCE_FREQUENCY, RESTIC_DEFAULT_MAINTENANCE_FREQUENCY, release, unknown_flag
from ._velero_server import MAINTENANCE_JOB_FLAGS

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False
    YAML_IMPORT_ERROR = str(exc)

try:
    import jsonschema
    HAS_JSONSCHEMA = True
    JSONSCHEMA_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the requirement installed
    HAS_JSONSCHEMA = False
    JSONSCHEMA_IMPORT_ERROR = str(exc)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "helm-values"
POD_RESOURCE_FIELDS = ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit")
EPHEMERAL_FIELDS = ("ephemeralStorageRequest", "ephemeralStorageLimit")
# Helm prints YAML numbers >= 1e6 in exponent form (1e+06), which Velero's int flags cannot parse.
HELM_EXPONENT_THRESHOLD = 1_000_000

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

# Keys users still carry from older charts, and what to do instead (message hints).
RETIRED_KEYS = {
    "restic": "renamed to nodeAgent in chart 3.0.0",
    "deployRestic": "renamed to deployNodeAgent in chart 3.0.0",
    "configuration.resticTimeout": "renamed to configuration.fsBackupTimeout in chart 3.0.0",
    "configuration.defaultResticPruneFrequency": "renamed to configuration.defaultRepoMaintainFrequency in chart 3.0.0",
    "configuration.defaultVolumesToRestic": "renamed to configuration.defaultVolumesToFsBackup in chart 3.0.0",
    "nodeAgent.privileged": "removed in chart 6.0.0; use nodeAgent.containerSecurityContext.privileged",
}


def _legacy_maintenance_hint(era: eras.ChartEra, full: str) -> str:
    if full.startswith(eras.MAINTENANCE_REQUESTS) and eras.MAINTENANCE_REQUESTS in era.absent:
        return ("charts 7.1.2 and 7.1.3 fail to render with repositoryMaintenanceJob.requests.cpu/memory (template "
                "bug fixed in chart 7.1.4); the collection passes --maintenance-job-*-request through "
                "configuration.extraArgs instead")
    if era.legacy_maintenance_keys_fail:
        return ("removed in chart 11.0.0: the chart refuses to render while it is set; size maintenance Jobs "
                "with configuration.repositoryMaintenanceJob.repositoryConfigData.global.podResources")
    if era.maintenance in ("server-resources", "server-flags"):
        return (f"chart {era.first} to {era.last} has no maintenance-job keys (added in chart 7.1.2); "
                "the chart would silently ignore it")
    return "not a key of this chart release"


# ---------------------------------------------------------------------------------------------------------------
# Small value helpers


def to_plain(value: t.Any) -> t.Any:
    """Deep copy into plain dict/list/str/int/float/bool/None (drops subclasses such as tagged strings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, t.Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    raise ValueError(f"values: unsupported value of type {type_name(value)}: {describe_value(value)}")


def helm_number(value: t.Any, field: str, integer: bool) -> int | float | str:
    """A number for a key the chart prints with ``{{ . }}``; quoted from 1e6 up so Helm does not print 1e+06."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{field}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{field}: expected a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{field}: expected a non-negative number, got {value!r}")
    if integer and not number.is_integer():
        raise ValueError(f"{field}: expected a whole number, got {value!r}")
    result: int | float = int(number) if number.is_integer() else number
    if abs(result) >= HELM_EXPONENT_THRESHOLD:
        return str(result)
    return result


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


def _get(mapping: t.Mapping[str, t.Any], dotted: str, field: str = "recommendation") -> t.Any:
    node: t.Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, t.Mapping) or part not in node:
            raise ValueError(f"{field}.{dotted}: missing from the recommendation")
        node = node[part]
    return node


def _opt(mapping: t.Mapping[str, t.Any], dotted: str) -> t.Any:
    node: t.Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, t.Mapping) or part not in node:
            return None
        node = node[part]
    return node


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
    chosen = _opt(user_values or {}, UPLOADER_TYPE)
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
    qps = helm_number(_get(rec, "server.client_qps"), "recommendation.server.client_qps", integer=False)
    burst = helm_number(_get(rec, "server.client_burst"), "recommendation.server.client_burst", integer=True)
    page = helm_number(_get(rec, "server.client_page_size"), "recommendation.server.client_page_size", integer=True)
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
    server = _container_resources(_get(rec, "server.resources"), "recommendation.server.resources")
    _set_resources(plan, eras.SERVER_RESOURCES, server)
    plan.place("server.resources", server, eras.SERVER_RESOURCES, [eras.SERVER_RESOURCES])

    maintenance = rec.get("maintenance") or {}
    pod = _pod_resources(_get(rec, "maintenance.pod_resources"), "recommendation.maintenance.pod_resources")
    keep = _opt(rec, "maintenance.keep_latest_jobs")
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


# ---------------------------------------------------------------------------------------------------------------
# Merge with the user's values


@dataclasses.dataclass
class Conflict:
    path: str
    user: t.Any
    tuned: t.Any
    winner: str  # "user" | "tuned"

    def as_dict(self) -> dict[str, t.Any]:
        return {"path": self.path, "user": self.user, "tuned": self.tuned, "winner": self.winner}


class UserWins:
    """Which conflicting keys keep the user's value: all (True), none (False) or dotted path prefixes."""

    def __init__(self, spec: t.Any, field: str = "velero_values_user_wins"):
        self.field = field
        if spec is None or isinstance(spec, bool):
            self.all = bool(spec)
            self.prefixes: list[str] = []
        elif isinstance(spec, (list, tuple)) and all(isinstance(item, str) and item.strip() for item in spec):
            self.all = False
            self.prefixes = [item.strip() for item in spec]
        else:
            raise ValueError(f"{field}: expected true, false or a list of dotted values keys such as "
                             f"[configuration.clientQPS, resources], got {type_name(spec)} {describe_value(spec)}")
        self.used: set[str] = set()

    def __call__(self, path: str) -> bool:
        if self.all:
            return True
        for prefix in self.prefixes:
            if path == prefix or path.startswith((prefix + ".", prefix + " ", prefix + "[")):
                self.used.add(prefix)
                return True
        return False

    def unused(self) -> list[str]:
        return [prefix for prefix in self.prefixes if prefix not in self.used]


def _flag_name(arg: t.Any) -> str | None:
    if not isinstance(arg, str) or not arg.startswith("--"):
        return None
    return arg.split("=", 1)[0]


def _flag_value(arg: str) -> str | None:
    return arg.split("=", 1)[1] if "=" in arg else None


class _Merge:
    """State of one merge: the result tree, the conflicts (one per path) and who wins them."""

    def __init__(self, user_values: t.Mapping[str, t.Any] | None, plan: TuningPlan, user_wins: UserWins):
        self.result: dict[str, t.Any] = copy.deepcopy(dict(user_values or {}))
        self.plan = plan
        self.user_wins = user_wins
        self.conflicts: list[Conflict] = []

    def conflict(self, path: str, user: t.Any, tuned: t.Any, winner: str) -> None:
        if not any(existing.path == path for existing in self.conflicts):
            self.conflicts.append(Conflict(path, user, tuned, winner))

    def blocked(self, key: str) -> bool:
        """A user scalar or list sits where a mapping on the way to ``key`` is needed. Reported once; True when the
        user keeps it (then nothing of ours goes below it), else it is replaced by an empty mapping."""
        found, current, at = _lookup(self.result, key.split("."))
        if not found or at == key:
            return False
        if self.user_wins(at):
            self.conflict(at, current, "(mapping)", "user")
            return True
        self.conflict(at, current, "(mapping)", "tuned")
        container, last = _container(self.result, at, create=True)
        container[last] = {}
        return False

    def set_leaf(self, key: str, value: t.Any) -> None:
        if self.blocked(key):
            return
        found, current, _at = _lookup(self.result, key.split("."))
        if found and current is not None:
            if same_value(current, value):
                return
            if self.user_wins(key):
                self.conflict(key, current, value, "user")
                return
            self.conflict(key, current, value, "tuned")
        container, last = _container(self.result, key, create=True)
        container[last] = copy.deepcopy(value)

    def merge_args(self, key: str, ours: list[str]) -> set[str]:
        """Our flags into the extraArgs list at ``key``, flag by flag; returns the flags whose user value is kept."""
        if not ours:
            return set()
        names = {t.cast(str, _flag_name(arg)) for arg in ours}
        if self.blocked(key):
            return names
        container, last = _container(self.result, key, create=True)
        existing = container.get(last)
        if existing not in (None, []) and not isinstance(existing, list):
            if self.user_wins(key):
                self.conflict(key, existing, ours, "user")
                return names
            self.conflict(key, existing, ours, "tuned")
        args = list(existing) if isinstance(existing, list) else []
        kept: set[str] = set()
        for arg in ours:
            name = t.cast(str, _flag_name(arg))
            matches = [index for index, item in enumerate(args) if _flag_name(item) == name]
            if not matches:
                args.append(arg)
                continue
            current = args[matches[0]]
            if current == arg:
                continue
            path = f"{key} {name}"
            if self.user_wins(path):
                self.conflict(path, current, arg, "user")
                kept.add(name)
                continue
            self.conflict(path, current, arg, "tuned")
            args[matches[0]] = arg
            for index in reversed(matches[1:]):
                del args[index]
        container[last] = args
        return kept

    def args(self, key: str | None) -> list[t.Any] | None:
        if not key:
            return None
        found, value, at = _lookup(self.result, key.split("."))
        return value if found and at == key and isinstance(value, list) else None

    def delete(self, key: str) -> None:
        try:
            container, last = _container(self.result, key, create=False)
        except KeyError:
            return
        container.pop(last, None)


def merge_values(user_values: t.Mapping[str, t.Any] | None, plan: TuningPlan, *,
                 user_wins: UserWins | None = None) -> tuple[dict[str, t.Any], list[Conflict]]:
    """The user's values with the plan applied. Their keys stay; tuning keys are set; a conflicting
    user-set tuning key keeps the user's value only where ``user_wins`` says so."""
    merge = _Merge(user_values, plan, user_wins or UserWins(False))
    era = plan.era
    for key, value in plan.leaves:
        merge.set_leaf(key, value)

    # A user flag in extraArgs lands after the flag the chart renders from a key, so it would win silently.
    ours = dict(plan.leaves)
    user_args = merge.args(era.server_extra_args)
    if user_args is not None:
        for key, flag in KEY_FLAGS.items():
            if key not in ours:
                continue
            hits = [arg for arg in user_args if _flag_name(arg) == flag]
            if not hits:
                continue
            path = f"{era.server_extra_args} {flag}"
            if merge.user_wins(path) or merge.user_wins(key):
                merge.conflict(path, hits[-1], f"{key}: {ours[key]}", "user")
                continue
            merge.conflict(path, hits[-1], f"{key}: {ours[key]}", "tuned")
            user_args[:] = [arg for arg in user_args if _flag_name(arg) != flag]

    kept_flags: dict[str, set[str]] = {}
    if plan.server_args:
        args_key = t.cast(str, era.server_extra_args)
        kept_flags[args_key] = merge.merge_args(args_key, plan.server_args)
        _user_keys_for_our_flags(merge)
    if plan.node_agent_args:
        args_key = t.cast(str, era.node_agent_extra_args)
        kept_flags[args_key] = merge.merge_args(args_key, plan.node_agent_args)
    if era.legacy_maintenance_keys_dropped:
        _move_legacy_maintenance(merge, user_values or {})

    for cm_key, body in plan.config_maps.items():
        kept = [f"{args_key}: {flag}" for args_key, flag in plan.config_map_refs.get(cm_key, [])
                if flag in kept_flags.get(args_key, set())]
        if kept:
            # The user's own flag names another ConfigMap: ours would be read by nobody.
            plan.warnings.append(f"configMaps.{cm_key} is not written: your {', '.join(kept)} is kept and names "
                                 "another ConfigMap, so the tuning in it does not apply")
            continue
        key = f"{eras.CONFIG_MAPS}.{cm_key}.data"
        if merge.blocked(key):
            continue
        found, current, at = _lookup(merge.result, key.split("."))
        container, last = _container(merge.result, key, create=True)
        # Always a labels mapping: NOTES.txt of charts up to 8.6.0 runs `hasKey $value.labels` on every configMaps
        # entry and fails the render without one (eras.configmap_labels_required).
        if not isinstance(container.get("labels"), t.Mapping):
            container["labels"] = {}
        if found and at == key and same_value(current, body["data"]):
            continue
        if found and current is not None:
            if merge.user_wins(at):
                merge.conflict(at, current, body["data"], "user")
                continue
            merge.conflict(at, current, body["data"], "tuned")
        container[last] = copy.deepcopy(body["data"])

    if plan.extra_objects:
        objects = merge.result.get(eras.EXTRA_OBJECTS)
        if objects not in (None, []) and not isinstance(objects, list):
            raise ValueError(f"velero_values_overrides.{eras.EXTRA_OBJECTS}: expected a list of manifests, "
                             f"got {type_name(objects)} {describe_value(objects)}")
        objects = list(objects or [])
        for obj in plan.extra_objects:
            ident = (obj["kind"], obj["metadata"]["name"])
            path = f"{eras.EXTRA_OBJECTS}[{ident[0]}/{ident[1]}]"
            index = next((i for i, item in enumerate(objects) if isinstance(item, dict)
                          and (item.get("kind"), (item.get("metadata") or {}).get("name")) == ident), None)
            if index is None:
                objects.append(copy.deepcopy(obj))
            elif not same_value(objects[index].get("data"), obj["data"]):
                if merge.user_wins(path):
                    merge.conflict(path, objects[index].get("data"), obj["data"], "user")
                    continue
                merge.conflict(path, objects[index].get("data"), obj["data"], "tuned")
                objects[index] = copy.deepcopy(obj)
        merge.result[eras.EXTRA_OBJECTS] = objects
    return merge.result, merge.conflicts


def _user_keys_for_our_flags(merge: _Merge) -> None:
    """A chart key of the user that renders the same flag as one of ours in extraArgs (for example
    repositoryMaintenanceJob.limits.memory on chart 7.1.2): both would reach the command line."""
    era = merge.plan.era
    for arg in merge.plan.server_args:
        name = t.cast(str, _flag_name(arg))
        key = FLAG_KEYS.get(name)
        if key is None:
            continue
        found, current, at = _lookup(merge.result, key.split("."))
        if not found or at != key or current is None:
            continue
        args_list = merge.args(era.server_extra_args)
        if era.legacy_maintenance_keys_dropped:
            # Chart 10.1.x drops the key's flag once repositoryConfigData is set: theirs can only live in our flag.
            if same_value(current, _flag_value(arg)):
                merge.delete(key)
                continue
            if merge.user_wins(key):
                merge.conflict(key, current, arg, "user")
                if args_list is not None and arg in args_list:
                    args_list[args_list.index(arg)] = f"{name}={current}"
            else:
                merge.conflict(key, current, arg, "tuned")
            merge.delete(key)
            continue
        path = f"{key} / {era.server_extra_args} {name}"
        if merge.user_wins(key) or merge.user_wins(path):
            merge.conflict(key, current, arg, "user")
            if args_list is not None and arg in args_list:
                args_list.remove(arg)
            continue
        merge.conflict(key, current, arg, "tuned")
        merge.delete(key)


def _move_legacy_maintenance(merge: _Merge, user_values: t.Mapping[str, t.Any]) -> None:
    """Chart 10.1.x: maintenance resources the user set the legacy way conflict with our global.podResources.

    The chart drops repositoryMaintenanceJob.requests/limits once repositoryConfigData.global is set, and Velero
    1.16 lets the ConfigMap's podResources replace --maintenance-job-* flags. So a user's legacy value is either
    moved into global.podResources (all four fields, "0" = unbounded where missing) when it wins, or reported and
    removed; it never stays behind silently ignored.
    """
    era = merge.plan.era
    args_key = t.cast(str, era.server_extra_args)
    global_key = eras.REPOSITORY_CONFIG_GLOBAL + ".podResources"
    theirs: dict[str, str] = {}
    sources: list[tuple[str, t.Any]] = []
    keys: list[str] = []
    for key in (eras.MAINTENANCE_REQUESTS, eras.MAINTENANCE_LIMITS):
        found, value, at = _lookup(merge.result, key.split("."))
        if not found or at != key or not isinstance(value, t.Mapping):
            continue
        for kind in ("cpu", "memory"):
            if value.get(kind) not in (None, ""):
                theirs[MAINTENANCE_KEY_FIELDS[f"{key}.{kind}"]] = str(value[kind])
        sources.append((key, copy.deepcopy(dict(value))))
        keys.append(key)
    args_list = merge.args(args_key) or []
    for arg in list(args_list):
        field = MAINTENANCE_FLAG_FIELDS.get(t.cast(str, _flag_name(arg)))
        if field is not None:
            theirs[field] = str(_flag_value(arg) or "0")
            sources.append((f"{args_key} {_flag_name(arg)}", arg))
    if not sources:
        return
    explicit, _theirs, explicit_at = _lookup(user_values, global_key.split("."))
    _found, tuned, _at = _lookup(merge.result, global_key.split("."))
    wins = any(merge.user_wins(path) for path, _value in sources)
    if wins and not (explicit and explicit_at == global_key):
        moved = {field: theirs.get(field, "0") for field in POD_RESOURCE_FIELDS}
        for path, value in sources:
            merge.conflict(path, value, f"{global_key}: {describe(tuned)}", "user")
        container, last = _container(merge.result, global_key, create=True)
        container[last] = moved
    else:
        for path, value in sources:
            merge.conflict(path, value, f"{global_key}: {describe(tuned)}", "tuned")
    # Every --maintenance-job-* flag left in extraArgs is one of the sources.
    args_list[:] = [arg for arg in args_list if _flag_name(arg) not in MAINTENANCE_FLAG_FIELDS]
    for key in keys:
        merge.delete(key)


def _container(tree: dict[str, t.Any], dotted: str, create: bool) -> tuple[dict[str, t.Any], str]:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if not create:
                raise KeyError(dotted)
            child = {}
            node[part] = child
        node = child
    return node, parts[-1]


def _lookup(tree: t.Mapping[str, t.Any], parts: list[str]) -> tuple[bool, t.Any, str]:
    """(found, value, path) of the deepest user value on the way to ``parts`` that is set and not a mapping."""
    node: t.Any = tree
    for depth, part in enumerate(parts):
        if not isinstance(node, t.Mapping) or part not in node:
            return False, None, ""
        node = node[part]
        if depth < len(parts) - 1 and not isinstance(node, t.Mapping):
            if node is None:
                return False, None, ""  # `resources:` with no value = unset
            return True, node, ".".join(parts[:depth + 1])
    return True, node, ".".join(parts)


def _covers(conflict_path: str, path: str) -> bool:
    """A conflict at ``conflict_path`` decides ``path``: the same, a parent (key or extraArgs list) or a child."""
    return (path == conflict_path or path.startswith((conflict_path + ".", conflict_path + " "))
            or conflict_path.startswith((path + ".", path + " ")))


def mark_kept(placements: t.Iterable[Placement], conflicts: t.Iterable[Conflict]) -> None:
    """Mark each placement the user's kept values override (the cluster does not get the tuned value)."""
    kept = [c for c in conflicts if c.winner == "user"]
    for placement in placements:
        mine = [c for c in kept if any(_covers(c.path, path) for path in placement.paths)]
        placement.applied = not mine
        placement.kept = [c.user for c in mine]


def effective_server_setting(values: t.Mapping[str, t.Any], era: eras.ChartEra, key: str) -> t.Any:
    """What `velero server` really gets for a key the chart renders as a flag: a flag of the same name in
    configuration.extraArgs comes later on the command line and wins, else the key's value (None: unset)."""
    flag = KEY_FLAGS.get(key)
    args = _opt(values, era.server_extra_args) if era.server_extra_args else None
    if flag and isinstance(args, list):
        hits = [arg for arg in args if _flag_name(arg) == flag]
        if hits:
            return _flag_value(hits[-1])
    return _opt(values, key)


# ---------------------------------------------------------------------------------------------------------------
# Strict validation


_VALIDATORS: dict[str, t.Any] = {}


def load_schema(era: eras.ChartEra) -> dict[str, t.Any]:
    path = SCHEMA_DIR / era.schema_name
    try:
        with open(path, encoding="utf-8") as handle:
            return t.cast("dict[str, t.Any]", json.load(handle))
    except OSError as exc:
        raise ValueError(f"chart era {era.id}: schema {path} is missing ({exc.strerror}); the collection "
                         "install is incomplete") from None


def _validator(era: eras.ChartEra) -> t.Any:
    if not HAS_JSONSCHEMA:
        raise ValueError(f"validating Helm values needs the Python package jsonschema on the controller "
                         f"(pip install jsonschema): {JSONSCHEMA_IMPORT_ERROR}")
    if era.id not in _VALIDATORS:
        _VALIDATORS[era.id] = jsonschema.Draft202012Validator(load_schema(era))
    return _VALIDATORS[era.id]


def known_paths(schema: t.Mapping[str, t.Any]) -> list[str]:
    """Every dotted key path a schema names (for "did you mean" hints)."""
    defs = schema.get("$defs", {})
    paths: list[str] = []

    def walk(node: t.Mapping[str, t.Any], prefix: str, depth: int) -> None:
        if depth > 8:
            return
        if "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        for key, child in (node.get("properties") or {}).items():
            path = f"{prefix}.{key}" if prefix else key
            paths.append(path)
            walk(child, path, depth + 1)

    walk(schema, "", 0)
    return paths


def _path_text(parts: t.Iterable[t.Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unknown_key_message(era: eras.ChartEra, parent: str, key: str, paths: list[str]) -> str:
    full = f"{parent}.{key}" if parent else key
    where = f"under {parent}" if parent else "at the top level"
    message = f"unknown key {full!r} ({where}) for chart {era.first} to {era.last}"
    if full in RETIRED_KEYS:
        return f"{message}: {RETIRED_KEYS[full]}"
    if full in (eras.MAINTENANCE_JOB, eras.MAINTENANCE_REQUESTS, eras.MAINTENANCE_LIMITS,
                eras.MAINTENANCE_LATEST_JOBS):
        return f"{message}: {_legacy_maintenance_hint(era, full)}"
    prefix = parent + "." if parent else ""
    siblings = [path.rsplit(".", 1)[-1] for path in paths
                if (path.rsplit(".", 1)[0] if "." in path else "") == parent]
    # A misspelling of a sibling (clientQps, resource) first, then the same name elsewhere (mis-indented).
    lowered = {sibling.lower(): sibling for sibling in siblings}
    close = [s for s in siblings if s.lower() == key.lower()]
    close = close or difflib.get_close_matches(key, siblings, n=2, cutoff=0.75)
    close = close or [lowered[c] for c in difflib.get_close_matches(key.lower(), list(lowered), n=2, cutoff=0.75)]
    if close:
        return f"{message}; did you mean {' or '.join(prefix + name for name in close)}?"
    elsewhere = [path for path in paths if path.rsplit(".", 1)[-1].lower() == key.lower() and path != full]
    if elsewhere:
        return f"{message}; it belongs at {' or '.join(elsewhere[:3])} (mis-indented?)"
    return f"{message} (the chart would silently ignore it)"


def _describe_expected(schema: t.Mapping[str, t.Any], defs: t.Mapping[str, t.Any]) -> str:
    hints = {
        "count": "a whole number below 1000000, or a quoted string of digits (Helm prints 1000000 as 1e+06)",
        "rate": "a number below 1000000, or a quoted number (Helm prints 1000000 as 1e+06)",
        "quantity": "a Kubernetes quantity string such as \"500m\" or \"4Gi\" (quoted)",
        "duration": "a Go duration string such as \"1h\" or \"168h\"",
        "stringList": "a list of strings such as [\"--flag=value\"]",
    }
    for name, schema_def in defs.items():
        if schema_def is schema or schema_def == schema:
            if name in hints:
                return hints[name]
    kinds = schema.get("type")
    if kinds:
        return "of type " + (" or ".join(kinds) if isinstance(kinds, list) else kinds)
    return "a value the chart accepts"


def validate_values(values: t.Mapping[str, t.Any], era: eras.ChartEra, *, user_values: t.Mapping[str, t.Any] | None
                    = None, unchecked: t.Iterable[str] = (), field: str = "velero_values_overrides") -> None:
    """Raise ``ValueError`` listing every key the era's strict schema rejects, with a hint for each."""
    validator = _validator(era)
    schema = validator.schema
    defs = schema.get("$defs", {})
    checked = copy.deepcopy(dict(values))
    for dotted in unchecked:
        try:
            container, last = _container(checked, dotted, create=False)
        except KeyError:
            continue
        container.pop(last, None)
    errors = sorted(validator.iter_errors(checked), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return
    paths = known_paths(schema)
    problems: list[str] = []
    for error in errors:
        location = _path_text(error.absolute_path)
        source = _source(user_values, list(error.absolute_path), field)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set((error.schema.get("properties") or {}))
            patterns = list((error.schema.get("patternProperties") or {}))
            for key in sorted(error.instance):
                if key in allowed or any(re.search(p, key) for p in patterns):
                    continue
                if patterns:
                    problems.append(f"{source}: key {location + '.' + key!r} is not a repository key "
                                    "<volumeNamespace>-<backupStorageLocation>-<kopia|restic>")
                else:
                    problems.append(f"{source}: {_unknown_key_message(era, location, key, paths)}")
        elif error.validator == "required":
            problems.append(f"{source}: {location}: {error.message}; Velero needs all four of "
                            f"{', '.join(POD_RESOURCE_FIELDS)} (\"0\" = unbounded)")
        else:
            problems.append(f"{source}: {location or 'values'} = {error.instance!r} is not valid for chart "
                            f"{era.first} to {era.last}: expected {_describe_expected(error.schema, defs)}")
    raise ValueError("; ".join(dict.fromkeys(problems)))


def _source(user_values: t.Mapping[str, t.Any] | None, parts: list[t.Any], field: str) -> str:
    node: t.Any = user_values or {}
    for part in parts:
        if isinstance(node, t.Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return "rendered values" if parts else field
    return field


# ---------------------------------------------------------------------------------------------------------------
# Loading and dumping YAML


def load_overrides(value: t.Any, field: str = "velero_values_overrides", *, source: str | None = None) -> dict:
    """The user's values: a mapping, or YAML text (from a file named ``source``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not HAS_YAML:
            raise ValueError(f"{field}: reading YAML needs PyYAML: {YAML_IMPORT_ERROR}")
        where = source or field
        try:
            loaded = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{field}: {where} is not valid YAML{at}: {problem}") from None
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{field}: {where} must hold a mapping of Helm values, got a {type_name(loaded)}")
        return t.cast(dict, to_plain(loaded))
    if isinstance(value, t.Mapping):
        return t.cast(dict, to_plain(value))
    raise ValueError(f"{field}: expected a mapping of Helm values or the path of a YAML file, "
                     f"got {type_name(value)} {describe_value(value)}")


if HAS_YAML:
    class _Dumper(yaml.SafeDumper):
        """Block style, lists indented under their key (as yamllint likes), no anchors, multi-line strings as
        literal blocks."""

        def ignore_aliases(self, data: t.Any) -> bool:
            return True

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> t.Any:
            return super().increase_indent(flow, False)

    def _represent_str(dumper: t.Any, data: str) -> t.Any:
        if "\n" in data:
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", data)

    _Dumper.add_representer(str, _represent_str)


def dump_values(values: t.Mapping[str, t.Any], header: t.Iterable[str] = ()) -> str:
    if not HAS_YAML:
        raise ValueError(f"writing YAML needs PyYAML: {YAML_IMPORT_ERROR}")
    lines = [f"# {line}".rstrip() for line in header]
    body = yaml.dump(dict(values), Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                     width=4096, indent=2)
    return ("\n".join(lines) + "\n" if lines else "") + body


def exponent_prone(values: t.Any, path: str = "") -> list[str]:
    """Dotted paths of numbers Helm would print in exponent form (>= 1e6, or tiny floats)."""
    found: list[str] = []
    if isinstance(values, dict):
        for key, item in values.items():
            found += exponent_prone(item, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list):
        for index, item in enumerate(values):
            found += exponent_prone(item, f"{path}[{index}]")
    elif isinstance(values, (int, float)) and not isinstance(values, bool):
        if abs(values) >= HELM_EXPONENT_THRESHOLD or (isinstance(values, float) and 0 < abs(values) < 1e-4):
            found.append(path)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Whole pipeline


def check_flags(values: t.Mapping[str, t.Any], era: eras.ChartEra, velero_version: t.Any, *,
                user_values: t.Mapping[str, t.Any] | None = None, field: str = "velero_values_overrides") -> None:
    """Raise ``ValueError`` for extraArgs flags the cluster's Velero does not have (it would refuse to start)."""
    rel = release(velero_version)
    problems: list[str] = []
    for args_key, component in ((era.server_extra_args, "server"), (era.node_agent_extra_args, "node-agent")):
        args = _opt(values, args_key) if args_key else None
        if not isinstance(args, list):
            continue
        theirs = _opt(user_values or {}, t.cast(str, args_key))
        for arg in args:
            name = _flag_name(arg)
            problem = unknown_flag(rel, component, name) if name else None
            if problem:
                source = field if isinstance(theirs, list) and arg in theirs else "rendered values"
                problems.append(f"{source}: {args_key} {arg}: {problem}")
    if problems:
        raise ValueError("; ".join(dict.fromkeys(problems)))


def _user_config_maps_without_labels(values: dict[str, t.Any], plan: TuningPlan, chart: str) -> list[str]:
    """Give user configMaps entries the labels mapping the chart's NOTES.txt needs to render
    (eras.configmap_labels_required); an empty map adds no labels."""
    fixed = []
    config_maps = values.get(eras.CONFIG_MAPS)
    if not isinstance(config_maps, dict):
        return fixed
    for key, entry in config_maps.items():
        if key in plan.config_maps or not isinstance(entry, dict) or isinstance(entry.get("labels"), t.Mapping):
            continue
        if eras.configmap_labels_required(chart, str(key)):
            entry["labels"] = {}
            fixed.append(str(key))
    return fixed


def defaults_for_chart(recommendation: t.Mapping[str, t.Any], era: eras.ChartEra, chart: str) -> dict[str, t.Any]:
    """What the cluster gets without tuning, per tuned item, and where that comes from (for the report)."""
    velero = recommendation.get("velero_version")
    result: dict[str, t.Any] = {}
    for item, key in (("server.resources", eras.SERVER_RESOURCES), ("node_agent.resources",
                                                                    eras.NODE_AGENT_RESOURCES)):
        chart_default = eras.chart_resource_defaults(era, key)
        if chart_default:
            result[item] = {"value": chart_default, "source": f"chart {chart} values.yaml `{key}`"}
        else:
            result[item] = {"value": None, "source": f"chart {chart} values.yaml `{key}: {{}}`"}
    result["_velero"] = f"Velero {velero}"
    return result


def render_values(recommendation: t.Mapping[str, t.Any], chart_version: t.Any, *, velero_version: t.Any = None,
                  overrides: t.Any = None, overrides_source: str | None = None, release_name: str = "velero",
                  user_wins: t.Any = False, unchecked_keys: t.Iterable[str] = (),
                  cluster_name: str | None = None) -> dict[str, t.Any]:
    """Recommendation -> merged, validated values and their YAML text, plus what the report needs."""
    velero_version = velero_version or recommendation.get("velero_version")
    check_release_name(release_name)
    era = eras.chart_era(chart_version, velero_version)
    chart = eras.parse_chart_version(chart_version)
    user_values = load_overrides(overrides, source=overrides_source)
    wins = UserWins(user_wins)
    unchecked = list(unchecked_keys or [])
    if not all(isinstance(item, str) for item in unchecked):
        raise ValueError(f"velero_values_unchecked_keys: expected a list of dotted keys, got {unchecked!r}")
    plan = plan_tuning(recommendation, era, release_name=release_name, user_values=user_values, chart_version=chart)
    merged, conflicts = merge_values(user_values, plan, user_wins=wins)
    check_flags(merged, era, velero_version, user_values=user_values)
    label_notes = []
    fixed = _user_config_maps_without_labels(merged, plan, chart)
    if fixed:
        label_notes.append(f"configMaps {', '.join(fixed)}: labels: {{}} added; chart {chart}'s NOTES.txt reads "
                           "the labels " + ("of every configMaps entry" if eras.configmap_labels_required(chart) else
                                            f"of {eras.RESTORE_ACTION_CONFIG_MAP}")
                           + " and fails to render without them.")
    validate_values(merged, era, user_values=user_values, unchecked=unchecked)
    mark_kept(plan.placements, conflicts)
    warnings = list(plan.warnings)
    note = eras.velero_patch_note(chart, velero_version) if velero_version else None
    notes = ([note] if note else []) + list(plan.notes) + label_notes
    if era.resource_defaults_merge:
        notes.append(f"Chart {era.first} to {era.last} merges resources with its own defaults; the values set "
                     "every cpu/memory request and limit (null drops a chart default).")
    for unused in wins.unused():
        warnings.append(f"velero_values_user_wins entry {unused!r} matched no conflicting tuning key")
    for conflict in conflicts:
        kept = "your value is kept (velero_values_user_wins)" if conflict.winner == "user" else \
            "the tuned value replaces it (list the key in velero_values_user_wins to keep yours)"
        warnings.append(f"conflict at {conflict.path}: you set {describe(conflict.user)}, tuning recommends "
                        f"{describe(conflict.tuned)}; {kept}")
    header = [
        f"Velero Helm values{' for ' + cluster_name if cluster_name else ''}: chart {chart}, "
        f"Velero {velero_version or recommendation.get('velero_version')}, release name {release_name}.",
        "Written by velero_ops.tuning (role helm_values). Tuned keys and the reasons are in report.md;",
        "put your own settings in velero_values_overrides rather than editing this file.",
    ]
    text = dump_values(merged, header)
    rate_keys = (("client_qps", eras.CLIENT_QPS), ("client_burst", eras.CLIENT_BURST),
                 ("client_page_size", eras.CLIENT_PAGE_SIZE))
    written = {name: effective_server_setting(merged, era, key) for name, key in rate_keys}
    return {
        "values": merged,
        "values_yaml": text,
        "era": {"id": era.id, "first": era.first, "last": era.last, "schema": era.schema_name,
                "velero_versions": era.velero_versions, "maintenance_route": era.maintenance},
        "chart_version": chart,
        "fullname": plan.fullname,
        "placements": [dataclasses.asdict(p) for p in plan.placements],
        "conflicts": [c.as_dict() for c in conflicts],
        "warnings": warnings,
        "notes": notes,
        "assumptions": list(plan.assumptions),
        "uploader": plan.uploader,
        "defaults": defaults_for_chart(recommendation, era, chart),
        "written": written,
    }
