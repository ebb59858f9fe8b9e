# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kopia maintenance and uploader memory (pure model)."""

from __future__ import annotations

import math

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kopia_memory as km
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import GiB, MiB
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release


def repo(volume_bytes: int = 0, files: int = 0, index_blobs: int = 75, days: float = 30,
         directories: int | None = None) -> km.RepositoryShape:
    return km.RepositoryShape(volume_bytes=volume_bytes, files=files,
                              directories=km.directories_for(files) if directories is None else directories,
                              index_blobs=index_blobs, backups_per_day=1, retention_days=days, volumes=1)


def test_average_chunk_is_derived_from_the_splitter() -> None:
    # DYNAMIC-4M-BUZHASH: min 2 MiB + 4 MiB x (1 - e^-1.5)
    assert km.AVERAGE_CHUNK_BYTES == pytest.approx((2 + 4 * (1 - math.exp(-1.5))) * MiB, rel=0.01)


@pytest.mark.parametrize(("volume_bytes", "files", "contents"), [
    (0, 0, 0),
    (300 * 10**9, 300, 300 + math.ceil(300 * 10**9 / km.AVERAGE_CHUNK_BYTES) + 30),   # big files: chunks
    (10**9, 1_000_000, 1_000_000 + math.ceil(10**9 / km.AVERAGE_CHUNK_BYTES) + 100_000),  # small files: files
])
def test_live_contents(volume_bytes: int, files: int, contents: int) -> None:
    assert km.live_contents(repo(volume_bytes, files)) == contents


def test_bytes_alone_do_not_decide_memory() -> None:
    """Same bytes, 10 000x more files: memory follows the content count."""
    rel = release("1.15.0")
    few = km.maintenance_estimate(rel, repo(500 * 10**9, 500))
    many = km.maintenance_estimate(rel, repo(500 * 10**9, 50_000_000))
    # The fixed cost (content rewrite) sets the floor of both; the content count decides above it.
    assert many.peak_bytes > 5 * few.peak_bytes
    assert few.driver == "content rewrite (fixed cost)" and many.driver == "index compaction"


@pytest.mark.parametrize(("blobs", "expected_share"), [(0, 0.0), (500, 0.5), (1000, 1.0), (2438, 1.0), (70000, 1.0)])
def test_compaction_entries_follow_the_backlog(blobs: int, expected_share: float) -> None:
    shape = repo(10**12, 2_000_000, index_blobs=blobs)
    live, total = km.live_contents(shape), km.total_contents(shape)
    assert km.compaction_entries(shape) == live + math.ceil((total - live) * expected_share)


def test_retained_history_adds_daily_churn() -> None:
    shape = repo(0, 1_000_000, days=30, directories=0)
    assert km.total_contents(shape) == 1_000_000 + math.ceil(1_000_000 * km.DAILY_CONTENT_CHURN * 30)


@pytest.mark.parametrize(("version", "per_entry", "gc_on_heap"), [
    ("1.12.0", 735, True), ("1.13.0", 735, True), ("1.14.0", 735, True),
    ("1.15.0", 340, True), ("1.16.2", 340, True), ("1.17.0", 340, False), ("1.18.1", 340, False),
])
def test_kopia_constants_per_velero_version(version: str, per_entry: int, gc_on_heap: bool) -> None:
    rel = release(version)
    assert rel.compaction_bytes_per_entry == per_entry
    assert rel.gc_sets_on_heap is gc_on_heap
    estimate = km.maintenance_estimate(rel, repo(10**12, 3_000_000, index_blobs=2000))
    assert estimate.compaction_heap_bytes == estimate.compaction_entries * per_entry
    assert (estimate.gc_spill_bytes == 0) is gc_on_heap


def test_gc_sets_spill_to_tmp_from_kopia_0_20() -> None:
    shape = repo(10**13, 50_000_000)
    heap = km.maintenance_estimate(release("1.16.0"), shape)
    spill = km.maintenance_estimate(release("1.17.0"), shape)
    assert heap.gc_heap_bytes > km.BIGMAP_HEAP_BYTES and heap.gc_spill_bytes == 0
    assert spill.gc_heap_bytes == km.BIGMAP_HEAP_BYTES
    assert spill.gc_spill_bytes == heap.gc_heap_bytes - km.BIGMAP_HEAP_BYTES


def test_compaction_peak_is_not_doubled_again() -> None:
    """kopia PR #4139's per-entry figures are whole-process peaks: they already hold Go's GC headroom."""
    estimate = km.maintenance_estimate(release("1.14.0"), repo(10**12, 2_000_000, index_blobs=3000))
    blobs = 3000 * km.INDEX_BLOB_BYTES
    assert estimate.peak_bytes == km.BASE_BYTES + estimate.compaction_heap_bytes + estimate.index_bytes + blobs
    assert estimate.request_bytes == km.BASE_BYTES + estimate.heap_bytes + estimate.index_bytes + blobs
    assert estimate.driver == "index compaction"
    assert estimate.high_bytes == math.ceil(estimate.peak_bytes * km.HIGH_FACTOR)


def test_index_blobs_add_memory_not_just_a_step() -> None:
    rel = release("1.18.0")
    fewer = km.maintenance_estimate(rel, repo(10**12, 2_000_000, index_blobs=2_000))
    more = km.maintenance_estimate(rel, repo(10**12, 2_000_000, index_blobs=60_000))
    assert more.peak_bytes - fewer.peak_bytes >= 58_000 * km.INDEX_BLOB_BYTES


def test_contents_never_below_bytes_over_max_chunk() -> None:
    shape = repo(850 * 10**9, 38_000)
    assert km.live_contents(shape) >= math.ceil(850 * 10**9 / km.MAX_CHUNK_BYTES) + 38_000


def test_founding_case_lands_near_practitioners_8gi() -> None:
    """763 GB, files unknown (256 KiB average), 2438 index blobs, Velero 1.14 (kopia 0.17, 735 B/entry)."""
    files = km.files_for(763 * 10**9, None)
    estimate = km.maintenance_estimate(release("1.14.0"), repo(763 * 10**9, files, index_blobs=2438))
    # 3.8M entries x 735 B (whole-process, not doubled) + index + 2438 blobs: about 4 GiB expected, 5 GiB high.
    assert 3.5 * GiB < estimate.peak_bytes <= 4.5 * GiB
    assert 4.5 * GiB < estimate.high_bytes <= 6 * GiB


def test_few_hundred_large_files_need_only_the_fixed_cost() -> None:
    """A small repository still pays the parallel content rewrite (M17: OOMKilled at 512Mi, 2Gi worked)."""
    estimate = km.maintenance_estimate(release("1.14.0"), repo(300 * 10**9, 300))
    assert estimate.driver == "content rewrite (fixed cost)"
    assert 512 * MiB < estimate.peak_bytes < 2.5 * GiB


@pytest.mark.parametrize(("size", "rounded"), [
    (0, 0), (1, 64 * MiB), (64 * MiB, 64 * MiB), (65 * MiB, 128 * MiB), (1000 * MiB, 1 * GiB),
    (GiB + 1, GiB + 128 * MiB), (2 * GiB + 1, 2 * GiB + 512 * MiB), (int(7.8 * GiB), 8 * GiB),
    (16 * GiB + 1, 17 * GiB),
])
def test_round_memory(size: int, rounded: int) -> None:
    assert km.round_memory(size) == rounded


@pytest.mark.parametrize(("files", "directories", "volume_bytes", "observed_mb"), [
    # Velero performance guide, kopia rows (Max Memory); the model must not be below them.
    (4_194_304, 2_396_745, 0, 2216),
    (235_298, 137_257, 22_440_000, 692),
    (470_596, 137_257, 44_880_000, 831),
    (705_894, 137_257, 67_319_000, 861),
    (10_625, 781, 10_376 * 10**6, 251),
    (900, 1, 900 * 10**9, 786),
])
def test_uploader_model_covers_the_performance_guide(files: int, directories: int, volume_bytes: int,
                                                     observed_mb: int) -> None:
    modeled = km.uploader_memory_bytes(volume_bytes, files + directories)
    assert modeled >= observed_mb * 10**6
    assert modeled <= 2 * observed_mb * 10**6 + km.UPLOADER_BASE_BYTES  # and not absurdly above


def test_case_2_4_is_above_the_1gb_that_ooms() -> None:
    assert km.uploader_memory_bytes(200 * 10**6, 2_097_152 + 2_396_745) > 10**9


def test_steady_state_index_blobs() -> None:
    assert km.steady_state_index_blobs(1, 1) == math.ceil((1 / 24 + 1) * 72)
    assert km.steady_state_index_blobs(24, 10) > km.steady_state_index_blobs(1, 10)


def test_ephemeral_storage_covers_cache_and_spill() -> None:
    estimate = km.maintenance_estimate(release("1.18.1"), repo(10**13, 50_000_000))
    request, limit = km.ephemeral_storage_bytes(estimate, 5000)
    assert request >= estimate.index_bytes + estimate.gc_spill_bytes
    assert limit >= request + 5000 * 10**6
    assert request % GiB == 0 and limit % GiB == 0


@pytest.mark.parametrize(("total", "cpu"), [(0, (250, 1000)), (999_999, (250, 1000)), (1_000_000, (500, 2000)),
                                            (5_000_000, (1000, 2000))])
def test_maintenance_cpu(total: int, cpu: tuple[int, int]) -> None:
    assert km.maintenance_cpu_millicores(total) == cpu
