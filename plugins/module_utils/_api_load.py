# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""API load of a whole-cluster Velero backup and client-go throttling.

Every constant is explained, with its source, in ``docs/sizing-model.md`` section "API load".
Request counts follow each release's listing behaviour (``_releases``); throttling follows
client-go's token bucket: it starts full at ``burst`` tokens and refills at ``qps`` tokens/s,
one token per request, so ``n`` back-to-back requests wait ``max(0, n - burst) / qps`` seconds.
Pure Python, no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

from ._releases import CLIENT_GO_DEFAULT_BURST, CLIENT_GO_DEFAULT_QPS, DEFAULT_CLIENT_PAGE_SIZE, VeleroRelease

# --- request-count constants (docs/sizing-model.md, "API load") ------------------------------
# Discovery: GET /api + GET /apis, then (without aggregated discovery) one GET per group-version.
DISCOVERY_BASE_REQUESTS = 2
# Unknown group-versions: at most one per resource kind; assume one per two kinds (conservative).
RESOURCE_TYPES_PER_GROUP_VERSION = 2
# Unknown namespaced kinds: assume three quarters of the kinds are namespaced.
NAMESPACED_TYPE_FRACTION = 0.75
# Unknown pods: one pod per eight API objects (ReplicaSets, Services, ConfigMaps, Secrets, events...).
OBJECTS_PER_POD = 8
# Additional items a BackupItemAction returns are each read with one GET before they are backed up
# (pkg/backup/item_backupper.go executeActions). The built-in actions that return them: pod -> its PVCs and its
# PriorityClass (pkg/backup/actions/pod_action.go -> pkg/util/actionhelpers RelatedItemsForPod, from the pod spec),
# PVC -> its PV (pkg/backup/actions/backup_pv_action.go). Two GETs per backed-up volume; a pod with a
# priorityClassName adds one more, not counted because that share is unknown (docs/sizing-model.md 4.1). The
# unsourced 0.5 GET per pod of earlier releases is dropped.
ADDITIONAL_GETS_PER_VOLUME = 2
# Per volume the server creates and polls a PodVolumeBackup / DataUpload.
SERVER_REQUESTS_PER_VOLUME = 3
# Per volume the CSI / data-mover plugins read PVC, PV, classes, create and poll a VolumeSnapshot.
PLUGIN_REQUESTS_PER_VOLUME = 6
# Plugin initializers that build their own discovery helper (each runs a full Refresh()):
# newServiceAccountBackupItemAction, newRemapCRDVersionAction (all versions),
# newServiceAccountItemBlockAction (1.16+, ItemBlocks).
PLUGIN_DISCOVERY_HELPERS_BEFORE_1_16 = 2
PLUGIN_DISCOVERY_HELPERS_FROM_1_16 = 3
# Each ServiceAccount action lists ClusterRoleBindings once when it is initialised.
PLUGIN_LISTS_PER_SA_ACTION = 1

# --- time model ---------------------------------------------------------------------------
# Serial-equivalent service time per request (in-cluster, watch-cache served); bends the
# API-time curve at high QPS: the API phase is never faster than N x this.
REQUEST_SERVICE_SECONDS = 0.002
DEFAULT_TARGET_API_SECONDS = 60.0

# --- APF fair share (kopia.md 3.3: apiserver v0.33 bootstrap defaults) ------------------------
APISERVER_CONCURRENCY = 600  # MaxRequestsInFlight 400 + MaxMutatingRequestsInFlight 200
WORKLOAD_LOW_SHARES = 100  # NominalConcurrencyShares of workload-low (service accounts)
TOTAL_SHARES = 245  # sum of NominalConcurrencyShares of all non-exempt priority levels
DEFAULT_APF_SHARE = 0.25  # Velero may occupy a quarter of workload-low's nominal seats
SEAT_SECONDS_PER_REQUEST = 0.1  # budget: ~2 seats x 50 ms (LIST pages 5-10 seats, GETs 1)

# --- burst and page size ----------------------------------------------------------------------
BURST_RATIO_ABOVE_DEFAULT = 1.5  # burst = 1.5 x qps once qps is raised (OADP example 300/500)
LARGE_COLLECTION_OBJECTS = 1_000_000
LARGE_COLLECTION_PAGE_SIZE = 1000


@dataclasses.dataclass(frozen=True)
class ClusterShape:
    """Cluster facts with every unknown resolved (see ``resolve_shape``)."""

    namespaces: int
    objects: int
    resource_types: int
    namespaced_types: int
    group_versions: int
    pods: int
    volumes: int
    aggregated_discovery: bool


# Request groups sent through the server's dynamic/controller client (one token bucket); discovery has its own.
SERVER_ITEM_GROUPS = ("namespace_list", "collection_lists", "additional_gets", "volume_requests")


@dataclasses.dataclass(frozen=True)
class RequestCount:
    """Requests of one whole-cluster backup, split by the client (token bucket) that sends them."""

    server_discovery: int
    namespace_list: int
    collection_lists: int
    additional_gets: int
    volume_requests: int
    plugin_discovery_helpers: int
    plugin_discovery_per_helper: int
    plugin_requests: int
    # What the page size changes (``at_page``): the LISTs before paging, the objects they return, the namespaces.
    page_size: int = DEFAULT_CLIENT_PAGE_SIZE
    list_calls: int = 0
    listed_objects: int = 0
    namespaces: int = 0

    @property
    def server_items(self) -> int:
        """Requests through the server's dynamic/controller client (one bucket)."""
        return sum(getattr(self, name) for name in SERVER_ITEM_GROUPS)

    @property
    def server_total(self) -> int:
        return self.server_discovery + self.server_items

    @property
    def plugin_total(self) -> int:
        return self.plugin_discovery_helpers * self.plugin_discovery_per_helper + self.plugin_requests

    @property
    def total(self) -> int:
        return self.server_total + self.plugin_total

    def as_dict(self) -> dict[str, int]:
        return {
            "server_discovery": self.server_discovery,
            "namespace_list": self.namespace_list,
            "collection_lists": self.collection_lists,
            "additional_gets": self.additional_gets,
            "volume_requests": self.volume_requests,
            "plugin_discovery": self.plugin_discovery_helpers * self.plugin_discovery_per_helper,
            "plugin_requests": self.plugin_requests,
            "server_total": self.server_total,
            "plugin_total": self.plugin_total,
            "total": self.total,
            "page_size": self.page_size,
            "list_calls": self.list_calls,
            "listed_objects": self.listed_objects,
            "namespaces": self.namespaces,
            "plugin_discovery_helpers": self.plugin_discovery_helpers,
            "plugin_discovery_per_helper": self.plugin_discovery_per_helper,
        }

    def at_page(self, page_size: int) -> RequestCount:
        """The same backup listed in pages of ``page_size`` (``count_requests``' paging, nothing else changes)."""
        page = max(1, int(page_size))
        return dataclasses.replace(self, page_size=page, collection_lists=self.list_calls + self.listed_objects // page,
                                   namespace_list=1 + self.namespaces // page)

    @classmethod
    def from_breakdown(cls, breakdown: t.Mapping[str, t.Any]) -> RequestCount | None:
        """The counts behind ``predicted.api_requests_breakdown`` (``as_dict``); None when it lacks a field."""
        try:
            return cls(**{field.name: int(breakdown[field.name]) for field in dataclasses.fields(cls)})
        except (KeyError, TypeError, ValueError):
            return None


def discovery_requests(group_versions: int, aggregated: bool) -> int:
    """Requests of one discovery refresh: 2 with aggregated discovery, else 2 + one per group-version."""
    return DISCOVERY_BASE_REQUESTS if aggregated else DISCOVERY_BASE_REQUESTS + group_versions


def count_requests(rel: VeleroRelease, shape: ClusterShape, page_size: int = DEFAULT_CLIENT_PAGE_SIZE) -> RequestCount:
    """Model the API requests of a whole-cluster backup for one Velero release."""
    page = max(1, page_size)
    cluster_types = shape.resource_types - shape.namespaced_types
    if rel.per_namespace_listing:
        # v1.18.1 (PR #9587): "*" expands to every namespace -> one LIST per namespaced type per namespace.
        base_lists = shape.namespaced_types * shape.namespaces + cluster_types
    else:
        # <= v1.18.0: one cluster-wide LIST per type when all namespaces are included.
        base_lists = shape.resource_types
    # Items beyond the first page of a list: sum(ceil(n_i / page)) <= lists + objects / page.
    collection = base_lists + shape.objects // page
    namespace_list = 1 + shape.namespaces // page
    additional = shape.volumes * ADDITIONAL_GETS_PER_VOLUME
    server_discovery = discovery_requests(shape.group_versions, shape.aggregated_discovery and rel.server_aggregated_discovery)
    helpers = PLUGIN_DISCOVERY_HELPERS_FROM_1_16 if rel.at_least(16) else PLUGIN_DISCOVERY_HELPERS_BEFORE_1_16
    plugin_discovery = discovery_requests(shape.group_versions,
                                          shape.aggregated_discovery and rel.plugins_aggregated_discovery)
    sa_actions = helpers - 1  # every helper but the CRD remap one belongs to a ServiceAccount action
    plugin_requests = sa_actions * PLUGIN_LISTS_PER_SA_ACTION + shape.volumes * PLUGIN_REQUESTS_PER_VOLUME
    return RequestCount(
        server_discovery=server_discovery,
        namespace_list=namespace_list,
        collection_lists=collection,
        additional_gets=additional,
        volume_requests=shape.volumes * SERVER_REQUESTS_PER_VOLUME,
        plugin_discovery_helpers=helpers,
        plugin_discovery_per_helper=plugin_discovery,
        plugin_requests=plugin_requests,
        page_size=page,
        list_calls=base_lists,
        listed_objects=shape.objects,
        namespaces=shape.namespaces,
    )


def throttle_seconds(requests: int, qps: float, burst: int) -> float:
    """client-go token bucket: full at ``burst``, refills at ``qps``; wait of back-to-back requests."""
    if qps <= 0:
        qps, burst = CLIENT_GO_DEFAULT_QPS, CLIENT_GO_DEFAULT_BURST  # rest.Config zero values
    return max(0, requests - max(burst, 1)) / qps


def server_throttle_seconds(counts: RequestCount, qps: float, burst: int) -> float:
    """Server: its discovery client and its item client each have their own full bucket."""
    return throttle_seconds(counts.server_discovery, qps, burst) + throttle_seconds(counts.server_items, qps, burst)


def server_throttle_from_breakdown(breakdown: t.Mapping[str, int], qps: float, burst: int) -> float:
    """``server_throttle_seconds`` from ``predicted.api_requests_breakdown`` (``RequestCount.as_dict``)."""
    items = sum(int(breakdown.get(name, 0)) for name in SERVER_ITEM_GROUPS)
    return throttle_seconds(int(breakdown.get("server_discovery", 0)), qps, burst) + throttle_seconds(items, qps, burst)


def plugin_throttle_seconds(counts: RequestCount, qps: float, burst: int) -> float:
    """Plugins: every discovery helper builds a fresh client (own bucket); the rest share one."""
    return (counts.plugin_discovery_helpers * throttle_seconds(counts.plugin_discovery_per_helper, qps, burst)
            + throttle_seconds(counts.plugin_requests, qps, burst))


def plugin_rate(rel: VeleroRelease, server_qps: float, server_burst: int) -> tuple[float, int]:
    """Effective plugin QPS/burst: client-go's 5/10 before 1.15 (no setting reaches them), server's after."""
    if rel.plugins_inherit_server_flags:
        return server_qps, server_burst
    return CLIENT_GO_DEFAULT_QPS, CLIENT_GO_DEFAULT_BURST


def api_seconds(rel: VeleroRelease, counts: RequestCount, qps: float, burst: int) -> float:
    """Modeled API phase: service time of every request plus client-side waiting (server + plugins)."""
    return phase_seconds(counts, qps, burst, rel.plugins_inherit_server_flags)


def phase_seconds(counts: RequestCount, qps: float, burst: int, plugins_inherit: bool) -> float:
    """``api_seconds`` with the release reduced to whether plugins inherit the server's QPS/burst (1.15+)."""
    plugin_qps, plugin_burst = (qps, burst) if plugins_inherit else (CLIENT_GO_DEFAULT_QPS, CLIENT_GO_DEFAULT_BURST)
    return (counts.total * REQUEST_SERVICE_SECONDS + server_throttle_seconds(counts, qps, burst)
            + plugin_throttle_seconds(counts, plugin_qps, plugin_burst))


def tunable_seconds(rel: VeleroRelease, counts: RequestCount, qps: float, burst: int) -> float:
    """The part of the API phase that --client-qps/--client-burst change.

    Before 1.15 plugins run at client-go's 5/10 whatever the server flags say, so their time is
    left out: raising server QPS cannot buy it back (a warning reports it instead).
    """
    if rel.plugins_inherit_server_flags:
        return api_seconds(rel, counts, qps, burst)
    return counts.server_total * REQUEST_SERVICE_SECONDS + server_throttle_seconds(counts, qps, burst)


def burst_for(rel: VeleroRelease, qps: float) -> int:
    """Burst for a QPS: Velero's own ratio up to its default QPS, 1.5 x QPS above it; always >= QPS."""
    return burst_for_defaults(rel.default_client_qps, rel.default_client_burst, qps)


def burst_for_defaults(default_qps: float, default_burst: int, qps: float) -> int:
    """``burst_for`` with the release reduced to its default QPS and burst."""
    if qps <= default_qps:
        burst = math.ceil(round(qps * default_burst / default_qps, 6))
    else:
        burst = max(default_burst, math.ceil(round(qps * BURST_RATIO_ABOVE_DEFAULT, 6)))
    return max(1, burst, math.ceil(round(qps, 6)))


def apf_qps_bound(concurrency: int = APISERVER_CONCURRENCY, share: float = DEFAULT_APF_SHARE) -> float:
    """QPS at which Velero would hold ``share`` of workload-low's nominal seats.

    nominal seats = ceil(concurrency x 100 / 245) (apf_controller.go); a request is budgeted at
    SEAT_SECONDS_PER_REQUEST seat-seconds, so seats held = qps x SEAT_SECONDS_PER_REQUEST.
    """
    seats = workload_low_seats(concurrency)
    return math.floor(share * seats / SEAT_SECONDS_PER_REQUEST)


def workload_low_seats(concurrency: int = APISERVER_CONCURRENCY) -> int:
    return math.ceil(concurrency * WORKLOAD_LOW_SHARES / TOTAL_SHARES)


def round_qps(qps: float) -> float:
    """Round a needed QPS up to a number people recognise: steps of 5 up to 100, then 10."""
    step = 5 if qps <= 100 else 10
    return float(math.ceil(round(qps / step, 9)) * step)


def needed_qps(rel: VeleroRelease, counts: RequestCount, target_seconds: float, ceiling: float) -> float | None:
    """Smallest QPS (within [Velero default, ceiling]) whose tunable API time meets the target.

    Returns None when even ``ceiling`` does not meet it. The time falls as QPS rises (burst
    rises with QPS), so bisection finds the boundary; 60 halvings reach float precision.
    """
    low = rel.default_client_qps
    if tunable_seconds(rel, counts, low, burst_for(rel, low)) <= target_seconds:
        return low
    high = max(low, ceiling)
    if tunable_seconds(rel, counts, high, burst_for(rel, high)) > target_seconds:
        return None
    for _halving in range(60):
        middle = (low + high) / 2
        if tunable_seconds(rel, counts, middle, burst_for(rel, middle)) <= target_seconds:
            high = middle
        else:
            low = middle
    return high


def page_size_for(objects: int) -> int:
    """500 (Velero's default) unless the collection is very large, then 1000.

    An etcd-served paginated LIST is estimated by APF at 2 x limit objects, 1 seat per 100,
    capped at 10 seats: a 500-item page already costs the maximum, so 1000-item pages halve the
    page requests at the same seat cost (list_work_estimator.go).
    """
    return LARGE_COLLECTION_PAGE_SIZE if objects >= LARGE_COLLECTION_OBJECTS else DEFAULT_CLIENT_PAGE_SIZE


def api_time_curve(rel: VeleroRelease, counts: RequestCount, recommended_qps: float,
                   points: int = 10) -> list[dict[str, t.Any]]:
    """Modeled API time over QPS from Velero's default to twice the larger of default and recommendation."""
    start = rel.default_client_qps
    stop = 2 * max(recommended_qps, start)
    curve = []
    for index in range(points):
        qps = round(start * (stop / start) ** (index / (points - 1)), 1)
        burst = burst_for(rel, qps)
        curve.append({"qps": qps, "burst": burst, "seconds": round(api_seconds(rel, counts, qps, burst), 2)})
    return curve
