# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Properties of recommend() over generated inputs: monotone, bounded, deterministic, schema-valid."""

from __future__ import annotations

import copy
import json
import os
import typing as t

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _api_load as api
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_cpu_millicores, parse_memory
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import validate
from unit.sizing.sizing_strategies import RECOMMENDATION_SCHEMA, recommended_numbers, valid_inputs

SCHEMA = jsonschema.Draft202012Validator(RECOMMENDATION_SCHEMA)
PROPERTY_SETTINGS = settings(max_examples=int(os.environ.get("SIZING_EXAMPLES", "120")), deadline=None)

# (section, key, upper bound of the field): growing one of these never lowers a recommended number.
GROWING = [
    ("cluster", "objects", 100_000_000),
    ("cluster", "namespaces", 100_000),
    ("cluster", "resource_types", 20_000),
    ("cluster", "pods", 10_000_000),
    ("cluster", "volumes", 1_000_000),
    ("data", "files", 100_000_000_000),
    ("data", "volume_bytes", 2**56),
    ("data", "index_blobs", 10_000_000),
    ("data", "backups_retained", 100_000),
    # What the cluster showed: a higher OOMKilled limit or peak never lowers a value.
    ("observed", "maintenance_oom_limit", 2**42),
    ("observed", "server_oom_limit", 2**42),
    ("observed", "node_agent_oom_limit", 2**42),
    ("observed", "server_peak_memory", 2**42),
    ("observed", "maintenance_peak_memory", 2**42),
    ("observed", "maintenance_failures", 1_000_000),
]


def _current(inputs: dict[str, t.Any], section: str, key: str) -> int | None:
    value = validate(inputs)
    return getattr(value, section)[key]


@PROPERTY_SETTINGS
@given(valid_inputs(), st.sampled_from(GROWING), st.floats(1.0, 50.0), st.integers(1, 10**6))
def test_more_never_lowers_a_recommendation(inputs: dict[str, t.Any], field: tuple[str, str, int], factor: float,
                                            step: int) -> None:
    section, key, upper = field
    before_value = _current(inputs, section, key)
    if before_value is None:
        # An unknown input is first made known at its smallest valid value, then grown.
        inputs = copy.deepcopy(inputs)
        inputs.setdefault(section, {})
        data = inputs["data"]
        before_value = (max(data.get("largest_repository_files") or 0, data.get("largest_volume_files") or 0)
                        if key == "files" else 64 * 2**20 if key.endswith(("_limit", "_memory")) else 1)
        inputs[section][key] = before_value
    grown = copy.deepcopy(inputs)
    grown[section][key] = min(upper, max(before_value + step, int(before_value * factor)))
    _assert_never_lower(inputs, grown, f"growing {section}.{key} {before_value} -> {grown[section][key]}")


def _assert_never_lower(before_inputs: dict[str, t.Any], after_inputs: dict[str, t.Any], what: str,
                        skip: tuple[str, ...] = ()) -> None:
    largest_key = before_inputs["data"].get("largest_repository_key")
    before = recommended_numbers(recommend(before_inputs), largest_key)
    after = recommended_numbers(recommend(after_inputs), largest_key)
    lowered = {name: (before[name], after[name]) for name in before
               if not name.startswith(skip) and after.get(name, 0) < before[name]}
    assert not lowered, f"{what} lowered {lowered}"


@PROPERTY_SETTINGS
@given(valid_inputs(), st.integers(1, 2**50), st.integers(0, 10**9), st.floats(0.0, 1.0))
def test_more_volume_data_never_lowers_anything_with_the_largest_repository_known(
        inputs: dict[str, t.Any], extra: int, files: int, share: float) -> None:
    """More data elsewhere in the fleet, the largest repository's bytes and the fleet's files fixed and its own
    files unknown: nothing may drop (a share of data.files in proportion to bytes did)."""
    inputs = copy.deepcopy(inputs)
    data = inputs["data"]
    total = validate(inputs).data["volume_bytes"]
    for unknown in ("largest_repository_files", "largest_volume_files", "largest_volume_bytes"):
        data.pop(unknown, None)
    data["files"] = files
    data["largest_repository_bytes"] = int(total * share)
    grown = copy.deepcopy(inputs)
    grown["data"]["volume_bytes"] = min(2**56, total + extra)
    _assert_never_lower(inputs, grown, f"growing data.volume_bytes {total} -> {grown['data']['volume_bytes']}")


def _maintenance_entries(rec: dict[str, t.Any]) -> list[dict[str, str]]:
    maintenance = rec["maintenance"]
    return [maintenance["pod_resources"]] + [entry["pod_resources"] for entry in maintenance["repositories"].values()]


@PROPERTY_SETTINGS
@given(valid_inputs(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_a_larger_largest_repository_lowers_at_most_the_global_entry(inputs: dict[str, t.Any], low: float,
                                                                     high: float) -> None:
    """The documented exception: with the same total, a larger known largest repository leaves less for the others,
    so the global entry (sized for them once the largest gets its own entry) may drop. Everything else, the
    largest repository's entry and the maximum over all maintenance entries never drop."""
    inputs = copy.deepcopy(inputs)
    total = validate(inputs).data["volume_bytes"]
    low, high = sorted((low, high))
    inputs["data"]["largest_repository_bytes"] = int(total * low)
    inputs["data"].pop("largest_volume_bytes", None)
    grown = copy.deepcopy(inputs)
    grown["data"]["largest_repository_bytes"] = int(total * high)
    what = f"growing data.largest_repository_bytes {int(total * low)} -> {int(total * high)}"
    _assert_never_lower(inputs, grown, what, skip=("maintenance.pod_resources.",))
    before, after = recommend(inputs), recommend(grown)
    for field in ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"):
        parse = parse_cpu_millicores if field.startswith("cpu") else parse_memory
        peak_before = max(parse(entry[field], field) for entry in _maintenance_entries(before))
        peak_after = max(parse(entry[field], field) for entry in _maintenance_entries(after))
        assert peak_after >= peak_before, f"{what}: the largest {field} over all maintenance entries dropped"


@PROPERTY_SETTINGS
@given(valid_inputs())
def test_bounds(inputs: dict[str, t.Any]) -> None:
    rec = recommend(inputs)
    parsed = validate(inputs)
    rel = parsed.release
    policy = parsed.policy
    qps, burst = rec["server"]["client_qps"], rec["server"]["client_burst"]
    cap = policy["max_client_qps"]
    bound = api.apf_qps_bound(policy["apiserver_concurrency"] or api.APISERVER_CONCURRENCY,
                              policy["apf_share"] or api.DEFAULT_APF_SHARE)
    # never below Velero's default unless the policy caps it
    assert qps >= (min(rel.default_client_qps, cap) if cap is not None else rel.default_client_qps)
    # never above the APF fair share unless Velero's own default already is; never above the cap
    assert qps <= max(rel.default_client_qps, bound)
    if cap is not None:
        assert qps <= cap
    assert isinstance(burst, int) and burst >= qps and burst >= 1
    page = rec["server"]["client_page_size"]
    assert isinstance(page, int) and 1 <= page < 10**6
    # plugins inherit from 1.15; before, client-go 5/10
    if rel.version[1] >= 15:
        assert rec["plugins"] == {"inherit_server_flags": True, "effective_client_qps": qps, "effective_client_burst": burst}
    else:
        assert rec["plugins"] == {"inherit_server_flags": False, "effective_client_qps": 5.0, "effective_client_burst": 10}
        assert rec["predicted"]["plugin_throttle_seconds"] >= 0
    # mechanism per version, never server flags on 1.17+
    expected = {12: "in-server", 13: "in-server", 14: "server-flags"}.get(rel.version[1], "configmap")
    assert rec["maintenance"]["mechanism"] == expected
    # all four pod resources always; ephemeral storage only from 1.18.1
    pods = [rec["maintenance"]["pod_resources"]] + [e["pod_resources"] for e in rec["maintenance"]["repositories"].values()]
    ephemeral = rel.version[1:] >= (18, 1)
    for pod in pods:
        assert {"cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"} <= set(pod)
        assert ("ephemeralStorageRequest" in pod) is ephemeral and ("ephemeralStorageLimit" in pod) is ephemeral
        assert parse_memory(pod["memoryRequest"], "r") <= parse_memory(pod["memoryLimit"], "l")
        if policy["max_maintenance_memory"] is not None:
            assert parse_memory(pod["memoryLimit"], "l") <= policy["max_maintenance_memory"]
    if rel.version[1] < 16:
        assert rec["repository"]["full_maintenance_interval"] is None
    if rel.version[1] < 15:
        assert rec["repository"]["cache_limit_mb"] is None
        assert rec["node_agent"]["pod_resources"] is None
    assert rec["repository"]["full_maintenance_interval"] != "eagerGC"
    curve = rec["predicted"]["api_time_curve"]
    assert curve[0]["qps"] == rel.default_client_qps and curve[-1]["qps"] >= qps


@PROPERTY_SETTINGS
@given(valid_inputs())
def test_output_validates_and_is_deterministic(inputs: dict[str, t.Any]) -> None:
    snapshot = copy.deepcopy(inputs)
    first = recommend(inputs)
    assert inputs == snapshot  # inputs are not mutated
    errors = [f"{list(e.path)}: {e.message}" for e in SCHEMA.iter_errors(first)]
    assert not errors
    assert json.dumps(first, sort_keys=True) == json.dumps(recommend(copy.deepcopy(inputs)), sort_keys=True)


@PROPERTY_SETTINGS
@given(valid_inputs())
def test_velero_default_qps_shows_up_in_velero_defaults(inputs: dict[str, t.Any]) -> None:
    rec = recommend(inputs)
    rel = release(inputs["velero_version"])
    assert rec["velero_defaults"]["server.client_qps"] == rel.default_client_qps
    assert rec["velero_defaults"]["server.client_burst"] == rel.default_client_burst
