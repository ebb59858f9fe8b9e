# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Velero Helm chart eras: which chart version ships which Velero, and where each tuning item goes.

One table (``ERAS``), read top to bottom like a changelog of the official chart
(vmware-tanzu/helm-charts, ``charts/velero``). Every row covers a range of chart releases
whose values keys for the tuning items are identical; the renderer in ``_helm_values`` reads
the row and never branches on version numbers itself.

Sources: docs/helm-values.md ("Chart eras"), which cites the chart tags; the release list
and appVersion of every chart release from 5.0.0 to 12.1.0 are in ``CHART_RELEASES``.
Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from ._releases import SUPPORTED_MINORS_TEXT, parse_version, release

# Routes for the repository-maintenance resources.
#   server-resources: Velero 1.12/1.13 run maintenance inside the server pod -> size `resources`.
#   server-flags:     Velero 1.14 on charts without maintenance keys -> `configuration.extraArgs`.
#   chart-keys:       configuration.repositoryMaintenanceJob.requests/limits (-> --maintenance-job-* flags).
#   config-data:      configuration.repositoryMaintenanceJob.repositoryConfigData (ConfigMap, chart 10.1.0+).
MaintenanceRoute = t.Literal["server-resources", "server-flags", "chart-keys", "config-data"]
# Where keepLatestMaintenanceJobs goes: a chart key, the server flag through extraArgs, or nowhere (1.12/1.13).
KeepLatestRoute = t.Literal["key", "flag", "none"]
# Per-repository maintenance resources: chart's repositoryConfigData.repositories, our own ConfigMap
# (configMaps entry + --repo-maintenance-job-configmap, Velero 1.15/1.16 on older charts), or impossible.
PerRepositoryRoute = t.Literal["config-data", "config-map", "none"]
# Node-agent ConfigMap: none (Velero 1.12), exact name node-agent-config through extraObjects
# (Velero 1.13/1.14 read that fixed name), or a configMaps entry named by --node-agent-configmap (1.15+).
NodeAgentConfigRoute = t.Literal["none", "extra-object", "config-map"]

# Key paths shared by every era (never renamed since before chart 5.0.0).
CLIENT_QPS = "configuration.clientQPS"
CLIENT_BURST = "configuration.clientBurst"
CLIENT_PAGE_SIZE = "configuration.clientPageSize"
SERVER_RESOURCES = "resources"
NODE_AGENT_RESOURCES = "nodeAgent.resources"
MAINTAIN_FREQUENCY = "configuration.defaultRepoMaintainFrequency"
CONFIG_MAPS = "configMaps"
EXTRA_OBJECTS = "extraObjects"
SERVER_EXTRA_ARGS = "configuration.extraArgs"  # chart 6.2.0+
NODE_AGENT_EXTRA_ARGS = "nodeAgent.extraArgs"  # chart 7.1.0+
MAINTENANCE_JOB = "configuration.repositoryMaintenanceJob"
MAINTENANCE_REQUESTS = MAINTENANCE_JOB + ".requests"  # chart 7.1.2 - 10.1.3
MAINTENANCE_LIMITS = MAINTENANCE_JOB + ".limits"  # chart 7.1.2 - 10.1.3
MAINTENANCE_LATEST_JOBS = MAINTENANCE_JOB + ".latestJobsCount"  # chart 7.1.3 - 10.1.3
REPOSITORY_CONFIG_DATA = MAINTENANCE_JOB + ".repositoryConfigData"  # chart 10.1.0+
REPOSITORY_CONFIG_GLOBAL = REPOSITORY_CONFIG_DATA + ".global"
REPOSITORY_CONFIG_REPOSITORIES = REPOSITORY_CONFIG_DATA + ".repositories"
GLOBAL_KEEP_LATEST = REPOSITORY_CONFIG_GLOBAL + ".keepLatestMaintenanceJobs"

# Every chart release from 5.0.0 to 12.1.0 with the Velero appVersion it ships (Chart.yaml at tag velero-<v>).
CHART_RELEASES: tuple[tuple[str, str], ...] = (
    ("5.0.0", "1.11.1"), ("5.0.1", "1.11.1"), ("5.0.2", "1.11.1"),
    ("5.1.0", "1.12.0"), ("5.1.1", "1.12.1"), ("5.1.2", "1.12.1"), ("5.1.3", "1.12.1"), ("5.1.4", "1.12.1"),
    ("5.1.5", "1.12.2"), ("5.1.6", "1.12.2"), ("5.1.7", "1.12.2"), ("5.2.0", "1.12.2"), ("5.2.1", "1.12.3"),
    ("5.2.2", "1.12.3"), ("5.3.0", "1.13.0"), ("5.4.0", "1.13.0"), ("5.4.1", "1.13.0"),
    ("6.0.0", "1.13.0"), ("6.1.0", "1.13.0"), ("6.2.0", "1.13.0"), ("6.3.0", "1.13.2"), ("6.4.0", "1.13.2"),
    ("6.5.0", "1.13.2"), ("6.6.0", "1.13.2"), ("6.7.0", "1.13.2"),
    ("7.0.0", "1.14.0"), ("7.1.0", "1.14.0"), ("7.1.1", "1.14.0"), ("7.1.2", "1.14.0"), ("7.1.3", "1.14.0"),
    ("7.1.4", "1.14.0"), ("7.1.5", "1.14.0"), ("7.2.0", "1.14.1"), ("7.2.1", "1.14.1"), ("7.2.2", "1.14.1"),
    ("8.0.0", "1.15.0"), ("8.1.0", "1.15.0"), ("8.2.0", "1.15.1"), ("8.3.0", "1.15.2"), ("8.4.0", "1.15.2"),
    ("8.5.0", "1.15.2"), ("8.6.0", "1.15.2"), ("8.7.0", "1.15.2"), ("8.7.1", "1.15.2"), ("8.7.2", "1.15.2"),
    ("9.0.0", "1.16.0"), ("9.0.1", "1.16.0"), ("9.0.2", "1.16.0"), ("9.0.3", "1.16.0"), ("9.0.4", "1.16.0"),
    ("9.1.0", "1.16.0"), ("9.1.1", "1.16.0"), ("9.1.2", "1.16.0"), ("9.1.3", "1.16.0"), ("9.2.0", "1.16.0"),
    ("10.0.0", "1.16.0"), ("10.0.1", "1.16.0"), ("10.0.2", "1.16.0"), ("10.0.3", "1.16.0"), ("10.0.4", "1.16.0"),
    ("10.0.5", "1.16.1"), ("10.0.6", "1.16.1"), ("10.0.7", "1.16.1"), ("10.0.8", "1.16.1"), ("10.0.9", "1.16.1"),
    ("10.0.10", "1.16.1"), ("10.0.11", "1.16.1"), ("10.0.12", "1.16.1"), ("10.0.13", "1.16.2"),
    ("10.1.0", "1.16.2"), ("10.1.1", "1.16.2"), ("10.1.2", "1.16.2"), ("10.1.3", "1.16.2"),
    ("11.0.0", "1.17.0"), ("11.1.0", "1.17.0"), ("11.1.1", "1.17.0"), ("11.2.0", "1.17.1"), ("11.3.1", "1.17.1"),
    ("11.3.2", "1.17.1"), ("11.4.0", "1.17.1"),
    ("12.0.0", "1.18.0"), ("12.0.1", "1.18.0"), ("12.0.2", "1.18.1"), ("12.0.3", "1.18.1"), ("12.1.0", "1.18.1"),
)
_APP_BY_CHART = dict(CHART_RELEASES)

_CHART_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
CHART_FORM = "a released Velero Helm chart version such as 7.2.2 or 12.1.0"


@dataclasses.dataclass(frozen=True)
class ChartEra:
    """Chart releases ``first``..``last`` (inclusive) and how each tuning item is expressed there."""

    first: str
    last: str
    velero_minor: int
    # Real values.yaml (../shared/velero-chart/) the era's strict schema is made from, and the dotted
    # paths of that file that no chart release of this era has (added later in the major).
    values_file: str
    maintenance: MaintenanceRoute
    keep_latest: KeepLatestRoute
    per_repository: PerRepositoryRoute
    node_agent_config: NodeAgentConfigRoute
    absent: tuple[str, ...] = ()
    # --backup-repository-configmap (Velero 1.15+) on the server; also on the node-agent from Velero 1.18.
    backup_repository_config: bool = True
    node_agent_backup_repository_flag: bool = False
    server_extra_args: str | None = SERVER_EXTRA_ARGS
    node_agent_extra_args: str | None = NODE_AGENT_EXTRA_ARGS
    # Chart defaults for resources were non-empty up to 6.6.0 and maps merge with them: a null drops a
    # default key there. From 6.7.0 the defaults are {} and a null would reach the pod spec, so omit it.
    resource_defaults_merge: bool = False
    # Chart 11.0.0+ fails to render when the legacy maintenance keys are present.
    legacy_maintenance_keys_fail: bool = False
    # Chart 10.1.x renders the legacy requests/limits/latestJobsCount flags only while repositoryConfigData.global
    # and .repositories are empty (templates/deployment.yaml `if ... else`): once we set global, they are dropped.
    legacy_maintenance_keys_dropped: bool = False
    # Chart 11.0.0+ names the server Deployment `velero` (helm-charts PR #709); before, `<release>-velero` unless
    # the release name contains "velero". Velero 1.14+ builds maintenance Jobs from the Deployment named `velero`.
    deployment_named_velero: bool = False

    @property
    def id(self) -> str:
        return self.first if self.first == self.last else f"{self.first}-{self.last}"

    @property
    def schema_name(self) -> str:
        """File name of this era's strict values schema under ``schemas/helm-values/``."""
        return f"chart-{self.id}.schema.json"

    @property
    def releases(self) -> list[str]:
        return [chart for chart, _app in CHART_RELEASES if _in_range(chart, self.first, self.last)]

    @property
    def velero_versions(self) -> list[str]:
        seen: list[str] = []
        for chart in self.releases:
            if _APP_BY_CHART[chart] not in seen:
                seen.append(_APP_BY_CHART[chart])
        return seen


def _version_tuple(text: str) -> tuple[int, int, int]:
    parts = text.split(".")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _in_range(chart: str, first: str, last: str) -> bool:
    return _version_tuple(first) <= _version_tuple(chart) <= _version_tuple(last)


# The table. Rows are contiguous and cover every supported chart release (5.1.0 .. 12.1.0).
ERAS: tuple[ChartEra, ...] = (
    # Velero 1.12: maintenance runs inside the server; no extraArgs key yet; resources defaults non-empty.
    ChartEra("5.1.0", "5.2.2", 12, "values-5.2.2.yaml", maintenance="server-resources", keep_latest="none",
             per_repository="none", node_agent_config="none", backup_repository_config=False,
             server_extra_args=None, node_agent_extra_args=None, resource_defaults_merge=True),
    # Velero 1.13: the node-agent reads the fixed-name ConfigMap node-agent-config (extraObjects keeps the name).
    ChartEra("5.3.0", "5.4.1", 13, "values-5.4.1.yaml", maintenance="server-resources", keep_latest="none",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             server_extra_args=None, node_agent_extra_args=None, resource_defaults_merge=True),
    ChartEra("6.0.0", "6.1.0", 13, "values-6.7.0.yaml", maintenance="server-resources", keep_latest="none",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             absent=(SERVER_EXTRA_ARGS, "configuration.disableInformerCache"),
             server_extra_args=None, node_agent_extra_args=None, resource_defaults_merge=True),
    # 6.2.0 adds configuration.extraArgs; 6.7.0 empties the resources defaults (nothing left to merge with).
    ChartEra("6.2.0", "6.6.0", 13, "values-6.7.0.yaml", maintenance="server-resources", keep_latest="none",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             node_agent_extra_args=None, resource_defaults_merge=True),
    ChartEra("6.7.0", "6.7.0", 13, "values-6.7.0.yaml", maintenance="server-resources", keep_latest="none",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             node_agent_extra_args=None),
    # Velero 1.14: maintenance is a Job sized by server flags; charts before 7.1.2 have no keys for them.
    ChartEra("7.0.0", "7.0.0", 14, "values-7.2.2.yaml", maintenance="server-flags", keep_latest="flag",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             absent=(NODE_AGENT_EXTRA_ARGS, MAINTENANCE_JOB), node_agent_extra_args=None),
    ChartEra("7.1.0", "7.1.1", 14, "values-7.2.2.yaml", maintenance="server-flags", keep_latest="flag",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             absent=(MAINTENANCE_JOB,)),
    # 7.1.2 adds requests/limits and 7.1.3 latestJobsCount, but in both a set requests.cpu or requests.memory
    # breaks the render ("can't evaluate field cpu in type string"; fixed in 7.1.4 by helm-charts PR #610):
    # the resource flags stay in extraArgs there, and requests is refused in the user's values. 7.1.3's
    # latestJobsCount works and defaults to 3 (always rendered as --keep-latest-maintenance-jobs), so keep-latest
    # goes through the key there: a flag in extraArgs would repeat it.
    ChartEra("7.1.2", "7.1.2", 14, "values-7.2.2.yaml", maintenance="server-flags", keep_latest="flag",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             absent=(MAINTENANCE_REQUESTS, MAINTENANCE_LATEST_JOBS)),
    ChartEra("7.1.3", "7.1.3", 14, "values-7.2.2.yaml", maintenance="server-flags", keep_latest="key",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False,
             absent=(MAINTENANCE_REQUESTS,)),
    ChartEra("7.1.4", "7.2.2", 14, "values-7.2.2.yaml", maintenance="chart-keys", keep_latest="key",
             per_repository="none", node_agent_config="extra-object", backup_repository_config=False),
    # Velero 1.15/1.16 read the repo-maintenance ConfigMap (per repository) and the node-agent and
    # backup-repository ConfigMaps named by flags; these charts have no keys for them -> configMaps + extraArgs.
    ChartEra("8.0.0", "8.7.2", 15, "values-8.7.2.yaml", maintenance="chart-keys", keep_latest="key",
             per_repository="config-map", node_agent_config="config-map"),
    ChartEra("9.0.0", "9.2.0", 16, "values-9.2.0.yaml", maintenance="chart-keys", keep_latest="key",
             per_repository="config-map", node_agent_config="config-map"),
    ChartEra("10.0.0", "10.0.13", 16, "values-10.1.3.yaml", maintenance="chart-keys", keep_latest="key",
             per_repository="config-map", node_agent_config="config-map",
             absent=(REPOSITORY_CONFIG_DATA, "resizePolicy", "nodeAgent.resizePolicy")),
    # 10.1.0 adds repositoryConfigData; once global/repositories is non-empty the template drops the legacy
    # flags, and Velero 1.16 reads keepLatest only from its flag -> extraArgs.
    ChartEra("10.1.0", "10.1.3", 16, "values-10.1.3.yaml", maintenance="config-data", keep_latest="flag",
             per_repository="config-data", node_agent_config="config-map", legacy_maintenance_keys_dropped=True),
    # Velero 1.17: maintenance flags removed; the chart fails on the legacy keys; keepLatest in the ConfigMap.
    ChartEra("11.0.0", "11.4.0", 17, "values-11.4.0.yaml", maintenance="config-data", keep_latest="key",
             per_repository="config-data", node_agent_config="config-map", legacy_maintenance_keys_fail=True,
             deployment_named_velero=True),
    # Velero 1.18: the node-agent also takes --backup-repository-configmap.
    ChartEra("12.0.0", "12.1.0", 18, "values-12.1.0.yaml", maintenance="config-data", keep_latest="key",
             per_repository="config-data", node_agent_config="config-map", legacy_maintenance_keys_fail=True,
             node_agent_backup_repository_flag=True, deployment_named_velero=True),
)


# values.yaml defaults of `resources` and `nodeAgent.resources` in charts 5.x to 6.6.0; chart 6.7.0 emptied both
# (helm-charts commit 2760ac7). What a cluster gets from the chart when the values leave them alone.
_CHART_RESOURCE_DEFAULTS_BEFORE_6_7: dict[str, dict[str, dict[str, str]]] = {
    SERVER_RESOURCES: {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "1000m", "memory": "512Mi"}},
    NODE_AGENT_RESOURCES: {"requests": {"cpu": "500m", "memory": "512Mi"},
                           "limits": {"cpu": "1000m", "memory": "1024Mi"}},
}


def chart_resource_defaults(era: ChartEra, key: str) -> dict[str, dict[str, str]]:
    """The chart's own default for ``resources`` or ``nodeAgent.resources`` in this era ({} = none)."""
    return _CHART_RESOURCE_DEFAULTS_BEFORE_6_7.get(key, {}) if era.resource_defaults_merge else {}


def chart_default_uploader(chart_version: t.Any) -> str:
    """Uploader the chart renders when configuration.uploaderType is unset.

    templates/deployment.yaml renders `--uploader-type={{ default "restic" .uploaderType }}` up to chart 5.4.0 and
    `default "kopia"` from 5.4.1 (helm-charts commit 8c116b7); the flag is always rendered, so Velero's own server
    default (restic up to 1.16) never applies to a chart install.
    """
    return "restic" if _version_tuple(parse_chart_version(chart_version)) < (5, 4, 1) else "kopia"


# The configMaps entry whose labels NOTES.txt reads in every chart release (restore helper configuration).
RESTORE_ACTION_CONFIG_MAP = "fs-restore-action-config"


def configmap_labels_required(chart_version: t.Any, key: str | None = None) -> bool:
    """Whether the configMaps entry ``key`` (any entry when None) needs a `labels` mapping for the chart to render.

    templates/NOTES.txt ranges over .Values.configMaps and runs `hasKey $value.labels "velero.io/restic"`: in
    charts 5.x to 8.6.0 on every entry (line 66 reads `{{- eq $key "fs-restore-action-config" }}` without `if`),
    from 8.7.0 on the fs-restore-action-config entry only. An entry without labels there fails helm
    install/template with "wrong type for value; expected map[string]interface {}; got interface {}".
    """
    if key == RESTORE_ACTION_CONFIG_MAP:
        return True
    return _version_tuple(parse_chart_version(chart_version)) < (8, 7, 0)


# Chart releases whose own values.schema.json requires `config` in every backupStorageLocation and
# volumeSnapshotLocation item (10.0.4 added the requirement, 10.0.7 dropped it): helm refuses values without it.
LOCATION_CONFIG_REQUIRED = ("10.0.4", "10.0.6")
LOCATION_LISTS = ("configuration.backupStorageLocation", "configuration.volumeSnapshotLocation")


def location_config_required(chart_version: t.Any) -> bool:
    """Whether chart ``chart_version``'s values.schema.json requires `config` in every location item."""
    return _in_range(parse_chart_version(chart_version), *LOCATION_CONFIG_REQUIRED)


def parse_chart_version(value: t.Any, field: str = "velero_chart_version") -> str:
    match = _CHART_VERSION.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{field}: expected {CHART_FORM}, got {value!r}")
    return "%s.%s.%s" % match.groups()


def charts_shipping(minor: int) -> list[str]:
    """Chart releases whose appVersion is Velero 1.<minor>.x."""
    return [chart for chart, app in CHART_RELEASES if _version_tuple(app)[1] == minor]


def describe_charts_for(minor: int) -> str:
    charts = charts_shipping(minor)
    if not charts:
        return f"no chart release from {CHART_RELEASES[0][0]} to {CHART_RELEASES[-1][0]} ships Velero 1.{minor}"
    return f"Velero 1.{minor} ships with chart {charts[0]} to {charts[-1]}"


def shipped_velero(chart_version: t.Any, field: str = "velero_chart_version") -> str:
    chart = parse_chart_version(chart_version, field)
    if chart not in _APP_BY_CHART:
        raise ValueError(_unknown_chart_message(chart, field))
    return _APP_BY_CHART[chart]


NEWEST_KNOWN_CHART = CHART_RELEASES[-1][0]


def is_newer_than_known(chart_version: t.Any, field: str = "velero_chart_version") -> bool:
    """A chart release after the newest known one, within the newest known major (12.2.0 after 12.1.0).

    Such a release is rendered with the newest era's rules and schema (``chart_assumption`` says so), unless
    the user asks for strictness; a new major is never assumed (majors change keys: 11.0.0 removed some).
    """
    chart = _version_tuple(parse_chart_version(chart_version, field))
    newest = _version_tuple(NEWEST_KNOWN_CHART)
    return chart[0] == newest[0] and chart > newest


def chart_assumption(chart_version: t.Any, strict_field: str = "velero_chart_strict") -> str | None:
    """The warning for a chart newer than the newest known (None for a known chart): names the assumption."""
    if not is_newer_than_known(chart_version):
        return None
    chart, era = parse_chart_version(chart_version), ERAS[-1]
    return (f"chart {chart} is newer than the newest chart release this collection knows ({NEWEST_KNOWN_CHART}): "
            f"rendered with the rules and strict schema of chart {era.id} (Velero 1.{era.velero_minor}), assuming "
            f"chart {chart} has the same values keys. Check its changelog, or set {strict_field}: true to refuse "
            f"charts this collection does not know")


def _unknown_chart_message(chart: str, field: str) -> str:
    first, last = CHART_RELEASES[0][0], CHART_RELEASES[-1][0]
    majors = sorted({_version_tuple(c)[0] for c, _app in CHART_RELEASES})
    major = _version_tuple(chart)[0]
    if major > majors[-1]:
        return (f"{field}: chart {chart} is a new major release this collection does not know (newest known: "
                f"{last}); a new chart major renames or removes values keys, so its rules are not assumed. Use a "
                f"velero_ops.tuning release that knows chart {major}.x, or set {field} to the chart version the "
                f"cluster runs")
    if major in majors:
        in_major = [c for c, _app in CHART_RELEASES if _version_tuple(c)[0] == major]
        hint = f"chart {major}.x releases are {', '.join(in_major)}"
    else:
        hint = f"known chart releases are {first} to {last}"
    return (f"{field}: chart {chart} is not a known release of the Velero Helm chart ({hint}); "
            f"set {field} to the chart version the cluster runs (helm list -n <namespace>)")


def chart_era(chart_version: t.Any, velero_version: t.Any = None, *, strict: bool = False,
              chart_field: str = "velero_chart_version", velero_field: str = "velero_version",
              strict_field: str = "velero_chart_strict") -> ChartEra:
    """The era row of ``chart_version``; with ``velero_version``, check that the chart ships that Velero minor.

    A chart newer than the newest known within the newest known major gets the newest era (see
    ``chart_assumption``), or with ``strict`` is refused. Raises ``ValueError`` naming the field to fix: unknown
    chart release, a chart whose Velero is not supported (5.0.x ships 1.11), or a Velero minor the chart does
    not ship (which charts do).
    """
    chart = parse_chart_version(chart_version, chart_field)
    if is_newer_than_known(chart):
        if strict:
            raise ValueError(
                f"{chart_field}: chart {chart} is newer than the newest chart release this collection knows "
                f"({NEWEST_KNOWN_CHART}) and {strict_field} is true, so it is refused; set {strict_field}: false to "
                f"render it with the rules of chart {ERAS[-1].id}, or use a velero_ops.tuning release that knows it")
        era = ERAS[-1]
        app = (f"1.{era.velero_minor}.x (assumed like chart {NEWEST_KNOWN_CHART}, which ships "
               f"{_APP_BY_CHART[NEWEST_KNOWN_CHART]})")
    else:
        app = shipped_velero(chart, chart_field)
        era = next((row for row in ERAS if _in_range(chart, row.first, row.last)), None)
    if era is None:
        raise ValueError(f"{chart_field}: chart {chart} ships Velero {app}, which is not supported "
                         f"(supported: Velero {SUPPORTED_MINORS_TEXT}, chart {ERAS[0].first} to {ERAS[-1].last})")
    if velero_version is not None:
        wanted = release(velero_version, velero_field)
        if wanted.version[1] != era.velero_minor:
            raise ValueError(
                f"{chart_field}/{velero_field}: chart {chart} ships Velero {app}, not Velero {wanted.text}; "
                f"{describe_charts_for(wanted.version[1])}. Fix {chart_field} (or {velero_field}) to the pair "
                f"the cluster runs")
    return era


def describe_chart_ranges(matches: t.Callable[[ChartEra], bool]) -> str:
    """The chart releases of the eras that match, as text ("7.1.4 to 7.2.2", "10.1.0 and later"); "" if none.

    Advice that names chart versions (repo_maintenance's actions) is made here from the table, so it follows
    a new era without edits. A range that reaches the newest era is open-ended: newer charts of the newest
    major are assumed to behave like it.
    """
    ranges: list[list[str]] = []
    previous_matched = False
    for era in ERAS:
        if matches(era):
            if previous_matched:
                ranges[-1][1] = era.last
            else:
                ranges.append([era.first, era.last])
        previous_matched = matches(era)
    texts = []
    for first, last in ranges:
        if last == ERAS[-1].last:
            texts.append(f"{first} and later")
        else:
            texts.append(first if first == last else f"{first} to {last}")
    return ", ".join(texts)


def era_by_id(era_id: str) -> ChartEra:
    for row in ERAS:
        if row.id == era_id:
            return row
    raise ValueError(f"chart era: unknown era {era_id!r}; known: {', '.join(row.id for row in ERAS)}")


def velero_patch_note(chart: str, velero_version: t.Any) -> str | None:
    """A note when the chart ships another patch of the same Velero minor (image.tag overridden)."""
    if is_newer_than_known(chart):
        return None  # which Velero it ships is not known here; chart_assumption says so
    app = shipped_velero(chart)
    wanted = parse_version(velero_version)
    if "%d.%d.%d" % wanted != app:
        return (f"chart {parse_chart_version(chart)} ships Velero {app}; the values assume image.tag is "
                f"overridden to v{'%d.%d.%d' % wanted}")
    return None
