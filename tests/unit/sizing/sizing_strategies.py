# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared test data for the sizing tests: hypothesis strategies of valid inputs and named cases.

Imported as ``unit.sizing.sizing_strategies`` (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

import copy
import json
import typing as t
from pathlib import Path

from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_cpu_millicores, parse_memory, parse_duration
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import distinct_versions

ROOT = Path(__file__).resolve().parents[3]
INPUT_SCHEMA = json.loads((ROOT / "schemas" / "sizing-input.schema.json").read_text())
RECOMMENDATION_SCHEMA = json.loads((ROOT / "schemas" / "recommendation.schema.json").read_text())

VERSIONS = distinct_versions()  # one per distinct set of release facts: a new release is covered without edits

# The founding case (origin.md 2 / velero #8474) and the few-hundred-large-files case of issue 2.
FOUNDING = {
    "velero_version": "1.14.0",
    "cluster": {"namespaces": 40, "objects": 12000, "resource_types": 150},
    "data": {"volume_bytes": "763GB", "repositories": 1, "index_blobs": 2438},
}
LARGE_FILES = {
    "velero_version": "1.14.0",
    "cluster": {"namespaces": 10, "objects": 2000, "resource_types": 80},
    "data": {"volume_bytes": "300GB", "files": 300, "repositories": 1},
}
SMALL = {
    "velero_version": "1.16.0",
    "cluster": {"namespaces": 5, "objects": 500, "resource_types": 60},
    "data": {"volume_bytes": "10Gi"},
}
LARGE_CLUSTER = {
    "velero_version": "1.15.0",
    "cluster": {"namespaces": 1000, "objects": 100000, "resource_types": 200, "nodes": 50},
    "data": {"volume_bytes": "10Ti", "files": 20000000, "repositories": 300, "largest_repository_bytes": "8Ti",
             "largest_repository_files": 16000000, "largest_repository_key": "analytics-default-kopia"},
}


def with_version(case: dict[str, t.Any], version: str) -> dict[str, t.Any]:
    result = copy.deepcopy(case)
    result["velero_version"] = version
    return result


_SIZE_UNITS = ["", "B", "k", "KB", "Ki", "KiB", "M", "MB", "Mi", "G", "GB", "Gi", "GiB", "T", "TB", "Ti"]
_UNIT_BYTES = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "ki": 2**10, "kib": 2**10, "m": 10**6, "mb": 10**6,
               "mi": 2**20, "g": 10**9, "gb": 10**9, "gi": 2**30, "gib": 2**30, "t": 10**12, "tb": 10**12, "ti": 2**40}


@st.composite
def sizes(draw: st.DrawFn, max_bytes: int = 2**50) -> t.Any:
    """A size as int or string, at most ``max_bytes`` (<= 1 PiB keeps the model fast)."""
    if draw(st.booleans()):
        return draw(st.integers(min_value=0, max_value=max_bytes))
    unit = draw(st.sampled_from(_SIZE_UNITS))
    number = draw(st.integers(min_value=0, max_value=max(0, max_bytes // _UNIT_BYTES[unit.lower()])))
    return f"{number}{unit}"


def _optional(strategy: st.SearchStrategy[t.Any]) -> st.SearchStrategy[t.Any]:
    return st.one_of(st.just(None), strategy)


@st.composite
def valid_inputs(draw: st.DrawFn) -> dict[str, t.Any]:
    """Inputs the schema and the validator must both accept (cross-field rules respected)."""
    types = draw(st.integers(1, 2000))
    cluster = {
        "namespaces": draw(st.integers(1, 5000)),
        "objects": draw(st.integers(0, 5_000_000)),
        "resource_types": types,
        "namespaced_resource_types": draw(_optional(st.integers(0, types))),
        "api_groups": draw(_optional(st.integers(1, 2000))),
        "aggregated_discovery": draw(_optional(st.booleans())),
        "nodes": draw(_optional(st.integers(1, 5000))),
        "node_memory": draw(_optional(st.sampled_from(["4Gi", "16Gi", "64Gi", "512Gi", 32 * 2**30]))),
        "pods": draw(_optional(st.integers(0, 1_000_000))),
        "volumes": draw(_optional(st.integers(0, 10_000))),
    }
    volume = draw(sizes())
    volume_bytes = _bytes(volume)
    files = draw(_optional(st.integers(0, 10**9)))
    largest_bytes = draw(_optional(st.integers(0, volume_bytes)))
    largest_files = draw(_optional(st.integers(0, files if files is not None else 10**9)))
    data = {
        "volume_bytes": volume,
        "files": files,
        "repositories": draw(_optional(st.integers(0, 5000))),
        "largest_repository_bytes": largest_bytes,
        "largest_repository_files": largest_files,
        "largest_volume_bytes": draw(_optional(st.integers(0, largest_bytes if largest_bytes is not None
                                                           else volume_bytes))),
        "largest_volume_files": draw(_optional(st.integers(0, min(
            largest_files if largest_files is not None else 10**9, files if files is not None else 10**9)))),
        "largest_repository_key": draw(_optional(st.from_regex(r"\A[a-z0-9][-a-z0-9.]{0,40}-kopia\Z"))),
        "index_blobs": draw(_optional(st.integers(0, 100_000))),
        "backups_retained": draw(_optional(st.integers(1, 5000))),
        "backups_per_day": draw(_optional(st.floats(0.01, 1440))),
    }
    policy = draw(_optional(st.fixed_dictionaries({}, optional={
        "max_client_qps": st.floats(0.5, 5000),
        "target_api_seconds": st.floats(1, 86400),
        "max_maintenance_memory": st.one_of(st.sampled_from(["64Mi", "512Mi", "1Gi", "4Gi", "8Gi", "64Gi", "1Ti"]),
                                            st.integers(64 * 2**20, 2**40)),
        "apf_share": st.floats(0.01, 1),
        "apiserver_concurrency": st.integers(1, 10000),
    })))
    # Optional keys are sometimes absent and sometimes null: both mean unknown.
    drop = draw(st.booleans())
    result: dict[str, t.Any] = {
        "velero_version": draw(st.sampled_from(VERSIONS + ["v1.15.1", "1.18.3", "1.14.0-rc.1"])),
        "cluster": {k: v for k, v in cluster.items() if not (drop and v is None)},
        "data": {k: v for k, v in data.items() if not (drop and v is None)},
    }
    if policy is not None or not drop:
        result["policy"] = policy
    return result


def _bytes(size: t.Any) -> int:
    if isinstance(size, int):
        return size
    number = "".join(ch for ch in size if ch.isdigit())
    unit = size[len(number):].lower()
    return int(number) * _UNIT_BYTES[unit]


# --- comparable numbers of a recommendation (for monotonicity) ------------------------------

def _resources4(pod: dict[str, str] | None) -> tuple[int, int, int, int]:
    if pod is None:
        return (0, 0, 0, 0)
    return (parse_cpu_millicores(pod["cpuRequest"], "cpuRequest"), parse_cpu_millicores(pod["cpuLimit"], "cpuLimit"),
            parse_memory(pod["memoryRequest"], "memoryRequest"), parse_memory(pod["memoryLimit"], "memoryLimit"))


def _requests_limits(res: dict[str, dict[str, str]] | None) -> tuple[int, int, int, int]:
    if res is None:
        return (0, 0, 0, 0)
    return (parse_cpu_millicores(res["requests"]["cpu"], "cpu"), parse_cpu_millicores(res["limits"]["cpu"], "cpu"),
            parse_memory(res["requests"]["memory"], "memory"), parse_memory(res["limits"]["memory"], "memory"))


_INTERVAL_RANK = {None: 0, "normalGC": 0, "fastGC": 1, "eagerGC": 2}


def recommended_numbers(rec: dict[str, t.Any], key: str | None = None) -> dict[str, float]:
    """Every recommended number as a comparable value; ``null`` (leave as is) counts as the lowest."""
    numbers: dict[str, float] = {
        "server.client_qps": rec["server"]["client_qps"],
        "server.client_burst": rec["server"]["client_burst"],
        "server.client_page_size": rec["server"]["client_page_size"],
        "maintenance.keep_latest_jobs": rec["maintenance"]["keep_latest_jobs"],
        "maintenance.frequency": parse_duration(rec["maintenance"]["frequency"], "frequency"),
        "repository.cache_limit_mb": rec["repository"]["cache_limit_mb"] or 0,
        "repository.full_maintenance_interval": _INTERVAL_RANK[rec["repository"]["full_maintenance_interval"]],
        "node_agent.load_concurrency": rec["node_agent"]["load_concurrency"] or 1,
        "plugins.effective_client_qps": rec["plugins"]["effective_client_qps"],
        "plugins.effective_client_burst": rec["plugins"]["effective_client_burst"],
    }
    for name, value in zip(("cpu_request", "cpu_limit", "memory_request", "memory_limit"),
                           _requests_limits(rec["server"]["resources"])):
        numbers[f"server.resources.{name}"] = value
    for name, value in zip(("cpu_request", "cpu_limit", "memory_request", "memory_limit"),
                           _requests_limits(rec["node_agent"]["resources"])):
        numbers[f"node_agent.resources.{name}"] = value
    for name, value in zip(("cpu_request", "cpu_limit", "memory_request", "memory_limit"),
                           _resources4(rec["node_agent"]["pod_resources"])):
        numbers[f"node_agent.pod_resources.{name}"] = value
    maintenance = rec["maintenance"]
    largest = maintenance["repositories"].get(key, {}).get("pod_resources") if key else None
    for name, value in zip(("cpu_request", "cpu_limit", "memory_request", "memory_limit"),
                           _resources4(maintenance["pod_resources"])):
        numbers[f"maintenance.pod_resources.{name}"] = value
    for name, value in zip(("cpu_request", "cpu_limit", "memory_request", "memory_limit"),
                           _resources4(largest or maintenance["pod_resources"])):
        numbers[f"maintenance.largest.{name}"] = value
    pod = maintenance["pod_resources"]
    if "ephemeralStorageRequest" in pod:
        numbers["maintenance.pod_resources.ephemeral_request"] = parse_memory(pod["ephemeralStorageRequest"], "e")
        numbers["maintenance.pod_resources.ephemeral_limit"] = parse_memory(pod["ephemeralStorageLimit"], "e")
    return numbers
