# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requests grow with resource types and pages, not with objects (counts, not timings).

The full-size proof (2,000 namespaces, 150 types, 300,000 objects, peak RSS) is
``benchmarks/cluster_facts_scale.py``; this is the same property on a small cluster.
"""

from __future__ import annotations

import math
from pathlib import Path

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils._cluster_facts import Scope
from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsRequest, gather
from support.kube_api_server import KubeAPITestServer

NAMESPACES = [f"team-{i:02d}" for i in range(20)]
PODS_PER_NAMESPACE = 30


def _cluster(server: KubeAPITestServer, objects_per_type_and_namespace: int, extra_types: int) -> None:
    for name in NAMESPACES:
        server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    server.add_synthetic("v1", "Pod", NAMESPACES, PODS_PER_NAMESPACE)  # fixed: pods are paged for per-namespace stats
    for index in range(extra_types):
        kind = f"Widget{index}"
        server.register_resource("example.com", "v1", kind, kind.lower() + "s", True)
        server.add_synthetic("example.com/v1", kind, NAMESPACES, objects_per_type_and_namespace)
    server.add_synthetic("v1", "ConfigMap", NAMESPACES, objects_per_type_and_namespace)


def _requests(tmp_path: Path, *, scale: int, extra_types: int, remaining: bool = True,
              scope: Scope | None = None) -> tuple[int, dict]:
    with KubeAPITestServer(remaining_item_count=remaining) as server:
        _cluster(server, scale, extra_types)
        client = _kube.KubeClient(_kube.ConnectionOptions(
            kubeconfig=str(server.write_kubeconfig(tmp_path / f"kc-{scale}-{extra_types}-{remaining}"))))
        facts = gather(client, FactsRequest(scope=scope or Scope()))
        assert facts["partial"] is False
        assert client.request_count == len(server.requests)
        return client.request_count, facts


def test_requests_do_not_grow_with_objects(tmp_path):
    small, small_facts = _requests(tmp_path, scale=10, extra_types=10)
    large, large_facts = _requests(tmp_path, scale=200, extra_types=10)  # 20x the objects
    assert large_facts["cluster"]["objects"] - small_facts["cluster"]["objects"] == 190 * len(NAMESPACES) * 11
    assert large == small


def test_requests_grow_by_one_per_resource_type(tmp_path):
    base = _requests(tmp_path, scale=10, extra_types=10)[0]
    more, facts = _requests(tmp_path, scale=10, extra_types=25)
    assert facts["cluster"]["resource_types"] == 25 + 22  # + the 22 default core/apps/batch types
    assert more - base == 15


def test_without_remaining_item_count_requests_grow_with_pages_only(tmp_path):
    small = _requests(tmp_path, scale=10, extra_types=10, remaining=False)[0]
    large = _requests(tmp_path, scale=200, extra_types=10, remaining=False)[0]

    def pages(per_namespace: int) -> int:
        return math.ceil(per_namespace * len(NAMESPACES) / 500)

    assert large - small == 11 * (pages(200) - pages(10))


def test_restricted_scope_picks_the_cheaper_plan(tmp_path):
    scope = Scope.from_options(include_namespaces=["team-0*"])  # 10 of 20 namespaces
    facts = _requests(tmp_path, scale=10, extra_types=2, scope=scope)[1]
    # 20 x 10 objects per type fit in one page: counted from that page, no per-namespace requests.
    assert facts["cluster"]["objects"] == 10 + 10 * PODS_PER_NAMESPACE + 3 * 10 * 10
    heavy, heavy_facts = _requests(tmp_path, scale=2000, extra_types=2, scope=scope)
    assert heavy_facts["cluster"]["objects"] == 10 + 10 * PODS_PER_NAMESPACE + 3 * 10 * 2000
    # 40,000 objects per type = 80 pages; 10 per-namespace counts are cheaper: 1 probe + 10 counts per type.
    light = _requests(tmp_path, scale=10, extra_types=2, scope=scope)[0]
    assert heavy - light == 3 * 10
