# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Behaviour of the loopback API test server that the client tests do not already pin down."""

from __future__ import annotations

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube_errors


def test_generate_name_uid_and_resource_versions(kube_server, kube_client):
    first = kube_client.create("/apis/batch/v1/namespaces/velero/jobs", {"metadata": {"generateName": "m-"}})
    second = kube_client.create("/apis/batch/v1/namespaces/velero/jobs", {"metadata": {"generateName": "m-"}})
    assert first["metadata"]["name"].startswith("m-") and first["metadata"]["name"] != second["metadata"]["name"]
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    updated = kube_client.update(f"/apis/batch/v1/namespaces/velero/jobs/{first['metadata']['name']}",
                                 dict(first, spec={"parallelism": 1}))
    assert updated["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(updated["metadata"]["resourceVersion"]) > int(second["metadata"]["resourceVersion"])
    with pytest.raises(_kube_errors.KubeConflict):  # stale resourceVersion on PUT
        kube_client.update(f"/apis/batch/v1/namespaces/velero/jobs/{first['metadata']['name']}", first)


def test_status_subresource_changes_only_status(kube_server, kube_client):
    kube_client.create("/apis/batch/v1/namespaces/velero/jobs", {"metadata": {"name": "j"}, "spec": {"a": 1}})
    patched = kube_client.merge_patch("/apis/batch/v1/namespaces/velero/jobs/j/status",
                                      {"spec": {"a": 2}, "status": {"succeeded": 1}})
    assert patched["spec"] == {"a": 1} and patched["status"] == {"succeeded": 1}


def test_write_callbacks_see_before_and_after(kube_server, kube_client):
    seen = []
    kube_server.on_write(lambda verb, after, before: seen.append(
        (verb, (after or {}).get("data"), (before or {}).get("data"))))
    kube_client.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "c"}, "data": {"k": "1"}})
    kube_client.merge_patch("/api/v1/namespaces/a/configmaps/c", {"data": {"k": "2"}})
    kube_client.delete("/api/v1/namespaces/a/configmaps/c")
    kube_server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "direct", "namespace": "a"}})
    assert seen == [("create", {"k": "1"}, None), ("patch", {"k": "2"}, {"k": "1"}), ("delete", None, {"k": "2"})]
    kube_server.on_write(lambda *args: 1 / 0)
    kube_client.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "d"}})
    assert kube_server.callback_errors == ["create: ZeroDivisionError: division by zero"]


def test_unknown_paths_and_unsupported_verbs(kube_server, kube_client):
    with pytest.raises(_kube_errors.KubeNotFound):
        kube_client.get("/apis/nothing.example.com/v1/widgets")
    with pytest.raises(_kube_errors.KubeAPIError) as caught:
        kube_client.create("/api/v1/componentstatuses", {"metadata": {"name": "x"}})
    assert caught.value.status == 405
    with pytest.raises(_kube_errors.KubeAPIError) as caught:
        kube_client.get("/api/v1/pods", {"watch": "true"})
    assert caught.value.status == 405


def test_synthetic_objects_page_consistently(kube_server, kube_client):
    kube_server.add_synthetic("v1", "Secret", ["a", "b"], 3, template={"type": "Opaque"})
    kube_server.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "real", "namespace": "b"}})
    items = list(kube_client.list("/api/v1/secrets", limit=2))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [
        ("a", "secret-synthetic-0000000"), ("a", "secret-synthetic-0000001"), ("a", "secret-synthetic-0000002"),
        ("b", "real"), ("b", "secret-synthetic-0000000"), ("b", "secret-synthetic-0000001"),
        ("b", "secret-synthetic-0000002")]
    assert all(i["type"] == "Opaque" for i in items if "synthetic" in i["metadata"]["name"])
    assert kube_server.count("v1", "Secret") == 7 and kube_server.count("v1", "Secret", "b") == 4
    pages = list(kube_client.list_pages("/api/v1/namespaces/b/secrets", limit=3))
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [1, None]
