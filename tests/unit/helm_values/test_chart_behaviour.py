# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Behaviour of the real chart templates the rendering must respect, pinned per era, and what users keep.

Each test names the template behaviour it depends on (found by rendering the real charts with helm v4.1.4; see
docs/helm-values.md). The opt-in tests/integration/tune/test_helm_template.py renders them for real.
"""

from __future__ import annotations

import collections
import copy
import typing as t

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _releases as releases
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_dump as values_dump
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_merge as values_merge
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_plan as values_plan
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_schema as values_schema
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import VERSIONED_FLAGS, release

from conftest import make_recommendation, real_values  # noqa: E402

BIG_REPO = {"apps-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "6Gi",
                                                     "memoryLimit": "12Gi"}}}
ERAS = [era.id for era in eras.ERAS]


def maximal(era: eras.ChartEra, **kwargs: t.Any) -> dict[str, t.Any]:
    return hv.render_values(make_recommendation(era.velero_versions[-1], frequency="4h", keep=5,
                                                repositories=BIG_REPO), era.last, **kwargs)


# ---------------------------------------------------------------------------------------------------------
# Finding: NOTES.txt of charts 5.x-8.6.0 runs `hasKey $value.labels` on every configMaps entry.

@pytest.mark.parametrize("era_id", ERAS)
def test_every_config_maps_entry_carries_a_labels_mapping(era_id):
    # templates/NOTES.txt, charts 5.1.0 to 8.6.0, lines 65-67:
    #   {{- range $key, $value := .Values.configMaps }}
    #   {{- eq $key "fs-restore-action-config" }}          <- no `if`: the next line runs for every entry
    #   {{- if hasKey $value.labels "velero.io/restic" }}
    # An entry without labels fails `helm template/install` ("wrong type for value; expected
    # map[string]interface {}; got interface {}"); chart 8.7.0 added the `if`. An empty map renders no labels
    # (templates/configmaps.yaml `with $configMap.labels`), so it is written in every era.
    era = eras.era_by_id(era_id)
    values = maximal(era)["values"]
    for key, entry in (values.get("configMaps") or {}).items():
        assert isinstance(entry.get("labels"), dict), key


@pytest.mark.parametrize("chart, fixed", [("5.2.2", True), ("6.7.0", True), ("8.0.0", True), ("8.6.0", True),
                                          ("8.7.0", False), ("12.1.0", False)])
def test_user_config_maps_without_labels_get_them_where_the_chart_needs_them(chart, fixed):
    assert eras.configmap_labels_required(chart) is fixed
    velero = eras.shipped_velero(chart)
    user = {"configMaps": {"fs-restore-action-config": {"data": {"image": "velero/velero-restore-helper"}},
                           "mine": {"labels": None, "data": {"a": "b"}}}}
    rendered = hv.render_values(make_recommendation(velero), chart, overrides=user)
    config_maps = rendered["values"]["configMaps"]
    # 8.7.0+ still read the labels of fs-restore-action-config (`if eq $key "fs-restore-action-config"`).
    assert config_maps["fs-restore-action-config"]["labels"] == {}
    assert config_maps["mine"].get("labels") == ({} if fixed else None)
    assert any("labels: {} added" in note for note in rendered["notes"])
    assert user["configMaps"]["mine"]["labels"] is None  # the input is not modified


# ---------------------------------------------------------------------------------------------------------
# Finding: no flag on the command line twice. A model of the templates' flag emitters over the era's real
# values.yaml defaults (helm-chart.md section 2): keys render `--flag={{ . }}` under `with`, extraArgs come last.

def _helm_merge(defaults: t.Any, values: t.Any) -> t.Any:
    if isinstance(defaults, dict) and isinstance(values, dict):
        merged = dict(defaults)
        for key, value in values.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _helm_merge(defaults.get(key), value)
        return merged
    return values


def server_flags(era: eras.ChartEra, values: dict[str, t.Any]) -> list[str]:
    conf = _helm_merge(real_values(era), values).get("configuration") or {}
    flags = ["--uploader-type"]
    for key, flag in values_plan.KEY_FLAGS.items():
        if not key.startswith("configuration.") or key.startswith(eras.MAINTENANCE_JOB):
            continue
        if conf.get(key.split(".", 1)[1]):
            flags.append(flag)
    job = conf.get("repositoryMaintenanceJob") or {}
    data = job.get("repositoryConfigData") or {}
    if data.get("global") or data.get("repositories"):
        flags.append("--repo-maintenance-job-configmap")  # chart 10.1.0+: and the legacy flags are dropped
    elif not era.legacy_maintenance_keys_fail:
        for section in ("requests", "limits"):
            for kind in ("cpu", "memory"):
                if (job.get(section) or {}).get(kind):
                    flags.append(values_plan.KEY_FLAGS[f"{eras.MAINTENANCE_JOB}.{section}.{kind}"])
        if job.get("latestJobsCount"):
            flags.append("--keep-latest-maintenance-jobs")
    flags += [arg.split("=", 1)[0] for arg in conf.get("extraArgs") or []]
    return flags


@pytest.mark.parametrize("era_id", ERAS)
def test_no_flag_appears_twice_in_any_eras_rendered_args(era_id):
    era = eras.era_by_id(era_id)
    user_args = ["--client-qps=50"] + (["--keep-latest-maintenance-jobs=1"] if era.velero_minor in (14, 15, 16) else [])
    users = [{}] + ([{"configuration": {"extraArgs": user_args}}] if era.server_extra_args else [])
    for overrides in users:
        flags = server_flags(era, maximal(era, overrides=overrides)["values"])
        twice = [flag for flag, count in collections.Counter(flags).items() if count > 1]
        assert not twice, f"chart {era.id} renders {twice} twice: {flags}"


def test_chart_7_1_3_default_latest_jobs_count_would_repeat_the_flag():
    # What the model above catches: chart 7.1.3's values.yaml defaults latestJobsCount to 3 (rendered as
    # --keep-latest-maintenance-jobs=3), so the flag route of charts 7.0.0-7.1.2 would repeat it.
    era = eras.era_by_id("7.1.3")
    assert real_values(era)["configuration"]["repositoryMaintenanceJob"]["latestJobsCount"] == 3
    assert server_flags(era, {"configuration": {"extraArgs": ["--keep-latest-maintenance-jobs=5"]}}).count(
        "--keep-latest-maintenance-jobs") == 2


# ---------------------------------------------------------------------------------------------------------
# Finding: chart 10.1.x drops the legacy requests/limits/latestJobsCount flags once repositoryConfigData is set.

LEGACY = {"configuration": {"repositoryMaintenanceJob": {"requests": {"memory": "3Gi"},
                                                         "limits": {"memory": "6Gi", "cpu": "2"}}}}


def test_chart_10_1_legacy_resources_are_moved_when_the_user_wins():
    rendered = render_10_1(LEGACY, user_wins=["configuration.repositoryMaintenanceJob"])
    job = rendered["values"]["configuration"]["repositoryMaintenanceJob"]
    assert set(job) == {"repositoryConfigData"}
    # All four fields, "0" (unbounded) where the user set nothing.
    assert job["repositoryConfigData"]["global"]["podResources"] == {
        "cpuRequest": "0", "cpuLimit": "2", "memoryRequest": "3Gi", "memoryLimit": "6Gi"}
    conflicts = {c["path"]: c["winner"] for c in rendered["conflicts"]}
    assert conflicts == {"configuration.repositoryMaintenanceJob.requests": "user",
                         "configuration.repositoryMaintenanceJob.limits": "user"}
    placed = {p["item"]: p for p in rendered["placements"]}
    assert placed["maintenance.pod_resources"]["applied"] is False
    values_schema.validate_values(rendered["values"], eras.era_by_id("10.1.0-10.1.3"))


def test_chart_10_1_legacy_resources_are_reported_and_removed_otherwise():
    rendered = render_10_1(LEGACY)
    job = rendered["values"]["configuration"]["repositoryMaintenanceJob"]
    assert set(job) == {"repositoryConfigData"}
    assert job["repositoryConfigData"]["global"]["podResources"]["memoryLimit"] == "8Gi"  # tuned
    assert {c["winner"] for c in rendered["conflicts"]} == {"tuned"}
    assert any(w.startswith("conflict at configuration.repositoryMaintenanceJob.limits") for w in rendered["warnings"])
    # Even user_wins=true cannot keep a key the chart ignores: it is moved, never left behind.
    assert "requests" not in render_10_1(LEGACY, user_wins=True)["values"]["configuration"]["repositoryMaintenanceJob"]


def test_chart_10_1_legacy_flags_and_latest_jobs_count():
    user = {"configuration": {"extraArgs": ["--maintenance-job-mem-limit=5Gi"],
                              "repositoryMaintenanceJob": {"latestJobsCount": 1}}}
    kept = render_10_1(user, user_wins=True)["values"]["configuration"]
    assert kept["repositoryMaintenanceJob"]["repositoryConfigData"]["global"]["podResources"]["memoryLimit"] == "5Gi"
    assert "--keep-latest-maintenance-jobs=1" in kept["extraArgs"]  # theirs, in the flag that is rendered
    assert not any(arg.startswith("--maintenance-job-") for arg in kept["extraArgs"])
    assert "latestJobsCount" not in kept["repositoryMaintenanceJob"]
    tuned = render_10_1(user)["values"]["configuration"]
    assert "--keep-latest-maintenance-jobs=3" in tuned["extraArgs"]
    assert "latestJobsCount" not in tuned["repositoryMaintenanceJob"]
    assert not any(arg.startswith("--maintenance-job-") for arg in tuned["extraArgs"])


def render_10_1(overrides: dict[str, t.Any], user_wins: t.Any = False) -> dict[str, t.Any]:
    return hv.render_values(make_recommendation("1.16.2", keep=3), "10.1.3", overrides=copy.deepcopy(overrides),
                            user_wins=user_wins)


# ---------------------------------------------------------------------------------------------------------
# Finding: flags the cluster's Velero does not have stop the server from starting.

@pytest.mark.parametrize("chart, velero, args, node_args, expected", [
    ("11.4.0", "1.17.1", ["--maintenance-job-mem-limit=8Gi"], [],
     "--maintenance-job-mem-limit does not exist on `velero server` of Velero 1.17.1: removed in Velero 1.17"),
    ("12.1.0", "1.18.1", ["--keep-latest-maintenance-jobs=2"], [], "keepLatestMaintenanceJobs"),
    ("6.7.0", "1.13.2", ["--backup-repository-configmap=x"], [], "added in Velero 1.15"),
    ("7.2.2", "1.14.1", ["--repo-maintenance-job-configmap=x"], [], "--maintenance-job-* flags"),
    ("9.2.0", "1.16.0", ["--concurrent-backups=2"], [], "added in Velero 1.18"),
    ("7.2.2", "1.14.1", [], ["--node-agent-configmap=x"], "fixed name node-agent-config"),
    ("11.4.0", "1.17.1", [], ["--backup-repository-configmap=x"], "the node-agent takes it from Velero 1.18"),
])
def test_flags_the_clusters_velero_does_not_have_fail_the_host(chart, velero, args, node_args, expected):
    user = {"configuration": {"extraArgs": args}} if args else {"nodeAgent": {"extraArgs": node_args}}
    with pytest.raises(ValueError, match="^velero_values_overrides: ") as error:
        hv.render_values(make_recommendation(velero), chart, overrides=user)
    assert expected in str(error.value)


@pytest.mark.parametrize("era_id", ERAS)
def test_the_collections_own_flags_exist_in_the_eras_velero(era_id):
    era = eras.era_by_id(era_id)
    for velero in era.velero_versions:
        values = hv.render_values(make_recommendation(velero, frequency="4h", repositories=BIG_REPO), era.last,
                                  velero_version=velero)["values"]
        values_schema.check_flags(values, era, velero)  # raises on a flag this Velero lacks


def test_flag_table_covers_the_maintenance_flags_of_1_14_to_1_16():
    server = {(f.flag, f.first_minor, f.last_minor) for f in VERSIONED_FLAGS if f.component == "server"}
    for flag in list(values_plan.MAINTENANCE_FLAG_FIELDS) + ["--keep-latest-maintenance-jobs"]:
        assert (flag, 14, 16) in server
    assert releases.unknown_flag(release("1.16.2"), "server", "--maintenance-job-mem-limit") is None


# ---------------------------------------------------------------------------------------------------------
# Finding: charts before 5.4.1 render --uploader-type=restic.

def test_restic_uploader_charts_get_no_maintenance_frequency():
    # templates/deployment.yaml: `--uploader-type={{ default "restic" .uploaderType }}` up to chart 5.4.0,
    # `default "kopia"` from 5.4.1 (helm-charts commit 8c116b7).
    assert [eras.chart_default_uploader(c) for c in ("5.1.0", "5.4.0", "5.4.1", "12.1.0")] == [
        "restic", "restic", "kopia", "kopia"]
    rendered = hv.render_values(make_recommendation("1.12.3", frequency="4h"), "5.2.2")
    assert "defaultRepoMaintainFrequency" not in rendered["values"]["configuration"]
    assert rendered["uploader"] == "restic"
    assert any("renders --uploader-type=restic" in w and "168h" in w for w in rendered["warnings"])
    assert any("restic repositories" in a for a in rendered["assumptions"])
    # Choosing kopia on that chart brings the frequency back; choosing restic on a later chart removes it.
    kopia = hv.render_values(make_recommendation("1.12.3", frequency="4h"), "5.2.2",
                             overrides={"configuration": {"uploaderType": "kopia"}})
    assert kopia["values"]["configuration"]["defaultRepoMaintainFrequency"] == "4h"
    restic = hv.render_values(make_recommendation("1.15.2", frequency="4h"), "8.7.2",
                              overrides={"configuration": {"uploaderType": "restic"}})
    assert "defaultRepoMaintainFrequency" not in restic["values"]["configuration"]
    assert any("your configuration.uploaderType" in w for w in restic["warnings"])


def test_a_written_frequency_says_how_to_patch_existing_repositories():
    rendered = hv.render_values(make_recommendation("1.16.2", frequency="6h"), "10.1.3")
    warning = next(w for w in rendered["warnings"] if w.startswith("--default-repo-maintain-frequency=6h"))
    assert "only seeds spec.maintenanceFrequency of BackupRepositories created after the upgrade" in warning
    assert ("`kubectl -n velero get backuprepositories -l velero.io/repository-type=kopia -o name | xargs -I@ "
            "kubectl -n velero patch @ --type merge -p '{\"spec\":{\"maintenanceFrequency\":\"6h\"}}'`") in warning
    default = hv.render_values(make_recommendation("1.16.2"), "10.1.3")
    assert not any("maintain-frequency" in w for w in default["warnings"])


# ---------------------------------------------------------------------------------------------------------
# Finding: what the user keeps is really kept, and reported as such.

def test_a_kept_scalar_parent_gets_nothing_of_ours_below_it():
    era = eras.chart_era("11.4.0")
    plan = values_plan.plan_tuning(make_recommendation("1.17.1"), era, user_values={"nodeAgent": "x"}, chart_version="11.4.0")
    values, conflicts = values_merge.merge_values({"nodeAgent": "x"}, plan, user_wins=values_merge.UserWins(True))
    assert values["nodeAgent"] == "x"
    assert [(c.path, c.winner) for c in conflicts] == [("nodeAgent", "user")]
    values_merge.mark_kept(plan.placements, conflicts)
    placed = {p.item: p for p in plan.placements}
    for item in ("node_agent.resources", "node_agent.load_concurrency", "node_agent.pod_resources"):
        assert placed[item].applied is False and placed[item].kept == ["x"], item
    assert placed["server.client_qps"].applied is True
    assert "node-agent-config" not in values["configMaps"]  # nobody would read it
    # Kept, the chart's schema then refuses the scalar: the host fails instead of tuning silently.
    with pytest.raises(ValueError, match="nodeAgent = 'x' is not valid"):
        hv.render_values(make_recommendation("1.17.1"), "11.4.0", overrides={"nodeAgent": "x"}, user_wins=True)
    # Not kept: replaced by a mapping with our keys, reported once.
    replaced = hv.render_values(make_recommendation("1.17.1"), "11.4.0", overrides={"nodeAgent": "x"})
    assert replaced["values"]["nodeAgent"]["extraArgs"] == ["--node-agent-configmap=velero-node-agent-config"]
    assert [c["path"] for c in replaced["conflicts"]] == ["nodeAgent"]


@pytest.mark.parametrize("flag, cm_key, items", [
    ("--backup-repository-configmap", "backup-repository-config", ["repository.cache_limit_mb"]),
    ("--repo-maintenance-job-configmap", "repo-maintenance", ["maintenance.repositories.apps-default-kopia"]),
])
def test_a_kept_configmap_flag_of_the_user_drops_our_configmap(flag, cm_key, items):
    user = {"configuration": {"extraArgs": [f"{flag}=mine"]}}
    rec = make_recommendation("1.16.2", repositories=BIG_REPO)
    rendered = hv.render_values(rec, "9.2.0", overrides=user, user_wins=[f"configuration.extraArgs {flag}"])
    values = rendered["values"]
    assert f"{flag}=mine" in values["configuration"]["extraArgs"]
    assert cm_key not in values.get("configMaps", {})
    assert any(w.startswith(f"configMaps.{cm_key} is not written") for w in rendered["warnings"])
    placed = {p["item"]: p for p in rendered["placements"]}
    for item in items:
        assert placed[item]["applied"] is False and placed[item]["kept"] == [f"{flag}=mine"]
    # The other ConfigMaps stay.
    assert "node-agent-config" in values["configMaps"]


def test_a_kept_flag_duplicating_a_key_marks_the_key_not_applied():
    rendered = hv.render_values(make_recommendation("1.18.1"), "12.1.0",
                                overrides={"configuration": {"extraArgs": ["--client-qps=50"]}}, user_wins=True)
    placed = {p["item"]: p for p in rendered["placements"]}
    assert placed["server.client_qps"]["applied"] is False and placed["server.client_qps"]["kept"] == ["--client-qps=50"]
    assert rendered["written"]["client_qps"] == "50"  # what the server gets: the later flag


# ---------------------------------------------------------------------------------------------------------
# Input handling

@pytest.mark.parametrize("name, ok", [("velero", True), ("velero-prod", True), ("a.b", True), ("a" * 53, True),
                                      ("a" * 54, False), ("Velero", False), ("x-", False), ("-x", False),
                                      ("a..b", False), ("a_b", False), ("", False)])
def test_release_names_follow_helms_rule(name, ok):
    # helm v4.1.4: `release name check failed ... must match regex
    # ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53`
    if ok:
        assert values_plan.check_release_name(name) == name
    else:
        with pytest.raises(ValueError, match="^velero_release_name: "):
            hv.render_values(make_recommendation("1.18.1"), "12.1.0", release_name=name)


@pytest.mark.parametrize("value, expected", [([1, 2], "got list [1, 2]"), (3, "got integer 3"),
                                             (True, "got boolean True")])
def test_overrides_of_the_wrong_type_name_plain_types(value, expected):
    class _TaggedList(list):  # what Ansible hands plugins
        pass

    shown = _TaggedList(value) if isinstance(value, list) else value
    with pytest.raises(ValueError) as error:
        values_dump.load_overrides(shown)
    assert expected in str(error.value) and "_Tagged" not in str(error.value)


def test_chart_default_resources_by_era():
    rec = recommend({"velero_version": "1.13.2", "cluster": {"namespaces": 5, "objects": 500, "resource_types": 60},
                     "data": {"volume_bytes": "10Gi"}})
    old = hv.render_values(rec, "6.6.0")["defaults"]["server.resources"]
    assert old["value"] == {"requests": {"cpu": "500m", "memory": "128Mi"},
                            "limits": {"cpu": "1000m", "memory": "512Mi"}}
    new = hv.render_values(rec, "6.7.0")["defaults"]["node_agent.resources"]
    assert new["value"] is None and new["source"] == "chart 6.7.0 values.yaml `nodeAgent.resources: {}`"
