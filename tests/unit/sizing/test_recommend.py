# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""recommend(): the contract shape, the named cases, per-version behaviour, explanations, assumptions."""

from __future__ import annotations

import copy
import json
import typing as t

import jsonschema
import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import GiB, parse_memory
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import distinct_versions
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import FIELDS
from unit.sizing.sizing_strategies import (FOUNDING, LARGE_CLUSTER, LARGE_FILES, RECOMMENDATION_SCHEMA, SMALL,
                                           VERSIONS, with_version)

SCHEMA = jsonschema.Draft202012Validator(RECOMMENDATION_SCHEMA)
CASES = {"founding": FOUNDING, "large_files": LARGE_FILES, "small": SMALL, "large_cluster": LARGE_CLUSTER}
RECOMMENDED_SECTIONS = ("server", "plugins", "maintenance", "repository", "node_agent")


def leaves(node: t.Any, prefix: str) -> t.Iterator[str]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}")
    else:
        yield prefix


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_case_and_version_validates_against_the_schema(name: str, version: str) -> None:
    rec = recommend(with_version(CASES[name], version))
    errors = [f"{list(e.path)}: {e.message}" for e in SCHEMA.iter_errors(rec)]
    assert not errors
    assert json.loads(json.dumps(rec)) == rec  # JSON-serialisable, no tuples or custom types


@pytest.mark.parametrize("name", sorted(CASES))
def test_deterministic(name: str) -> None:
    assert json.dumps(recommend(CASES[name]), sort_keys=True) == json.dumps(recommend(CASES[name]), sort_keys=True)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("version", distinct_versions())
def test_every_recommended_value_is_explained(name: str, version: str) -> None:
    rec = recommend(with_version(CASES[name], version))
    for section in RECOMMENDED_SECTIONS:
        for path in leaves(rec[section], section):
            parts = path.split(".")
            explained = [".".join(parts[:i]) for i in range(len(parts), 1, -1) if ".".join(parts[:i]) in rec["explanations"]]
            assert explained, f"{path} has no explanation"
    for key in ("server.client_qps", "server.client_burst", "server.client_page_size"):
        assert len(rec["explanations"][key]) > 40


def test_velero_defaults_use_the_same_dotted_paths() -> None:
    rec = recommend(with_version(LARGE_CLUSTER, "1.18.1"))
    paths = set()
    for section in RECOMMENDED_SECTIONS:
        paths.update(leaves(rec[section], section))
    for key in rec["velero_defaults"]:
        parts = key.split(".")
        assert any(".".join(parts[:i]) in paths or path.startswith(key) for i in range(len(parts), 1, -1)
                   for path in paths), key


def test_every_missing_optional_input_has_an_assumption() -> None:
    minimal = {"velero_version": "1.16.0", "cluster": {"namespaces": 5, "objects": 500, "resource_types": 60},
               "data": {"volume_bytes": "10Gi"}}
    text = "\n".join(recommend(minimal)["assumptions"])
    for section, fields in FIELDS.items():
        for name, field in fields.items():
            if not field.required:
                assert f"{section}.{name}" in text, f"{section}.{name} missing from assumptions"


def test_given_inputs_produce_no_assumption_about_them() -> None:
    text = "\n".join(recommend(LARGE_CLUSTER)["assumptions"])
    for given in ("data.files", "data.repositories", "data.largest_repository_key", "cluster.nodes"):
        assert given not in text


# --- the two named cases of issue 2 -------------------------------------------------------

def test_founding_case_1_14_763gb_2438_index_blobs() -> None:
    rec = recommend(FOUNDING)
    pod = rec["maintenance"]["pod_resources"]
    assert rec["maintenance"]["mechanism"] == "server-flags"
    # 735 B/entry is a whole-process peak (not doubled); the limit is the high end, widened for assumed files.
    assert 6 * GiB <= parse_memory(pod["memoryLimit"], "l") <= 8 * GiB
    assert 3.5 * GiB <= parse_memory(pod["memoryRequest"], "r") <= 5 * GiB
    assert set(pod) == {"cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"}
    assert 3.5 * GiB < rec["predicted"]["maintenance_peak_memory_bytes"] <= 5 * GiB
    memory_range = rec["predicted"]["maintenance_peak_memory_range"]
    assert memory_range["low"] < memory_range["expected"] < memory_range["high"] <= parse_memory(pod["memoryLimit"], "l")
    explanation = rec["explanations"]["maintenance.pod_resources.memoryRequest"]
    assert "2438 index blobs" in explanation and "735 B" in explanation
    warnings = "\n".join(rec["warnings"])
    assert "above kopia's warning threshold" in warnings
    assert "5 QPS / 10 burst" in warnings and "Upgrade to Velero >= 1.15" in warnings
    assert "PR #4139" in warnings
    assert any("average file size" in a for a in rec["assumptions"])


def test_founding_case_after_upgrade_needs_about_half() -> None:
    before = recommend(FOUNDING)["predicted"]["maintenance_peak_memory_bytes"]
    after = recommend(with_version(FOUNDING, "1.15.0"))["predicted"]["maintenance_peak_memory_bytes"]
    assert 0.4 * before < after < 0.6 * before


def test_founding_case_without_backlog_needs_less() -> None:
    healthy = copy.deepcopy(FOUNDING)
    del healthy["data"]["index_blobs"]
    assert (recommend(healthy)["predicted"]["maintenance_peak_memory_bytes"]
            < recommend(FOUNDING)["predicted"]["maintenance_peak_memory_bytes"])


def test_few_hundred_1gb_files_need_only_the_fixed_cost() -> None:
    """A small repository still needs more than 512Mi (M17): the parallel content rewrite is a fixed cost."""
    rec = recommend(LARGE_FILES)
    pod = rec["maintenance"]["pod_resources"]
    assert 2 * GiB <= parse_memory(pod["memoryLimit"], "l") <= 3 * GiB
    assert "content rewrite" in rec["explanations"]["maintenance.pod_resources.memoryLimit"]
    assert rec["node_agent"]["resources"] is None


# --- versions ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "mechanism", "inherit", "plugin_qps"), [
    ("1.12.0", "in-server", False, 5.0), ("1.13.2", "in-server", False, 5.0),
    ("1.14.0", "server-flags", False, 5.0), ("1.14.1", "server-flags", False, 5.0),
    ("1.15.0", "configmap", True, None), ("1.16.2", "configmap", True, None),
    ("1.17.0", "configmap", True, None), ("1.18.1", "configmap", True, None),
])
def test_mechanism_and_plugins_per_version(version: str, mechanism: str, inherit: bool,
                                           plugin_qps: float | None) -> None:
    rec = recommend(with_version(LARGE_CLUSTER, version))
    assert rec["maintenance"]["mechanism"] == mechanism
    assert rec["plugins"]["inherit_server_flags"] is inherit
    if inherit:
        assert rec["plugins"]["effective_client_qps"] == rec["server"]["client_qps"]
        assert rec["plugins"]["effective_client_burst"] == rec["server"]["client_burst"]
        assert not any("5 QPS / 10 burst" in w for w in rec["warnings"])
    else:
        assert (rec["plugins"]["effective_client_qps"], rec["plugins"]["effective_client_burst"]) == (plugin_qps, 10)
        assert rec["predicted"]["plugin_throttle_seconds"] > 0
        assert any("5 QPS / 10 burst" in w and "1.15" in w for w in rec["warnings"])


@pytest.mark.parametrize("version", VERSIONS)
def test_ephemeral_storage_only_from_1_18_1(version: str) -> None:
    rec = recommend(with_version(LARGE_CLUSTER, version))
    pods = [rec["maintenance"]["pod_resources"]] + [r["pod_resources"] for r in rec["maintenance"]["repositories"].values()]
    for pod in pods:
        has = "ephemeralStorageRequest" in pod and "ephemeralStorageLimit" in pod
        assert has is (tuple(int(part) for part in version.split(".")) >= (1, 18, 1))


@pytest.mark.parametrize(("version", "qps", "burst"), [("1.12.0", 20.0, 30), ("1.14.0", 100.0, 100), ("1.18.0", 100.0, 100)])
def test_small_cluster_keeps_velero_defaults(version: str, qps: float, burst: int) -> None:
    rec = recommend(with_version(SMALL, version))
    assert (rec["server"]["client_qps"], rec["server"]["client_burst"]) == (qps, burst)
    assert rec["server"]["client_page_size"] == 500
    assert rec["velero_defaults"]["server.client_qps"] == qps


def test_large_cluster_lands_where_practitioners_go() -> None:
    rec = recommend(LARGE_CLUSTER)
    # Without the unsourced 0.5 GET per pod, 100 000 objects fit the 60 s target at Velero 1.15's default 100 QPS.
    assert rec["server"]["client_qps"] == 100
    assert rec["server"]["client_burst"] >= rec["server"]["client_qps"]
    assert rec["predicted"]["throttle_seconds_recommended"] <= rec["predicted"]["throttle_seconds_default"]
    assert rec["predicted"]["api_seconds_recommended"] <= 60


def test_1_18_1_lists_per_namespace() -> None:
    before = recommend(with_version(LARGE_CLUSTER, "1.18.0"))
    after = recommend(with_version(LARGE_CLUSTER, "1.18.1"))
    assert after["predicted"]["api_requests"] > 50 * before["predicted"]["api_requests"] / 10
    assert after["server"]["client_qps"] > before["server"]["client_qps"]
    assert any("once per namespace" in w for w in after["warnings"])
    # capped at the APF fair share: the target cannot be met
    assert after["server"]["client_qps"] == after["predicted"]["apf_qps_bound"]
    assert any("cannot be met" in w for w in after["warnings"])


@pytest.mark.parametrize("version", ["1.18.2", "1.18.3"])
def test_1_18_2_and_later_list_across_namespaces_like_1_18_0(version: str) -> None:
    """Velero 1.18.2 reverted 1.18.1's per-namespace listing (PR #9870): same requests and QPS as 1.18.0."""
    base = recommend(with_version(LARGE_CLUSTER, "1.18.0"))
    rec = recommend(with_version(LARGE_CLUSTER, version))
    assert rec["predicted"]["api_requests"] == base["predicted"]["api_requests"]
    assert (rec["server"]["client_qps"], rec["server"]["client_burst"]) == (
        base["server"]["client_qps"], base["server"]["client_burst"])
    assert not any("once per namespace" in w for w in rec["warnings"])
    assert not any("newer than the newest patch" in w for w in rec["warnings"])
    per_namespace = recommend(with_version(LARGE_CLUSTER, "1.18.1"))
    assert per_namespace["predicted"]["api_requests"] > 10 * rec["predicted"]["api_requests"]
    [warning] = [w for w in per_namespace["warnings"] if "once per namespace" in w]
    assert "Velero 1.18.2 lists each kind once across namespaces again: upgrade to it" in warning


def test_unknown_1_18_patch_keeps_the_newest_known_facts_with_a_warning() -> None:
    rec = recommend(with_version(LARGE_CLUSTER, "1.18.7"))
    assert rec["predicted"]["api_requests"] == recommend(with_version(LARGE_CLUSTER, "1.18.3"))["predicted"][
        "api_requests"]
    assert any("1.18.7 is newer than the newest patch" in w and "1.18.3" in w for w in rec["warnings"])


def test_1_19_is_refused_with_the_supported_range() -> None:
    with pytest.raises(ValueError, match=r"velero_version: Velero 1\.19\.0 is not supported; supported versions "
                                         r"are 1\.12\.0 to 1\.18\.x"):
        recommend(with_version(LARGE_CLUSTER, "1.19.0"))


def test_in_server_maintenance_sizes_the_server() -> None:
    in_server = recommend(with_version(FOUNDING, "1.13.0"))
    job = recommend(FOUNDING)
    memory = parse_memory(in_server["server"]["resources"]["limits"]["memory"], "l")
    assert memory >= parse_memory(in_server["maintenance"]["pod_resources"]["memoryLimit"], "m")
    assert memory > parse_memory(job["server"]["resources"]["limits"]["memory"], "l")
    assert any("inside the velero server pod" in w for w in in_server["warnings"])


@pytest.mark.parametrize("version", ["1.12.0", "1.14.0", "1.15.0"])
def test_no_full_maintenance_interval_before_1_16(version: str) -> None:
    assert recommend(with_version(FOUNDING, version))["repository"]["full_maintenance_interval"] is None


def test_backlog_asks_for_fast_gc_from_1_16() -> None:
    rec = recommend(with_version(FOUNDING, "1.16.0"))
    assert rec["repository"]["full_maintenance_interval"] == "fastGC"
    assert recommend(with_version(SMALL, "1.16.0"))["repository"]["full_maintenance_interval"] is None


def test_cache_limit_only_from_1_15_and_when_metadata_outgrows_it() -> None:
    many_files = copy.deepcopy(LARGE_CLUSTER)
    many_files["data"]["largest_repository_files"] = 20_000_000
    assert recommend(with_version(many_files, "1.14.0"))["repository"]["cache_limit_mb"] is None
    assert recommend(with_version(many_files, "1.15.0"))["repository"]["cache_limit_mb"] > 5000
    assert recommend(SMALL)["repository"]["cache_limit_mb"] is None


# --- repositories -------------------------------------------------------------------------------

def test_dominant_largest_repository_gets_its_own_entry() -> None:
    rec = recommend(LARGE_CLUSTER)
    entry = rec["maintenance"]["repositories"]["analytics-default-kopia"]["pod_resources"]
    assert parse_memory(entry["memoryLimit"], "l") > parse_memory(rec["maintenance"]["pod_resources"]["memoryLimit"], "g")
    assert "maintenance.repositories.analytics-default-kopia.pod_resources.memoryLimit" in rec["explanations"]
    assert rec["predicted"]["maintenance_peak_memory_bytes"] <= parse_memory(entry["memoryLimit"], "l")


def test_dominant_largest_without_key_sizes_global_for_it() -> None:
    inputs = copy.deepcopy(LARGE_CLUSTER)
    del inputs["data"]["largest_repository_key"]
    rec = recommend(inputs)
    assert rec["maintenance"]["repositories"] == {}
    with_key = recommend(LARGE_CLUSTER)["maintenance"]["repositories"]["analytics-default-kopia"]["pod_resources"]
    assert rec["maintenance"]["pod_resources"] == with_key
    assert any("largest_repository_key is unknown" in w for w in rec["warnings"])


@pytest.mark.parametrize("version", ["1.12.0", "1.13.2", "1.14.0", "1.14.1"])
def test_no_per_repository_entry_before_the_1_15_configmap(version: str) -> None:
    # Velero 1.12-1.14 apply one maintenance size to every repository: it must cover the largest.
    rec = recommend(with_version(LARGE_CLUSTER, version))
    assert rec["maintenance"]["repositories"] == {}
    without_key = copy.deepcopy(with_version(LARGE_CLUSTER, version))
    del without_key["data"]["largest_repository_key"]  # then the global entry is sized for the largest
    assert rec["maintenance"]["pod_resources"] == recommend(without_key)["maintenance"]["pod_resources"]
    assert "sized for the largest" in rec["explanations"]["maintenance.repositories"]
    assert any("cannot size maintenance per repository" in w for w in rec["warnings"])


def test_largest_repository_files_are_bounded_by_a_dense_repository() -> None:
    # 2Ti of an 18Ti fleet with 95M files: at most one file per 64 KiB of its 2Ti (33.5M), not all 95M.
    inputs = copy.deepcopy(LARGE_CLUSTER)
    inputs["data"] = {"volume_bytes": "18Ti", "files": 95_000_000, "repositories": 300,
                      "largest_repository_bytes": "2Ti", "largest_repository_key": "ledger-default-kopia"}
    explicit = copy.deepcopy(inputs)
    explicit["data"]["largest_repository_files"] = 2 * 2**40 // (64 * 1024)
    rec = recommend(inputs)
    assert rec["predicted"]["maintenance_peak_memory_bytes"] == (
        recommend(explicit)["predicted"]["maintenance_peak_memory_bytes"])
    assumption = next(a for a in rec["assumptions"] if a.startswith("data.largest_repository_files unknown"))
    assert "33554432 files" in assumption and "one file per 64Ki" in assumption
    assert "pass data.largest_repository_files" in assumption
    # A small repository of many files keeps them all (the bound is data.files).
    inputs["data"].update(files=1000, largest_repository_bytes="1Ti")
    assert any("1000 files, at most data.files" in a for a in recommend(inputs)["assumptions"])


def test_more_volume_data_elsewhere_never_lowers_the_largest_repository() -> None:
    # The rule this replaces (a share of data.files in proportion to bytes) shrank the largest repository's
    # files when volume_bytes grew with its own bytes fixed; the dense bound does not look at volume_bytes.
    base = {"velero_version": "1.16.2", "cluster": {"namespaces": 100, "objects": 10000, "resource_types": 200},
            "data": {"volume_bytes": "2Ti", "files": 50_000_000, "repositories": 10,
                     "largest_repository_bytes": "1Ti", "largest_repository_key": "a-default-kopia"}}
    peaks = []
    for total in ("2Ti", "4Ti", "20Ti", "200Ti"):
        inputs = copy.deepcopy(base)
        inputs["data"]["volume_bytes"] = total
        rec = recommend(inputs)
        peaks.append(rec["predicted"]["maintenance_peak_memory_bytes"])
    assert peaks == sorted(peaks)


def test_no_split_when_repositories_are_alike() -> None:
    inputs = copy.deepcopy(LARGE_CLUSTER)
    inputs["data"].update(volume_bytes="4Ti", files=10_000_000, repositories=2, largest_repository_bytes="2Ti",
                          largest_repository_files=5_000_000)
    assert recommend(inputs)["maintenance"]["repositories"] == {}


# --- policy -----------------------------------------------------------------------------------

def test_policy_caps_qps_even_below_the_default() -> None:
    inputs = copy.deepcopy(SMALL)
    inputs["policy"] = {"max_client_qps": 50}
    rec = recommend(inputs)
    assert rec["server"]["client_qps"] == 50.0
    assert rec["server"]["client_burst"] >= 50
    assert any("max_client_qps=50" in w and "below Velero's default" in w for w in rec["warnings"])


def test_policy_caps_maintenance_memory_and_warns() -> None:
    inputs = copy.deepcopy(FOUNDING)
    inputs["policy"] = {"max_maintenance_memory": "6Gi"}
    rec = recommend(inputs)
    pod = rec["maintenance"]["pod_resources"]
    assert pod["memoryLimit"] == "6Gi"
    assert parse_memory(pod["memoryRequest"], "r") <= 6 * GiB
    assert any("max_maintenance_memory=6Gi" in w and "GOMEMLIMIT" in w for w in rec["warnings"])
    assert "capped by policy.max_maintenance_memory" in rec["explanations"]["maintenance.pod_resources.memoryLimit"]


def test_generous_cap_changes_nothing() -> None:
    inputs = copy.deepcopy(FOUNDING)
    inputs["policy"] = {"max_maintenance_memory": "64Gi"}
    assert recommend(inputs)["maintenance"] == recommend(FOUNDING)["maintenance"]


def test_tighter_target_raises_qps_and_apf_policy_bounds_it() -> None:
    inputs = copy.deepcopy(LARGE_CLUSTER)
    inputs["policy"] = {"target_api_seconds": 20}
    fast = recommend(inputs)
    assert fast["server"]["client_qps"] > recommend(LARGE_CLUSTER)["server"]["client_qps"]
    inputs["policy"] = {"target_api_seconds": 20, "apf_share": 0.05}
    bounded = recommend(inputs)
    assert bounded["server"]["client_qps"] == 122.0  # floor(0.05 x 245 / 0.1)


def test_patch_newer_than_known_is_assumed_with_a_warning() -> None:
    rec = recommend(with_version(SMALL, "1.18.7"))
    assert rec["velero_version"] == "1.18.7"
    assert any("1.18.3 are assumed" in w for w in rec["warnings"])
    assert "ephemeralStorageRequest" in rec["maintenance"]["pod_resources"]


def test_node_agent_resources_follow_file_counts() -> None:
    rec = recommend(LARGE_CLUSTER)
    assert rec["node_agent"]["resources"] is not None
    assert rec["node_agent"]["pod_resources"] is not None
    assert rec["node_agent"]["load_concurrency"] == 1  # pinned: memory is sized for one volume at a time
    assert "across 50 nodes" in rec["explanations"]["node_agent.resources.requests.memory"]
    assert recommend(with_version(LARGE_CLUSTER, "1.12.0"))["node_agent"]["load_concurrency"] is None
    small = recommend(SMALL)["node_agent"]
    assert small == {"resources": None, "pod_resources": None, "load_concurrency": None}


def test_node_agent_is_sized_for_the_largest_volume_when_known() -> None:
    # eks-search-staging of the examples: a 2.5Ti repository of 40M files on 10 nodes. As one volume it would
    # need a node-agent request far above a quarter of a 16Gi node; its largest volume is much smaller.
    cluster = {"namespaces": 60, "objects": 14000, "resource_types": 220, "nodes": 10, "volumes": 35}
    inputs = {"velero_version": "1.15.2", "cluster": cluster,
              "data": {"volume_bytes": "3Ti", "repositories": 20, "largest_repository_bytes": "2.5Ti",
                       "largest_repository_files": 40_000_000, "largest_repository_key": "opensearch-default-kopia"}}
    whole = recommend(inputs)
    assert any("data.largest_volume_bytes and data.largest_volume_files unknown" in a for a in whole["assumptions"])
    warning = next(w for w in whole["warnings"] if w.startswith("The node-agent memory request"))
    assert "more than 25% of a node's 16Gi" in warning and "reserves it on every node" in warning
    inputs["data"].update(largest_volume_bytes="800Gi", largest_volume_files=2_000_000)
    per_volume = recommend(inputs)
    before = parse_memory(whole["node_agent"]["resources"]["requests"]["memory"], "r")
    after = parse_memory(per_volume["node_agent"]["resources"]["requests"]["memory"], "r")
    assert after < before and after <= 4 * GiB
    assert not any(w.startswith("The node-agent memory request") for w in per_volume["warnings"])
    assert "largest volume (800Gi)" in per_volume["explanations"]["node_agent.resources.requests.memory"]
    # The maintenance of the repository is unchanged: only the per-volume uploader is smaller.
    assert per_volume["maintenance"] == whole["maintenance"]
    # A bigger node takes the same request without a warning.
    inputs["data"].pop("largest_volume_bytes")
    inputs["data"].pop("largest_volume_files")
    inputs["cluster"]["node_memory"] = "512Gi"
    assert not any(w.startswith("The node-agent memory request") for w in recommend(inputs)["warnings"])


def test_largest_volume_is_at_most_its_repository() -> None:
    inputs = copy.deepcopy(LARGE_CLUSTER)
    inputs["data"]["largest_volume_bytes"] = "9Ti"
    with pytest.raises(ValueError, match=r"data.largest_volume_bytes: expected at most data.largest_repository_bytes"):
        recommend(inputs)
    inputs["data"]["largest_volume_bytes"] = "1Ti"
    inputs["data"]["largest_volume_files"] = 17_000_000
    with pytest.raises(ValueError, match=r"data.largest_volume_files: expected at most data.largest_repository_files"):
        recommend(inputs)


def test_frequency_explanation_fits_the_mechanism_and_the_model() -> None:
    many = copy.deepcopy(LARGE_CLUSTER)
    job = recommend(many)["explanations"]["maintenance.frequency"]
    assert "one maintenance Job at a time" in job and "does not depend on the interval" in job
    assert "BackupRepositories created afterwards only" in job
    in_server = recommend(with_version(many, "1.13.2"))["explanations"]["maintenance.frequency"]
    assert "Job" not in in_server and "maintains one repository at a time" in in_server
    default = recommend(SMALL)["explanations"]["maintenance.frequency"]
    assert "raises the memory" not in default and "does not depend on the interval" in default


@pytest.mark.parametrize("version, restic", [("1.12.0", True), ("1.16.2", True), ("1.17.0", False)])
def test_the_restic_server_default_is_an_assumption(version: str, restic: bool) -> None:
    text = "\n".join(recommend(with_version(SMALL, version))["assumptions"])
    assert ("--uploader-type=restic" in text) is restic


def test_backup_repository_configmap_warning_is_said_once() -> None:
    rec = recommend(with_version(FOUNDING, "1.16.0"))
    assert rec["repository"]["full_maintenance_interval"] == "fastGC"
    assert sum("only when the repository is created" in w for w in rec["warnings"]) == 1


def test_many_repositories_lengthen_the_frequency() -> None:
    inputs = copy.deepcopy(LARGE_CLUSTER)
    assert recommend(inputs)["maintenance"]["frequency"] == "10h"  # 300 x 2 min
    inputs["data"]["repositories"] = 20
    assert recommend(inputs)["maintenance"]["frequency"] == "1h"


def test_never_server_flag_forms_on_1_17_plus() -> None:
    for version in ("1.17.0", "1.17.1", "1.18.0", "1.18.1"):
        text = json.dumps(recommend(with_version(FOUNDING, version)))
        assert "server-flags" not in text.replace('"maintenance.mechanism": "configmap"', "")


def test_in_server_releases_never_speak_of_maintenance_jobs() -> None:
    inputs = with_version(LARGE_CLUSTER, "1.13.2")
    inputs["policy"] = {"max_maintenance_memory": "1Gi"}
    inputs["data"]["index_blobs"] = 2000
    rec = recommend(inputs)
    lines = [line for line in rec["warnings"] + list(rec["explanations"].values())
             if "Velero 1.14+ runs it as a Job" not in line]  # the upgrade advice may name Jobs
    assert not [line for line in lines if "Job" in line]
    assert any("the velero server, which runs it, may be OOMKilled" in w for w in rec["warnings"])


# --- sizing v2: what the cluster showed, node memory, ranges ---------------------------------

def test_observed_oom_raises_the_limit_above_it_and_says_why() -> None:
    inputs = copy.deepcopy(LARGE_FILES)
    inputs["observed"] = {"maintenance_oom_limit": "4Gi", "server_oom_limit": "1Gi", "node_agent_oom_limit": "2Gi",
                          "evidence": ["pod velero/m-1 OOMKilled at 4Gi"]}
    rec = recommend(inputs)
    assert parse_memory(rec["maintenance"]["pod_resources"]["memoryLimit"], "l") >= 6 * GiB
    assert parse_memory(rec["server"]["resources"]["limits"]["memory"], "l") >= 1.5 * GiB
    assert parse_memory(rec["node_agent"]["resources"]["limits"]["memory"], "l") >= 3 * GiB
    explanation = rec["explanations"]["maintenance.pod_resources.memoryLimit"]
    assert "observed.maintenance_oom_limit" in explanation and "pod velero/m-1" in explanation
    assert rec["observed"]["maintenance_oom_limit"] == 4 * GiB


def test_observed_oom_beats_a_lower_policy_cap() -> None:
    inputs = copy.deepcopy(LARGE_FILES)
    inputs["policy"] = {"max_maintenance_memory": "1Gi"}
    inputs["observed"] = {"maintenance_oom_limit": "1Gi"}
    rec = recommend(inputs)
    assert parse_memory(rec["maintenance"]["pod_resources"]["memoryLimit"], "l") > GiB


def test_job_no_node_can_hold_is_capped_or_fails() -> None:
    inputs = copy.deepcopy(FOUNDING)
    inputs["cluster"]["node_memory"] = "4Gi"
    rec = recommend(inputs)
    assert rec["maintenance"]["pod_resources"]["memoryLimit"] == "4Gi"
    assert any("no node can hold it" in w and "loadAffinity" in w for w in rec["warnings"])
    inputs["policy"] = {"node_memory_policy": "fail"}
    with pytest.raises(ValueError, match="cluster.node_memory"):
        recommend(inputs)


def test_server_connects_repositories_only_on_1_14_to_1_17() -> None:
    big = copy.deepcopy(LARGE_CLUSTER)
    limits = {version: parse_memory(recommend(with_version(big, version))["server"]["resources"]["limits"]["memory"], "l")
              for version in ("1.15.0", "1.17.0", "1.18.0")}
    assert limits["1.15.0"] > limits["1.18.0"] and limits["1.17.0"] > limits["1.18.0"]


def test_second_largest_repository_is_covered_by_the_global_entry() -> None:
    """2 TB, 5M files, 10 repositories, largest 1 TB: the global entry sizes a 1 TB / 5M-file repository."""
    inputs = {"velero_version": "1.16.0", "cluster": {"namespaces": 10, "objects": 2000, "resource_types": 100},
              "data": {"volume_bytes": "2TB", "files": 5_000_000, "repositories": 10, "largest_repository_bytes": "1TB",
                       "largest_repository_key": "big-default-kopia"}}
    rec = recommend(inputs)
    alone = recommend({**inputs, "data": {"volume_bytes": "1TB", "files": 5_000_000, "repositories": 1}})
    assert rec["maintenance"]["pod_resources"]["memoryLimit"] == alone["maintenance"]["pod_resources"]["memoryLimit"]


def test_bucket_objects_as_files_are_questioned() -> None:
    inputs = {"velero_version": "1.16.0", "cluster": {"namespaces": 10, "objects": 2000, "resource_types": 100},
              "data": {"volume_bytes": "850GB", "files": 38_723, "repositories": 1}}
    rec = recommend(inputs)
    assert any("bucket's object count" in w for w in rec["warnings"])
    assert rec["predicted"]["maintenance_contents"] >= 850 * 10**9 // (8 * 2**20)
