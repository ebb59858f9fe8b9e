# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and broken clusters (issue 13) and the cluster's own memory evidence (issue 9, ``observed``), over
real HTTP against the loopback API server: the real client, nothing monkeypatched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube, _restore_marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsRequest, gather
from support import rbac
from support import velero_cluster as vc
from support.kube_api_server import KubeAPITestServer

ROLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs/rbac/cluster-facts-clusterrole.yaml").read_text())
GiB = 2**30
RESTORE_ANNOTATION = _restore_marks.ANNOTATIONS["frequency"]


def _client(server: KubeAPITestServer, tmp_path: Path, **kwargs) -> _kube.KubeClient:
    options = _kube.ConnectionOptions(kubeconfig=str(server.write_kubeconfig(tmp_path / "kc")))
    return _kube.KubeClient(options, **{"max_retries": 1, "sleep": lambda s: None, **kwargs})


def _gather(server: KubeAPITestServer, tmp_path: Path, **request) -> dict:
    with _client(server, tmp_path) as client:
        return gather(client, FactsRequest(**request))


# ------------------------------------------------------------------------------------------- item 8


def test_a_type_that_keeps_answering_500_makes_the_facts_partial(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.break_type("velero.io", "podvolumerestores")
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is True
    [error] = [e for e in facts["errors"] if e.get("resource") == "podvolumerestores.velero.io"]
    assert error["status"] == 500 and "conversion webhook" in error["message"]
    assert "kept answering 500" in error["message"] and "2 attempt(s)" in error["message"]
    assert {"cluster.objects", "cluster.largest_resource_type_objects"} <= set(facts["lower_bounds"])
    assert "podvolumerestores.velero.io" in facts["scope"]["uncounted_resources"]
    # Everything else was still counted.
    others = [r for r in facts["resources"] if r["resource"] != "podvolumerestores.velero.io"]
    assert all(r["objects"] is not None for r in others)
    broken = kube_server.count("velero.io/v1", "PodVolumeRestore")
    assert facts["cluster"]["objects"] == vc.expected_objects(kube_server) - broken
    assert len(kube_server.requests_matching("GET", "/podvolumerestores$")) == 2  # the retries, then given up


def test_a_broken_velero_type_loses_only_its_own_facts(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.break_type("velero.io", "backuprepositories", status=503)
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is True and facts["velero"]["repositories"] == []
    assert "repositories" not in facts["data"]  # unknown, not zero
    assert any(e.get("resource") == "backuprepositories.velero.io" and e["status"] == 503 for e in facts["errors"])
    assert facts["velero"]["backups"]["retained"] == 10  # the other Velero lists were read


def test_an_unreachable_server_still_ends_the_run(tmp_path):
    with KubeAPITestServer() as server:
        vc.populate(server)
        server.inject("GET", r"^/api/v1/persistentvolumeclaims$", 0, times=None)  # connection dropped every time
        with pytest.raises(_kube.KubeUnavailable, match="unreachable after 2 attempt"):
            _gather(server, tmp_path)


# ------------------------------------------------------------------------------------------- item 5


def test_malformed_objects_are_named_and_skipped(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.put_raw("velero.io/v1", "BackupRepository", "velero", "broken-default-kopia", {
        "apiVersion": "velero.io/v1", "kind": "BackupRepository",
        "metadata": {"name": "broken-default-kopia", "namespace": "velero"}, "spec": "abc",
        "status": {"recentMaintenance": "none"}})
    kube_server.put_raw("apps/v1", "Deployment", "velero", "aaa-broken", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aaa-broken", "namespace": "velero"},
        "spec": {"template": {"spec": {"containers": [{"name": "x", "args": "server"}]}}}})
    kube_server.put_raw("v1", "Namespace", None, "odd",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "odd"}, "status": 7})
    kube_server.put_raw("velero.io/v2alpha1", "DataUpload", "velero", "du-odd", {
        "metadata": {"name": "du-odd", "namespace": "velero"},
        "status": {"phase": "Completed", "progress": {"totalBytes": "abc"}}})
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is True
    messages = {e["what"]: e["message"] for e in facts["errors"]}
    assert "BackupRepository velero/broken-default-kopia: spec: expected an object, got string 'abc'" in \
        messages["read BackupRepository velero/broken-default-kopia"]
    assert "spec.template.spec.containers[0].args: expected a list" in messages["read Deployment velero/aaa-broken"]
    assert "status: expected an object, got number 7" in messages["read Namespace odd"]
    assert "status.progress.totalBytes" in messages["read DataUpload velero/du-odd"]
    # The well-formed rest is measured as before.
    assert facts["velero"]["deployment"]["name"] == "velero"
    assert [r["name"] for r in facts["velero"]["repositories"]] == ["shop-default-kopia", "wiki-default-kopia"]
    assert facts["data"]["volume_bytes"] == 77 * 10**9


def test_malformed_list_answer_is_an_error_not_a_crash(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.inject("GET", r"^/apis/velero.io/v1/namespaces/velero/backups$", 200, times=None,
                       body={"kind": "BackupList", "apiVersion": "velero.io/v1", "metadata": {}, "items": "abc"})
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is True and facts["velero"]["backups"] is None
    [error] = [e for e in facts["errors"] if "backups.velero.io in namespace velero" in e["what"]]
    assert "list whose items is str 'abc', expected a list" in error["message"]


# ------------------------------------------------------------------------------------------- item 10


@pytest.mark.parametrize(("args", "expected"), [
    (["--client-qps=abc", "--client-burst=-5"], {
        "server.client_qps": ("abc", True, "refuses to start"),
        "server.client_burst": ("-5", True, "client-burst must be positive")}),
    (["--client-qps=1e23", "--client-burst=1e23"], {
        "server.client_qps": ("1e23", False, "removes Velero's client-side rate limit"),
        "server.client_burst": ("1e23", True, "not a 64-bit integer")}),
])
def test_odd_server_flag_quantities_are_drift_with_what_velero_does(kube_server, tmp_path, args, expected):
    vc.populate(kube_server, server_args=["server", "--uploader-type=kopia", *args])
    facts = _gather(kube_server, tmp_path)
    drift = {d["setting"]: d for d in facts["drift"]}
    for setting, (value, refused, phrase) in expected.items():
        assert drift[setting]["current"] == value, drift[setting]
        assert drift[setting]["refused_by_velero"] is refused and phrase in drift[setting]["note"]
        assert drift[setting]["recommended"] is not None
    assert facts["velero"]["settings"]["client_qps"] == expected["server.client_qps"][0]


# ------------------------------------------------------------------------------------------- observed


def _velero_pods(server: KubeAPITestServer) -> None:
    """A server pod OOMKilled at 512Mi, node-agents on two nodes, maintenance pods OOMKilled at 1Gi and 2Gi and
    one that succeeded at 3Gi, as keepLatestMaintenanceJobs keeps them."""

    def pod(name: str, container: dict, status: dict, labels: dict | None = None, node: str | None = None) -> None:
        server.put({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "velero", "labels": labels or {}},
                    "spec": {"nodeName": node, "containers": [container]},
                    "status": {"phase": "Running", "containerStatuses": [status]}})

    def oom(name: str, where: str = "lastState", restarts: int = 0) -> dict:
        return {"name": name, "restartCount": restarts, "state": {"running": {}}, where: {"terminated": {
            "reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-12-01T03:00:00Z"}}}

    pod("velero-7d9f-abcde", {"name": "velero", "command": ["/velero"], "args": ["server"],
                              "resources": {"limits": {"memory": "512Mi"}}}, oom("velero", restarts=3),
        labels={"component": "velero"}, node="n-big")
    for node in ("n-small", "n-big"):
        pod(f"node-agent-{node}", {"name": "node-agent", "command": ["/velero"], "args": ["node-agent", "server"]},
            {"name": "node-agent", "restartCount": 0, "state": {"running": {}}}, labels={"name": "node-agent"},
            node=node)
    for index, (limit, reason) in enumerate((("1Gi", "OOMKilled"), ("2Gi", "OOMKilled"), ("3Gi", "Completed"))):
        job = f"shop-default-kopia-maintain-job-17330000000{index}"
        terminated = {"reason": reason, "exitCode": 137 if reason == "OOMKilled" else 0}
        pod(f"{job}-x1y2z", {"name": "velero-repo-maintenance-container", "command": ["/velero"],
                             "args": ["repo-maintenance", "--repo-name=shop"], "resources": {"limits": {"memory": limit}}},
            {"name": "velero-repo-maintenance-container", "restartCount": 0, "state": {"terminated": terminated}},
            labels={"velero.io/repo-name": "shop-default-kopia", "job-name": job})
    for name, memory, unschedulable in (("n-small", "7Gi", None), ("n-big", "60Gi", None), ("n-cordoned", "2Gi", True)):
        server.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                    "spec": {"unschedulable": unschedulable} if unschedulable else {},
                    "status": {"allocatable": {"memory": memory, "cpu": "4"}}})
    repo = server.get("velero.io/v1", "BackupRepository", "velero", "shop-default-kopia")
    repo["status"]["recentMaintenance"].append({
        "result": "Failed", "startTimestamp": "2026-12-01T02:00:00Z",
        "message": 'level=warning msg="Found too many index blobs (23456), this may result in degraded performance!"'})
    repo["metadata"]["annotations"] = {RESTORE_ANNOTATION: _restore_marks.encode_mark("frequency", "1h0m0s", "2026-12-01T02:00:00Z")}
    repo["spec"]["maintenanceFrequency"] = "1m"
    server.put(repo)


def test_observed_from_pods_repositories_nodes_and_metrics(kube_server, tmp_path):
    vc.populate(kube_server)
    _velero_pods(kube_server)
    kube_server.serve_metrics()
    kube_server.set_pod_metrics("velero", "velero-7d9f-abcde", {"velero": "402Mi"})
    kube_server.set_pod_metrics("velero", "shop-default-kopia-maintain-job-173300000002-x1y2z",
                                {"velero-repo-maintenance-container": "2800Mi"})
    kube_server.set_pod_metrics("kube-system", "coredns", {"coredns": "30Mi"})  # outside Velero's namespace
    facts = _gather(kube_server, tmp_path)
    observed = facts["observed"]
    assert {k: v for k, v in observed.items() if k != "evidence"} == {
        "maintenance_oom_limit": "2Gi", "server_oom_limit": "512Mi", "node_agent_oom_limit": None,
        "server_peak_memory": "402Mi", "maintenance_peak_memory": "2800Mi",
        # shop: 1 failure from populate + the index-blob one; wiki: none
        "maintenance_failures": 2}
    evidence = "\n".join(observed["evidence"])
    assert "restarted 3 time(s)" in evidence and "OOMKilled at memory limit 2Gi" in evidence
    assert "a lower bound of its peak" in evidence and "kopia reported 23456 index blobs" in evidence
    assert facts["data"]["index_blobs"] == 23456
    # The node-agent runs on n-small and n-big: the smaller of those two, not the cordoned 2Gi node.
    assert facts["cluster"]["node_memory"] == "7Gi"
    assert facts["nodes"] == {"count": 3 + 3, "smallest_allocatable_memory": "7Gi",
                              "memory_source": "nodes running the node-agent"}
    [leftover] = [d for d in facts["drift"] if d["setting"].startswith("backup_repositories.")]
    assert leftover["current"] == "1m" and leftover["recommended"] == "1h0m0s"
    assert RESTORE_ANNOTATION in leftover["source"] and "2026-12-01T02:00:00Z" in leftover["explanation"]
    assert facts["partial"] is False, facts["errors"]
    assert all(r.method == "GET" for r in kube_server.requests)
    assert rbac.uncovered(ROLE, kube_server.requests) == []
    metrics = kube_server.requests_matching("GET", "^/apis/metrics.k8s.io/")
    assert [r.path for r in metrics] == ["/apis/metrics.k8s.io/v1beta1/namespaces/velero/pods"]


def test_without_metrics_api_observed_is_still_returned(kube_server, tmp_path):
    vc.populate(kube_server)
    facts = _gather(kube_server, tmp_path)
    observed = facts["observed"]
    assert observed["server_peak_memory"] is None and observed["maintenance_peak_memory"] is None
    assert observed["maintenance_oom_limit"] is None and observed["maintenance_failures"] == 1
    assert any("metrics.k8s.io is not served" in e for e in observed["evidence"])
    assert facts["partial"] is False
    assert "node_memory" not in facts["cluster"]  # synthetic nodes carry no allocatable memory
    assert facts["cluster"].get("largest_resource_type_objects", 0) in (0, max(
        r["objects"] for r in facts["resources"])) or "largest_resource_type_objects" not in facts["cluster"]


def test_a_failing_metrics_api_is_noted_not_partial(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.serve_metrics()
    kube_server.inject("GET", "^/apis/metrics.k8s.io/", 503, times=None)
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is False
    assert any("metrics.k8s.io did not answer" in e["message"] for e in facts["errors"])


# ------------------------------------------------------------------------------------------- item 1


def test_a_repeated_continue_token_on_one_type_is_an_error_naming_it(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.remaining_item_count = False  # with it, one page is enough to count
    kube_server.repeat_continue(r"^/api/v1/configmaps$")
    facts = _gather(kube_server, tmp_path)
    assert facts["partial"] is True and "cluster.objects" in facts["lower_bounds"]
    [error] = [e for e in facts["errors"] if e.get("resource") == "configmaps"]
    assert 'the list of configmaps (API group "") at the cluster scope does not end' in error["message"]
    assert len(kube_server.requests_matching("GET", "^/api/v1/configmaps$")) == 2


def test_a_namespace_list_that_does_not_end_fails_the_facts(kube_server, tmp_path):
    from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsError

    vc.populate(kube_server)
    kube_server.repeat_continue(r"^/api/v1/namespaces$")
    with pytest.raises(FactsError, match="listing namespaces failed.*namespaces .* does not end"):
        _gather(kube_server, tmp_path)
    assert len(kube_server.requests_matching("GET", "^/api/v1/namespaces$")) == 2


@pytest.mark.slow
def test_module_timeout_bounds_retry_after_and_endless_lists(kube_server, kubeconfig_path, module_runner):
    import time

    vc.populate(kube_server)
    kube_server.remaining_item_count = False
    kube_server.repeat_continue(r"^/api/v1/pods$")  # 5,280 requests in 240 s before issue 13
    kube_server.inject("GET", r"^/api/v1/namespaces/velero/pods$", 503, headers={"Retry-After": "60"}, times=None)
    started = time.monotonic()
    (result,) = module_runner.run({"kubeconfig": str(kubeconfig_path), "timeout": 20})
    elapsed = time.monotonic() - started
    assert result["failed"] is True, result
    assert "GET /api/v1/namespaces/velero/pods" in result["msg"] and "Retry-After" in result["msg"]
    assert "overall timeout of 20s" in result["msg"] and "Traceback" not in str(result)
    assert elapsed < 60  # Retry-After 60 x 5 retries before issue 13
    assert len(kube_server.requests_matching("GET", "^/api/v1/pods$")) == 2
    assert len(kube_server.requests_matching("GET", "^/api/v1/namespaces/velero/pods$")) == 1
