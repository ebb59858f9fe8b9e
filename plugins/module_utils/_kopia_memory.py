# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Memory of kopia repository maintenance, and of kopia uploads in the node-agent.

Maintenance memory is driven by the number of contents in a repository and by how many index
entries one maintenance run must compact; bytes matter only through the chunks of large files.
Every constant is explained, with its source, in ``docs/sizing-model.md`` section
"Maintenance memory". Pure Python, no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import math

from ._quantity import GiB, MiB
from ._releases import VeleroRelease

KiB = 2**10

# --- contents -------------------------------------------------------------------------------
# DYNAMIC-4M-BUZHASH splitter: min 2 MiB, max 8 MiB, expected chunk 2 + 4 x (1 - e^-1.5) MiB.
AVERAGE_CHUNK_BYTES = int(5.1 * MiB)
# The splitter's maximum chunk (avgSize x 2): no content is larger, so a repository never holds fewer contents than
# bytes / 8 MiB (the average-chunk count above is already more).
MAX_CHUNK_BYTES = 8 * MiB
# kopia's pack (storage blob) maximum, repo/initialize.go MaxPackSize 20<<20: bytes / files close to this means
# `files` may be the bucket's object count rather than the volumes' files.
PACK_BLOB_BYTES = 20 * MiB
# Unknown file count: assume this average file size (between the 52-103 KB average content of
# file-heavy kopia repositories and multi-MiB block/large-file volumes; errs towards more files).
ASSUMED_AVERAGE_FILE_BYTES = 256 * KiB
# Densest plausible average for a repository whose share of a known data.files is unknown: file-heavy kopia
# repositories average 52-103 KB per content (kopia.md 1.1), so a repository holds at most about one file per
# 64 KiB of its bytes. Monotone in every input, unlike a share of data.files in proportion to bytes.
DENSE_AVERAGE_FILE_BYTES = 64 * KiB
# Directories are kopia objects too: one per this many files when unknown (perf guide: 1.7-13.6).
FILES_PER_DIRECTORY = 10
# Retained history: new contents per day as a share of live contents (incremental backups).
DAILY_CONTENT_CHURN = 0.02
# Unknown retention: Velero's default backup TTL, 720h.
DEFAULT_RETENTION_DAYS = 30
DEFAULT_BACKUPS_PER_DAY = 1.0

# --- index ------------------------------------------------------------------------------------
INDEX_BLOB_WARNING_THRESHOLD = 1000  # kopia indexBlobCompactionWarningThreshold
MAX_MAP_COUNT = 65530  # Linux vm.max_map_count default: one mmap per cached index blob
# Warn long before vm.max_map_count: the Go runtime, shared libraries and bigmap's 1 GiB file segments share the
# limit (project estimate: a third of it).
MMAP_WARNING_BLOBS = 20_000
# Memory per index blob opened and merged, on top of its entries: the blob is fetched, decrypted and parsed in
# memory, then mapped page by page (project estimate, order of magnitude from velero #8502: 64,621 blobs needed
# a limit of several GiB).
INDEX_BLOB_BYTES = 64 * KiB
INDEX_BYTES_PER_CONTENT = 35  # index v2: 17-byte key + 16-19 byte entry, mmapped page cache
INDEX_INFO_BYTES = 80  # decoded index.Info (repo/content/index/info.go): string pack ID + ints + 34-byte ID
# Steady-state index blobs: write sessions per hour x 3 epochs of 24h (compaction trails ~2 epochs).
STEADY_STATE_INDEX_HOURS = 72
# One maintenance write session per hour: the 1h default, the most frequent interval the model recommends, so an
# upper bound for any recommended frequency (a longer interval writes fewer maintenance sessions).
MAINTENANCE_RUNS_PER_HOUR = 1

# --- heap -------------------------------------------------------------------------------------
GC_USED_SET_BYTES_PER_CONTENT = 40  # bigmap: 1 + len(key) bytes + 8-byte slot, grows at 75% load
GC_WALKER_BYTES_PER_OBJECT = 50  # tree walker's own bigmap set of enqueued object IDs
BIGMAP_HEAP_BYTES = 8 * 18_000_000  # 8 in-RAM segments of 18 MB before spilling to /tmp files
BASE_BYTES = 256 * MiB  # velero binary, kopia repo open, manifests, caches (reported 150-250 MB)
GOGC_HEADROOM = 2.0  # GOGC=100, no GOMEMLIMIT: the heap may reach 2x live before a collection
# Content rewrite (quick and full maintenance) runs runtime.NumCPU() x 2 workers (kopia repo/maintenance/
# content_rewrite.go parallelContentRewritesCPUMultiplier); NumCPU is the node's CPU count, not the pod's limit.
# Each worker holds a content read from its pack, its decrypted/decompressed copy and the re-encoded copy: 3 x the
# 8 MiB maximum chunk. This fixed cost is why a small repository's Job needs more than 512Mi (M17).
REWRITE_WORKERS_PER_CPU = 2
REWRITE_BUFFERS_PER_WORKER = 3
ASSUMED_NODE_CPUS = 16  # project estimate: a common large worker; more CPUs mean more rewrite workers
# Limits are set at the high end of the modeled range: expected x this (project estimate; the per-entry figures
# vary about 10-20% between reports), x the wider factor when the file count was assumed.
HIGH_FACTOR = 1.25
HIGH_FACTOR_ASSUMED_FILES = 1.5
LOW_FACTOR = 0.75

# --- node-agent / data mover (kopia uploader), fit to Velero's performance guide ---------------
UPLOADER_BASE_BYTES = 512 * MiB
UPLOADER_BYTES_PER_OBJECT = 500
UPLOADER_STREAM_BYTES_PER_DATA_BYTE = 1 / 2048
UPLOADER_STREAM_MAX_BYTES = 256 * MiB


@dataclasses.dataclass(frozen=True)
class RepositoryShape:
    """What one repository holds; unknowns resolved by ``repository_shape``."""

    volume_bytes: int
    files: int
    directories: int
    index_blobs: int
    backups_per_day: float
    retention_days: float
    volumes: int

    @property
    def objects(self) -> int:
        return self.files + self.directories


@dataclasses.dataclass(frozen=True)
class MaintenanceEstimate:
    """Modeled memory of one maintenance run of one repository."""

    live_contents: int
    total_contents: int
    compaction_entries: int
    compaction_heap_bytes: int
    gc_heap_bytes: int
    gc_spill_bytes: int
    index_bytes: int
    request_bytes: int
    peak_bytes: int
    bytes_per_entry: int
    rewrite_heap_bytes: int = 0
    index_blob_bytes: int = 0
    compaction_peak_bytes: int = 0
    high_factor: float = HIGH_FACTOR

    @property
    def heap_bytes(self) -> int:
        return max(self.compaction_heap_bytes, self.gc_heap_bytes, self.rewrite_heap_bytes)

    @property
    def driver(self) -> str:
        phases = {"index compaction": self.compaction_peak_bytes,
                  "snapshot GC": math.ceil(GOGC_HEADROOM * self.gc_heap_bytes),
                  "content rewrite (fixed cost)": math.ceil(GOGC_HEADROOM * self.rewrite_heap_bytes)}
        return max(phases, key=lambda name: phases[name])

    @property
    def low_bytes(self) -> int:
        return math.ceil(self.peak_bytes * LOW_FACTOR)

    @property
    def high_bytes(self) -> int:
        return math.ceil(self.peak_bytes * self.high_factor)


def dense_files_bound(volume_bytes: int) -> int:
    """At most this many files in ``volume_bytes`` of a repository (one per 64 KiB, see DENSE_AVERAGE_FILE_BYTES)."""
    return math.ceil(volume_bytes / DENSE_AVERAGE_FILE_BYTES)


def files_for(volume_bytes: int, files: int | None) -> int:
    """Known file count, or the bytes divided by the assumed average file size."""
    if files is not None:
        return files
    return math.ceil(volume_bytes / ASSUMED_AVERAGE_FILE_BYTES)


def directories_for(files: int) -> int:
    return math.ceil(files / FILES_PER_DIRECTORY)


def steady_state_index_blobs(backups_per_day: float, volumes: int) -> int:
    """Index blobs alive in a healthy repository: write sessions per hour x 72 h."""
    sessions_per_hour = backups_per_day * max(1, volumes) / 24 + MAINTENANCE_RUNS_PER_HOUR
    return math.ceil(sessions_per_hour * STEADY_STATE_INDEX_HOURS)


def live_contents(shape: RepositoryShape) -> int:
    """Contents of the newest snapshot: one per file, one per 5.1 MiB of data, one per directory.

    Counting every file once and every chunk of the bytes once is an upper bound that needs no
    file-size distribution: a file below 2 MiB is one content, a large file one per chunk. It is never
    below bytes / 8 MiB (the splitter's maximum chunk), however few files are given.
    """
    chunks = max(math.ceil(shape.volume_bytes / AVERAGE_CHUNK_BYTES), math.ceil(shape.volume_bytes / MAX_CHUNK_BYTES))
    return shape.files + chunks + shape.directories


def total_contents(shape: RepositoryShape) -> int:
    """Live contents plus what the retained history adds (daily churn x retained days)."""
    live = live_contents(shape)
    return live + math.ceil(live * DAILY_CONTENT_CHURN * shape.retention_days)


def compaction_entries(shape: RepositoryShape) -> int:
    """Index entries one run compacts in one builder.

    At least the live contents: kopia's first range checkpoint compacts every index blob since the
    repository was created, i.e. the first full backup. The retained history joins in proportion
    to the index backlog; from kopia's warning threshold (1000 blobs) on, compaction has fallen
    behind and the stalled range spans the whole retained index.
    """
    live = live_contents(shape)
    total = total_contents(shape)
    backlog = min(1.0, shape.index_blobs / INDEX_BLOB_WARNING_THRESHOLD)
    return live + math.ceil((total - live) * backlog)


def round_memory(num_bytes: float) -> int:
    """Round a memory size up to a step that reads well: 64Mi < 1Gi, 128Mi < 2Gi, 512Mi < 16Gi, then 1Gi."""
    if num_bytes <= 0:
        return 0
    if num_bytes < GiB:
        step = 64 * MiB
    elif num_bytes < 2 * GiB:
        step = 128 * MiB
    elif num_bytes < 16 * GiB:
        step = 512 * MiB
    else:
        step = GiB
    return int(math.ceil(num_bytes / step) * step)


def rewrite_heap_bytes(node_cpus: int = ASSUMED_NODE_CPUS) -> int:
    """Live heap of kopia's parallel content rewrite: 2 workers per CPU x 3 buffers of the 8 MiB maximum chunk."""
    return node_cpus * REWRITE_WORKERS_PER_CPU * REWRITE_BUFFERS_PER_WORKER * MAX_CHUNK_BYTES


def maintenance_estimate(rel: VeleroRelease, shape: RepositoryShape, files_assumed: bool = False) -> MaintenanceEstimate:
    """Peak and steady memory of one maintenance run (kopia ModeAuto: quick hourly, full daily).

    Phases run one after the other, so the peak is the largest of: index compaction (the per-entry figures are
    whole-process peaks that already hold Go's GC headroom, so they are not doubled), snapshot GC sets and the
    parallel content rewrite (live-heap sizes, doubled for GOGC=100). The mmapped index and the per-blob cost of
    opening every index blob are held throughout.
    """
    live = live_contents(shape)
    total = total_contents(shape)
    entries = compaction_entries(shape)
    per_entry = rel.compaction_bytes_per_entry
    compaction_heap = entries * per_entry
    gc_sets = total * GC_USED_SET_BYTES_PER_CONTENT + shape.objects * GC_WALKER_BYTES_PER_OBJECT
    if rel.gc_sets_on_heap:
        gc_heap, spill = gc_sets, 0
    else:
        # kopia >= 0.20 (Velero 1.17+): sets spill to memory-mapped files under /tmp past 144 MB.
        gc_heap, spill = min(gc_sets, BIGMAP_HEAP_BYTES), max(0, gc_sets - BIGMAP_HEAP_BYTES)
    index = total * INDEX_BYTES_PER_CONTENT
    blob_bytes = shape.index_blobs * INDEX_BLOB_BYTES
    rewrite = rewrite_heap_bytes()
    heap = max(compaction_heap, gc_heap, rewrite)
    phase_peak = max(compaction_heap, math.ceil(GOGC_HEADROOM * gc_heap), math.ceil(GOGC_HEADROOM * rewrite))
    request = BASE_BYTES + heap + index + blob_bytes
    peak = BASE_BYTES + phase_peak + index + blob_bytes
    return MaintenanceEstimate(
        live_contents=live, total_contents=total, compaction_entries=entries,
        compaction_heap_bytes=compaction_heap, gc_heap_bytes=gc_heap, gc_spill_bytes=spill, index_bytes=index,
        request_bytes=request, peak_bytes=peak, bytes_per_entry=per_entry, rewrite_heap_bytes=rewrite,
        index_blob_bytes=blob_bytes, compaction_peak_bytes=compaction_heap,
        high_factor=HIGH_FACTOR_ASSUMED_FILES if files_assumed else HIGH_FACTOR,
    )


def repository_open_bytes(shape: RepositoryShape) -> int:
    """Memory of connecting to a repository (what Velero 1.14-1.17's BackupRepository controller does in the server).

    The mmapped index (35 B per content) plus one decoded index.Info per content while the merged index is read
    (about 80 B, kopia.md 1.2) plus the per-blob cost of opening every index blob.
    """
    total = total_contents(shape)
    return total * (INDEX_BYTES_PER_CONTENT + INDEX_INFO_BYTES) + shape.index_blobs * INDEX_BLOB_BYTES


def maintenance_cpu_millicores(total: int) -> tuple[int, int]:
    """(request, limit): compaction is single-threaded; the GC walk is parallel on big repositories."""
    if total < 1_000_000:
        return 250, 1000
    if total < 5_000_000:
        return 500, 2000
    return 1000, 2000


def uploader_memory_bytes(volume_bytes: int, objects: int) -> int:
    """Peak kopia uploader memory for one volume (Velero performance guide, cases 1-4)."""
    stream = min(UPLOADER_STREAM_MAX_BYTES, math.ceil(volume_bytes * UPLOADER_STREAM_BYTES_PER_DATA_BYTE))
    return UPLOADER_BASE_BYTES + objects * UPLOADER_BYTES_PER_OBJECT + stream


def ephemeral_storage_bytes(estimate: MaintenanceEstimate, cache_limit_mb: int) -> tuple[int, int]:
    """(request, limit) of the maintenance pod's ephemeral storage.

    Index blobs are cached on disk without a size limit; GC sets spill to /tmp from kopia 0.20; the
    data + metadata caches may grow to cacheLimitMB. Request = what maintenance needs to write,
    limit = that plus the full cache.
    """
    need = estimate.index_bytes + estimate.gc_spill_bytes + 512 * MiB
    request = _round_gib(need)
    return request, _round_gib(request + cache_limit_mb * 10**6)


def _round_gib(num_bytes: float) -> int:
    return int(math.ceil(num_bytes / GiB) * GiB)
