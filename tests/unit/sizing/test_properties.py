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
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory
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
        before_value = inputs["data"].get("largest_repository_files") or 0 if key == "files" else 1
        inputs[section][key] = before_value
    grown = copy.deepcopy(inputs)
    grown[section][key] = min(upper, max(before_value + step, int(before_value * factor)))
    largest_bytes = _current(inputs, "data", "largest_repository_bytes")
    if key == "volume_bytes" and largest_bytes is not None and before_value:
        # More bytes everywhere: the largest repository grows with the fleet. Holding it fixed while the
        # total grows moves data elsewhere, which may lower its share of data.files (docs/sizing-model.md).
        grown["data"]["largest_repository_bytes"] = min(grown["data"]["volume_bytes"],
                                                        largest_bytes * grown["data"]["volume_bytes"] // before_value)
    largest_key = inputs["data"].get("largest_repository_key")
    before = recommended_numbers(recommend(inputs), largest_key)
    after = recommended_numbers(recommend(grown), largest_key)
    lowered = {name: (before[name], after[name]) for name in before if after.get(name, 0) < before[name]}
    assert not lowered, f"growing {section}.{key} {before_value} -> {grown[section][key]} lowered {lowered}"


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
