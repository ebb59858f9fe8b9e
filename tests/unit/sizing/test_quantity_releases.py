# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Quantities/sizes/durations and the release table, which every other part builds on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _quantity as q
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import (
    NEWEST_MINOR,
    SUPPORTED_RANGE,
    release,
    supported_minors,
)


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), (1024, 1024), ("763GB", 763 * 10**9), ("1.5Ti", int(1.5 * 2**40)), ("700Gi", 700 * 2**30),
    ("10 MB", 10**7), ("5kib", 5120), ("0.5k", 500), (".5Ki", 512), ("12", 12), (3.0, 3),
])
def test_parse_size(value: object, expected: int) -> None:
    assert q.parse_size(value, "data.volume_bytes") == expected


@pytest.mark.parametrize("value", ["lots", "-5GB", "5 parsecs", "", True, None, [1], float("inf"), -1, "1e3"])
def test_parse_size_rejects_with_the_field_name(value: object) -> None:
    with pytest.raises(ValueError, match=r"^data\.volume_bytes: "):
        q.parse_size(value, "data.volume_bytes")


def test_parse_size_maximum() -> None:
    with pytest.raises(ValueError, match="larger than the supported maximum"):
        q.parse_size("2Ki", "x", maximum=1024)


@pytest.mark.parametrize(("value", "expected"), [("512Mi", 512 * 2**20), ("8Gi", 8 * 2**30), ("8G", 8 * 10**9),
                                                 ("1e3", 1000), ("0", 0), (1024, 1024), ("100m", 1)])
def test_parse_memory(value: object, expected: int) -> None:
    assert q.parse_memory(value, "m") == expected


@pytest.mark.parametrize(("value", "expected"), [("500m", 500), ("1", 1000), ("2.5", 2500), (0.1, 100), ("0", 0)])
def test_parse_cpu(value: object, expected: int) -> None:
    assert q.parse_cpu_millicores(value, "c") == expected


@pytest.mark.parametrize(("num_bytes", "text"), [
    (0, "0"), (1, "1Mi"), (2**20, "1Mi"), (2**30, "1Gi"), (4608 * 2**20, "4608Mi"), (8 * 2**30, "8Gi"),
])
def test_format_memory(num_bytes: int, text: str) -> None:
    assert q.format_memory(num_bytes) == text


@given(st.integers(0, 2**50))
def test_format_memory_round_trips_upwards(num_bytes: int) -> None:
    parsed = q.parse_memory(q.format_memory(num_bytes), "m")
    assert num_bytes <= parsed < num_bytes + 2**20


@pytest.mark.parametrize(("millicores", "text"), [(0, "0"), (250, "250m"), (1000, "1"), (2000, "2"), (1200, "1200m")])
def test_format_cpu(millicores: int, text: str) -> None:
    assert q.format_cpu(millicores) == text


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("168h0m0s", 604800), ("90s", 90), ("1h30m", 5400),
                                               ("0", 0), ("500ms", 0.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert q.parse_duration(text, "d") == seconds


@pytest.mark.parametrize("text", ["", "1d", "h", "1h 30m", 3600])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="^d: expected a Go duration"):
        q.parse_duration(text, "d")


@pytest.mark.parametrize(("seconds", "text"), [(3600, "1h"), (5400, "1h30m"), (45, "45s"), (0, "0s"), (36000, "10h")])
def test_format_duration(seconds: float, text: str) -> None:
    assert q.format_duration(seconds) == text
    assert q.parse_duration(text, "d") == seconds


@pytest.mark.parametrize(("num_bytes", "text"), [(0, "0B"), (1536, "1.5Ki"), (int(7.75 * 2**30), "7.8Gi")])
def test_format_size(num_bytes: int, text: str) -> None:
    assert q.format_size(num_bytes) == text


# --- release table (velero.md section 0, kopia.md section 2.1) ------------------------------------

@pytest.mark.parametrize(("version", "qps", "burst", "inherit", "mechanism", "kopia_bytes", "heap"), [
    ("1.12.0", 20.0, 30, False, "in-server", 735, True),
    ("1.13.2", 20.0, 30, False, "in-server", 735, True),
    ("1.14.0", 100.0, 100, False, "server-flags", 735, True),   # PR #7311
    ("1.15.0", 100.0, 100, True, "configmap", 340, True),       # PR #8166; kopia #4139 in the fork
    ("1.16.0", 100.0, 100, True, "configmap", 340, True),
    ("1.17.0", 100.0, 100, True, "configmap", 340, False),      # kopia 0.21: bigmap tempfile fixed
    ("1.18.1", 100.0, 100, True, "configmap", 340, False),
])
def test_release_table(version: str, qps: float, burst: int, inherit: bool, mechanism: str, kopia_bytes: int,
                       heap: bool) -> None:
    rel = release(version)
    assert (rel.default_client_qps, rel.default_client_burst) == (qps, burst)
    assert rel.plugins_inherit_server_flags is inherit
    assert rel.maintenance_mechanism == mechanism
    assert rel.compaction_bytes_per_entry == kopia_bytes
    assert rel.gc_sets_on_heap is heap


@pytest.mark.parametrize(("version", "per_namespace", "ephemeral", "flags"), [
    ("1.14.0", False, False, True), ("1.16.2", False, False, True), ("1.17.0", False, False, False),
    ("1.18.0", False, False, False), ("1.18.1", True, True, False),
    # 1.18.2 lists across namespaces again (PR #9870); ephemeral storage stays; 1.18.4 assumes 1.18.3's facts.
    ("1.18.2", False, True, False), ("1.18.3", False, True, False), ("1.18.4", False, True, False),
])
def test_patch_level_facts(version: str, per_namespace: bool, ephemeral: bool, flags: bool) -> None:
    rel = release(version)
    assert rel.per_namespace_listing is per_namespace
    assert rel.ephemeral_storage_fields is ephemeral
    assert rel.maintenance_server_flags is flags


def test_versions_and_range() -> None:
    assert supported_minors() == list(range(12, 19))
    assert release("v1.16.2").text == "1.16.2"
    assert release("1.14.9").assumed_from == "1.14.1"
    assert release("1.18.3").assumed_from is None and release("1.18.9").assumed_from == "1.18.3"
    assert release("1.17.2").assumed_from is None and release("1.17.3").assumed_from == "1.17.2"
    for bad in ("1.11.0", f"1.{NEWEST_MINOR + 1}.0", "2.14.0"):
        with pytest.raises(ValueError, match=f"supported versions are {SUPPORTED_RANGE}"):
            release(bad)
    with pytest.raises(ValueError, match="velero_version"):
        release("fourteen")
