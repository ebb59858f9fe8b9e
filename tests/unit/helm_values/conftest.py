# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the helm-values tests: recommendations shaped like contracts.md section 1.

These unit tests exercise rendering, merging, validation and reports on their own, so they build
recommendation dicts here instead of running the sizing model (the integration tests run the real one).
"""

from __future__ import annotations

import copy
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # test modules import make_recommendation from here
    sys.path.insert(0, str(HERE))

REPO_ROOT = HERE.parents[2]
VALUES_DIR = REPO_ROOT.parent / "shared" / "velero-chart"


def velero_values_dir() -> Path:
    if not VALUES_DIR.is_dir():
        pytest.fail(f"the chart's real values files are missing: expected {VALUES_DIR} "
                    "(../shared/velero-chart beside the repository)")
    return VALUES_DIR


def real_values(era: t.Any) -> dict[str, t.Any]:
    """The era's real values.yaml without the keys no release of the era has."""
    values = yaml.safe_load((velero_values_dir() / era.values_file).read_text(encoding="utf-8"))
    for dotted in era.absent:
        *parents, last = dotted.split(".")
        node = values
        for part in parents:
            node = node[part]
        del node[last]
    return values


PODS = {"cpuRequest": "500m", "cpuLimit": "2", "memoryRequest": "4Gi", "memoryLimit": "8Gi"}


def make_recommendation(velero_version: str = "1.14.0", *, repositories: dict[str, t.Any] | None = None,
                        node_agent: bool = True, repository: bool = True, qps: float = 300.0, burst: int = 400,
                        page_size: int = 1000, keep: int = 3, frequency: str = "1h") -> dict[str, t.Any]:
    minor = int(velero_version.split(".")[1])
    patch = int(velero_version.split(".")[2])
    default_qps, default_burst = (20.0, 30) if minor < 14 else (100.0, 100)
    mechanism = "in-server" if minor < 14 else ("server-flags" if minor == 14 else "configmap")
    pod = dict(PODS)
    if (minor, patch) >= (18, 1):
        pod.update({"ephemeralStorageRequest": "1Gi", "ephemeralStorageLimit": "2Gi"})
    inherit = minor >= 15
    rec: dict[str, t.Any] = {
        "velero_version": velero_version,
        "server": {"client_qps": qps, "client_burst": burst, "client_page_size": page_size,
                   "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                 "limits": {"cpu": "1", "memory": "1Gi"}}},
        "plugins": {"inherit_server_flags": inherit, "effective_client_qps": qps if inherit else 5.0,
                    "effective_client_burst": burst if inherit else 10},
        "maintenance": {"mechanism": mechanism, "pod_resources": pod, "keep_latest_jobs": keep,
                        "frequency": frequency, "repositories": copy.deepcopy(repositories or {})},
        "repository": {"cache_limit_mb": 4096 if (repository and minor >= 15) else None,
                       "full_maintenance_interval": "normalGC" if (repository and minor >= 16) else None},
        "node_agent": {
            "resources": ({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "0", "memory": "4Gi"}}
                          if node_agent else None),
            "pod_resources": (dict(PODS) if node_agent and minor >= 15 else None),
            "load_concurrency": (2 if node_agent and minor >= 13 else None),
        },
        "velero_defaults": {
            "server.client_qps": default_qps, "server.client_burst": default_burst,
            "server.client_page_size": 500,
            "server.resources.requests.cpu": "500m", "server.resources.requests.memory": "128Mi",
            "server.resources.limits.cpu": "1", "server.resources.limits.memory": "512Mi",
            "maintenance.pod_resources.cpuRequest": "0", "maintenance.pod_resources.cpuLimit": "0",
            "maintenance.pod_resources.memoryRequest": "0", "maintenance.pod_resources.memoryLimit": "0",
            "maintenance.keep_latest_jobs": 3, "maintenance.frequency": "1h",
            "repository.cache_limit_mb": 5000, "repository.full_maintenance_interval": "normalGC",
            "node_agent.load_concurrency": 1,
        },
        "explanations": {
            "server.client_qps": "5000 namespaces x 40 types: 300 QPS keeps a backup's listing under 60 s",
            "server.client_burst": "burst 400 absorbs discovery at backup start",
            "server.client_page_size": "1000 per page halves LIST calls for large namespaces",
            "server.resources": "server memory for 250k objects",
            "maintenance.pod_resources": "763GB, 2438 index blobs: 5.1Gi peak -> 4Gi request, 8Gi limit",
            "maintenance.keep_latest_jobs": "Velero default",
            "maintenance.repositories": "the largest repository gets its own resources",
            "node_agent.resources": "file-system backup of 700 GiB PVC",
            "node_agent.load_concurrency": "2 concurrent data-path operations per node",
            "node_agent.pod_resources": "data mover pods",
            "repository.cache_limit_mb": "4096 MB cache",
            "repository.full_maintenance_interval": "keep normalGC",
        },
        "assumptions": ["backups run with the default item-block worker count"],
        "warnings": ["kopia reported 2438 index blobs: run maintenance before the next full backup"],
        "predicted": {
            "api_requests": 24000, "throttle_seconds_default": 220.5, "throttle_seconds_recommended": 40.2,
            # 24000 requests in pages of 1000; the report computes every API figure from this breakdown.
            "api_requests_breakdown": {
                "server_discovery": 2, "namespace_list": 6, "collection_lists": 2200, "additional_gets": 20000,
                "volume_requests": 300, "plugin_discovery": 6, "plugin_requests": 1486, "server_total": 22508,
                "plugin_total": 1492, "total": 24000, "page_size": page_size, "list_calls": 200,
                "listed_objects": 2000000, "namespaces": 5000, "plugin_discovery_helpers": 3,
                "plugin_discovery_per_helper": 2},
            "plugin_throttle_seconds": 0.0 if inherit else 35.0, "maintenance_peak_memory_bytes": 5476083302,
            "maintenance_peak_memory": "5.1Gi",
            "api_time_curve": [{"qps": q, "burst": int(q * 1.3), "seconds": round(24000 / q, 1)}
                               for q in (20, 50, 100, 200, 300, 500, 1000)],
        },
    }
    return rec


@pytest.fixture
def recommendation() -> t.Callable[..., dict[str, t.Any]]:
    return make_recommendation
