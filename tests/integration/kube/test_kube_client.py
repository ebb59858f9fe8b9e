# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``_kube.KubeClient`` over real HTTP against the loopback API server (no monkeypatching)."""

from __future__ import annotations

import email.utils
import math
import socket
import time
from pathlib import Path

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube_errors
from support.kube_api_server import KubeAPITestServer


def _client(kubeconfig: Path, **kwargs) -> _kube.KubeClient:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("request_timeout", 10.0)
    return _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(kubeconfig)), **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- discovery ---------------------------------------------------------------------------------------


def test_aggregated_discovery_takes_two_requests(kube_server, kube_client):
    resources = kube_client.discover()
    assert kube_client.aggregated_discovery is True
    assert [r.path for r in kube_server.requests] == ["/api", "/apis"]
    assert all("as=APIGroupDiscoveryList" in r.accept for r in kube_server.requests)
    by_name = {r.group_resource: r for r in resources}
    assert by_name["deployments.apps"].api_version == "apps/v1"
    assert by_name["pods"].namespaced and "log" in by_name["pods"].subresources
    assert not by_name["namespaces"].namespaced
    # Only in the non-preferred version v2alpha1 of velero.io: still discovered, as client-go does.
    assert by_name["datauploads.velero.io"].api_version == "velero.io/v2alpha1"
    assert by_name["backups.velero.io"].api_version == "velero.io/v1"
    assert not any("/" in r.plural for r in resources)
    assert kube_client.group_versions == 5  # v1, apps/v1, batch/v1, velero.io/v1, velero.io/v2alpha1


def test_legacy_discovery_fetches_every_group_version_and_finds_the_same_types(kubeconfig_path):
    with KubeAPITestServer(aggregated_discovery=False) as server:
        server.register_velero_crds()
        server.register_resource("apps", "v1beta1", "Deployment", "deployments")  # older version, not preferred
        client = _client(server.write_kubeconfig(kubeconfig_path.parent / "legacy"))
        resources = client.discover()
        assert client.aggregated_discovery is False
        paths = [r.path for r in server.requests]
        assert paths[:2] == ["/api", "/apis"]
        assert sorted(paths[2:]) == sorted(["/api/v1", "/apis/apps/v1", "/apis/apps/v1beta1", "/apis/batch/v1",
                                            "/apis/velero.io/v1", "/apis/velero.io/v2alpha1"])
        assert client.group_versions == 6
        legacy = {(r.group_resource, r.api_version, r.namespaced, r.verbs) for r in resources}
    with KubeAPITestServer(aggregated_discovery=True) as server:
        server.register_velero_crds()
        server.register_resource("apps", "v1beta1", "Deployment", "deployments")
        aggregated_client = _client(server.write_kubeconfig(kubeconfig_path.parent / "aggregated"))
        aggregated = {(r.group_resource, r.api_version, r.namespaced, r.verbs) for r in aggregated_client.discover()}
    assert legacy == aggregated
    # The preferred version wins over the older one, in both modes.
    assert {(entry[0], entry[1]) for entry in legacy if entry[0] == "deployments.apps"} == \
        {("deployments.apps", "apps/v1")}


def test_a_failing_group_version_is_skipped_and_recorded(kubeconfig_path):
    with KubeAPITestServer(aggregated_discovery=False) as server:
        server.register_velero_crds()
        server.inject("GET", r"^/apis/batch/v1$", 503, times=None)
        client = _client(server.write_kubeconfig(kubeconfig_path.parent / "x"), sleep=lambda s: None)
        resources = client.discover()
        assert "batch/v1" in client.discovery_failures
        assert "jobs.batch" not in {r.group_resource for r in resources}
        assert "deployments.apps" in {r.group_resource for r in resources}


# -- lists, paging, metadata-only -----------------------------------------------------------------------


def test_count_uses_remaining_item_count_in_one_request(kube_server, kube_client):
    kube_server.add_synthetic("v1", "Pod", ["a", "b", "c"], 1000)
    assert kube_client.count("/api/v1/pods", limit=500) == 3000
    (request,) = kube_server.requests
    assert request.query["limit"] == "500"
    assert "as=PartialObjectMetadataList" in request.accept


def test_count_pages_through_when_the_server_gives_no_remaining_count(kubeconfig_path):
    with KubeAPITestServer(remaining_item_count=False) as server:
        server.add_synthetic("v1", "ConfigMap", ["a", "b"], 1201)
        client = _client(server.write_kubeconfig(kubeconfig_path.parent / "x"))
        assert client.count("/api/v1/configmaps", limit=500) == 2402
        assert client.request_count == math.ceil(2402 / 500)
        tokens = [r.query.get("continue") for r in server.requests]
        assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == len(tokens) - 1


def test_list_follows_continue_and_yields_every_item_once(kube_server, kube_client):
    kube_server.add_synthetic("v1", "Pod", ["a", "b"], 260)
    kube_server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "real", "namespace": "a"}})
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in kube_client.list("/api/v1/pods", limit=100)]
    assert len(names) == 521 == len(set(names))
    assert ("a", "real") in names
    assert kube_client.request_count == 6
    assert [r.query.get("limit") for r in kube_server.requests] == ["100"] * 6


def test_metadata_only_list_returns_partial_object_metadata(kube_server, kube_client):
    kube_server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "a"},
                     "data": {"payload": "x" * 10000}})
    (item,) = list(kube_client.list("/api/v1/namespaces/a/configmaps", metadata_only=True))
    assert item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["name"] == "big"
    assert "data" not in item
    (full,) = list(kube_client.list("/api/v1/namespaces/a/configmaps"))
    assert full["data"]["payload"] == "x" * 10000


def test_selectors_are_sent_and_filter(kube_server, kube_client):
    for name, app in (("one", "x"), ("two", "y"), ("three", "x")):
        kube_server.put({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": "a", "labels": {"app": app}}})
    assert {c["metadata"]["name"] for c in kube_client.list("/api/v1/configmaps", label_selector="app=x")} == \
        {"one", "three"}
    assert [c["metadata"]["name"] for c in kube_client.list("/api/v1/configmaps",
                                                            field_selector="metadata.name=two")] == ["two"]
    assert kube_client.count("/api/v1/configmaps", label_selector="app!=x") == 1
    assert kube_server.requests[0].query["labelSelector"] == "app=x"


def test_get_and_metadata_only_get(kube_server, kube_client):
    kube_server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"},
                     "data": {"k": "v"}})
    assert kube_client.get("/api/v1/namespaces/a/configmaps/c")["data"] == {"k": "v"}
    meta = kube_client.get("/api/v1/namespaces/a/configmaps/c", metadata_only=True)
    assert meta["kind"] == "PartialObjectMetadata" and "data" not in meta


# -- errors --------------------------------------------------------------------------------------------


def test_wrong_token_is_unauthorized(kube_server, tmp_path):
    client = _client(kube_server.write_kubeconfig(tmp_path / "kc", token="good"))
    kube_server.tokens.discard("good")
    with pytest.raises(_kube_errors.KubeUnauthorized) as caught:
        client.get("/version")
    assert caught.value.status == 401
    assert client.request_count == 1  # never retried


def test_forbidden_names_verb_resource_and_namespace(kube_server, kube_client):
    kube_server.forbid("list", "velero.io", "backuprepositories", namespace="velero")
    with pytest.raises(_kube_errors.KubeForbidden) as caught:
        kube_client.count("/apis/velero.io/v1/namespaces/velero/backuprepositories")
    error = caught.value
    assert error.status == 403 and error.reason == "Forbidden"
    assert error.permission == {"verb": "list", "api_group": "velero.io", "resource": "backuprepositories",
                                "namespace": "velero"}
    assert 'list backuprepositories (API group "velero.io") in namespace "velero"' in error.message
    # Other namespaces still work; a cluster-wide list needs the permission everywhere.
    assert kube_client.count("/apis/velero.io/v1/namespaces/other/backuprepositories") == 0
    with pytest.raises(_kube_errors.KubeForbidden):
        kube_client.count("/apis/velero.io/v1/backuprepositories")
    assert kube_client.request_count == 3


def test_forbidden_subresource_and_get(kube_server, kube_client):
    kube_server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}})
    kube_server.set_pod_log("a", "p", "hello\n")
    kube_server.forbid("get", "", "pods/log")
    with pytest.raises(_kube_errors.KubeForbidden) as caught:
        kube_client.pod_log("a", "p")
    assert caught.value.permission == {"verb": "get", "api_group": "", "resource": "pods/log", "namespace": "a"}


def test_not_found_and_conflicts(kube_server, kube_client):
    with pytest.raises(_kube_errors.KubeNotFound):
        kube_client.get("/api/v1/namespaces/a/configmaps/missing")
    created = kube_client.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    with pytest.raises(_kube_errors.KubeConflict) as caught:
        kube_client.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "c"}})
    assert caught.value.reason == "AlreadyExists"
    kube_client.merge_patch("/api/v1/namespaces/a/configmaps/c", {"data": {"b": "2"}})
    stale = created["metadata"]["resourceVersion"]
    with pytest.raises(_kube_errors.KubeConflict) as caught:
        kube_client.merge_patch("/api/v1/namespaces/a/configmaps/c",
                                {"metadata": {"resourceVersion": stale}, "data": {"c": "3"}})
    assert caught.value.reason == "Conflict"
    assert kube_server.get("v1", "ConfigMap", "a", "c")["data"] == {"a": "1", "b": "2"}


def test_merge_patch_null_deletes_keys(kube_server, kube_client):
    kube_server.put({"apiVersion": "velero.io/v1", "kind": "BackupRepository",
                     "metadata": {"name": "r", "namespace": "velero"},
                     "spec": {"maintenanceFrequency": "1h"},
                     "status": {"lastMaintenanceTime": "2024-01-01T00:00:00Z", "phase": "Ready"}})
    patched = kube_client.merge_patch("/apis/velero.io/v1/namespaces/velero/backuprepositories/r",
                                      {"status": {"lastMaintenanceTime": None}, "spec": {"extra": {"a": 1}}})
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"] == {"maintenanceFrequency": "1h", "extra": {"a": 1}}
    (patch_request,) = kube_server.requests_matching("PATCH")
    assert patch_request.headers["content-type"] == "application/merge-patch+json"
    assert patch_request.body == {"status": {"lastMaintenanceTime": None}, "spec": {"extra": {"a": 1}}}
    stored = kube_server.get("velero.io/v1", "BackupRepository", "velero", "r")
    assert "lastMaintenanceTime" not in stored["status"]


def test_delete_cascades_to_owned_objects_and_sends_the_policy(kube_server, kube_client):
    job = kube_client.create("/apis/batch/v1/namespaces/velero/jobs", {"metadata": {"name": "j"}})
    kube_server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "j-pod", "namespace": "velero", "ownerReferences": [{"uid": job["metadata"]["uid"], "kind": "Job"}]}})
    seen = []
    kube_server.on_write(lambda verb, after, before: seen.append((verb, (before or after)["metadata"]["name"])))
    kube_client.delete("/apis/batch/v1/namespaces/velero/jobs/j", propagation_policy="Foreground")
    assert kube_server.get("v1", "Pod", "velero", "j-pod") is None
    assert seen == [("delete", "j"), ("delete", "j-pod")]
    (request,) = kube_server.requests_matching("DELETE")
    assert request.body["propagationPolicy"] == "Foreground"
    with pytest.raises(_kube_errors.KubeNotFound):
        kube_client.delete("/apis/batch/v1/namespaces/velero/jobs/j")


def test_pod_log_tail(kube_server, kube_client):
    kube_server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}})
    kube_server.set_pod_log("a", "p", "one\ntwo\nthree\n")
    assert kube_client.pod_log("a", "p", tail_lines=2) == "two\nthree\n"
    assert kube_server.requests[-1].query["tailLines"] == "2"


# -- retries ----------------------------------------------------------------------------------------------


def test_429_honours_retry_after_seconds(kube_server, kubeconfig_path):
    kube_server.inject("GET", r"^/api/v1/nodes$", 429, headers={"Retry-After": "1"})
    client = _client(kubeconfig_path)  # real time.sleep
    started = time.monotonic()
    assert client.count("/api/v1/nodes") == 0
    elapsed = time.monotonic() - started
    assert elapsed >= 0.95, f"the client did not wait for Retry-After (waited {elapsed:.2f}s)"
    assert client.request_count == 2 and client.retry_count == 1
    assert client.slept_seconds == pytest.approx(1.0)
    assert [r.status for r in kube_server.requests] == [429, 200]


def test_retry_after_as_http_date_and_cap(kube_server, kubeconfig_path):
    slept: list[float] = []
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    kube_server.inject("GET", r"^/version$", 429, headers={"Retry-After": when})
    kube_server.inject("GET", r"^/version$", 503, headers={"Retry-After": "3600"})
    client = _client(kubeconfig_path, sleep=slept.append, max_retry_after=60.0)
    assert client.server_version()["gitVersion"]
    assert 1.0 < slept[0] <= 3.0
    assert slept[1] == 60.0  # bounded even when the server asks for an hour


def test_5xx_retried_with_backoff_then_success(kube_server, kubeconfig_path):
    slept: list[float] = []
    kube_server.inject("GET", r"^/api/v1/namespaces$", 500, times=2)
    client = _client(kubeconfig_path, sleep=slept.append, max_retries=3)
    assert client.count("/api/v1/namespaces") == 0
    assert slept == [0.5, 1.0]
    assert client.request_count == 3


def test_persistent_5xx_becomes_kube_unavailable(kube_server, kubeconfig_path):
    slept: list[float] = []
    kube_server.inject("*", r"^/api/v1/namespaces$", 503, times=None)
    client = _client(kubeconfig_path, sleep=slept.append, max_retries=4)
    with pytest.raises(_kube_errors.KubeUnavailable) as caught:
        client.count("/api/v1/namespaces")
    assert caught.value.status == 503
    assert "5 attempt(s)" in caught.value.message and "503" in caught.value.message
    assert client.request_count == 5 == len(kube_server.requests)
    assert slept == [0.5, 1.0, 2.0, 4.0]


def test_connection_refused_becomes_kube_unavailable_without_hidden_retries():
    slept: list[float] = []
    options = _kube.ConnectionOptions(host=f"http://127.0.0.1:{_free_port()}", api_key="x")
    client = _kube.KubeClient(options, max_retries=3, sleep=slept.append)
    with pytest.raises(_kube_errors.KubeUnavailable) as caught:
        client.discover()
    assert caught.value.status is None
    assert "unreachable after 4 attempt(s)" in caught.value.message
    assert "refused" in caught.value.message
    assert client.request_count == 4 and len(slept) == 3


def test_read_timeout_is_retried_then_unavailable(kube_server, kubeconfig_path):
    kube_server.inject("GET", r"^/version$", 200, times=None, delay=1.5)
    client = _client(kubeconfig_path, request_timeout=0.3, max_retries=1, sleep=lambda s: None)
    with pytest.raises(_kube_errors.KubeUnavailable) as caught:
        client.server_version()
    assert "timed out" in caught.value.message
    assert client.request_count == 2


def test_dropped_connection_is_retried(kube_server, kube_client):
    kube_server.inject("GET", r"^/version$", 0, times=1)
    assert kube_client.server_version()["gitVersion"] == "v1.31.0"
    assert kube_client.request_count == 2


def test_non_retryable_4xx_is_raised_at_once(kube_server, kube_client):
    kube_server.inject("GET", r"^/version$", 400, times=None)
    with pytest.raises(_kube_errors.KubeAPIError) as caught:
        kube_client.server_version()
    assert caught.value.status == 400 and not isinstance(caught.value, _kube_errors.KubeUnavailable)
    assert kube_client.request_count == 1


# -- connection options ----------------------------------------------------------------------------------


def test_host_and_token_need_no_kubeconfig(kube_server):
    client = _kube.KubeClient(_kube.ConnectionOptions(host=kube_server.url + "/", api_key="test-token"))
    assert client.server_version()["gitVersion"] == "v1.31.0"
    assert kube_server.requests[0].headers["authorization"] == "Bearer test-token"


def test_kubeconfig_as_mapping_and_context(kube_server, tmp_path):
    import yaml

    path = kube_server.write_kubeconfig(tmp_path / "kc", context="ctx-a")
    document = yaml.safe_load(path.read_text())
    document["contexts"].append({"name": "broken", "context": {"cluster": "nowhere", "user": "tester"}})
    client = _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=document, context="ctx-a"))
    assert client.server_version()["gitVersion"]
    with pytest.raises(_kube_errors.KubeConfigError) as caught:
        _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(path), context="missing"))
    assert "missing" in str(caught.value)


def test_missing_kubeconfig_file_is_a_clear_error(tmp_path):
    with pytest.raises(_kube_errors.KubeConfigError) as caught:
        _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(tmp_path / "nope")))
    assert "nope" in str(caught.value)
    assert isinstance(caught.value, ValueError)
