# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The OOM memory ladder: bounded, strictly increasing, finite, exact quantities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory

Mi = 2**20
Gi = 2**30


@pytest.mark.parametrize(("start", "step", "cap", "expected"), [
    (1 * Gi, 1.5, 4 * Gi, ["1Gi", "1536Mi", "2304Mi", "3456Mi", "4Gi"]),
    (4 * Gi, 1.5, 16 * Gi, ["4Gi", "6Gi", "9Gi", "13824Mi", "16Gi"]),
    (4 * Gi, 2.0, 16 * Gi, ["4Gi", "8Gi", "16Gi"]),
    (4 * Gi, 1.5, 4 * Gi, ["4Gi"]),  # start at the cap: no retry
    (4 * Gi, 1.5, None, ["4Gi"]),  # no cap given: no retry
    (10**9, 1.5, 2 * 10**9, ["1000000000", "1431Mi", "2000000000"]),  # decimal units stay exact, never above the cap
    (100 * Mi, 4.0, 100 * Mi + 1, ["100Mi", "104857601"]),
])
def test_ladder_table(start: int, step: float, cap: int | None, expected: list[str]) -> None:
    assert [m.render_memory(rung) for rung in m.memory_ladder(start, step, cap)] == expected


@pytest.mark.parametrize(("start", "step", "cap", "message"), [
    (0, 1.5, Gi, "bounded starting limit"),
    (2 * Gi, 1.5, Gi, "memory_cap: 1Gi is below the starting memory limit 2Gi"),
    (Gi, 1.0, 2 * Gi, "memory_step"),
    (Gi, 5.0, 2 * Gi, "memory_step"),
])
def test_ladder_rejects(start: int, step: float, cap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        m.memory_ladder(start, step, cap)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(min_value=1, max_value=2**44), step=st.floats(min_value=m.MEMORY_STEP_MIN, max_value=m.MEMORY_STEP_MAX),
       factor=st.floats(min_value=1.0, max_value=1e6))
def test_ladder_properties(start: int, step: float, factor: float) -> None:
    cap = int(start * factor)
    rungs = m.memory_ladder(start, step, cap)
    assert rungs[0] == start
    assert rungs[-1] == cap, "the ladder always reaches the cap, so OOM at the last rung means the cap was reached"
    assert all(r <= cap for r in rungs), "never above the cap"
    assert all(b > a for a, b in zip(rungs, rungs[1:])), "strictly increasing"
    assert all(b >= min(a * step, cap) for a, b in zip(rungs, rungs[1:])), "each rung is at least step times the last"
    # Terminates: geometric growth bounds the length.
    assert len(rungs) <= math.ceil(math.log(max(cap / start, 1.0)) / math.log(step)) + 2
    # The rendered quantity is the exact number of bytes (Velero parses what we write).
    assert all(parse_memory(m.render_memory(r), "rung") == r for r in rungs)


@given(limit=st.integers(min_value=Mi, max_value=2**40), request_ratio=st.floats(min_value=0.0, max_value=1.0),
       new_factor=st.floats(min_value=1.0, max_value=8.0))
def test_resources_for_limit_keeps_request_below_limit(limit: int, request_ratio: float, new_factor: float) -> None:
    base = {"cpuRequest": "500m", "cpuLimit": "2", "memoryRequest": m.render_memory(int(limit * request_ratio)),
            "memoryLimit": m.render_memory(limit)}
    new_limit = int(limit * new_factor)
    result = m.resources_for_limit(base, new_limit)
    assert parse_memory(result["memoryLimit"], "limit") == new_limit
    assert parse_memory(result["memoryRequest"], "request") <= new_limit
    assert result["cpuRequest"] == "500m" and result["cpuLimit"] == "2"
    m.normalize_pod_resources(result, "result")  # still a valid podResources


@pytest.mark.parametrize(("base", "limit", "expected_request"), [
    ({"memoryRequest": "2Gi", "memoryLimit": "4Gi"}, 6 * Gi, "3Gi"),
    ({"memoryRequest": "0", "memoryLimit": "4Gi"}, 6 * Gi, "0"),  # no request stays no request
    ({"memoryRequest": "4Gi", "memoryLimit": "4Gi"}, 6 * Gi, "6Gi"),
    ({"memoryRequest": "1Gi", "memoryLimit": "0"}, 2 * Gi, "1Gi"),  # unbounded start keeps its request
    ({"memoryRequest": "3Gi", "memoryLimit": "0"}, 2 * Gi, "2Gi"),  # ... but never above the new limit
])
def test_resources_for_limit_table(base: dict, limit: int, expected_request: str) -> None:
    assert m.resources_for_limit(base, limit)["memoryRequest"] == expected_request


def test_cap_resources_lowers_start_to_cap() -> None:
    resources, note = m.cap_resources({"memoryRequest": "4Gi", "memoryLimit": "8Gi"}, 6 * Gi)
    assert resources == {"memoryRequest": "3Gi", "memoryLimit": "6Gi"}
    assert note is not None and "above memory_cap 6Gi" in note
    assert m.cap_resources({"memoryLimit": "4Gi"}, 6 * Gi) == ({"memoryLimit": "4Gi"}, None)
    assert m.cap_resources({"memoryLimit": "0"}, 6 * Gi) == ({"memoryLimit": "0"}, None)
