# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of cluster_facts: backup scope, Velero settings, aggregation, sizing shapes, drift."""

from __future__ import annotations

import calendar
import datetime
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _cluster_facts as f
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_discovery import APIResource
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import distinct_versions, release
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import validate
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import parse_flags

ALL = ("create", "delete", "get", "list", "patch", "update", "watch")


def res(group, plural, kind, namespaced=True, verbs=ALL, short=(), version="v1"):
    return APIResource(group=group, version=version, plural=plural, kind=kind, namespaced=namespaced,
                       verbs=tuple(verbs), short_names=tuple(short), singular=kind.lower())


SERVED = [
    res("", "namespaces", "Namespace", False),
    res("", "pods", "Pod", short=("po",)),
    res("", "events", "Event", short=("ev",)),
    res("", "persistentvolumes", "PersistentVolume", False, short=("pv",)),
    res("", "componentstatuses", "ComponentStatus", False, verbs=("get", "list")),
    res("", "bindings", "Binding", verbs=("create",)),
    res("extensions", "deployments", "Deployment", version="v1beta1"),
    res("apps", "deployments", "Deployment", short=("deploy",)),
    res("events.k8s.io", "events", "Event"),
    res("storage.k8s.io", "storageclasses", "StorageClass", False, short=("sc",)),
    res("cert-manager.io", "certificates", "Certificate", short=("cert",)),
    res("cert-manager.io", "clusterissuers", "ClusterIssuer", False),
]


def names(resources):
    return [r.group_resource for r in resources]


# -- scope --------------------------------------------------------------------------------------------


def test_whole_cluster_backup_types_follow_velero():
    selected, skipped = f.backup_resource_types(SERVED, f.Scope())
    assert names(selected) == ["namespaces", "pods", "events", "persistentvolumes", "deployments.apps",
                               "storageclasses.storage.k8s.io", "certificates.cert-manager.io",
                               "clusterissuers.cert-manager.io"]
    reasons = {s["resource"]: s["reason"] for s in skipped}
    assert reasons["componentstatuses"].startswith("does not support")
    assert reasons["bindings"].startswith("does not support")
    # extensions sorts last, so apps/deployments is the one listed; core events before events.k8s.io.
    assert "listed once" in reasons["deployments.extensions"]
    assert "listed once" in reasons["events.events.k8s.io"]


def test_namespace_restricted_scope_drops_cluster_scoped_types_but_keeps_namespaces():
    scope = f.Scope.from_options(include_namespaces=["shop-*"])
    selected, skipped = f.backup_resource_types(SERVED, scope)
    assert "namespaces" in names(selected)
    assert not any(not r.namespaced and r.plural != "namespaces" for r in selected)
    assert any(s["resource"] == "persistentvolumes" and "cluster-scoped" in s["reason"] for s in skipped)
    forced = f.Scope.from_options(include_namespaces=["shop-*"], include_cluster_resources=True)
    assert "persistentvolumes" in names(f.backup_resource_types(SERVED, forced)[0])
    # Excluding namespaces also counts as "not everything" (IncludeEverything is false).
    assert not f.Scope.from_options(exclude_namespaces=["kube-system"]).cluster_resources_included
    assert not f.Scope.from_options(include_cluster_resources=False).cluster_resources_included


@pytest.mark.parametrize("entry, excluded", [
    (["events"], {"events", "events.events.k8s.io"}),
    (["events.events.k8s.io"], {"events.events.k8s.io"}),
    (["deploy"], {"deployments.apps"}),
    (["deployments"], {"deployments.apps", "deployments.extensions"}),
    (["Deployment.apps"], {"deployments.apps"}),
    (["*.cert-manager.io"], {"certificates.cert-manager.io", "clusterissuers.cert-manager.io"}),
    (["cert"], {"certificates.cert-manager.io"}),
    (["*"], {r.group_resource for r in SERVED}),
])
def test_exclude_resources(entry, excluded):
    scope = f.Scope.from_options(exclude_resources=entry)
    assert {r.group_resource for r in SERVED if scope.resource_excluded(r)} == excluded


@pytest.mark.parametrize("include, exclude, name, selected", [
    (["*"], [], "anything", True),
    (["shop-*"], [], "shop-eu", True),
    (["shop-*"], [], "kube-system", False),
    (["*"], ["kube-*"], "kube-system", False),
    (["shop-?"], [], "shop-1", True),
    (["shop-?"], [], "shop-12", False),
])
def test_namespace_selection(include, exclude, name, selected):
    assert f.Scope.from_options(include, exclude).namespace_selected(name) is selected


@pytest.mark.parametrize("kwargs, message", [
    ({"include_namespaces": "velero"}, "include_namespaces: expected a list of strings"),
    ({"exclude_namespaces": ["ok", ""]}, r"exclude_namespaces\[1\]"),
    ({"exclude_resources": [3]}, r"exclude_resources\[0\]"),
    ({"include_cluster_resources": "yes"}, "include_cluster_resources"),
])
def test_scope_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        f.Scope.from_options(**kwargs)


@given(total=st.integers(0, 10**6), namespaces=st.integers(1, 5000), page=st.integers(1, 1000))
def test_count_strategy_picks_the_cheaper_plan(total, namespaces, page):
    first = min(total, page)
    choice = f.namespace_count_strategy(total, first, page, namespaces)
    paging_requests = math.ceil(max(0, total - first) / page)
    cost = paging_requests if choice == "page" else namespaces
    assert cost <= min(paging_requests, namespaces)


# -- Velero deployment and flags -------------------------------------------------------------------------


def deployment(name, args, image="velero/velero:v1.14.0", command=("/velero",)):
    return {"metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]},
        {"name": "velero", "image": image, "command": list(command), "args": list(args)}]}}}}


def test_find_node_agent():
    server = deployment("velero", ["server"])
    node_agent = {"metadata": {"name": "node-agent"}, "spec": {"template": {"spec": {"containers": [
        {"name": "node-agent", "command": ["/velero"], "args": ["node-agent", "server"]}]}}}}
    assert f.find_node_agent([server, node_agent])[0]["metadata"]["name"] == "node-agent"
    assert f.find_node_agent([server]) is None


def settings_for(version, flags=(), maintenance=None, backup_repo=None, node_agent_config=None,
                 server_resources=None, node_agent=True):
    container = {"resources": server_resources or {}}
    return f.current_settings(
        release=release(version) if version else None, server_flags=parse_flags(list(flags)),
        server_container=container, maintenance_cm=f.parse_maintenance_configmap(maintenance),
        backup_repository_cm=backup_repo, node_agent_container={"resources": {}} if node_agent else None,
        node_agent_config=node_agent_config)


def test_current_settings_defaults_per_version():
    old = settings_for("1.13.1")
    assert old["server.client_qps"] == {"value": 20.0, "source": "Velero default"}
    assert old["server.client_burst"]["value"] == 30
    assert "keep_latest_jobs" not in str(old)  # no maintenance Jobs before 1.14
    assert old["maintenance.pod_resources"]["source"].startswith("server Deployment")
    new = settings_for("1.16.0")
    assert new["server.client_qps"]["value"] == 100.0
    assert new["maintenance.pod_resources"]["value"] == {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "0"}
    assert new["maintenance.keep_latest_jobs"]["value"] == 3
    assert new["repository.cache_limit_mb"]["value"] == 5000
    assert new["repository.full_maintenance_interval"]["value"] == "normalGC"
    assert new["node_agent.load_concurrency"]["value"] == 1
    unknown = settings_for(None)
    assert "server.client_qps" not in unknown and unknown["server.client_page_size"]["value"] == 500


def test_current_settings_from_flags_and_configmaps():
    flags = ["server", "--client-qps", "150", "--client-burst=200", "--maintenance-job-mem-limit=4Gi",
             "--keep-latest-maintenance-jobs=1", "--default-repo-maintain-frequency=4h"]
    v14 = settings_for("1.14.0", flags)
    assert v14["server.client_qps"] == {"value": 150.0, "source": "server flag --client-qps"}
    assert v14["maintenance.pod_resources"]["value"] == {"cpuRequest": "0", "memoryRequest": "0", "cpuLimit": "0",
                                                         "memoryLimit": "4Gi"}
    assert v14["maintenance.keep_latest_jobs"]["value"] == 1
    assert v14["maintenance.frequency"]["value"] == "4h"
    configmap = {"metadata": {"name": "velero-repo-maintenance"}, "data": {
        "global": '{"podResources": {"cpuRequest": "100m", "cpuLimit": "0", "memoryRequest": "1Gi", '
                  '"memoryLimit": "2Gi"}, "keepLatestMaintenanceJobs": 2}',
        "shop-default-kopia": '{"podResources": {"memoryLimit": "8Gi"}}'}}
    v17 = settings_for("1.17.0", flags[:3], maintenance=configmap, backup_repo={"kopia": {"cacheLimitMB": 2048}},
                       node_agent_config={"loadConcurrency": {"globalConfig": 4}})
    assert v17["maintenance.pod_resources"]["value"]["memoryLimit"] == "2Gi"
    assert v17["maintenance.pod_resources"]["source"] == "maintenance ConfigMap global.podResources"
    assert v17["maintenance.keep_latest_jobs"]["value"] == 2
    assert v17["maintenance.repositories.shop-default-kopia.pod_resources"]["value"] == {"memoryLimit": "8Gi"}
    assert v17["repository.cache_limit_mb"]["value"] == 2048
    assert v17["node_agent.load_concurrency"]["value"] == 4


def test_bad_configmap_json_is_a_problem_not_a_crash():
    configmap = {"metadata": {"name": "m"}, "data": {"global": "{not json", "x-default-kopia": "[1]"}}
    parsed = f.parse_maintenance_configmap(configmap)
    assert parsed["global"] is None and parsed["repositories"] == {}
    assert len(parsed["problems"]) == 2
    value, problems = f.parse_single_key_configmap({"metadata": {"name": "n"}, "data": {"a": "{}", "b": "{}"}})
    assert value == {} and "exactly one" in problems[0]


# -- Velero custom resources ----------------------------------------------------------------------------


def test_summarize_repository_counts_failed_maintenance():
    repo = {"metadata": {"name": "shop-default-kopia-x1"},
            "spec": {"volumeNamespace": "shop", "backupStorageLocation": "default", "repositoryType": "kopia",
                     "maintenanceFrequency": "1h0m0s"},
            "status": {"phase": "Ready", "lastMaintenanceTime": "2024-05-01T10:00:00Z", "recentMaintenance": [
                {"result": "Succeeded", "startTimestamp": "2024-05-01T09:00:00Z"},
                {"result": "Failed", "startTimestamp": "2024-05-01T11:00:00Z", "message": "OOM later"},
                {"result": "Failed", "startTimestamp": "2024-05-01T10:30:00Z", "message": "OOM"}]}}
    summary = f.summarize_repository(repo)
    assert summary["key"] == "shop-default-kopia"
    assert summary["recent_failures"] == 2
    assert summary["last_failure_message"] == "OOM later"
    assert summary["last_maintenance_time"] == "2024-05-01T10:00:00Z"


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = calendar.timegm((2024, 6, 1, 12, 0, 0))


@pytest.mark.parametrize("interval_hours, retained_hours, expected", [
    (1, 24, 24.0),     # hourly, TTL 24h: the window is one day
    (24, 24 * 30, 1.0),  # daily, 30 days retained: last 7 days
    (12, 24 * 3, 2.0),
])
def test_backups_per_day(interval_hours, retained_hours, expected):
    assert f.BackupStats(NOW).per_day() is None
    stats = f.BackupStats(NOW)
    for index in range(retained_hours // interval_hours):
        started = NOW - index * interval_hours * 3600 - 60
        stats.add({"metadata": {"labels": {"velero.io/schedule-name": "s"}},
                   "status": {"phase": "Completed", "startTimestamp": iso(started)}})
    # Neither a failed backup nor one older than the 7-day window changes the rate.
    stats.add({"status": {"phase": "Failed", "startTimestamp": iso(NOW - 1800)}})
    stats.add({"status": {"phase": "Completed", "startTimestamp": iso(NOW - 30 * 86400)}})
    # Being deleted: no longer retained.
    stats.add({"metadata": {"deletionTimestamp": iso(NOW)},
               "status": {"phase": "Completed", "startTimestamp": iso(NOW - 40 * 86400)}})
    assert stats.per_day() == pytest.approx(expected, rel=0.02)
    assert stats.retained == retained_hours // interval_hours + 1
    assert stats.by_phase == {"Completed": retained_hours // interval_hours + 2, "Failed": 1}
    assert stats.as_dict()["schedules"] == ["s"]


def test_protected_data_takes_the_newest_completed_upload_per_volume():
    data = f.ProtectedData(default_bsl="default")

    def du(pvc, ns, size, when, backup, phase="Completed"):
        return {"metadata": {"labels": {"velero.io/backup-name": backup}},
                "spec": {"sourceNamespace": ns, "sourcePVC": pvc, "backupStorageLocation": "default"},
                "status": {"phase": phase, "completionTimestamp": when, "progress": {"totalBytes": size}}}

    data.add_data_upload(du("db", "shop", 100, "2024-05-01T00:00:00Z", "b1"))
    data.add_data_upload(du("db", "shop", 300, "2024-05-02T00:00:00Z", "b2"))
    data.add_data_upload(du("db", "shop", 999, "2024-05-03T00:00:00Z", "b3", phase="Failed"))
    data.add_data_upload(du("cache", "shop", 50, "2024-05-02T00:00:00Z", "b2"))
    data.add_pod_volume_backup({"metadata": {"labels": {"velero.io/backup-name": "b2"}},
                                "spec": {"pod": {"namespace": "wiki", "name": "w-0"}, "volume": "data",
                                         "uploaderType": "kopia"},
                                "status": {"phase": "Completed", "completionTimestamp": "2024-05-02T00:00:00Z",
                                           "progress": {"totalBytes": 1000}}})
    assert data.total_bytes() == 300 + 50 + 1000
    assert data.per_repository() == {"shop-default-kopia": 350, "wiki-default-kopia": 1000}
    assert data.largest_repository() == ("wiki-default-kopia", 1000)
    assert data.max_backups_per_repository() == 2
    assert data.volumes == 3


def test_pvc_bound_bytes():
    assert f.pvc_bound_bytes({"status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}}) == 10 * 2**30
    assert f.pvc_bound_bytes({"status": {"phase": "Pending"}}) is None
    assert f.pvc_bound_bytes({"status": {"phase": "Bound", "capacity": {"storage": "lots"}}}) is None


# -- sizing shapes (validated with the sizing engineer's validator) --------------------------------------


@settings(max_examples=200)
@given(namespaces=st.integers(1, 5000), objects=st.integers(0, 10**7), types=st.integers(1, 500),
       groups=st.one_of(st.none(), st.integers(0, 300)), aggregated=st.one_of(st.none(), st.booleans()),
       nodes=st.one_of(st.none(), st.integers(0, 5000)), pods=st.one_of(st.none(), st.integers(0, 10**6)),
       volumes=st.one_of(st.none(), st.integers(0, 10**5)), volume_bytes=st.integers(0, 10**16),
       repositories=st.one_of(st.none(), st.integers(0, 5000)),
       largest=st.one_of(st.none(), st.tuples(st.one_of(st.none(), st.sampled_from(["shop-default-kopia", "bad key!"])),
                                              st.integers(0, 10**17))),
       retained=st.one_of(st.none(), st.integers(0, 1000)), per_day=st.one_of(st.none(), st.floats(0, 5000)),
       version=st.sampled_from(distinct_versions()))
def test_returned_shapes_are_valid_sizing_inputs(namespaces, objects, types, groups, aggregated, nodes, pods, volumes,
                                                 volume_bytes, repositories, largest, retained, per_day, version):
    namespaced = types - 1
    cluster = f.sizing_cluster(namespaces=namespaces, objects=objects, resource_types=types,
                               namespaced_resource_types=namespaced, api_groups=groups,
                               aggregated_discovery=aggregated, nodes=nodes, pods=pods, volumes=volumes)
    data = f.sizing_data(volume_bytes=volume_bytes, repositories=repositories, largest=largest,
                         backups_retained=retained, backups_per_day=per_day)
    validated = validate({"velero_version": version, "cluster": cluster, "data": data})
    assert validated.cluster["objects"] == objects
    assert validated.data["volume_bytes"] == volume_bytes


# -- drift ------------------------------------------------------------------------------------------------


RECOMMENDATION = {
    "server": {"client_qps": 150.0, "client_burst": 200, "client_page_size": 500,
               "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    "maintenance": {"pod_resources": {"cpuRequest": "500m", "cpuLimit": "0", "memoryRequest": "4Gi",
                                      "memoryLimit": "8Gi"},
                    "keep_latest_jobs": 3, "frequency": "1h",
                    "repositories": {"shop-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "0",
                                                                              "memoryRequest": "8Gi",
                                                                              "memoryLimit": "16Gi"}}}},
    "repository": {"cache_limit_mb": None, "full_maintenance_interval": None},
    "node_agent": {"resources": None, "pod_resources": None, "load_concurrency": 2},
    "velero_defaults": {"server.client_qps": 100.0, "server.client_burst": 100, "node_agent.load_concurrency": 1},
    "explanations": {"server.client_qps": "because"},
}


def test_drift_lists_only_settings_that_differ():
    current = settings_for("1.16.0", ["server", "--client-burst=200"], server_resources={
        "requests": {"cpu": "0.5", "memory": "536870912"}, "limits": {"cpu": "1000m", "memory": "1Gi"}})
    current["maintenance.frequency"] = {"value": "60m", "source": "server flag"}
    result = {entry["setting"]: entry for entry in f.drift(current, RECOMMENDATION)}
    assert set(result) == {"server.client_qps", "maintenance.pod_resources",
                           "maintenance.repositories.shop-default-kopia.pod_resources", "node_agent.load_concurrency"}
    qps = result["server.client_qps"]
    assert (qps["current"], qps["recommended"], qps["velero_default"]) == (100.0, 150.0, 100.0)
    assert qps["explanation"] == "because" and qps["source"] == "Velero default"
    # No per-repository entry in the ConfigMap: Velero uses the global value (here the unbounded default).
    repo = result["maintenance.repositories.shop-default-kopia.pod_resources"]
    assert repo["current"] == {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "0"}
    assert repo["source"].endswith("(no per-repository entry)")
    assert result["node_agent.load_concurrency"]["current"] == 1


def test_drift_is_empty_when_everything_matches():
    current = {
        "server.client_qps": {"value": 150, "source": "flag"},
        "server.client_burst": {"value": 200, "source": "flag"},
        "server.client_page_size": {"value": 500, "source": "default"},
        "server.resources": {"value": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                       "limits": {"cpu": "1", "memory": "1Gi"}}, "source": "deployment"},
        "maintenance.pod_resources": {"value": {"cpuRequest": "0.5", "memoryRequest": "4096Mi",
                                                "memoryLimit": "8Gi"}, "source": "cm"},
        "maintenance.repositories.shop-default-kopia.pod_resources": {"value": {
            "cpuRequest": "1000m", "cpuLimit": "0", "memoryRequest": "8Gi", "memoryLimit": "16Gi"}, "source": "cm"},
        "maintenance.keep_latest_jobs": {"value": 3, "source": "default"},
        "maintenance.frequency": {"value": "1h0m0s", "source": "flag"},
        "node_agent.load_concurrency": {"value": 2, "source": "cm"},
    }
    assert f.drift(current, RECOMMENDATION) == []


def test_drift_rebuilds_nested_defaults_and_explanations_from_leaf_paths():
    recommendation = dict(RECOMMENDATION, velero_defaults={
        "server.resources.requests.cpu": "500m", "server.resources.requests.memory": "128Mi",
        "server.resources.limits.cpu": "1", "server.resources.limits.memory": "512Mi"},
        explanations={"server.resources.requests.memory": "objects", "server.resources.limits.memory": "objects",
                      "server.resources.requests.cpu": "cpu rule"})
    current = {"server.resources": {"value": {"requests": {"cpu": "500m", "memory": "128Mi"},
                                              "limits": {"cpu": "1", "memory": "512Mi"}}, "source": "deployment"}}
    (entry,) = [e for e in f.drift(current, recommendation) if e["setting"] == "server.resources"]
    assert entry["velero_default"] == {"requests": {"cpu": "500m", "memory": "128Mi"},
                                       "limits": {"cpu": "1", "memory": "512Mi"}}
    assert entry["explanation"] == "objects; cpu rule"
