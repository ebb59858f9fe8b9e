# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What each Velero release does: one table, keyed by minor version, with patch-level facts.

This file and ``_chart_eras.py`` are the only hand-edited release data. Everything else is derived
from them: the supported range and the messages that name it, the version patterns (``VERSION_PATTERN``,
and through ``tools/schema_gen.py`` the JSON schemas), Velero's defaults (``VeleroRelease.defaults``),
the versions the tests walk (``known_versions``). Adding a release means editing the tables below.

Every fact carries its source in ``docs/sizing-model.md`` (section "Release table"); the
short comments here name the PR or file so a reader can check a row without the doc.
Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from ._fields import describe_value, type_name

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.-]+)?$")

MaintenanceMechanism = t.Literal["in-server", "server-flags", "configmap"]
NodeAgentConfig = t.Literal["none", "fixed-name", "flag"]


@dataclasses.dataclass(frozen=True)
class Minor:
    """Facts shared by every patch release of one Velero minor version."""

    minor: int
    newest_known_patch: int
    # pkg/cmd/server/server.go (<=1.14) / pkg/cmd/server/config/config.go (1.15+); PR #7311 raised 20/30 -> 100/100 in 1.14.
    default_client_qps: float
    default_client_burst: int
    # PR #8166 (1.15): server argv passed to plugin processes; before, plugins ran at client-go's 5/10.
    plugins_inherit_server_flags: bool
    # 1.12-1.13 maintenance inside the server; 1.14 Job + server flags; 1.15+ ConfigMap (flags removed in 1.17).
    maintenance_mechanism: MaintenanceMechanism
    maintenance_server_flags: bool
    maintenance_configmap: bool
    # go.mod replace -> project-velero/kopia fork (kopia.md section 2.1).
    kopia_version: str
    # kopia PR #4139 (compaction memory 15.4 GB -> 7.1 GB for 21M entries), in Velero's fork from 1.15.
    compaction_bytes_per_entry: int
    # kopia bigmap tempfile bug (#2415, fixed by PR #4504 in kopia 0.20): GC sets stay on the Go heap before Velero 1.17.
    gc_sets_on_heap: bool
    # client-go >= 0.26 asks for aggregated discovery (Velero 1.14+); plugins use it from 1.16 (PR #8353).
    server_aggregated_discovery: bool
    plugins_aggregated_discovery: bool
    # Node-agent ConfigMap: none (1.12), fixed name node-agent-config (1.13-1.14), --node-agent-configmap (1.15+).
    node_agent_config: NodeAgentConfig
    node_agent_pod_resources: bool
    # pkg/install/resources.go DefaultNodeAgentPod*: 500m/512Mi/1000m/1Gi in 1.12-1.13, unbounded ("0") from 1.14.
    node_agent_default_resources: bool
    # --backup-repository-configmap (1.15+): cacheLimitMB (1.15, PR #8093), fullMaintenanceInterval (1.16, PR #8581).
    backup_repository_configmap: bool
    full_maintenance_interval: bool
    # BackupRepository status.recentMaintenance (1.16, PR #8532).
    recent_maintenance_status: bool
    # pkg/repository/udmrepo/kopialib/backend/common.go: 5000 MB from 1.15; 2000+2000 MB fixed before.
    default_cache_limit_mb: int
    # `velero server --uploader-type` default: restic through 1.16, kopia from 1.17 (velero.md section 6).
    default_uploader: str
    # Maintenance Jobs use only the first loadAffinity entry of the maintenance ConfigMap (1.18, PR #9494).
    load_affinity_first_only: bool = False
    # The BackupRepository controller connects to repositories inside the server process, loading their index
    # (velero #8886, #9193), in 1.14-1.17; 1.18 stopped it (PR #9291); 1.12-1.13 run maintenance in the server.
    server_connects_repositories: bool = False
    # Patch-level facts: set per patch release in _PATCH_CHANGES, never by comparing version numbers.
    # A backup with includedNamespaces ["*"] lists each namespaced type once per namespace instead of once
    # across namespaces.
    per_namespace_listing: bool = False
    # podResources.ephemeralStorage{Request,Limit} in the maintenance ConfigMap.
    ephemeral_storage_fields: bool = False


# The table reads as a changelog: 1.12 in full, then what each minor changed.
_V1_12 = Minor(
    minor=12, newest_known_patch=4, default_client_qps=20.0, default_client_burst=30,
    plugins_inherit_server_flags=False, maintenance_mechanism="in-server", maintenance_server_flags=False,
    maintenance_configmap=False, kopia_version="0.13.0-velero.1", compaction_bytes_per_entry=735,
    gc_sets_on_heap=True, server_aggregated_discovery=False, plugins_aggregated_discovery=False,
    node_agent_config="none", node_agent_pod_resources=False, node_agent_default_resources=True,
    backup_repository_configmap=False, full_maintenance_interval=False,
    recent_maintenance_status=False, default_cache_limit_mb=4000,
    default_uploader="restic",
)
_V1_13 = dataclasses.replace(_V1_12, minor=13, newest_known_patch=2, kopia_version="0.14.1 (fork 20231023)",
                             node_agent_config="fixed-name")
_V1_14 = dataclasses.replace(_V1_13, minor=14, newest_known_patch=1, default_client_qps=100.0, default_client_burst=100,
                             maintenance_mechanism="server-flags", maintenance_server_flags=True,
                             kopia_version="0.17.0 (fork 20240417)", server_aggregated_discovery=True,
                             node_agent_default_resources=False, server_connects_repositories=True)
_V1_15 = dataclasses.replace(_V1_14, minor=15, newest_known_patch=2, plugins_inherit_server_flags=True,
                             maintenance_mechanism="configmap", maintenance_configmap=True,
                             kopia_version="0.17.0 (fork 20241016)", compaction_bytes_per_entry=340,
                             node_agent_config="flag", node_agent_pod_resources=True,
                             backup_repository_configmap=True, default_cache_limit_mb=5000)
_V1_16 = dataclasses.replace(_V1_15, minor=16, newest_known_patch=2, kopia_version="0.19.0",
                             plugins_aggregated_discovery=True, full_maintenance_interval=True,
                             recent_maintenance_status=True)
# 1.17.2 (CHANGELOG-1.17 v1.17.2: restore fixes only) keeps 1.17.1's kopia fork (go.mod replace 3ea24d208777).
_V1_17 = dataclasses.replace(_V1_16, minor=17, newest_known_patch=2, maintenance_server_flags=False,
                             kopia_version="0.21.1", gc_sets_on_heap=False, default_uploader="kopia")
# 1.18.2 (2026-06-24) and 1.18.3 keep the kopia fork of 1.18.0 (go.mod replace d946b1e75197, kopia 0.22.3).
_V1_18 = dataclasses.replace(_V1_17, minor=18, newest_known_patch=3, kopia_version="0.22.3",
                             load_affinity_first_only=True, server_connects_repositories=False)
_MINORS: dict[int, Minor] = {facts.minor: facts for facts in (_V1_12, _V1_13, _V1_14, _V1_15, _V1_16, _V1_17, _V1_18)}

# Facts a patch release changed, keyed by (minor, patch); later patches of the minor keep them until a later
# entry changes them again. Only Minor fields may appear here.
_PATCH_CHANGES: dict[tuple[int, int], dict[str, t.Any]] = {
    # PR #9587 expands the "*" namespace wildcard: one LIST per namespaced type per namespace;
    # PR #9596 adds podResources.ephemeralStorage{Request,Limit}.
    (18, 1): {"per_namespace_listing": True, "ephemeral_storage_fields": True},
    # PR #9870 (fixes #9869, CHANGELOG-1.18 v1.18.2) restores one LIST per type across namespaces for "*".
    (18, 2): {"per_namespace_listing": False},
}

# The supported range, derived from the table: every message and pattern that names it uses these.
FIRST_MINOR = min(_MINORS)
NEWEST_MINOR = max(_MINORS)
SUPPORTED_RANGE = f"1.{FIRST_MINOR}.0 to 1.{NEWEST_MINOR}.x"
SUPPORTED_MINORS_TEXT = f"1.{FIRST_MINOR} to 1.{NEWEST_MINOR}"


def _minor_alternatives(minors: t.Iterable[int]) -> str:
    """A regular expression (ECMA-262 and Python) matching exactly these minor numbers: 1[2-8] for 12..18."""
    by_prefix: dict[str, list[int]] = {}
    for minor in sorted(minors):
        by_prefix.setdefault(str(minor)[:-1], []).append(minor % 10)
    parts = []
    for prefix, digits in by_prefix.items():
        contiguous = digits == list(range(digits[0], digits[-1] + 1))
        if len(digits) == 1:
            parts.append(f"{prefix}{digits[0]}")
        elif contiguous:
            parts.append(f"{prefix}[{digits[0]}-{digits[-1]}]")
        else:
            parts.append(f"{prefix}[{''.join(str(d) for d in digits)}]")
    return parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"


# Sizing input (schemas/sizing-input.schema.json): "v" prefix and pre-release/build suffix allowed.
VERSION_PATTERN = r"^v?1\." + _minor_alternatives(_MINORS) + r"\.[0-9]+([-+][0-9A-Za-z.-]+)?$"
# Recommendation output (schemas/recommendation.schema.json): the normalised x.y.z.
RECOMMENDATION_VERSION_PATTERN = r"^1\." + _minor_alternatives(_MINORS) + r"\.[0-9]+$"

# Fields of a repository-maintenance ConfigMap entry (JobConfigs: v1.15.0 pkg/repository/maintenance.go, v1.16.0
# pkg/repository/maintenance/maintenance.go, v1.17.0+ pkg/types/repo_maintenance.go), in the order Velero added them:
# (JSON field, first minor that reads it, read from the "global" entry only). Velero's json.Unmarshal ignores any
# other field silently, so a field outside its release is a mistake worth refusing.
MAINTENANCE_CONFIG_FIELDS: tuple[tuple[str, int, bool], ...] = (
    ("podResources", 15, False),
    ("loadAffinity", 15, False),
    ("keepLatestMaintenanceJobs", 17, False),  # PR #9135
    ("priorityClassName", 17, True),
    ("podLabels", 18, True),  # PR #9452
    ("podAnnotations", 18, True),
)
MAINTENANCE_POD_RESOURCE_FIELDS = ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit")
MAINTENANCE_EPHEMERAL_FIELDS = ("ephemeralStorageRequest", "ephemeralStorageLimit")

# Velero-wide constants (unchanged in every release of the table).
DEFAULT_CLIENT_PAGE_SIZE = 500  # --client-page-size
CLIENT_GO_DEFAULT_QPS = 5.0  # k8s.io/client-go rest/config.go DefaultQPS
CLIENT_GO_DEFAULT_BURST = 10  # DefaultBurst
DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS = 3  # pkg/repository/maintenance DefaultKeepLatestMaitenanceJobs (sic)
KOPIA_DEFAULT_MAINTENANCE_FREQUENCY = "1h"  # lib_repo.go defaultMaintainCheckPeriod
RESTIC_DEFAULT_MAINTENANCE_FREQUENCY = "168h"  # pkg/restic/common.go: 7 x 24h
# pkg/install/resources.go DefaultVeleroPod{CPURequest,MemRequest,CPULimit,MemLimit} (velero install).
DEFAULT_SERVER_RESOURCES = {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
DEFAULT_NODE_AGENT_RESOURCES_1_12 = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


@dataclasses.dataclass(frozen=True)
class VeleroRelease:
    """One concrete Velero version with every behaviour the collection depends on."""

    version: tuple[int, int, int]
    facts: Minor  # the minor's facts with the patch changes up to this patch applied
    assumed_from: str | None = None

    @property
    def text(self) -> str:
        return "%d.%d.%d" % self.version

    def __getattr__(self, name: str) -> t.Any:
        # Delegate release facts so callers write release.default_client_qps.
        if name == "facts":  # not yet set (copy/pickle): avoid recursing
            raise AttributeError(name)
        return getattr(self.facts, name)

    def at_least(self, minor: int, patch: int = 0) -> bool:
        return self.version[1:] >= (minor, patch)

    @property
    def default_resources_server(self) -> dict[str, dict[str, str]]:
        return DEFAULT_SERVER_RESOURCES

    @property
    def default_resources_node_agent(self) -> dict[str, dict[str, str]] | None:
        return DEFAULT_NODE_AGENT_RESOURCES_1_12 if self.facts.node_agent_default_resources else None

    def maintenance_config_fields(self, entry: t.Literal["global", "repository"]) -> tuple[str, ...]:
        """The JSON fields this release reads from a maintenance ConfigMap entry (none before 1.15)."""
        if not self.facts.maintenance_configmap:
            return ()
        return tuple(name for name, first_minor, global_only in MAINTENANCE_CONFIG_FIELDS
                     if self.version[1] >= first_minor and (entry == "global" or not global_only))

    def maintenance_pod_resource_fields(self) -> tuple[str, ...]:
        """The podResources fields of a maintenance ConfigMap entry this release reads."""
        return MAINTENANCE_POD_RESOURCE_FIELDS + (
            MAINTENANCE_EPHEMERAL_FIELDS if self.facts.ephemeral_storage_fields else ())

    def defaults(self) -> dict[str, t.Any]:
        """What this release does when nothing is set, keyed by the recommendation's dotted leaf paths.

        The one table of Velero's defaults: the recommendation's ``velero_defaults`` and the "Velero default"
        entries of cluster_facts' ``current`` both read it. None: the setting does not exist in this release.
        """
        server = self.default_resources_server
        agent = self.default_resources_node_agent
        inherit = self.facts.plugins_inherit_server_flags
        in_server = self.facts.maintenance_mechanism == "in-server"
        defaults: dict[str, t.Any] = {
            "server.client_qps": self.facts.default_client_qps,
            "server.client_burst": self.facts.default_client_burst,
            "server.client_page_size": DEFAULT_CLIENT_PAGE_SIZE,
            "server.resources.requests.cpu": server["requests"]["cpu"],
            "server.resources.requests.memory": server["requests"]["memory"],
            "server.resources.limits.cpu": server["limits"]["cpu"],
            "server.resources.limits.memory": server["limits"]["memory"],
            "plugins.inherit_server_flags": inherit,
            # Plugins run at client-go's defaults until they inherit the server's flags (1.15, PR #8166).
            "plugins.effective_client_qps": self.facts.default_client_qps if inherit else CLIENT_GO_DEFAULT_QPS,
            "plugins.effective_client_burst": self.facts.default_client_burst if inherit else CLIENT_GO_DEFAULT_BURST,
            "maintenance.mechanism": self.facts.maintenance_mechanism,
            # Maintenance Jobs (1.14+) get no requests or limits unless configured ("0" = unbounded).
            "maintenance.pod_resources.cpuRequest": "0",
            "maintenance.pod_resources.cpuLimit": "0",
            "maintenance.pod_resources.memoryRequest": "0",
            "maintenance.pod_resources.memoryLimit": "0",
            "maintenance.keep_latest_jobs": None if in_server else DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS,
            "maintenance.frequency": KOPIA_DEFAULT_MAINTENANCE_FREQUENCY,
            "repository.cache_limit_mb": self.facts.default_cache_limit_mb,
            "repository.full_maintenance_interval": "normalGC" if self.facts.full_maintenance_interval else None,
            "node_agent.resources.requests.cpu": agent["requests"]["cpu"] if agent else "0",
            "node_agent.resources.requests.memory": agent["requests"]["memory"] if agent else "0",
            "node_agent.resources.limits.cpu": agent["limits"]["cpu"] if agent else "0",
            "node_agent.resources.limits.memory": agent["limits"]["memory"] if agent else "0",
            "node_agent.load_concurrency": None if self.facts.node_agent_config == "none" else 1,
        }
        if self.facts.ephemeral_storage_fields:
            defaults["maintenance.pod_resources.ephemeralStorageRequest"] = "0"
            defaults["maintenance.pod_resources.ephemeralStorageLimit"] = "0"
        if self.facts.node_agent_pod_resources:
            for key in ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"):
                defaults[f"node_agent.pod_resources.{key}"] = "0"
        return defaults


# Command-line flags that exist only in some Velero releases, and what to use elsewhere. cobra rejects an unknown
# flag, so a `velero server` or `velero node-agent server` given one of these outside its range does not start
# (velero.md 3.2: the maintenance flags were removed in 1.17 by PR #9147; the ConfigMap flags arrived in 1.15).
@dataclasses.dataclass(frozen=True)
class VersionedFlag:
    flag: str
    component: t.Literal["server", "node-agent"]
    first_minor: int
    last_minor: int | None  # None: still present in the newest release
    before: str  # what to do on releases before first_minor
    after: str = ""  # what to do on releases after last_minor


_MAINTENANCE_BEFORE = ("Velero 1.12/1.13 run repository maintenance inside the server process, so size the server's "
                       "resources instead")
_MAINTENANCE_AFTER = ("removed in Velero 1.17 (PR #9147): set podResources in the repository-maintenance ConfigMap "
                      "instead (chart: configuration.repositoryMaintenanceJob.repositoryConfigData.global.podResources)")
VERSIONED_FLAGS: tuple[VersionedFlag, ...] = (
    VersionedFlag("--maintenance-job-cpu-request", "server", 14, 16, _MAINTENANCE_BEFORE, _MAINTENANCE_AFTER),
    VersionedFlag("--maintenance-job-mem-request", "server", 14, 16, _MAINTENANCE_BEFORE, _MAINTENANCE_AFTER),
    VersionedFlag("--maintenance-job-cpu-limit", "server", 14, 16, _MAINTENANCE_BEFORE, _MAINTENANCE_AFTER),
    VersionedFlag("--maintenance-job-mem-limit", "server", 14, 16, _MAINTENANCE_BEFORE, _MAINTENANCE_AFTER),
    VersionedFlag("--keep-latest-maintenance-jobs", "server", 14, 16,
                  "Velero 1.12/1.13 run maintenance inside the server and keep no maintenance Jobs",
                  "removed in Velero 1.17 (PR #9147): set keepLatestMaintenanceJobs in the repository-maintenance "
                  "ConfigMap instead (chart: configuration.repositoryMaintenanceJob.repositoryConfigData.global."
                  "keepLatestMaintenanceJobs)"),
    VersionedFlag("--repo-maintenance-job-configmap", "server", 15, None,
                  "added in Velero 1.15: Velero 1.14 sizes maintenance Jobs with the --maintenance-job-* flags, "
                  "1.12/1.13 run maintenance inside the server (size its resources)"),
    VersionedFlag("--backup-repository-configmap", "server", 15, None,
                  "added in Velero 1.15 (PR #8093); earlier releases have a fixed kopia cache and no "
                  "backup-repository ConfigMap, so remove it"),
    VersionedFlag("--item-block-worker-count", "server", 16, None, "added in Velero 1.16; remove it"),
    VersionedFlag("--concurrent-backups", "server", 18, None, "added in Velero 1.18; remove it"),
    VersionedFlag("--node-agent-configmap", "node-agent", 15, None,
                  "added in Velero 1.15 (PR #8097): Velero 1.13/1.14 read the ConfigMap with the fixed name "
                  "node-agent-config (no flag), Velero 1.12 has no node-agent ConfigMap"),
    VersionedFlag("--backup-repository-configmap", "node-agent", 18, None,
                  "the node-agent takes it from Velero 1.18; earlier releases read it on the server only "
                  "(configuration.extraArgs)"),
)


def unknown_flag(rel: VeleroRelease, component: str, flag: str) -> str | None:
    """Why ``flag`` does not exist on ``component`` of this release and what to use instead, or None if it does."""
    minor = rel.version[1]
    command = "velero server" if component == "server" else "velero node-agent server"
    for facts in VERSIONED_FLAGS:
        if facts.flag != flag or facts.component != component:
            continue
        if minor < facts.first_minor:
            instead = facts.before
        elif facts.last_minor is not None and minor > facts.last_minor:
            instead = facts.after
        else:
            continue
        return f"{flag} does not exist on `{command}` of Velero {rel.text}: {instead}"
    return None


def parse_version(value: t.Any, field: str = "velero_version") -> tuple[int, int, int]:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a Velero version string such as 1.14.0 ({SUPPORTED_RANGE}), "
                         f"got {type_name(value)} {describe_value(value)}")
    match = _VERSION.match(value.strip())
    if match is None:
        raise ValueError(f"{field}: expected a Velero version such as 1.14.0 or v1.16.2 ({SUPPORTED_RANGE}), got {value!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def release(value: t.Any, field: str = "velero_version") -> VeleroRelease:
    """Look up a Velero version (``1.14.0``, ``v1.16.2``); outside the supported range raise ``ValueError``.

    A patch newer than the newest known of a supported minor gets the newest known patch's facts
    (``assumed_from`` names it, so callers can warn).
    """
    version = parse_version(value, field)
    major, minor, patch = version
    if major != 1 or minor not in _MINORS:
        raise ValueError(f"{field}: Velero {value} is not supported; supported versions are {SUPPORTED_RANGE}")
    facts = _MINORS[minor]
    assumed = None
    if patch > facts.newest_known_patch:
        assumed = "%d.%d.%d" % (1, minor, facts.newest_known_patch)
    for (changed_minor, changed_patch), changes in sorted(_PATCH_CHANGES.items()):
        if changed_minor == minor and changed_patch <= min(patch, facts.newest_known_patch):
            facts = dataclasses.replace(facts, **changes)
    return VeleroRelease(version, facts, assumed)


def supported_minors() -> list[int]:
    return sorted(_MINORS)


def known_versions() -> list[str]:
    """Every known release, oldest first (1.12.0 .. the newest known patch of the newest minor)."""
    return ["1.%d.%d" % (minor, patch) for minor in sorted(_MINORS)
            for patch in range(_MINORS[minor].newest_known_patch + 1)]


def distinct_versions() -> list[str]:
    """One version per distinct set of facts: each minor's x.0, every patch that changed a fact, and each minor's
    newest known patch. The versions tests walk so that a new release or patch fact is covered without edits."""
    chosen = []
    for minor in sorted(_MINORS):
        patches = {0, _MINORS[minor].newest_known_patch}
        patches |= {patch for (changed_minor, patch) in _PATCH_CHANGES if changed_minor == minor}
        chosen += ["1.%d.%d" % (minor, patch) for patch in sorted(patches)]
    return chosen


def known_patches_where(minor: int, fact: str, value: t.Any) -> list[str]:
    """Known releases of ``minor`` whose ``fact`` has ``value`` (for advice such as "upgrade to ..."), oldest first."""
    return [version for version in known_versions() if parse_version(version)[1] == minor
            and getattr(release(version).facts, fact) == value]


def per_namespace_listing_advice(rel: VeleroRelease) -> str:
    """What to do about per-namespace listing on ``rel``, from the table: the next patch that lists across
    namespaces again, else the patches that do."""
    across = known_patches_where(rel.version[1], "per_namespace_listing", False)
    later = [version for version in across if parse_version(version) > rel.version]
    if later:
        return f"Velero {later[0]} lists each kind once across namespaces again: upgrade to it"
    return f"{', '.join(across)} list{'s' if len(across) == 1 else ''} each kind cluster-wide"


def newest_known_version() -> str:
    return "1.%d.%d" % (NEWEST_MINOR, _MINORS[NEWEST_MINOR].newest_known_patch)
