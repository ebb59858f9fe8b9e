# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables for what cluster_facts reads from a cluster: shape checks at the boundary, odd client flags,
and the ``observed`` memory facts (issue 13 items 5 and 10, issue 9 "Learn from the cluster itself")."""

from __future__ import annotations

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _observed, _restore_marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._api_shapes import (
    MalformedObject,
    check_list_page,
    check_object,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._cluster_facts import client_flag_findings, flag_drift


def _meta(name: str = "x", namespace: str | None = "velero") -> dict:
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


@pytest.mark.parametrize(("kind", "obj", "field", "got"), [
    ("Deployment", {"metadata": _meta("velero"), "spec": "abc"}, "spec", "string 'abc'"),
    ("Deployment", {"metadata": _meta("velero"), "spec": {"template": {"spec": {"containers": [
        {"name": "velero", "args": "server"}]}}}}, "spec.template.spec.containers[0].args", "string 'server'"),
    ("Deployment", {"metadata": _meta("velero"), "spec": {"template": {"spec": {"containers": ["velero"]}}}},
     "spec.template.spec.containers[0]", "string 'velero'"),
    ("BackupRepository", {"metadata": _meta("r"), "status": {"recentMaintenance": "none"}},
     "status.recentMaintenance", "string 'none'"),
    ("BackupRepository", {"metadata": _meta("r"), "status": {"recentMaintenance": [{"result": 1}]}},
     "status.recentMaintenance[0].result", "number 1"),
    ("Namespace", {"metadata": _meta("ns", None), "status": 7}, "status", "number 7"),
    ("Pod", {"metadata": {"name": "p", "labels": "app=x"}}, "metadata.labels", "string 'app=x'"),
    ("Pod", {"metadata": _meta("p"), "status": {"containerStatuses": [{"name": "c", "restartCount": "abc"}]}},
     "status.containerStatuses[0].restartCount", "string 'abc'"),
    ("Node", {"metadata": _meta("n1", None), "status": {"allocatable": {"memory": {"value": 1}}}},
     "status.allocatable.memory", "object"),
    ("DataUpload", {"metadata": _meta("du"), "status": {"progress": {"totalBytes": "abc"}}},
     "status.progress.totalBytes", "string 'abc'"),
    ("ConfigMap", {"metadata": _meta("cm"), "data": {"global": {"podResources": {}}}}, "data.global", "object"),
    ("Pod", "just a string", "(the object)", "string"),
    ("Pod", None, "(the object)", "NoneType"),
])
def test_malformed_objects_name_kind_object_and_field(kind, obj, field, got):
    with pytest.raises(MalformedObject) as caught:
        check_object(obj, kind)
    message = str(caught.value)
    assert message.startswith(f"{kind} ") and f": {field}: expected " in message and got in message
    assert caught.value.field == field


@pytest.mark.parametrize(("kind", "obj"), [
    ("Deployment", {"metadata": _meta("velero"), "spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "velero", "args": ["server", "--client-qps=40"], "resources": {"limits": {"memory": "1Gi"}}}]}}}}),
    ("Pod", {"metadata": _meta("p"), "spec": None, "status": {}}),  # null means "not known", always accepted
    ("Node", {"metadata": _meta("n", None), "status": {"allocatable": {"memory": 8 * 2**30}}}),  # numbers are quantities
    ("SomethingElse", {"metadata": _meta("w"), "spec": "whatever"}),  # fields nobody reads are not checked
])
def test_well_formed_objects_pass_unchanged(kind, obj):
    assert check_object(obj, kind) is obj


@pytest.mark.parametrize(("page", "field"), [
    ({"items": "abc"}, "items"),
    ({"items": [], "metadata": "x"}, "metadata"),
    ([1, 2], "(the answer)"),
])
def test_malformed_list_pages(page, field):
    with pytest.raises(MalformedObject, match=rf"list /api/v1/pods: {__import__('re').escape(field)}: expected"):
        check_list_page(page, "/api/v1/pods")


# ------------------------------------------------------------------------------------------- item 10: client flags


@pytest.mark.parametrize(("flags", "setting", "refused", "phrase"), [
    ({"client-qps": "abc"}, "server.client_qps", True, "not a float32: velero server refuses to start"),
    ({"client-qps": "-1"}, "server.client_qps", True, "client-qps must be positive"),
    ({"client-qps": "1e39"}, "server.client_qps", True, "not a float32"),  # above float32's range: ErrRange
    ({"client-qps": "0"}, "server.client_qps", False, "client-go's default of 5"),
    ({"client-qps": "1e23"}, "server.client_qps", False, "removes Velero's client-side rate limit"),
    ({"client-burst": "-5"}, "server.client_burst", True, "client-burst must be positive"),
    ({"client-burst": "0"}, "server.client_burst", True, "client-burst must be positive"),
    ({"client-burst": "1e23"}, "server.client_burst", True, "not a 64-bit integer"),
    ({"client-burst": "abc"}, "server.client_burst", True, "not a 64-bit integer"),
    ({"client-burst": "99999999999999999999"}, "server.client_burst", True, "not a 64-bit integer"),
    ({"client-burst": "10000000"}, "server.client_burst", False, "does not limit anything"),
])
def test_odd_client_flags_say_what_velero_does(flags, setting, refused, phrase):
    findings = client_flag_findings(flags)
    assert set(findings) == {setting}
    assert findings[setting]["value"] == next(iter(flags.values()))
    assert findings[setting]["refused"] is refused and phrase in findings[setting]["note"]


@pytest.mark.parametrize("flags", [{"client-qps": "40", "client-burst": "60"}, {"client-qps": "0.5"},
                                   {"client-burst": "0x10"}, {}])
def test_ordinary_client_flags_are_no_finding(flags):
    assert client_flag_findings(flags) == {}


def test_flag_findings_become_drift_with_or_without_a_recommendation():
    findings = client_flag_findings({"client-qps": "abc", "client-burst": "-5"})
    alone = flag_drift(findings, [], None, None)
    assert [(e["setting"], e["current"], e["recommended"], e["refused_by_velero"]) for e in alone] == [
        ("server.client_burst", "-5", None, True), ("server.client_qps", "abc", None, True)]
    existing = [{"setting": "server.client_qps", "current": "abc", "recommended": 150.0, "velero_default": 100.0,
                 "source": "server flag --client-qps", "explanation": "why"}]
    merged = flag_drift(findings, existing, {"server": {"client_burst": 200}}, None)
    assert merged[0]["recommended"] == 150.0 and "refuses to start" in merged[0]["note"]
    assert merged[1]["setting"] == "server.client_burst" and merged[1]["recommended"] == 200
    assert "note" not in existing[0]  # the input list is not changed


# ------------------------------------------------------------------------------------------- observed


def _container(name: str, args: list[str], limit: str | None = None) -> dict:
    container = {"name": name, "command": ["/velero"], "args": args}
    if limit:
        container["resources"] = {"limits": {"memory": limit}}
    return container


def _pod(name: str, containers: list[dict], statuses: list[dict], labels: dict | None = None,
         node: str | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": "velero", "labels": labels or {}},
            "spec": {"containers": containers, "nodeName": node}, "status": {"containerStatuses": statuses}}


def _oom(name: str, where: str = "lastState", restarts: int = 0) -> dict:
    return {"name": name, "restartCount": restarts,
            where: {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-12-01T00:00:00Z"}}}


def test_ooms_per_role_keep_the_highest_limit_with_evidence():
    obs = _observed.Observations()
    obs.add_pod(_pod("velero-abc", [_container("velero", ["server"], "512Mi")], [_oom("velero", restarts=4)]))
    obs.add_pod(_pod("node-agent-x", [_container("node-agent", ["node-agent", "server"], "1Gi")],
                     [_oom("node-agent")], node="n1"))
    for job, limit in (("repo-maintain-job-1", "1Gi"), ("repo-maintain-job-2", "2Gi"), ("repo-maintain-job-3", "1536Mi")):
        obs.add_pod(_pod(job, [_container("velero-repo-maintenance-container", ["repo-maintenance"], limit)],
                         [_oom("velero-repo-maintenance-container", "state")],
                         labels={"velero.io/repo-name": "shop-default-kopia"}))
    running = {"name": "sidecar", "restartCount": 0, "state": {"running": {}}}
    obs.add_pod(_pod("other", [_container("sidecar", ["server"], "64Mi")], [running]))
    result = obs.as_dict()
    assert result["maintenance_oom_limit"] == "2Gi"
    assert result["server_oom_limit"] == "512Mi" and result["node_agent_oom_limit"] == "1Gi"
    assert result["server_peak_memory"] is None and result["maintenance_peak_memory"] is None
    assert result["maintenance_failures"] is None  # no BackupRepository seen: unknown, not zero
    assert any("restarted 4 time(s)" in e for e in result["evidence"])
    assert any("OOMKilled at memory limit 2Gi: pod repo-maintain-job-2" in e for e in result["evidence"])
    assert obs.node_agent_nodes == {"n1"}


def test_oom_without_a_limit_is_evidence_without_a_figure():
    obs = _observed.Observations()
    obs.add_pod(_pod("velero-abc", [_container("velero", ["server"])], [_oom("velero")]))
    result = obs.as_dict()
    assert result["server_oom_limit"] is None
    assert any("without a memory limit" in e for e in result["evidence"])


def test_repositories_give_failures_and_index_blobs():
    obs = _observed.Observations()
    obs.add_repository({"metadata": {"name": "a"}, "status": {"recentMaintenance": [
        {"result": "Succeeded"},
        {"result": "Failed", "startTimestamp": "t1", "message": "Found too many index blobs (12000), this may..."},
        {"result": "Failed", "message": "Repo maintenance failed but result is not retrieveable"}]}})
    obs.add_repository({"metadata": {"name": "b"}, "status": {"recentMaintenance": []}})
    obs.add_repository({"metadata": {"name": "c"}, "status": {"message": "x Found too many index blobs (64621) y"}})
    assert obs.failures == 2 and obs.index_blobs == 64621
    assert obs.as_dict()["maintenance_failures"] == 2


def test_metrics_are_a_lower_bound_for_known_pods_only():
    obs = _observed.Observations()
    obs.add_pod(_pod("velero-abc", [_container("velero", ["server"], "1Gi")], []))
    obs.add_pod(_pod("job-1", [_container("velero-repo-maintenance-container", ["repo-maintenance"])], [],
                     labels={"velero.io/repo-name": "r"}))
    obs.add_pod_metrics({"metadata": {"name": "velero-abc"}, "containers": [{"name": "velero", "usage": {"memory": "300Mi"}}]})
    obs.add_pod_metrics({"metadata": {"name": "job-1"}, "containers": [{"name": "c", "usage": {"memory": "1500Mi"}}]})
    obs.add_pod_metrics({"metadata": {"name": "unrelated"}, "containers": [{"name": "c", "usage": {"memory": "9Gi"}}]})
    result = obs.as_dict()
    assert result["server_peak_memory"] == "300Mi" and result["maintenance_peak_memory"] == "1500Mi"
    assert any("lower bound" in e for e in result["evidence"])


def test_smallest_node_prefers_the_node_agent_nodes():
    nodes = [{"metadata": {"name": n}, "spec": {"unschedulable": u}, "status": {"allocatable": {"memory": m}}}
             for n, m, u in (("big", "64Gi", None), ("small", "8Gi", None), ("cordoned", "2Gi", True),
                             ("agent", "16Gi", None))]
    assert _observed.smallest_node_memory(nodes, {"agent", "big"}) == (16 * 2**30, "nodes running the node-agent")
    memory, source = _observed.smallest_node_memory(nodes, set())
    assert memory == 8 * 2**30 and "all schedulable nodes" in source


@pytest.mark.parametrize(("method", "field", "temporary", "setting"), [
    ("frequency", ("spec", "maintenanceFrequency"), "1m", "maintenance_frequency"),
    ("last_maintenance_time", ("status", "lastMaintenanceTime"), None, "last_maintenance_time"),
])
def test_leftover_restore_mark_is_drift(method, field, temporary, setting):
    # The annotation exactly as repo_maintenance writes it (one format, one module: _restore_marks).
    mark = _restore_marks.encode_mark(method, "4h", "2026-12-04T10:00:00Z")
    repo = {"metadata": {"name": "shop-default-kopia", "namespace": "velero",
                         "annotations": {_restore_marks.ANNOTATIONS[method]: mark}},
            field[0]: {field[1]: temporary}}
    [entry] = _observed.leftover_restore_marks(repo)
    assert entry["setting"] == f"backup_repositories.shop-default-kopia.{setting}"
    assert entry["current"] == temporary and entry["recommended"] == "4h"
    assert "2026-12-04T10:00:00Z" in entry["explanation"] and "interrupted" in entry["explanation"]
    assert _observed.leftover_restore_marks({"metadata": {"name": "x"}}) == []


def test_unusable_restore_mark_is_reported_not_trusted():
    repo = {"metadata": {"name": "x", "annotations": {_restore_marks.ANNOTATIONS["frequency"]: "1h0m0s"}},
            "spec": {"maintenanceFrequency": "1m"}}
    [entry] = _observed.leftover_restore_marks(repo)
    assert entry["recommended"] is None and "unusable" in entry["explanation"]
