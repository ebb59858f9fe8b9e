# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Request counts, token-bucket throttling, burst, APF bound and QPS sizing (pure model)."""

from __future__ import annotations


import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _api_load as api
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release


def shape(**overrides: object) -> api.ClusterShape:
    values = dict(namespaces=100, objects=50_000, resource_types=120, namespaced_types=90, group_versions=60,
                  pods=6_000, volumes=40, aggregated_discovery=True)
    values.update(overrides)
    return api.ClusterShape(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("requests", "qps", "burst", "seconds"), [
    (0, 100, 100, 0.0),
    (100, 100, 100, 0.0),          # the full bucket covers the first `burst` requests
    (101, 100, 100, 0.01),
    (1100, 100, 100, 10.0),
    (1030, 20, 30, 50.0),          # Velero 1.12/1.13 defaults
    (77, 5, 10, 13.4),             # a legacy discovery refresh of 75 group-versions at client-go 5/10
    (50, 0, 0, 8.0),               # zero values fall back to client-go's 5/10 (rest.Config)
])
def test_token_bucket_throttle(requests: int, qps: float, burst: int, seconds: float) -> None:
    assert api.throttle_seconds(requests, qps, burst) == pytest.approx(seconds)


@pytest.mark.parametrize(("aggregated", "group_versions", "expected"), [(True, 60, 2), (False, 60, 62), (False, 1, 3)])
def test_discovery_requests(aggregated: bool, group_versions: int, expected: int) -> None:
    assert api.discovery_requests(group_versions, aggregated) == expected


@pytest.mark.parametrize(("version", "collection_lists"), [
    ("1.12.0", 120 + 100),
    ("1.14.0", 120 + 100),
    ("1.18.0", 120 + 100),                 # cluster-wide LIST per type
    ("1.18.1", 90 * 100 + 30 + 100),       # PR #9587: each namespaced type once per namespace
    ("1.18.2", 120 + 100),                 # PR #9870 (issue #9869): cluster-wide again
    ("1.18.3", 120 + 100),
])
def test_listing_behaviour_per_version(version: str, collection_lists: int) -> None:
    counts = api.count_requests(release(version), shape(), 500)
    assert counts.collection_lists == collection_lists


@pytest.mark.parametrize(("version", "server_discovery", "helpers", "per_helper"), [
    ("1.12.0", 62, 2, 62),   # legacy discovery everywhere
    ("1.13.2", 62, 2, 62),
    ("1.14.0", 2, 2, 62),    # server: client-go >= 0.26 aggregated; plugins' helpers still legacy
    ("1.15.0", 2, 2, 62),
    ("1.16.0", 2, 3, 2),     # PR #8353: plugins use aggregated discovery; ItemBlock SA action adds a helper
    ("1.18.1", 2, 3, 2),
])
def test_discovery_cost_per_version(version: str, server_discovery: int, helpers: int, per_helper: int) -> None:
    counts = api.count_requests(release(version), shape(aggregated_discovery=True), 500)
    assert counts.server_discovery == server_discovery
    assert counts.plugin_discovery_helpers == helpers
    assert counts.plugin_discovery_per_helper == per_helper


def test_no_aggregated_discovery_on_the_cluster_means_legacy_everywhere() -> None:
    counts = api.count_requests(release("1.18.1"), shape(aggregated_discovery=False), 500)
    assert counts.server_discovery == 62
    assert counts.plugin_discovery_per_helper == 62


def test_request_breakdown_adds_up() -> None:
    counts = api.count_requests(release("1.14.0"), shape(), 500)
    parts = counts.as_dict()
    assert parts["additional_gets"] == 40 * api.ADDITIONAL_GETS_PER_VOLUME
    assert parts["volume_requests"] == 40 * api.SERVER_REQUESTS_PER_VOLUME
    assert parts["namespace_list"] == 1
    assert parts["server_total"] + parts["plugin_total"] == parts["total"]
    assert parts["plugin_requests"] == 1 + 40 * api.PLUGIN_REQUESTS_PER_VOLUME


def test_larger_pages_cut_page_requests() -> None:
    big = shape(objects=3_000_000)
    assert api.count_requests(release("1.15.0"), big, 1000).collection_lists == 120 + 3000
    assert api.count_requests(release("1.15.0"), big, 500).collection_lists == 120 + 6000


@pytest.mark.parametrize(("objects", "page"), [(0, 500), (999_999, 500), (1_000_000, 1000), (90_000_000, 1000)])
def test_page_size(objects: int, page: int) -> None:
    assert api.page_size_for(objects) == page


@pytest.mark.parametrize(("version", "qps", "burst"), [
    ("1.12.0", 20, 30), ("1.12.0", 10, 15), ("1.12.0", 40, 60), ("1.12.0", 1, 2),
    ("1.14.0", 100, 100), ("1.14.0", 50, 50), ("1.14.0", 200, 300), ("1.14.0", 101, 152), ("1.18.1", 0.5, 1),
])
def test_burst(version: str, qps: float, burst: int) -> None:
    assert api.burst_for(release(version), qps) == burst


def test_plugin_rate_before_and_after_1_15() -> None:
    assert api.plugin_rate(release("1.14.1"), 300, 450) == (5.0, 10)
    assert api.plugin_rate(release("1.15.0"), 300, 450) == (300, 450)


@pytest.mark.parametrize(("concurrency", "share", "bound"), [
    (600, 0.25, 612),   # ceil(600 x 100 / 245) = 245 seats; 0.25 x 245 / 0.1
    (600, 0.5, 1225),
    (3000, 0.25, 3062),  # ceil(3000 x 100 / 245) = 1225 seats
    (10, 0.25, 12),      # ceil(10 x 100 / 245) = 5 seats
])
def test_apf_bound(concurrency: int, share: float, bound: float) -> None:
    assert api.apf_qps_bound(concurrency, share) == bound


def test_workload_low_seats_match_apiserver_defaults() -> None:
    assert api.workload_low_seats(600) == 245


@pytest.mark.parametrize(("needed", "rounded"), [(21, 25.0), (100, 100.0), (100.1, 110.0), (231.2, 240.0), (5, 5.0)])
def test_round_qps(needed: float, rounded: float) -> None:
    assert api.round_qps(needed) == rounded


def test_needed_qps_meets_the_target_and_is_minimal() -> None:
    rel = release("1.15.0")
    counts = api.count_requests(rel, shape(objects=2_000_000, pods=50_000, volumes=2_000), 500)
    qps = api.needed_qps(rel, counts, 60, 5000)
    assert qps is not None and qps > rel.default_client_qps
    assert api.api_seconds(rel, counts, qps, api.burst_for(rel, qps)) <= 60 + 1e-9
    slower = qps * 0.99
    assert api.api_seconds(rel, counts, slower, api.burst_for(rel, slower)) > 60


def test_needed_qps_default_suffices_for_a_small_cluster() -> None:
    rel = release("1.14.0")
    counts = api.count_requests(rel, shape(objects=1000, pods=100, volumes=2), 500)
    assert api.needed_qps(rel, counts, 60, 612) == rel.default_client_qps


def test_needed_qps_unreachable_returns_none() -> None:
    rel = release("1.18.1")
    counts = api.count_requests(rel, shape(namespaces=5000, namespaced_types=200, resource_types=250), 500)
    # 1M LISTs: service time alone (2 ms each) is far beyond a 60 s target.
    assert api.needed_qps(rel, counts, 60, 612) is None


def test_api_time_curve_spans_default_to_twice_the_recommendation() -> None:
    rel = release("1.14.0")
    counts = api.count_requests(rel, shape(), 500)
    curve = api.api_time_curve(rel, counts, 300.0)
    assert len(curve) == 10
    assert curve[0]["qps"] == 100.0 and curve[-1]["qps"] == 600.0
    qps = [point["qps"] for point in curve]
    seconds = [point["seconds"] for point in curve]
    assert qps == sorted(qps)
    assert seconds == sorted(seconds, reverse=True)
    assert all(point["burst"] >= point["qps"] for point in curve)


def test_fixed_plugin_time_before_1_15_does_not_drive_server_qps() -> None:
    """Legacy discovery with 300 group-versions: plugins alone take ~117 s at 5/10 on 1.14."""
    rel = release("1.14.0")
    counts = api.count_requests(rel, shape(objects=1000, pods=100, volumes=2, group_versions=300,
                                           aggregated_discovery=False), 500)
    assert api.plugin_throttle_seconds(counts, 5, 10) > 60
    assert api.needed_qps(rel, counts, 60, 612) == rel.default_client_qps
    assert api.tunable_seconds(rel, counts, 100, 100) < api.api_seconds(rel, counts, 100, 100)


def test_tunable_time_includes_plugins_from_1_15() -> None:
    rel = release("1.15.0")
    counts = api.count_requests(rel, shape(), 500)
    assert api.tunable_seconds(rel, counts, 200, 300) == api.api_seconds(rel, counts, 200, 300)
