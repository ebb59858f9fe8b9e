# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rendering per era, quoting, merging with the user's values, conflicts, loading overrides."""

from __future__ import annotations

import typing as t

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _fields as fields
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_dump as values_dump
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_plan as values_plan
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_schema as values_schema
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

from conftest import PODS, make_recommendation  # noqa: E402

BIG_REPO = {"apps-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "6Gi",
                                                     "memoryLimit": "12Gi"}}}


def render(chart: str, velero: str, **kwargs: t.Any) -> dict[str, t.Any]:
    rec_args = {key: kwargs.pop(key) for key in list(kwargs) if key in ("repositories", "node_agent", "repository",
                                                                        "page_size", "frequency", "keep", "qps",
                                                                        "burst")}
    return hv.render_values(make_recommendation(velero, **rec_args), chart, **kwargs)


def get(values: t.Mapping[str, t.Any], dotted: str) -> t.Any:
    node: t.Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


# ---------------------------------------------------------------------------------------------------------
# Quoting

@pytest.mark.parametrize("value, integer, expected", [
    (500, True, 500), (999999, True, 999999), (1000000, True, "1000000"), (2500000, True, "2500000"),
    (300.0, False, 300), (12.5, False, 12.5), (1500000.5, False, "1500000.5"), ("250", True, 250),
])
def test_helm_number_quotes_from_one_million(value, integer, expected):
    result = values_dump.helm_number(value, "f", integer=integer)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", [-1, True, "abc", float("nan"), None, [1]])
def test_helm_number_rejects(value):
    with pytest.raises(ValueError, match="^f: "):
        values_dump.helm_number(value, "f", integer=True)


@given(st.integers(min_value=0, max_value=10**12))
def test_no_number_ever_reaches_helm_in_exponent_form(number):
    value = values_dump.helm_number(number, "f", integer=True)
    text = values_dump.dump_values({"configuration": {"clientPageSize": value}})
    loaded = yaml.safe_load(text)["configuration"]["clientPageSize"]
    assert values_dump.exponent_prone(yaml.safe_load(text)) == []
    assert str(loaded) == str(number)  # Helm prints the same digits back
    assert isinstance(loaded, int) == (number < 1_000_000)


@given(st.sampled_from(["0", "1", "2", "100", "1e3", "500m", "4Gi", "1.5"]))
def test_quantities_stay_strings_through_yaml(text):
    dumped = values_dump.dump_values({"resources": {"limits": {"cpu": values_plan.quantity(text, "q", "cpu")}}})
    assert yaml.safe_load(dumped)["resources"]["limits"]["cpu"] == text


def test_large_numbers_in_the_rendered_values_are_quoted():
    rendered = render("12.1.0", "1.18.1", page_size=2000000, burst=1500000)
    assert values_dump.exponent_prone(rendered["values"]) == []
    assert "clientPageSize: '2000000'" in rendered["values_yaml"]


# ---------------------------------------------------------------------------------------------------------
# podResources: all four, always

@given(st.sets(st.sampled_from(values_plan.POD_RESOURCE_FIELDS), min_size=1, max_size=4))
def test_pod_resources_missing_a_field_are_refused(missing):
    pod = {name: value for name, value in PODS.items() if name not in missing}
    with pytest.raises(ValueError, match="Velero needs all four"):
        values_plan.plan_tuning(make_recommendation("1.17.1") | {"maintenance": {"pod_resources": pod}},
                                eras.chart_era("11.4.0"))


@pytest.mark.parametrize("era_id", [era.id for era in eras.ERAS if era.maintenance == "config-data"])
def test_config_data_pod_resources_carry_all_four_fields(era_id):
    era = eras.era_by_id(era_id)
    rendered = render(era.last, era.velero_versions[-1], repositories=BIG_REPO)
    data = get(rendered["values"], eras.REPOSITORY_CONFIG_DATA)
    for entry in [data["global"]] + list(data["repositories"].values()):
        assert set(values_plan.POD_RESOURCE_FIELDS) <= set(entry["podResources"])
        assert all(isinstance(value, str) for value in entry["podResources"].values())


# ---------------------------------------------------------------------------------------------------------
# Where each item goes, per era

@pytest.mark.parametrize("chart, velero", [("5.2.2", "1.12.3"), ("6.7.0", "1.13.2")])
def test_velero_1_12_and_1_13_server_resources_cover_the_maintenance_peak(chart, velero):
    # Maintenance runs inside the server process there: the sizing model adds it to the server's resources, and
    # the values carry the model's server resources unchanged (no second fold in the renderer).
    rec = recommend({"velero_version": velero, "cluster": {"namespaces": 40, "objects": 12000, "resource_types": 150},
                     "data": {"volume_bytes": "763GB", "repositories": 1, "index_blobs": 2438}})
    values = hv.render_values(rec, chart)["values"]
    peak = rec["predicted"]["maintenance_peak_memory_bytes"]
    assert parse_memory(values["resources"]["limits"]["memory"], "limit") >= peak
    assert parse_memory(values["resources"]["requests"]["memory"], "request") >= parse_memory(
        rec["maintenance"]["pod_resources"]["memoryRequest"], "request")
    assert values["resources"]["limits"]["memory"] == rec["server"]["resources"]["limits"]["memory"]
    assert "repositoryMaintenanceJob" not in values["configuration"]


def test_velero_1_12_node_agent_and_chart_defaults():
    rec = make_recommendation("1.12.3")
    rec["node_agent"]["load_concurrency"] = 2
    rendered = hv.render_values(rec, "5.2.2")
    assert "extraObjects" not in rendered["values"]  # Velero 1.12 has no node-agent ConfigMap
    assert any("no node-agent ConfigMap" in w for w in rendered["warnings"])
    # Chart <= 6.6.0 merges resources with its defaults: an unbounded limit is an explicit null.
    rendered = render("5.2.2", "1.12.3", node_agent=True)
    assert rendered["values"]["nodeAgent"]["resources"]["limits"]["cpu"] is None


def test_unbounded_limits_are_left_out_from_chart_6_7_0():
    rendered = render("6.7.0", "1.13.2")
    assert "cpu" not in rendered["values"]["nodeAgent"]["resources"]["limits"]


@pytest.mark.parametrize("chart, velero", [("5.4.1", "1.13.0"), ("6.7.0", "1.13.2"), ("7.2.2", "1.14.1")])
def test_velero_1_13_and_1_14_get_the_exact_node_agent_config_name(chart, velero):
    rendered = render(chart, velero, release_name="prod")
    objects = rendered["values"]["extraObjects"]
    assert objects == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "node-agent-config"},
                        "data": {"node-agent-config.json": '{"loadConcurrency": {"globalConfig": 2}}'}}]
    assert "configMaps" not in rendered["values"]


def test_velero_1_14_on_chart_7_0_uses_server_flags():
    rendered = render("7.0.0", "1.14.0", repositories=BIG_REPO)
    args = rendered["values"]["configuration"]["extraArgs"]
    # The global size is raised to the big repository: Velero 1.14 has no per-repository settings.
    assert args == ["--maintenance-job-cpu-request=1", "--maintenance-job-mem-request=6Gi",
                    "--maintenance-job-cpu-limit=2", "--maintenance-job-mem-limit=12Gi",
                    "--keep-latest-maintenance-jobs=3"]
    assert "repositoryMaintenanceJob" not in rendered["values"]["configuration"]
    assert any("cannot size maintenance per repository" in w for w in rendered["warnings"])


MAINTENANCE_FLAGS = ["--maintenance-job-cpu-request=500m", "--maintenance-job-mem-request=4Gi",
                     "--maintenance-job-cpu-limit=2", "--maintenance-job-mem-limit=8Gi"]


def test_chart_7_1_2_keeps_every_maintenance_setting_in_extra_args():
    # A set requests.cpu/memory fails the render of 7.1.2 and 7.1.3 (helm-charts PR #610 fixed it in 7.1.4);
    # 7.1.2 has no latestJobsCount yet.
    values = render("7.1.2", "1.14.0", keep=5)["values"]
    assert "repositoryMaintenanceJob" not in values["configuration"]
    assert values["configuration"]["extraArgs"] == MAINTENANCE_FLAGS + ["--keep-latest-maintenance-jobs=5"]


def test_chart_7_1_3_keeps_latest_through_the_key_not_a_second_flag():
    # Chart 7.1.3's values.yaml defaults latestJobsCount to 3 and the template always renders it as
    # --keep-latest-maintenance-jobs; a flag of ours in extraArgs would put it on the command line twice.
    values = render("7.1.3", "1.14.0", keep=5)["values"]
    assert values["configuration"]["repositoryMaintenanceJob"] == {"latestJobsCount": 5}
    assert values["configuration"]["extraArgs"] == MAINTENANCE_FLAGS


def test_a_user_key_rendering_the_same_flag_as_ours_is_a_conflict():
    user = {"configuration": {"repositoryMaintenanceJob": {"limits": {"memory": "2Gi"}}}}
    rendered = render("7.1.2", "1.14.0", overrides=user)
    job = rendered["values"]["configuration"]["repositoryMaintenanceJob"]
    assert job == {"limits": {}}  # theirs removed: the flag in extraArgs carries the tuned value alone
    assert {c["path"] for c in rendered["conflicts"]} == {"configuration.repositoryMaintenanceJob.limits.memory"}
    rendered = render("7.1.2", "1.14.0", overrides=user, user_wins=["configuration.repositoryMaintenanceJob"])
    assert rendered["values"]["configuration"]["repositoryMaintenanceJob"] == user["configuration"][
        "repositoryMaintenanceJob"]
    assert "--maintenance-job-mem-limit=8Gi" not in rendered["values"]["configuration"]["extraArgs"]
    assert "--maintenance-job-mem-request=4Gi" in rendered["values"]["configuration"]["extraArgs"]
    placed = {p["item"]: p for p in rendered["placements"]}
    assert placed["maintenance.pod_resources"]["applied"] is False
    assert placed["maintenance.pod_resources"]["kept"] == ["2Gi"]


def test_chart_7_1_4_uses_the_maintenance_keys():
    values = render("7.1.4", "1.14.0", keep=5)["values"]
    assert values["configuration"]["repositoryMaintenanceJob"] == {
        "requests": {"cpu": "500m", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}, "latestJobsCount": 5}
    assert "extraArgs" not in values["configuration"]


@pytest.mark.parametrize("chart, velero", [("8.7.2", "1.15.2"), ("9.2.0", "1.16.0"), ("10.0.13", "1.16.2")])
def test_per_repository_sizes_go_through_our_configmap_before_chart_10_1(chart, velero):
    rendered = render(chart, velero, repositories=BIG_REPO, release_name="backup")
    values = rendered["values"]
    assert values["configuration"]["repositoryMaintenanceJob"]["latestJobsCount"] == 3
    data = values["configMaps"]["repo-maintenance"]["data"]
    assert data == {"apps-default-kopia": '{"podResources": {"cpuRequest": "1", "cpuLimit": "2", '
                                          '"memoryRequest": "6Gi", "memoryLimit": "12Gi"}}'}
    # The chart names configMaps entries <fullname>-<key>; release "backup" -> fullname "backup-velero".
    assert "--repo-maintenance-job-configmap=backup-velero-repo-maintenance" in values["configuration"]["extraArgs"]
    assert values["nodeAgent"]["extraArgs"] == ["--node-agent-configmap=backup-velero-node-agent-config"]
    assert "--backup-repository-configmap=backup-velero-backup-repository-config" in \
        values["configuration"]["extraArgs"]


def test_chart_10_1_uses_repository_config_data_and_the_keep_latest_flag():
    values = render("10.1.3", "1.16.2", repositories=BIG_REPO)["values"]
    job = values["configuration"]["repositoryMaintenanceJob"]
    assert set(job) == {"repositoryConfigData"}
    assert "keepLatestMaintenanceJobs" not in job["repositoryConfigData"]["global"]
    assert "--keep-latest-maintenance-jobs=3" in values["configuration"]["extraArgs"]
    assert set(job["repositoryConfigData"]["repositories"]) == {"apps-default-kopia"}


@pytest.mark.parametrize("chart, velero", [("11.4.0", "1.17.1"), ("12.1.0", "1.18.1")])
def test_chart_11_and_12_keep_latest_in_the_configmap(chart, velero):
    values = render(chart, velero, keep=4)["values"]
    assert get(values, eras.GLOBAL_KEEP_LATEST) == 4
    assert not any(arg.startswith("--keep-latest") for arg in values["configuration"].get("extraArgs", []))


def test_velero_1_18_passes_the_backup_repository_configmap_to_the_node_agent():
    values = render("12.1.0", "1.18.1")["values"]
    assert "--backup-repository-configmap=velero-backup-repository-config" in values["nodeAgent"]["extraArgs"]
    assert get(values, eras.REPOSITORY_CONFIG_GLOBAL)["podResources"]["ephemeralStorageLimit"] == "2Gi"
    values = render("11.4.0", "1.17.1")["values"]
    assert values["nodeAgent"]["extraArgs"] == ["--node-agent-configmap=velero-node-agent-config"]


def test_page_size_zero_goes_through_extra_args_or_warns():
    rendered = render("12.1.0", "1.18.1", page_size=0)
    assert "clientPageSize" not in rendered["values"]["configuration"]
    assert "--client-page-size=0" in rendered["values"]["configuration"]["extraArgs"]
    rendered = render("5.4.1", "1.13.0", page_size=0)
    assert any("cannot be expressed" in w for w in rendered["warnings"])


def test_frequency_only_when_it_differs_from_velero_default():
    assert "defaultRepoMaintainFrequency" not in render("12.1.0", "1.18.1")["values"]["configuration"]
    assert render("12.1.0", "1.18.1", frequency="6h")["values"]["configuration"]["defaultRepoMaintainFrequency"] == "6h"


def test_configmaps_only_for_non_default_settings():
    rec = make_recommendation("1.16.2")
    rec["node_agent"].update({"load_concurrency": 1, "pod_resources": None})
    rec["repository"] = {"cache_limit_mb": 5000, "full_maintenance_interval": "normalGC"}
    values = hv.render_values(rec, "10.1.3")["values"]
    assert "configMaps" not in values and "extraArgs" not in values.get("nodeAgent", {})


@pytest.mark.parametrize("release, overrides, fullname", [
    ("velero", {}, "velero"), ("prod", {}, "prod-velero"), ("velero-prod", {}, "velero-prod"),
    ("prod", {"fullnameOverride": "backup"}, "backup"), ("prod", {"nameOverride": "vel"}, "prod-vel"),
    ("a" * 50, {"nameOverride": "velero-backups"}, "a" * 50 + "-velero-backu"),  # truncated to 63
    ("a" * 52, {"nameOverride": "b" * 9 + "-cc"}, "a" * 52 + "-" + "b" * 9),  # then one trailing "-" trimmed
])
def test_chart_fullname(release, overrides, fullname):
    assert values_plan.chart_fullname(release, overrides) == fullname


def test_release_name_must_be_given():
    with pytest.raises(ValueError, match="velero_release_name"):
        values_plan.chart_fullname("")


# ---------------------------------------------------------------------------------------------------------
# Merge with the user's values

USER = {
    "image": {"tag": "v1.18.1"},
    "configuration": {"backupStorageLocation": [{"name": "default", "provider": "aws"}], "clientQPS": 50,
                      "extraArgs": ["--item-block-worker-count=2", "--client-burst=10"]},
    "resources": {"requests": {"memory": "1024Mi"}, "limits": {"ephemeral-storage": "1Gi"}},
}


def test_user_values_stay_and_tuning_keys_are_set():
    rendered = render("12.1.0", "1.18.1", overrides=USER)
    values = rendered["values"]
    assert values["image"] == {"tag": "v1.18.1"}
    assert values["configuration"]["backupStorageLocation"] == [{"name": "default", "provider": "aws"}]
    assert values["configuration"]["clientQPS"] == 300
    assert values["resources"]["limits"]["ephemeral-storage"] == "1Gi"
    assert "--item-block-worker-count=2" in values["configuration"]["extraArgs"]
    conflicts = {c["path"]: c for c in rendered["conflicts"]}
    assert conflicts["configuration.clientQPS"]["winner"] == "tuned"
    # A user flag in extraArgs would override configuration.clientBurst on the command line: removed, reported.
    assert conflicts["configuration.extraArgs --client-burst"]["winner"] == "tuned"
    assert "--client-burst=10" not in values["configuration"]["extraArgs"]
    # 1024Mi is 1Gi's... not 512Mi: a conflict; equal quantities in another spelling are not.
    assert "resources.requests.memory" in conflicts
    assert any(w.startswith("conflict at configuration.clientQPS") for w in rendered["warnings"])


def test_equal_values_in_another_spelling_are_no_conflict():
    user = {"resources": {"requests": {"memory": "0.5Gi", "cpu": "0.5"}}, "configuration": {"clientQPS": "300"}}
    rendered = render("12.1.0", "1.18.1", overrides=user)
    assert rendered["conflicts"] == []
    assert rendered["values"]["resources"]["requests"] == {"memory": "0.5Gi", "cpu": "0.5"}  # theirs kept


def test_user_wins_everywhere():
    rendered = render("12.1.0", "1.18.1", overrides=USER, user_wins=True)
    values = rendered["values"]
    assert values["configuration"]["clientQPS"] == 50
    assert "--client-burst=10" in values["configuration"]["extraArgs"]
    assert values["resources"]["requests"]["memory"] == "1024Mi"
    assert {c["winner"] for c in rendered["conflicts"]} == {"user"}


def test_user_wins_for_listed_keys_and_their_children():
    rendered = render("12.1.0", "1.18.1", overrides=USER, user_wins=["resources", "configuration.clientQPS",
                                                                     "configuration.nosuchkey"])
    values = rendered["values"]
    assert values["configuration"]["clientQPS"] == 50
    assert values["resources"]["requests"]["memory"] == "1024Mi"
    assert "--client-burst=10" not in values["configuration"]["extraArgs"]
    assert any("'configuration.nosuchkey' matched no conflicting tuning key" in w for w in rendered["warnings"])


@pytest.mark.parametrize("spec", ["yes", [1], {"a": 1}, [""]])
def test_user_wins_is_validated(spec):
    with pytest.raises(ValueError, match="velero_values_user_wins"):
        render("12.1.0", "1.18.1", user_wins=spec)


def test_scalar_where_a_mapping_is_needed():
    rendered = render("12.1.0", "1.18.1", overrides={"resources": "none"})
    assert rendered["conflicts"][0]["path"] == "resources"
    assert rendered["values"]["resources"]["requests"]["cpu"] == "500m"
    rendered = render("12.1.0", "1.18.1", overrides={"resources": None})
    assert rendered["conflicts"] == []


def test_user_configmap_and_extra_object_with_our_names():
    user = {"configMaps": {"node-agent-config": {"labels": {"team": "x"}, "data": {"old.json": "{}"}}}}
    rendered = render("12.1.0", "1.18.1", overrides=user)
    cm = rendered["values"]["configMaps"]["node-agent-config"]
    assert cm["labels"] == {"team": "x"} and list(cm["data"]) == ["node-agent-config.json"]
    assert rendered["conflicts"][0]["path"] == "configMaps.node-agent-config.data"
    user = {"extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "node-agent-config"},
                              "data": {"x.json": "{}"}}, {"kind": "Secret", "metadata": {"name": "s"}}]}
    rendered = render("7.2.2", "1.14.1", overrides=user, user_wins=True)
    assert rendered["values"]["extraObjects"] == user["extraObjects"]
    assert rendered["conflicts"][0]["path"] == "extraObjects[ConfigMap/node-agent-config]"


def test_go_templates_in_user_values_pass_through_unchanged():
    user = {"extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-x"},
                              "data": {"a": "{{ .Values.image.tag }}"}}]}
    rendered = render("12.1.0", "1.18.1", overrides=user)
    assert yaml.safe_load(rendered["values_yaml"])["extraObjects"] == user["extraObjects"]


def test_merge_never_mutates_the_users_values():
    user = {"configuration": {"clientQPS": 5, "extraArgs": ["--client-qps=1"]}}
    snapshot = yaml.safe_dump(user)
    render("12.1.0", "1.18.1", overrides=user)
    assert yaml.safe_dump(user) == snapshot


# ---------------------------------------------------------------------------------------------------------
# Loading overrides and the output text

def test_overrides_from_yaml_text():
    rendered = render("12.1.0", "1.18.1", overrides="deployNodeAgent: true\nconfiguration:\n  logLevel: debug\n")
    assert rendered["values"]["deployNodeAgent"] is True


@pytest.mark.parametrize("text, expected", [
    ("configuration:\n  clientQPS: 300\n   clientBurst: 2\n", "is not valid YAML at line 3, column 15"),
    ("- a\n- b\n", "must hold a mapping of Helm values, got a list"),
    ("key: [unclosed\n", "is not valid YAML"),
])
def test_malformed_overrides(text, expected):
    with pytest.raises(ValueError, match="^velero_values_overrides: ") as error:
        values_dump.load_overrides(text, source="over.yaml")
    assert expected in str(error.value)


def test_empty_overrides():
    assert values_dump.load_overrides("") == {} and values_dump.load_overrides(None) == {} and values_dump.load_overrides("# only\n") == {}


def test_output_is_deterministic_block_yaml_without_anchors():
    first = render("10.1.3", "1.16.2", repositories=BIG_REPO, overrides=USER)["values_yaml"]
    second = render("10.1.3", "1.16.2", repositories=BIG_REPO, overrides=USER)["values_yaml"]
    assert first == second
    assert "&id" not in first and "*id" not in first
    assert first.startswith("# Velero Helm values")


def test_multiline_strings_are_literal_blocks():
    text = values_dump.dump_values({"credentials": {"secretContents": {"cloud": "[default]\nkey=1\n"}}})
    assert "cloud: |\n" in text
    assert yaml.safe_load(text)["credentials"]["secretContents"]["cloud"] == "[default]\nkey=1\n"


def test_to_plain_converts_subclasses_and_rejects_objects():
    class Tagged(str):
        pass

    assert fields.to_plain({"a": [Tagged("x")]})["a"][0].__class__ is str
    with pytest.raises(ValueError, match="unsupported value"):
        fields.to_plain({"a": object()})


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([era.id for era in eras.ERAS]), st.integers(min_value=1, max_value=5000),
       st.integers(min_value=1, max_value=5000))
def test_every_rendered_result_passes_its_own_schema(era_id, qps, burst):
    era = eras.era_by_id(era_id)
    rendered = render(era.last, era.velero_versions[-1], qps=float(qps), burst=burst, repositories=BIG_REPO)
    values_schema.validate_values(rendered["values"], era)
    assert get(rendered["values"], eras.CLIENT_QPS) == qps


def test_chart_newer_than_known_renders_with_the_newest_era_and_a_warning():
    """Chart 12.2.0 (Velero 1.18.2): the 12.0.0-12.1.0 rules and schema, and the assumption said first."""
    known = hv.render_values(make_recommendation("1.18.2"), "12.1.0")
    newer = hv.render_values(make_recommendation("1.18.2"), "12.2.0")
    assert newer["era"]["id"] == "12.0.0-12.1.0" and newer["chart_version"] == "12.2.0"
    assert newer["values"] == known["values"]
    assert newer["chart_assumption"] == eras.chart_assumption("12.2.0")
    assert newer["warnings"][0] == newer["chart_assumption"]
    assert known["chart_assumption"] is None
    assert not any("newer than the newest chart release" in w for w in known["warnings"])
    with pytest.raises(ValueError, match="velero_chart_strict is true, so it is refused"):
        hv.render_values(make_recommendation("1.18.2"), "12.2.0", chart_strict=True)


GLOBAL = "configuration.repositoryMaintenanceJob.repositoryConfigData.global"
ZONE = {"nodeSelector": {"matchLabels": {"topology.kubernetes.io/zone": "a"}}}


def _overrides(global_entry=None, repositories=None) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {}
    if global_entry is not None:
        data["global"] = global_entry
    if repositories is not None:
        data["repositories"] = repositories
    return {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": data}}}


@pytest.mark.parametrize(("chart", "velero", "overrides", "message"), [
    # podResources.ephemeralStorage* is read from 1.18.1 (PR #9596); 1.18.0 would ignore it silently.
    ("12.0.1", "1.18.0", _overrides(repositories={"apps-default-kopia": {
        "podResources": {**PODS, "ephemeralStorageLimit": "2Gi"}}}),
     "apps-default-kopia.podResources.ephemeralStorageLimit: Velero 1.18.0 does not read it (from Velero 1.18.1)"),
    # podLabels/podAnnotations from 1.18, global only; priorityClassName from 1.17, global only.
    ("11.4.0", "1.17.1", _overrides({"podLabels": {"team": "storage"}}),
     "global.podLabels: Velero 1.17.1 does not read it (only from Velero 1.18)"),
    ("11.4.0", "1.17.1", _overrides(repositories={"apps-default-kopia": {"priorityClassName": "high"}}),
     "repositories.apps-default-kopia.priorityClassName: Velero 1.17.1 does not read it (only from the global entry)"),
    ("12.1.0", "1.18.1", _overrides(repositories={"apps-default-kopia": {"podAnnotations": {"a": "b"}}}),
     "repositories.apps-default-kopia.podAnnotations: Velero 1.18.1 does not read it (only from the global entry)"),
    ("10.1.3", "1.16.2", _overrides({"keepLatestMaintenanceJobs": 2}),
     "global.keepLatestMaintenanceJobs: Velero 1.16.2 does not read it (only from Velero 1.17)"),
])
def test_maintenance_entries_accept_only_what_the_release_reads(chart, velero, overrides, message):
    with pytest.raises(ValueError) as error:
        hv.render_values(make_recommendation(velero), chart, overrides=overrides)
    assert message in str(error.value)
    assert str(error.value).startswith("velero_values_overrides: ")


def test_maintenance_entries_keep_the_users_fields_next_to_the_tuned_resources():
    overrides = _overrides({"priorityClassName": "maintenance", "loadAffinity": [ZONE, ZONE],
                            "podLabels": {"team": "storage"}, "podAnnotations": {"a": "b"},
                            "podResources": {**PODS, "ephemeralStorageRequest": "1Gi", "ephemeralStorageLimit": "2Gi"}},
                           {"apps-default-kopia": {"loadAffinity": [ZONE], "keepLatestMaintenanceJobs": 1}})
    rendered = hv.render_values(make_recommendation("1.18.1", repositories={"apps-default-kopia": {
        "pod_resources": {**PODS, "memoryLimit": "12Gi"}}}), "12.1.0", overrides=overrides)
    entry = get(rendered["values"], GLOBAL)
    assert entry["priorityClassName"] == "maintenance" and entry["podLabels"] == {"team": "storage"}
    assert entry["loadAffinity"] == [ZONE, ZONE] and entry["podAnnotations"] == {"a": "b"}
    assert entry["podResources"]["memoryLimit"] == "8Gi"  # tuned
    repo = get(rendered["values"], "configuration.repositoryMaintenanceJob.repositoryConfigData.repositories")[
        "apps-default-kopia"]
    assert repo["loadAffinity"] == [ZONE] and repo["keepLatestMaintenanceJobs"] == 1
    assert repo["podResources"]["memoryLimit"] == "12Gi"
    assert any("loadAffinity has 2 entries: Velero 1.18.1 uses only the first" in w for w in rendered["warnings"])
    older = hv.render_values(make_recommendation("1.17.1"), "11.4.0",
                             overrides=_overrides({"loadAffinity": [ZONE, ZONE], "priorityClassName": "x"}))
    assert not any("loadAffinity" in w for w in older["warnings"])  # 1.17 converts every entry
