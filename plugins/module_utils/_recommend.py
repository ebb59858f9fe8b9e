# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sizing recommendation: composes the API-load and kopia-memory models per Velero release.

``recommend(inputs)`` validates the inputs (``_sizing_inputs``), resolves every unknown with a
documented assumption, and returns the recommendation dict of contracts.md section 1 /
``schemas/recommendation.schema.json``. Every recommended value has a one-line explanation
keyed by its dotted path. Deterministic: same inputs, same output. Pure Python, no Ansible.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

from . import _api_load as api
from . import _kopia_memory as km
from ._quantity import GiB, MiB, format_cpu, format_memory, format_seconds, format_size
from ._releases import (
    CLIENT_GO_DEFAULT_BURST,
    CLIENT_GO_DEFAULT_QPS,
    DEFAULT_CLIENT_PAGE_SIZE,
    DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS,
    KOPIA_DEFAULT_MAINTENANCE_FREQUENCY,
    VeleroRelease,
    per_namespace_listing_advice,
)
from ._sizing_inputs import SizingInputs, validate

# Server (velero Deployment) memory during a backup, per item (docs/sizing-model.md "Server memory"):
# - the whole-process base: Velero's default request, documented for <= 1000 resources;
# - every listed item of one resource type at once: the item collector lists a type with client-go's pager, whose
#   List concatenates all pages into one list of unstructured objects (pkg/backup/item_collector.go
#   processPagerClientCalls); a decoded object with managedFields is tens of KiB (project estimate 32 KiB, checked
#   against velero #4116: ~4,500 ReplicaSets peaked at 450 MiB, and #3851: 10,000 Secrets OOMKilled 512 MB);
# - per item of the whole backup: its kubernetesResource entry, backedUpItems key, the item in flight with its
#   plugin actions' results and progress (project estimate 4 KiB; velero #7902: 66,776 items OOMKilled a 2 GB limit).
# Both are live heap: doubled for GOGC=100.
SERVER_BASE_BYTES = 128 * MiB
SERVER_LISTED_OBJECT_BYTES = 32 * 2**10
SERVER_BYTES_PER_OBJECT = 4 * 2**10
# Unknown cluster.largest_resource_type_objects: the expected value assumes the largest type holds half the objects,
# the high end (the limit) all of them (in the reports it held 30-91%: #4116, #3851).
ASSUMED_LARGEST_TYPE_SHARE = 0.5
SERVER_HIGH_FACTOR = 1.25  # headroom of the limit above the expected peak when the largest type is known
# Observations of this cluster (``observed``): a limit that was OOMKilled is raised by the maintenance ladder's step
# (_maintenance.py memory_step 1.5); an observed peak gets GOGC's 2x, since a sampled use is not the peak.
OBSERVED_OOM_STEP = 1.5
OBSERVED_PEAK_HEADROOM = 2.0
SERVER_CPU_BASE_MILLICORES = 500
SERVER_OBJECTS_PER_MILLICORE = 200
SERVER_CPU_MAX_REQUEST_MILLICORES = 2000
# Maintenance: one Job at a time across all repositories (controller waits for each Job).
MINUTES_PER_MAINTENANCE_JOB = 2
MAX_FREQUENCY_HOURS = 24  # kopia full cycle; a longer interval would delay full GC
DOMINANCE_FACTOR = 1.5  # largest repository gets its own entry when its peak is 1.5x the others'
MIN_MAINTENANCE_LIMIT = 512 * MiB
# Uploader memory above which node-agent / data-mover pods get explicit resources: Velero's
# old node-agent default limit (1Gi); the performance guide saw kopia OOM above it.
UPLOADER_RESOURCES_THRESHOLD = GiB
UPLOADER_LIMIT_FACTOR = 1.5
# The node-agent DaemonSet reserves its request on every node; above this share of a node's allocatable memory the
# reservation crowds out workloads (heuristic). Unknown node memory: a common 4-vCPU / 16 GiB worker.
NODE_MEMORY_SHARE = 0.25
ASSUMED_NODE_MEMORY = 16 * GiB
# Kopia metadata cache: 20% of cacheLimitMB, soft limit 80% of that; a directory entry ~250 B.
METADATA_CACHE_SHARE = 0.2
CACHE_SOFT_LIMIT = 0.8
DIRECTORY_ENTRY_BYTES = 250
# The cache lives on the pods' ephemeral storage: never more than 4x Velero's 5000 MB default.
MAX_CACHE_LIMIT_MB = 20_000
LARGE_NAMESPACE_LISTS = 10_000


class _Notes:
    """Collects explanations (by dotted path), assumptions and warnings, in a stable order."""

    def __init__(self) -> None:
        self.explanations: dict[str, str] = {}
        self.assumptions: list[str] = []
        self.warnings: list[str] = []

    def explain(self, path: str, text: str) -> None:
        self.explanations[path] = text

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


@dataclasses.dataclass(frozen=True)
class _Repos:
    """Repository facts with unknowns resolved."""

    count: int | None
    largest: km.RepositoryShape
    typical: km.RepositoryShape | None  # upper bound for every other repository (None: only one)
    key: str | None
    files_assumed: bool = False  # data.files unknown: the file count is the assumed average file size's


# ------------------------------------------------------------------------------------------
# Cluster and API load
# ------------------------------------------------------------------------------------------

def _cluster_shape(inp: SizingInputs, notes: _Notes) -> api.ClusterShape:
    cluster, data = inp.cluster, inp.data
    types = cluster["resource_types"]
    namespaced = cluster["namespaced_resource_types"]
    if namespaced is None:
        namespaced = min(types, math.ceil(types * api.NAMESPACED_TYPE_FRACTION))
        notes.assume(f"cluster.namespaced_resource_types unknown: {namespaced} of {types} kinds assumed namespaced "
                     f"({api.NAMESPACED_TYPE_FRACTION:.0%}).")
    groups = cluster["api_groups"]
    if groups is None:
        groups = math.ceil(types / api.RESOURCE_TYPES_PER_GROUP_VERSION)
        notes.assume(f"cluster.api_groups unknown: {groups} group-versions assumed (one per "
                     f"{api.RESOURCE_TYPES_PER_GROUP_VERSION} resource kinds).")
    pods = cluster["pods"]
    if pods is None:
        pods = math.ceil(cluster["objects"] / api.OBJECTS_PER_POD)
        notes.assume(f"cluster.pods unknown: {pods} assumed (one pod per {api.OBJECTS_PER_POD} API objects).")
    volumes = cluster["volumes"]
    if volumes is None:
        if data["volume_bytes"] == 0:
            volumes = 0
            notes.assume("cluster.volumes unknown: no volume data, so no volume backups assumed.")
        elif data["repositories"]:
            volumes = data["repositories"]
            notes.assume(f"cluster.volumes unknown: one backed-up volume per BackupRepository assumed ({volumes}).")
        else:
            volumes = cluster["namespaces"]
            notes.assume(f"cluster.volumes unknown: one backed-up volume per namespace assumed ({volumes}).")
    aggregated = cluster["aggregated_discovery"]
    if aggregated is None:
        aggregated = True
        notes.assume("cluster.aggregated_discovery unknown: the API server is assumed to offer aggregated discovery "
                     "(Kubernetes 1.27+); pass false for older clusters.")
    return api.ClusterShape(namespaces=cluster["namespaces"], objects=cluster["objects"], resource_types=types,
                            namespaced_types=namespaced, group_versions=groups, pods=pods, volumes=volumes,
                            aggregated_discovery=aggregated)


@dataclasses.dataclass(frozen=True)
class _ApiResult:
    qps: float
    burst: int
    page_size: int
    counts: api.RequestCount
    sizing_counts: api.RequestCount
    bound: float
    target: float


def _size_api(inp: SizingInputs, shape: api.ClusterShape, notes: _Notes) -> _ApiResult:
    rel, policy = inp.release, inp.policy
    default_qps, default_burst = rel.default_client_qps, rel.default_client_burst
    target = policy["target_api_seconds"]
    if target is None:
        target = api.DEFAULT_TARGET_API_SECONDS
        notes.assume(f"policy.target_api_seconds not set: the modeled API phase of a whole-cluster backup should take "
                     f"at most {target:g} s.")
    concurrency = policy["apiserver_concurrency"] or api.APISERVER_CONCURRENCY
    share = policy["apf_share"] or api.DEFAULT_APF_SHARE
    if policy["apiserver_concurrency"] is None:
        notes.assume(f"policy.apiserver_concurrency not set: kube-apiserver defaults assumed "
                     f"({api.APISERVER_CONCURRENCY} seats = max-requests-inflight 400 + max-mutating 200).")
    if policy["apf_share"] is None:
        notes.assume(f"policy.apf_share not set: Velero may occupy {api.DEFAULT_APF_SHARE:.0%} of the APF priority "
                     f"level workload-low.")
    seats = api.workload_low_seats(concurrency)
    bound = api.apf_qps_bound(concurrency, share)
    page = api.page_size_for(shape.objects)
    # QPS is sized on 500-item pages so it stays valid if the page size is left at Velero's default.
    sizing_counts = api.count_requests(rel, shape, DEFAULT_CLIENT_PAGE_SIZE)
    counts = api.count_requests(rel, shape, page)
    needed = api.needed_qps(rel, sizing_counts, target, max(bound, default_qps))
    if needed is None:
        modeled = max(bound, default_qps)
        # Figures as the report computes them (whole phase, plugins included) at the recommended page size, and
        # at Velero's default page size the QPS is sized for when they differ.
        modeled_burst = api.burst_for(rel, modeled)
        at_bound = f"{format_seconds(api.api_seconds(rel, counts, modeled, modeled_burst))} ({counts.total} requests"
        if page != DEFAULT_CLIENT_PAGE_SIZE:
            at_bound += (f" in pages of {page}; "
                         f"{format_seconds(api.api_seconds(rel, sizing_counts, modeled, modeled_burst))} and "
                         f"{sizing_counts.total} requests in Velero's default pages of {DEFAULT_CLIENT_PAGE_SIZE}")
        notes.warn(f"The {target:g} s target for the API phase cannot be met within Velero's fair share of the API "
                   f"server: at {modeled:g} QPS the modeled API phase takes {at_bound}). QPS stops at the "
                   f"fair-share bound; reduce the backup scope (split schedules by namespace) or raise "
                   f"policy.target_api_seconds.")
        reason = f"target unreachable, stopped at the fair-share bound {bound:g}"
    elif needed <= default_qps:
        modeled = default_qps
        reason = f"Velero's default already meets the {target:g} s target"
    else:
        modeled = min(api.round_qps(needed), max(bound, default_qps))
        reason = f"needs {needed:.1f} QPS to meet the {target:g} s target, rounded up to {api.round_qps(needed):g}"
    if not rel.plugins_inherit_server_flags:
        reason += " (server requests only: plugins stay at client-go's 5/10 whatever QPS is set)"
    qps = max(default_qps, modeled)
    if bound < default_qps:
        notes.warn(f"Velero's default {default_qps:g} QPS is already above the modeled fair share of the API server "
                   f"({bound:g} QPS = {share:g} x {seats} workload-low seats / {api.SEAT_SECONDS_PER_REQUEST} "
                   f"seat-seconds per request); the default is kept. Set policy.max_client_qps to go lower.")
    cap = policy["max_client_qps"]
    if cap is None:
        notes.assume("policy.max_client_qps not set: QPS is bounded only by Velero's default (below) and the APF fair "
                     "share (above).")
    if cap is not None and cap < qps:
        notes.warn(f"policy.max_client_qps={cap:g} caps the client QPS below the modeled {qps:g}"
                   + (f" and below Velero's default {default_qps:g}" if cap < default_qps else "")
                   + f"; modeled API phase at the cap: "
                   f"{format_seconds(api.api_seconds(rel, counts, cap, api.burst_for(rel, cap)))}.")
        qps = float(cap)
        reason += f"; capped by policy.max_client_qps={cap:g}"
    burst = api.burst_for(rel, qps)
    listing = (f"{shape.namespaced_types} namespaced kinds x {shape.namespaces} namespaces + "
               f"{shape.resource_types - shape.namespaced_types} cluster kinds ({rel.text} lists per namespace)"
               if rel.per_namespace_listing else f"{shape.resource_types} kinds listed cluster-wide")
    notes.explain("server.client_qps",
                  f"{sizing_counts.total} modeled requests per whole-cluster backup ({listing}, "
                  f"{shape.objects} objects in pages of {DEFAULT_CLIENT_PAGE_SIZE}, {sizing_counts.additional_gets} "
                  f"additional-item GETs, {shape.volumes} volume(s)); {reason}; never below Velero {rel.text}'s default "
                  f"{default_qps:g}, never above the APF fair share {bound:g} ({share:g} x {seats} workload-low seats / "
                  f"{api.SEAT_SECONDS_PER_REQUEST} seat-seconds per request) unless the default is.")
    if qps <= default_qps:
        notes.explain("server.client_burst",
                      f"{burst}: QPS {qps:g} x Velero's own burst/QPS ratio {default_burst}/{default_qps:g}, never below "
                      f"QPS.")
    else:
        notes.explain("server.client_burst",
                      f"{burst}: {api.BURST_RATIO_ABOVE_DEFAULT:g} x QPS {qps:g} once QPS is raised above Velero's "
                      f"default, at least Velero's default burst {default_burst}; the bucket absorbs the discovery and "
                      f"namespace-listing spike at the start of a backup.")
    if page == DEFAULT_CLIENT_PAGE_SIZE:
        notes.explain("server.client_page_size",
                      f"Velero's default {DEFAULT_CLIENT_PAGE_SIZE}: {shape.objects} objects is below "
                      f"{api.LARGE_COLLECTION_OBJECTS}, where page requests would start to dominate.")
    else:
        notes.explain("server.client_page_size",
                      f"{page} for {shape.objects} objects (>= {api.LARGE_COLLECTION_OBJECTS}): APF already charges a "
                      f"500-item etcd page the maximum 10 seats, so {page}-item pages halve page requests "
                      f"({sizing_counts.collection_lists} -> {counts.collection_lists} LISTs) at the same seat cost.")
    if rel.per_namespace_listing and shape.namespaced_types * shape.namespaces >= LARGE_NAMESPACE_LISTS:
        notes.warn(f"Velero {rel.text} lists every namespaced kind once per namespace (PR #9587): "
                   f"{shape.namespaced_types} x {shape.namespaces} = {shape.namespaced_types * shape.namespaces} LISTs "
                   f"per whole-cluster backup; {per_namespace_listing_advice(rel)}.")
    return _ApiResult(qps=qps, burst=burst, page_size=page, counts=counts, sizing_counts=sizing_counts, bound=bound,
                      target=target)


# ------------------------------------------------------------------------------------------
# Repositories and maintenance
# ------------------------------------------------------------------------------------------

def _repositories(inp: SizingInputs, shape: api.ClusterShape, notes: _Notes) -> _Repos:
    data = inp.data
    total_bytes = data["volume_bytes"]
    files = data["files"]
    if files is None:
        notes.assume(f"data.files unknown: average file size {format_size(km.ASSUMED_AVERAGE_FILE_BYTES)} assumed "
                     f"({km.files_for(total_bytes, None)} files for {format_size(total_bytes)}); pass data.files "
                     f"for a sharper maintenance size.")
    total_files = km.files_for(total_bytes, files)
    if files and total_bytes / files >= km.PACK_BLOB_BYTES / 2:
        notes.warn(f"data.files={files} for {format_size(total_bytes)} is {format_size(total_bytes // files)} per file, "
                   f"about the size of kopia's storage blobs (packs of up to {format_size(km.PACK_BLOB_BYTES)}): is it "
                   f"the bucket's object count? Pass the files in the backed-up volumes; contents are counted as at "
                   f"least bytes / {format_size(km.MAX_CHUNK_BYTES)} (the splitter's maximum chunk) either way.")
    per_day = data["backups_per_day"]
    if per_day is None:
        per_day = km.DEFAULT_BACKUPS_PER_DAY
        notes.assume(f"data.backups_per_day unknown: {per_day:g} backup per day assumed.")
    if data["backups_retained"] is None:
        days = float(km.DEFAULT_RETENTION_DAYS)
        notes.assume(f"data.backups_retained unknown: Velero's default TTL (720h) assumed, {days:g} days of backups "
                     f"retained, {km.DAILY_CONTENT_CHURN:.0%} new contents per day.")
    else:
        days = data["backups_retained"] / per_day
    count = data["repositories"]
    if count is None:
        notes.assume("data.repositories unknown: maintenance sized as if one repository held all volume data.")
    largest_bytes = data["largest_repository_bytes"]
    if largest_bytes is None:
        largest_bytes = total_bytes
        notes.assume(f"data.largest_repository_bytes unknown: the largest repository is assumed to hold all "
                     f"{format_size(total_bytes)}; no per-repository split.")
    largest_files = data["largest_repository_files"]
    if largest_files is None:
        if files is not None and data["largest_repository_bytes"] is not None:
            # "All files in the largest repository" would size a 2Ti repository of an 18Ti fleet for every file of
            # the fleet; a share in proportion to bytes would fall when data.volume_bytes grows. A dense-repository
            # bound is monotone in every input: at most data.files, at most one file per 64 KiB of its bytes.
            largest_files = min(total_files, km.dense_files_bound(largest_bytes))
            notes.assume(f"data.largest_repository_files unknown: {largest_files} files, at most data.files and at "
                         f"most one file per {format_size(km.DENSE_AVERAGE_FILE_BYTES)} of its "
                         f"{format_size(largest_bytes)} (file-heavy kopia repositories average 52-103 KB per "
                         f"content); pass data.largest_repository_files, often far fewer, for a sharper size.")
        elif files is not None:
            largest_files = total_files
            notes.assume(f"data.largest_repository_files unknown: the largest repository is assumed to hold all "
                         f"{total_files} files.")
        else:
            largest_files = km.files_for(largest_bytes, None)
            notes.assume(f"data.largest_repository_files unknown: {largest_files} files from its bytes at the assumed "
                         f"average file size.")
    if data["largest_repository_key"] is None:
        notes.assume("data.largest_repository_key unknown: no per-repository maintenance entry can be named; the "
                     "global entry covers the largest repository.")
    volumes = shape.volumes
    repos_for_volumes = max(1, count or 1)
    volumes_per_repo = max(1, math.ceil(volumes / repos_for_volumes))
    blobs = data["index_blobs"]
    if blobs is None:
        blobs = km.steady_state_index_blobs(per_day, volumes_per_repo)
        notes.assume(f"data.index_blobs unknown: a healthy steady state of {blobs} index blobs per repository assumed "
                     f"(write sessions per hour x {km.STEADY_STATE_INDEX_HOURS} h).")

    def repo(num_bytes: int, num_files: int) -> km.RepositoryShape:
        return km.RepositoryShape(volume_bytes=num_bytes, files=num_files, directories=km.directories_for(num_files),
                                  index_blobs=blobs, backups_per_day=per_day, retention_days=days,
                                  volumes=volumes_per_repo)

    typical = None
    if count is not None and count > 1 and data["largest_repository_bytes"] is not None:
        # The second-largest repository holds at most what the largest holds and at most all the rest, in bytes.
        # Its files are never "all files minus an upper bound for the largest's" (that handed a 1 TB repository of a
        # 2 TB / 5M-file fleet almost no files). Unless both counts are given (then the rest is exact), take a safe
        # share: at most data.files and at most one file per 64 KiB of its own bytes (a dense repository).
        second_bytes = min(largest_bytes, total_bytes - largest_bytes)
        if files is None:
            second_files = km.files_for(second_bytes, None)
        elif data["largest_repository_files"] is not None:
            # Both counts given: the others hold exactly the rest.
            second_files = min(total_files - largest_files, km.dense_files_bound(second_bytes))
        else:
            second_files = min(total_files, km.dense_files_bound(second_bytes))
        typical = repo(second_bytes, second_files)
    return _Repos(count=count, largest=repo(largest_bytes, largest_files), typical=typical,
                  key=data["largest_repository_key"], files_assumed=files is None)


@dataclasses.dataclass(frozen=True)
class _PodSize:
    estimate: km.MaintenanceEstimate
    cpu_request: int
    cpu_limit: int
    memory_request: int
    memory_limit: int
    ephemeral: tuple[int, int] | None
    raised_by: str | None = None  # the observation that raised the limit above the model
    capped_by: str | None = None  # the policy that lowered it

    def resources(self) -> dict[str, str]:
        result = {
            "cpuRequest": format_cpu(self.cpu_request),
            "cpuLimit": format_cpu(self.cpu_limit),
            "memoryRequest": format_memory(self.memory_request),
            "memoryLimit": format_memory(self.memory_limit),
        }
        if self.ephemeral is not None:
            result["ephemeralStorageRequest"] = format_memory(self.ephemeral[0])
            result["ephemeralStorageLimit"] = format_memory(self.ephemeral[1])
        return result


@dataclasses.dataclass(frozen=True)
class _Floor:
    """The least a limit may be after what the cluster showed, and why (None: nothing observed)."""

    limit: int = 0
    request: int = 0
    reason: str | None = None


def _observed_floor(observed: t.Mapping[str, t.Any], oom_key: str, peak_key: str | None, what: str) -> _Floor:
    """Above an OOMKilled limit by the ladder's step, and above an observed peak by GOGC's headroom."""
    limit, request, reasons = 0, 0, []
    oom = observed.get(oom_key)
    if oom:
        limit = max(limit, km.round_memory(oom * OBSERVED_OOM_STEP + 1))
        reasons.append(f"observed.{oom_key}: {what} was OOMKilled at a {format_memory(oom)} limit, so the limit is at "
                       f"least {OBSERVED_OOM_STEP:g} x that (the maintenance ladder's step)")
    peak = observed.get(peak_key) if peak_key else None
    if peak:
        limit = max(limit, km.round_memory(peak * OBSERVED_PEAK_HEADROOM))
        request = km.round_memory(peak)
        reasons.append(f"observed.{peak_key}: {what} used {format_size(peak)}, so the limit is at least "
                       f"{OBSERVED_PEAK_HEADROOM:g} x that (a sampled use is not the peak; GOGC=100) and the request "
                       f"at least the use")
    evidence = observed.get("evidence") or []
    if reasons and evidence:
        reasons.append("evidence: " + "; ".join(evidence))
    return _Floor(limit, request, "; ".join(reasons) if reasons else None)


def _pod_size(rel: VeleroRelease, shape: km.RepositoryShape, cap: int | None, cache_limit_mb: int,
              files_assumed: bool = False, floor: _Floor = _Floor(), node_cap: int | None = None) -> _PodSize:
    """Limit at the high end of the modeled range; an observed OOM or peak raises it; policy caps lower it."""
    estimate = km.maintenance_estimate(rel, shape, files_assumed)
    limit = max(MIN_MAINTENANCE_LIMIT, km.round_memory(estimate.high_bytes))
    request = min(limit, km.round_memory(estimate.request_bytes))
    raised_by = capped_by = None
    if cap is not None and limit > cap:
        limit = cap
        request = min(request, cap)
        capped_by = f"policy.max_maintenance_memory={format_memory(cap)}"
    if floor.limit > limit:
        # The cluster already OOMKilled a limit like this one: a cap below it is known to fail.
        limit, raised_by = floor.limit, floor.reason
    request = min(limit, max(request, floor.request))
    if node_cap is not None and limit > node_cap:
        limit = node_cap
        request = min(request, node_cap)
        capped_by = f"cluster.node_memory={format_memory(node_cap)} (policy.node_memory_policy=cap)"
    cpu_request, cpu_limit = km.maintenance_cpu_millicores(estimate.total_contents)
    ephemeral = km.ephemeral_storage_bytes(estimate, cache_limit_mb) if rel.ephemeral_storage_fields else None
    return _PodSize(estimate, cpu_request, cpu_limit, request, limit, ephemeral, raised_by, capped_by)


def _describe_estimate(rel: VeleroRelease, shape: km.RepositoryShape, size: _PodSize) -> str:
    est = size.estimate
    return (f"{shape.files} files + {math.ceil(shape.volume_bytes / km.AVERAGE_CHUNK_BYTES)} chunks of "
            f"{format_size(shape.volume_bytes)} + {shape.directories} directories = {est.live_contents} contents, "
            f"{est.total_contents} with {shape.retention_days:g} days retained; {shape.index_blobs} index blobs -> "
            f"{est.compaction_entries} entries compacted x {est.bytes_per_entry} B (kopia {rel.kopia_version}) = "
            f"{format_size(est.compaction_heap_bytes)}, GC sets {format_size(est.gc_heap_bytes)} on heap; "
            f"driver: {est.driver}")


def _explain_pod(notes: _Notes, prefix: str, rel: VeleroRelease, shape: km.RepositoryShape, size: _PodSize,
                 what: str, cap: int | None) -> None:
    est = size.estimate
    detail = _describe_estimate(rel, shape, size)
    notes.explain(f"{prefix}.memoryRequest",
                  f"{what}: base {format_size(km.BASE_BYTES)} + live heap {format_size(est.heap_bytes)} + mmapped "
                  f"index {format_size(est.index_bytes)} + index blobs {format_size(est.index_blob_bytes)}, rounded "
                  f"up, at most the limit ({detail}).")
    assumed = (f"; x{est.high_factor:g} because data.files was assumed (average file size "
               f"{format_size(km.ASSUMED_AVERAGE_FILE_BYTES)})" if est.high_factor != km.HIGH_FACTOR else "")
    notes.explain(f"{prefix}.memoryLimit",
                  f"{what}: the high end of the modeled peak (expected {format_size(est.peak_bytes)}, range "
                  f"{format_size(est.low_bytes)} to {format_size(est.high_bytes)}: {km.HIGH_FACTOR:g} x expected for "
                  f"the spread of the per-entry figures{assumed}). Expected peak = base "
                  f"{format_size(km.BASE_BYTES)} + the largest phase ({est.driver}: compaction "
                  f"{format_size(est.compaction_peak_bytes)} as measured whole-process, not doubled; GC sets "
                  f"{km.GOGC_HEADROOM:g} x {format_size(est.gc_heap_bytes)}; content rewrite {km.GOGC_HEADROOM:g} x "
                  f"{format_size(est.rewrite_heap_bytes)} for {km.ASSUMED_NODE_CPUS} assumed node CPUs) + mmapped "
                  f"index {format_size(est.index_bytes)} + {shape.index_blobs} index blobs x "
                  f"{format_size(km.INDEX_BLOB_BYTES)}, rounded up"
                  + (f"; raised by {size.raised_by}" if size.raised_by else "")
                  + (f"; capped by {size.capped_by}" if size.capped_by else "") + ".")
    notes.explain(f"{prefix}.cpuRequest",
                  f"{what}: {format_cpu(size.cpu_request)} for {est.total_contents} contents (compaction runs on one "
                  f"core; < 1M contents need little).")
    notes.explain(f"{prefix}.cpuLimit",
                  f"{what}: {format_cpu(size.cpu_limit)}; the snapshot GC walk is parallel on large repositories, so "
                  f"more than one core shortens it.")
    if size.ephemeral is not None:
        notes.explain(f"{prefix}.ephemeralStorageRequest",
                      f"{what}: index cache {format_size(est.index_bytes)} + GC spill to /tmp "
                      f"{format_size(est.gc_spill_bytes)} + 512Mi working space, rounded up to Gi.")
        notes.explain(f"{prefix}.ephemeralStorageLimit",
                      f"{what}: the request plus the kopia data/metadata cache limit (cacheLimitMB).")


def _maintenance(inp: SizingInputs, repos: _Repos, cache_limit_mb: int,
                 notes: _Notes) -> tuple[dict[str, t.Any], _PodSize]:
    """Returns (maintenance section, size of the largest repository)."""
    rel = inp.release
    cap = inp.policy["max_maintenance_memory"]
    if cap is not None:
        cap = cap // MiB * MiB  # quantities are written in whole Mi: round a cap down, never above it
    if cap is None:
        notes.assume("policy.max_maintenance_memory not set: maintenance memory limits are the modeled peaks, "
                     "uncapped.")
    floor = _observed_floor(inp.observed, "maintenance_oom_limit", "maintenance_peak_memory", "a maintenance Job")
    node_memory = inp.cluster["node_memory"]
    node_policy = inp.policy["node_memory_policy"] or "cap"
    if inp.policy["node_memory_policy"] is None:
        notes.assume("policy.node_memory_policy not set: cap, a maintenance limit above cluster.node_memory is capped "
                     "at it with a warning.")
    missing = [f"observed.{key}" for key, value in inp.observed.items() if value is None]
    if missing:
        notes.assume(f"{', '.join(missing)} not given: nothing observed in this cluster raises the model's values "
                     f"(tune.yml with live facts passes what cluster_facts found).")
    if node_memory is None:
        notes.assume("cluster.node_memory unknown: maintenance Jobs are not checked against the nodes' allocatable "
                     "memory; a limit above every node's would leave the Job Pending or OOMKilled by the node.")
    node_cap = node_memory // MiB * MiB if node_memory is not None and node_policy == "cap" else None
    sized = [_pod_size(rel, shape, cap, cache_limit_mb, repos.files_assumed, floor)
             for shape in (repos.largest, repos.typical) if shape is not None]
    too_big = [size for size in sized if node_memory is not None and size.memory_limit > node_memory]
    if too_big:
        need = max(size.memory_limit for size in too_big)
        fixes = ("give maintenance a node pool with more memory through the maintenance ConfigMap's loadAffinity"
                 + ("" if rel.maintenance_configmap else f" (Velero 1.15+; {rel.text} has no maintenance ConfigMap)")
                 + ", split the data over more repositories (fewer contents per repository: back up the largest "
                   "namespace's volumes separately or move some to CSI snapshots), or keep the index small with "
                   "maintenance that succeeds on time")
        message = (f"A maintenance Job needs a {format_memory(need)} memory limit, more than the "
                   f"{format_size(node_memory)} allocatable on the nodes (cluster.node_memory): no node can hold it")
        if node_policy == "fail":
            raise ValueError(f"cluster.node_memory: {message}; {fixes} (policy.node_memory_policy=fail; set it to cap "
                             f"to cap the limit at the node's memory instead)")
        notes.warn(f"{message}. The limit is capped at {format_memory(node_cap or 0)} (policy.node_memory_policy=cap), "
                   f"so the Job may still be OOMKilled; {fixes}.")
    largest = _pod_size(rel, repos.largest, cap, cache_limit_mb, repos.files_assumed, floor, node_cap)
    global_size, global_shape, what = largest, repos.largest, "largest repository"
    overrides: dict[str, t.Any] = {}
    in_server = rel.maintenance_mechanism == "in-server"
    if repos.typical is not None and not rel.maintenance_configmap:
        notes.explain("maintenance.repositories",
                      f"empty: Velero {rel.text} applies one maintenance size to every repository (per-repository "
                      f"entries need the maintenance ConfigMap of 1.15+), so the global entry is sized for the largest.")
        if repos.key is not None:
            runs = ("the server, which runs maintenance of every repository, needs" if in_server
                    else "every maintenance Job gets")
            notes.warn(f"Velero {rel.text} cannot size maintenance per repository: {runs} the resources of the "
                       f"largest repository {repos.key}. Velero 1.15+ can give it its own entry.")
    elif repos.typical is not None:
        typical = _pod_size(rel, repos.typical, cap, cache_limit_mb, repos.files_assumed, floor, node_cap)
        dominates = largest.estimate.peak_bytes > DOMINANCE_FACTOR * typical.estimate.peak_bytes
        if dominates and repos.key is not None:
            global_size, global_shape = typical, repos.typical
            what = "every other repository (the second-largest: its own bytes and a safe share of the files)"
            overrides[repos.key] = {"pod_resources": largest.resources()}
            _explain_pod(notes, f"maintenance.repositories.{repos.key}.pod_resources", rel, repos.largest, largest,
                         f"largest repository {repos.key}", cap)
            notes.explain("maintenance.repositories",
                          f"{repos.key} peaks at {format_size(largest.estimate.peak_bytes)}, more than "
                          f"{DOMINANCE_FACTOR:g} x the {format_size(typical.estimate.peak_bytes)} of any other repository, "
                          f"so it gets its own ConfigMap entry and the global entry is sized for the others.")
        elif dominates:
            notes.warn(f"The largest repository (modeled peak {format_size(largest.estimate.peak_bytes)}) dominates the "
                       f"others ({format_size(typical.estimate.peak_bytes)}), but data.largest_repository_key is unknown, "
                       f"so the global maintenance resources are sized for the largest. Pass "
                       f"data.largest_repository_key (<volumeNamespace>-<bsl>-kopia) to size it separately.")
            notes.explain("maintenance.repositories",
                          "empty: the largest repository dominates but its key is unknown, so global covers it.")
        else:
            notes.explain("maintenance.repositories",
                          "empty: no repository dominates the others, one global entry covers all of them.")
    else:
        notes.explain("maintenance.repositories", "empty: one repository (or unknown count), the global entry covers it.")
    _explain_pod(notes, "maintenance.pod_resources", rel, global_shape, global_size, what, cap)

    for name, size in [("the largest repository", largest)] + (
            [("the global entry", global_size)] if global_size is not largest else []):
        peak = size.estimate.high_bytes
        if cap is not None and cap < peak:
            victim = "the velero server, which runs it," if in_server else "the Job"
            copied = "" if in_server else ", which Velero copies to maintenance Jobs"
            notes.warn(f"policy.max_maintenance_memory={format_memory(cap)} is below the modeled maintenance peak of "
                       f"{name} ({format_size(peak)}): {victim} may be OOMKilled. If you keep the cap, set "
                       f"GOMEMLIMIT (about 90% of the limit) in the velero Deployment's env{copied}, so Go collects "
                       f"before the cgroup limit.")
    blobs = repos.largest.index_blobs
    if blobs > km.INDEX_BLOB_WARNING_THRESHOLD:
        notes.warn(f"{blobs} index blobs is above kopia's warning threshold ({km.INDEX_BLOB_WARNING_THRESHOLD}): an "
                   f"index-compaction backlog. Each blob is opened and merged ({format_size(largest.estimate.index_blob_bytes)} "
                   f"modeled) and the next successful maintenance compacts the whole retained index "
                   f"({largest.estimate.compaction_entries} entries); the memory above is sized for that run. What "
                   f"clears the backlog: full maintenance runs that succeed, day after day (kopia compacts by 24h "
                   f"epochs and writes a range checkpoint once 7 epochs have settled, so back-to-back runs do not "
                   f"help; kopia #5057 saw ten in a row leave the count unchanged). What does not: fastGC "
                   f"(fullMaintenanceInterval) on an existing repository, because Velero copies the backup-repository "
                   f"ConfigMap only when a repository is created (edit spec.repositoryConfig of the BackupRepository), "
                   f"and quick maintenance alone. Watch that maintenance {'runs' if in_server else 'Jobs'} succeed and "
                   f"the count falls.")
    if blobs >= km.MMAP_WARNING_BLOBS:
        reached = "reaches" if blobs >= km.MAX_MAP_COUNT else "approaches"
        notes.warn(f"{blobs} index blobs {reached} Linux's default vm.max_map_count ({km.MAX_MAP_COUNT}): kopia maps "
                   f"each cached index blob, and the Go runtime, libraries and kopia's spill files share the limit, so "
                   f"backups and maintenance fail with 'mmap error: cannot allocate memory' before the count reaches "
                   f"it (velero #8502: 64,621 blobs). Raise vm.max_map_count (e.g. 262144) on the nodes that run "
                   f"maintenance and the node-agent, and clear the backlog (above).")
    if not rel.gc_sets_on_heap and largest.estimate.gc_spill_bytes > 0 and not rel.ephemeral_storage_fields:
        notes.warn(f"kopia {rel.kopia_version} spills GC sets beyond {format_size(km.BIGMAP_HEAP_BYTES)} to files "
                   f"under /tmp ({format_size(largest.estimate.gc_spill_bytes)} modeled): the maintenance pod needs "
                   f"writable, large enough ephemeral storage; the ConfigMap can set it only from Velero 1.18.1.")
    if in_server:
        notes.warn(f"Velero {rel.text} runs repository maintenance inside the velero server pod: the server's memory "
                   f"includes the maintenance peak ({format_size(largest.estimate.peak_bytes)}). Velero 1.14+ runs it as "
                   f"a Job with its own resources, 1.15+ reduces compaction memory.")
    elif rel.compaction_bytes_per_entry > 340 and largest.estimate.compaction_heap_bytes > GiB:
        notes.warn(f"Velero {rel.text} bundles kopia {rel.kopia_version}, whose index compaction takes about "
                   f"{rel.compaction_bytes_per_entry} B per entry; Velero 1.15+ includes kopia's fix (PR #4139, about "
                   f"340 B per entry) and per-repository maintenance configuration. Upgrading roughly halves the "
                   f"compaction peak.")

    frequency_hours = 1
    if repos.count is not None:
        frequency_hours = min(MAX_FREQUENCY_HOURS,
                              max(1, math.ceil(repos.count * MINUTES_PER_MAINTENANCE_JOB / 60)))
    frequency = KOPIA_DEFAULT_MAINTENANCE_FREQUENCY if frequency_hours == 1 else f"{frequency_hours}h"
    if frequency_hours == 1:
        notes.explain("maintenance.frequency",
                      "kopia's default 1h (kopia's quick cycle): the modeled memory of a run does not depend on the "
                      "interval (the steady-state index counts one maintenance session per hour, the most any "
                      "recommended interval writes, and index compaction follows kopia's 24h epochs), so the "
                      "default stays.")
    else:
        if in_server:
            runner, run = "the server's BackupRepository controller maintains one repository at a time", "run"
        else:
            runner, run = "the BackupRepository controller runs one maintenance Job at a time and waits for it", "Job"
        notes.explain("maintenance.frequency",
                      f"{frequency}: {runner}; {repos.count} repositories x ~{MINUTES_PER_MAINTENANCE_JOB} min per "
                      f"{run} already take {repos.count * MINUTES_PER_MAINTENANCE_JOB} min per cycle (capped at "
                      f"kopia's {MAX_FREQUENCY_HOURS}h full cycle). The modeled memory of a run does not depend on "
                      f"the interval. --default-repo-maintain-frequency seeds spec.maintenanceFrequency of "
                      f"BackupRepositories created afterwards only; existing ones keep theirs until patched.")
    if in_server:
        notes.explain("maintenance.keep_latest_jobs",
                      f"{DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS}, not applicable: Velero {rel.text} runs maintenance "
                      f"inside the server and keeps no finished runs; the value only matters after an upgrade.")
    else:
        notes.explain("maintenance.keep_latest_jobs",
                      f"Velero's default {DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS}: enough finished Jobs (and their pods' "
                      f"OOMKilled reasons) for troubleshooting without piling up pods.")
    mechanism = rel.maintenance_mechanism
    notes.explain("maintenance.mechanism", {
        "in-server": f"Velero {rel.text} runs maintenance inside the server process (1.12-1.13): size the server.",
        "server-flags": f"Velero {rel.text} runs a maintenance Job configured by --maintenance-job-* and "
                        f"--keep-latest-maintenance-jobs server flags (1.14; ConfigMap from 1.15).",
        "configmap": f"Velero {rel.text} reads maintenance Job settings from the --repo-maintenance-job-configmap "
                     f"ConfigMap (1.15+; the server flags were removed in 1.17).",
    }[mechanism])
    section = {
        "mechanism": mechanism,
        "pod_resources": global_size.resources(),
        "keep_latest_jobs": DEFAULT_KEEP_LATEST_MAINTENANCE_JOBS,
        "frequency": frequency,
        "repositories": overrides,
    }
    return section, largest


def _repository_config(inp: SizingInputs, repos: _Repos, notes: _Notes) -> dict[str, t.Any]:
    rel = inp.release
    cache_limit: int | None = None
    interval: str | None = None
    if rel.backup_repository_configmap:
        metadata = repos.largest.objects * DIRECTORY_ENTRY_BYTES
        default_metadata = rel.default_cache_limit_mb * 10**6 * METADATA_CACHE_SHARE * CACHE_SOFT_LIMIT
        if metadata > default_metadata:
            wanted = int(math.ceil(metadata / (METADATA_CACHE_SHARE * CACHE_SOFT_LIMIT) / 10**6 / 1000) * 1000)
            cache_limit = min(MAX_CACHE_LIMIT_MB, wanted)
            notes.explain("repository.cache_limit_mb",
                          f"{cache_limit}: the largest repository's directory metadata ({repos.largest.objects} files and "
                          f"directories x {DIRECTORY_ENTRY_BYTES} B = {format_size(metadata)}) exceeds the metadata "
                          f"cache of the default {rel.default_cache_limit_mb} MB (20% share, 80% soft limit) and the GC "
                          f"walk re-reads every directory each full maintenance; {wanted} MB would hold it, at most "
                          f"{MAX_CACHE_LIMIT_MB} MB because the cache lives on the pods' ephemeral storage.")
        else:
            notes.explain("repository.cache_limit_mb",
                          f"null (keep Velero's {rel.default_cache_limit_mb} MB): the largest repository's directory "
                          f"metadata ({format_size(metadata)}) fits the default metadata cache.")
    else:
        notes.explain("repository.cache_limit_mb",
                      f"null: Velero {rel.text} has no backup-repository ConfigMap (1.15+); its cache is fixed.")
    if rel.full_maintenance_interval:
        if repos.largest.index_blobs > km.INDEX_BLOB_WARNING_THRESHOLD:
            interval = "fastGC"
            notes.explain("repository.full_maintenance_interval",
                          f"fastGC (12h): {repos.largest.index_blobs} index blobs is above kopia's warning threshold; "
                          f"deleting superseded epoch indexes is a full-maintenance task, so full cycles twice a day clear "
                          f"the backlog sooner (eagerGC is not recommended: Velero warns it weakens data safety).")
        else:
            notes.explain("repository.full_maintenance_interval",
                          "null (keep normalGC, 24h): the index is not backlogged.")
    else:
        notes.explain("repository.full_maintenance_interval",
                      f"null: fullMaintenanceInterval exists from Velero 1.16; {rel.text} uses kopia's 24h full cycle.")
    if cache_limit is not None or interval is not None:
        notes.warn("Velero copies the backup-repository ConfigMap (cacheLimitMB, fullMaintenanceInterval) into a "
                   "BackupRepository only when the repository is created: edit spec.repositoryConfig of existing "
                   "ones (fullMaintenanceInterval of an existing kopia repository keeps its maintenance parameters; "
                   "inferred from Velero's code).")
    return {"cache_limit_mb": cache_limit, "full_maintenance_interval": interval}


# ------------------------------------------------------------------------------------------
# Server and node-agent
# ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _ServerSize:
    resources: dict[str, t.Any]
    low: int
    expected: int
    high: int


def _server_resources(inp: SizingInputs, shape: api.ClusterShape, largest: _PodSize, repos: _Repos,
                      notes: _Notes) -> _ServerSize:
    rel = inp.release
    objects = shape.objects
    largest_type = inp.cluster["largest_resource_type_objects"]
    if largest_type is None:
        expected_type = math.ceil(objects * ASSUMED_LARGEST_TYPE_SHARE)
        high_type = objects
        high_factor = 1.0
        notes.assume(f"cluster.largest_resource_type_objects unknown: the largest resource type is assumed to hold "
                     f"{ASSUMED_LARGEST_TYPE_SHARE:.0%} of the {objects} objects ({expected_type}) for the expected "
                     f"server peak and all of them for the limit; pass it (cluster_facts measures it) to narrow the "
                     f"range.")
    else:
        expected_type = high_type = largest_type
        high_factor = SERVER_HIGH_FACTOR

    def backup_peak(type_objects: int) -> int:
        live = type_objects * SERVER_LISTED_OBJECT_BYTES + objects * SERVER_BYTES_PER_OBJECT
        return SERVER_BASE_BYTES + math.ceil(km.GOGC_HEADROOM * live)

    in_server = rel.maintenance_mechanism == "in-server" and inp.data["volume_bytes"] > 0
    repo_open = 0
    if rel.server_connects_repositories and inp.data["volume_bytes"] > 0:
        repo_open = km.repository_open_bytes(repos.largest)
    extra_expected = largest.estimate.peak_bytes if in_server else repo_open
    extra_high = largest.memory_limit if in_server else math.ceil(repo_open * km.HIGH_FACTOR)
    expected = backup_peak(expected_type) + extra_expected
    high = math.ceil(backup_peak(high_type) * high_factor) + extra_high
    low = math.ceil((SERVER_BASE_BYTES + km.GOGC_HEADROOM * objects * SERVER_BYTES_PER_OBJECT) * km.LOW_FACTOR)
    low = min(low, expected)
    default_request = 128 * MiB
    default_limit = 512 * MiB
    floor = _observed_floor(inp.observed, "server_oom_limit", "server_peak_memory", "the velero server")
    live_request = SERVER_BASE_BYTES + expected_type * SERVER_LISTED_OBJECT_BYTES + objects * SERVER_BYTES_PER_OBJECT
    request = live_request + (largest.memory_request if in_server else repo_open)
    memory_limit = max(default_limit, km.round_memory(high), floor.limit)
    memory_request = min(memory_limit, max(default_request, km.round_memory(request), floor.request))
    per_objects = objects // SERVER_OBJECTS_PER_MILLICORE
    cpu_request = min(SERVER_CPU_MAX_REQUEST_MILLICORES, SERVER_CPU_BASE_MILLICORES + per_objects)
    cpu_limit = max(1000, 2 * cpu_request)
    if in_server:
        cpu_request += largest.cpu_request
        cpu_limit += largest.cpu_limit
    if in_server:
        extra = (f" + in-server maintenance of the largest repository ({format_memory(largest.memory_request)} "
                 f"request, {format_memory(largest.memory_limit)} limit)")
    elif repo_open:
        extra = (f" + {format_size(repo_open)} to connect to the largest repository (Velero {rel.text}'s "
                 f"BackupRepository controller opens repositories in the server, loading their index: velero #8886, "
                 f"#9193; 1.18 stopped it, PR #9291)")
    else:
        extra = ""
    per_item = (f"{SERVER_LISTED_OBJECT_BYTES // 1024} KiB per listed item of the largest resource type (one type's "
                f"pages are held together) + {SERVER_BYTES_PER_OBJECT // 1024} KiB per item of the backup")
    notes.explain("server.resources.requests.memory",
                  f"{format_size(SERVER_BASE_BYTES)} (Velero's default, documented for <= 1000 resources) + "
                  f"{per_item}: {expected_type} x {SERVER_LISTED_OBJECT_BYTES // 1024} KiB + {objects} x "
                  f"{SERVER_BYTES_PER_OBJECT // 1024} KiB{extra}, rounded up"
                  + (f"; raised by {floor.reason}" if floor.request > km.round_memory(request) else "") + ".")
    notes.explain("server.resources.limits.memory",
                  f"the high end of the server's modeled peak: base + {km.GOGC_HEADROOM:g} x ({per_item}; "
                  f"{high_type} items of the largest type"
                  + (f", x{high_factor:g} headroom for object size" if high_factor != 1.0 else
                     ", the largest type assumed to hold every object")
                  + f"){extra} = {format_size(high)} (expected {format_size(expected)}), at least Velero's default "
                  f"{rel.default_resources_server['limits']['memory']}"
                  + (f"; raised by {floor.reason}" if floor.limit > max(default_limit, km.round_memory(high)) else "")
                  + ".")
    notes.explain("server.resources.requests.cpu",
                  f"{SERVER_CPU_BASE_MILLICORES}m (Velero's default) + 1m per {SERVER_OBJECTS_PER_MILLICORE} objects, "
                  f"at most {format_cpu(SERVER_CPU_MAX_REQUEST_MILLICORES)}"
                  + (f" + maintenance {format_cpu(largest.cpu_request)}" if in_server else "") + ".")
    notes.explain("server.resources.limits.cpu",
                  "twice the request, at least 1 core (Velero's default limit)"
                  + (f" + maintenance {format_cpu(largest.cpu_limit)}" if in_server else "") + ".")
    resources = {"requests": {"cpu": format_cpu(cpu_request), "memory": format_memory(memory_request)},
                 "limits": {"cpu": format_cpu(cpu_limit), "memory": format_memory(memory_limit)}}
    return _ServerSize(resources, low, expected, high)


def _largest_volume(inp: SizingInputs, repos: _Repos, notes: _Notes) -> tuple[int, int, bool]:
    """(bytes, files, whether either was given) of the largest single volume, which one kopia upload holds in memory.

    Neither given: the largest repository taken as one volume, an upper bound.
    """
    data = inp.data
    repo = repos.largest
    given_bytes, given_files = data["largest_volume_bytes"], data["largest_volume_files"]
    volume_bytes = repo.volume_bytes if given_bytes is None else given_bytes
    if given_files is not None:
        volume_files = given_files
    elif given_bytes is None:
        volume_files = repo.files
    elif data["files"] is not None or data["largest_repository_files"] is not None:
        volume_files = min(repo.files, km.dense_files_bound(volume_bytes))
    else:
        volume_files = min(repo.files, km.files_for(volume_bytes, None))
    if given_bytes is None and given_files is None:
        notes.assume(f"data.largest_volume_bytes and data.largest_volume_files unknown: the node-agent is sized as if the "
                     f"largest repository ({format_size(repo.volume_bytes)}, {repo.files} files) were one volume, an "
                     f"upper bound (about {repo.volumes} volume(s) per repository); pass them to size it per volume.")
    elif given_files is None:
        notes.assume(f"data.largest_volume_files unknown: {volume_files} files in the largest volume "
                     f"({format_size(volume_bytes)}), at most its repository's files.")
    elif given_bytes is None:
        notes.assume(f"data.largest_volume_bytes unknown: the largest volume's streaming buffers are sized for its "
                     f"repository's {format_size(volume_bytes)}.")
    return volume_bytes, volume_files, given_bytes is not None or given_files is not None


def _node_agent(inp: SizingInputs, repos: _Repos, notes: _Notes) -> dict[str, t.Any]:
    rel = inp.release
    volume_bytes, volume_files, volume_known = _largest_volume(inp, repos, notes)
    what = "the largest volume" if volume_known else "the largest repository taken as one volume"
    objects = volume_files + km.directories_for(volume_files)
    per_volume = km.uploader_memory_bytes(volume_bytes, objects)
    request = km.round_memory(per_volume)
    limit = km.round_memory(per_volume * UPLOADER_LIMIT_FACTOR)
    floor = _observed_floor(inp.observed, "node_agent_oom_limit", None, "a node-agent container")
    raised = floor.limit > limit
    if raised:
        limit = floor.limit
    large = limit > UPLOADER_RESOURCES_THRESHOLD or floor.limit > 0
    detail = (f"kopia uploader for {what} ({format_size(volume_bytes)}): "
              f"{format_size(km.UPLOADER_BASE_BYTES)} + {objects} files and directories x "
              f"{km.UPLOADER_BYTES_PER_OBJECT} B + streaming buffers = {format_size(per_volume)} "
              f"(fit to Velero's performance guide)")
    node_memory = inp.cluster["node_memory"]
    if node_memory is None:
        node_memory = ASSUMED_NODE_MEMORY
        notes.assume(f"cluster.node_memory unknown: nodes with {format_size(node_memory)} allocatable memory assumed "
                     f"when weighing the node-agent's request against a node.")
    nodes = inp.cluster["nodes"]
    if nodes is None:
        notes.assume("cluster.nodes unknown: the node-agent DaemonSet's total memory reservation is not computed.")
    resources = None
    if large:
        resources = {"requests": {"cpu": "500m", "memory": format_memory(request)},
                     "limits": {"cpu": "2", "memory": format_memory(limit)}}
        reserved = (f"; the DaemonSet reserves {format_size(request * nodes)} across {nodes} nodes" if nodes
                    else "")
        notes.explain("node_agent.resources.requests.memory",
                      f"{detail}, rounded up; one volume at a time per node, requested on every node{reserved}.")
        notes.explain("node_agent.resources.limits.memory",
                      f"{UPLOADER_LIMIT_FACTOR:g} x the request for variance; above 1Gi, where the performance guide "
                      f"saw kopia OOM with many files" + (f"; raised by {floor.reason}" if raised else "") + ".")
        notes.explain("node_agent.resources.requests.cpu", "500m, Velero's old node-agent default request.")
        notes.explain("node_agent.resources.limits.cpu", "2 cores: kopia hashes and compresses in parallel.")
        if request > NODE_MEMORY_SHARE * node_memory:
            notes.warn(f"The node-agent memory request {format_memory(request)} (limit {format_memory(limit)}) is "
                       f"more than {NODE_MEMORY_SHARE:.0%} of a node's {format_size(node_memory)}: the DaemonSet "
                       f"reserves it on every node{(' (' + format_size(request * nodes) + ' in all)') if nodes else ''}"
                       f", whether or not a backup runs there. It is sized for {what} "
                       f"({format_size(volume_bytes)}, {volume_files} files); "
                       + ("pass data.largest_volume_bytes and data.largest_volume_files if the largest volume is "
                          "smaller, " if not volume_known else "")
                       + ("pass cluster.node_memory if the nodes are larger, " if inp.cluster["node_memory"] is None
                          else "")
                       + "or back that volume up with CSI snapshot data movement instead of file-system backup.")
    else:
        notes.explain("node_agent.resources",
                      f"null (leave as is): {detail}; the modeled limit {format_memory(limit)} stays within 1Gi.")
    pod_resources = None
    if rel.node_agent_pod_resources and large:
        pod_resources = {"cpuRequest": "500m", "cpuLimit": "2",
                         "memoryRequest": format_memory(request), "memoryLimit": format_memory(limit)}
        notes.explain("node_agent.pod_resources.memoryRequest", f"data-mover pod, one volume: {detail}.")
        notes.explain("node_agent.pod_resources.memoryLimit", f"{UPLOADER_LIMIT_FACTOR:g} x the request.")
        notes.explain("node_agent.pod_resources.cpuRequest", "500m so the data-mover pod is not BestEffort.")
        notes.explain("node_agent.pod_resources.cpuLimit", "2 cores: kopia hashes and compresses in parallel.")
    elif rel.node_agent_pod_resources:
        notes.explain("node_agent.pod_resources", f"null (leave data-mover pods as they are): {detail}; within 1Gi.")
    else:
        notes.explain("node_agent.pod_resources",
                      f"null: data-mover podResources exist from Velero 1.15; {rel.text} has none.")
    concurrency = None
    if not rel.at_least(13):
        notes.explain("node_agent.load_concurrency", f"null: Velero {rel.text} has no node-agent ConfigMap (1.13+).")
    elif large:
        concurrency = 1
        notes.explain("node_agent.load_concurrency",
                      "1, pinned: every concurrent volume adds its own uploader memory and the node-agent memory above "
                      "is sized for one volume at a time; raise it only together with the memory.")
    else:
        notes.explain("node_agent.load_concurrency",
                      "null (Velero's default 1): volumes are small enough that concurrency is a speed choice.")
    return {"resources": resources, "pod_resources": pod_resources, "load_concurrency": concurrency}


# ------------------------------------------------------------------------------------------
# Composition
# ------------------------------------------------------------------------------------------

def _plugins(rel: VeleroRelease, result: _ApiResult, notes: _Notes) -> tuple[dict[str, t.Any], float, float]:
    counts = result.counts
    plugin_qps, plugin_burst = api.plugin_rate(rel, result.qps, result.burst)
    throttle = api.plugin_throttle_seconds(counts, plugin_qps, plugin_burst)
    default_qps, default_burst = api.plugin_rate(rel, rel.default_client_qps, rel.default_client_burst)
    throttle_default = api.plugin_throttle_seconds(counts, default_qps, default_burst)
    discovery = (f"{counts.plugin_discovery_helpers} discovery refreshes x {counts.plugin_discovery_per_helper} requests, "
                 f"{counts.plugin_requests} other plugin requests")
    if rel.plugins_inherit_server_flags:
        notes.explain("plugins.inherit_server_flags",
                      "true: from Velero 1.15 (PR #8166) plugin processes receive the server's arguments, so "
                      "--client-qps/--client-burst apply to them.")
        notes.explain("plugins.effective_client_qps", f"the server's {result.qps:g} (inherited).")
        notes.explain("plugins.effective_client_burst", f"the server's {result.burst} (inherited).")
    else:
        notes.explain("plugins.inherit_server_flags",
                      f"false: Velero {rel.text} passes only --log-level/--features to plugin processes (fixed in 1.15).")
        notes.explain("plugins.effective_client_qps",
                      f"client-go's default {CLIENT_GO_DEFAULT_QPS:g}: no flag or env var reaches plugins before 1.15.")
        notes.explain("plugins.effective_client_burst", f"client-go's default {CLIENT_GO_DEFAULT_BURST}.")
        notes.warn(f"Velero {rel.text} runs plugins at client-go's {CLIENT_GO_DEFAULT_QPS:g} QPS / "
                   f"{CLIENT_GO_DEFAULT_BURST} burst and no setting can raise it (issue #7806). Modeled plugin "
                   f"throttling of a whole-cluster backup: {format_seconds(throttle)} ({discovery}). Upgrade to Velero "
                   f">= 1.15, where plugins inherit --client-qps/--client-burst.")
    section = {"inherit_server_flags": rel.plugins_inherit_server_flags,
               "effective_client_qps": float(plugin_qps), "effective_client_burst": int(plugin_burst)}
    return section, throttle, throttle_default


def recommend(inputs: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Validate the sizing inputs and return the recommendation (contracts.md section 1)."""
    inp = validate(dict(inputs) if isinstance(inputs, t.Mapping) else inputs)
    rel = inp.release
    notes = _Notes()
    if rel.assumed_from:
        notes.warn(f"Velero {rel.text} is newer than the newest patch this collection knows; the facts of "
                   f"{rel.assumed_from} are assumed.")
    if rel.default_uploader != "kopia":
        notes.assume(f"uploader: kopia repositories assumed. Velero {rel.text}'s server defaults to "
                     f"--uploader-type={rel.default_uploader} (velero install and the Helm chart from 5.4.1 set "
                     f"kopia); the maintenance and node-agent sizing model kopia and does not apply to restic.")
    shape = _cluster_shape(inp, notes)
    api_result = _size_api(inp, shape, notes)
    plugins, plugin_throttle, plugin_throttle_default = _plugins(rel, api_result, notes)
    repos = _repositories(inp, shape, notes)
    cache_section = _repository_config(inp, repos, notes)
    cache_limit = cache_section["cache_limit_mb"] or rel.default_cache_limit_mb
    maintenance, largest = _maintenance(inp, repos, cache_limit, notes)
    server = _server_resources(inp, shape, largest, repos, notes)
    server_resources = server.resources
    node_agent = _node_agent(inp, repos, notes)

    counts = api_result.counts
    default_counts = api_result.sizing_counts
    default_qps, default_burst = rel.default_client_qps, rel.default_client_burst
    predicted = {
        "api_requests": counts.total,
        "api_requests_breakdown": counts.as_dict(),
        "throttle_seconds_default": round(api.server_throttle_seconds(default_counts, default_qps, default_burst), 2),
        "throttle_seconds_recommended": round(
            api.server_throttle_seconds(counts, api_result.qps, api_result.burst), 2),
        "plugin_throttle_seconds": round(plugin_throttle, 2),
        "plugin_throttle_seconds_default": round(plugin_throttle_default, 2),
        "api_seconds_default": round(api.api_seconds(rel, default_counts, default_qps, default_burst), 2),
        "api_seconds_recommended": round(api.api_seconds(rel, counts, api_result.qps, api_result.burst), 2),
        "apf_qps_bound": api_result.bound,
        "maintenance_peak_memory_bytes": int(largest.estimate.peak_bytes),
        "maintenance_peak_memory": format_size(largest.estimate.peak_bytes),
        "maintenance_peak_memory_range": {"low": largest.estimate.low_bytes, "expected": largest.estimate.peak_bytes,
                                          "high": largest.estimate.high_bytes},
        "server_peak_memory_range": {"low": server.low, "expected": server.expected, "high": server.high},
        "maintenance_contents": largest.estimate.total_contents,
        "maintenance_compaction_entries": largest.estimate.compaction_entries,
        "api_time_curve": api.api_time_curve(rel, counts, api_result.qps),
    }
    notes.explain("predicted.throttle_seconds_default",
                  f"server token buckets at Velero's default {default_qps:g}/{default_burst}: "
                  f"max(0, requests - burst) / qps per client (discovery and items).")
    notes.explain("predicted.plugin_throttle_seconds",
                  "plugin process at its effective QPS/burst; each plugin discovery helper builds its own client.")
    notes.explain("predicted.maintenance_peak_memory_bytes",
                  f"largest repository: {_describe_estimate(rel, repos.largest, largest)}.")
    notes.explain("predicted.maintenance_peak_memory_range",
                  f"bytes: low {km.LOW_FACTOR:g} x, high {largest.estimate.high_factor:g} x the expected peak"
                  + (" (wider: data.files assumed)" if repos.files_assumed else "")
                  + "; the maintenance memory limits are set at the high end.")
    notes.explain("predicted.server_peak_memory_range",
                  "bytes: low = base and item index only, expected = the largest type at its given or assumed size, "
                  "high = the limit's basis (largest type at its high end, with headroom).")
    notes.explain("predicted.api_seconds_recommended",
                  "the modeled API phase (discovery, listing, additional GETs, volume requests with throttling) at the "
                  "recommended QPS; not the backup's duration: item processing, volume data transfer and webhooks "
                  "are not in it.")
    return {
        "velero_version": rel.text,
        "server": {
            "client_qps": float(api_result.qps),
            "client_burst": int(api_result.burst),
            "client_page_size": int(api_result.page_size),
            "resources": server_resources,
        },
        "plugins": plugins,
        "maintenance": maintenance,
        "repository": cache_section,
        "node_agent": node_agent,
        "velero_defaults": rel.defaults(),
        "explanations": notes.explanations,
        "assumptions": notes.assumptions,
        "warnings": notes.warnings,
        "predicted": predicted,
        "observed": {key: value for key, value in inp.observed.items() if value is not None},
    }
