# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edge cases of the gathering over real HTTP, without the cost of one ansible-playbook run each."""

from __future__ import annotations

import re

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils._cluster_facts import Scope
from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsError, FactsRequest, gather
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import SUPPORTED_RANGE
from support import velero_cluster as vc
from support.kube_api_server import KubeAPITestServer


def _gather(server: KubeAPITestServer, tmp_path, **request) -> dict:
    client = _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(server.write_kubeconfig(tmp_path / "kc"))),
                              max_retries=1, sleep=lambda s: None)
    return gather(client, FactsRequest(**request))


def _set_server_image(server: KubeAPITestServer, image: str) -> None:
    """Give the populated cluster's velero server container another image."""
    deployment = server.get("apps/v1", "Deployment", "velero", "velero")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    server.put(deployment)


def test_excluded_pods_do_not_count_for_sizing(kube_server, tmp_path):
    vc.populate(kube_server)
    facts = _gather(kube_server, tmp_path, scope=Scope.from_options(exclude_resources=["pods"]))
    assert facts["cluster"]["pods"] == 0
    assert facts["cluster"]["objects"] == vc.expected_objects(kube_server) - kube_server.count("v1", "Pod")
    assert facts["namespaces"]["shop"]["pods"] == 40  # still reported per namespace


def test_without_velero_the_cluster_is_still_measured(tmp_path):
    with KubeAPITestServer() as server:
        server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}})
        server.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d", "namespace": "app"},
                    "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}})
        facts = _gather(server, tmp_path)
    assert facts["velero"]["installed"] is False and facts["velero"]["version"] is None
    assert facts["drift"] == [] and facts["recommendation"] is None
    assert facts["data"] == {"volume_bytes": 5 * 2**30, "largest_repository_bytes": 5 * 2**30}
    assert facts["volumes"]["source"] == "pvc_capacity"
    assert "no Deployment running 'velero server'" in facts["velero"]["warnings"][0]
    assert facts["partial"] is False


def test_untagged_image_needs_velero_version_for_drift(kube_server, tmp_path):
    vc.populate(kube_server)
    _set_server_image(kube_server, "mirror.local:5000/velero:latest")
    facts = _gather(kube_server, tmp_path)
    assert facts["velero"]["version"] is None and facts["drift"] == []
    assert any("set velero_version" in w for w in facts["velero"]["warnings"])
    assert facts["partial"] is True and any(e["what"] == "Velero version" for e in facts["errors"])
    pinned = _gather(kube_server, tmp_path, velero_version="1.16.0")
    assert pinned["velero"]["version"] == "1.16.0" and pinned["partial"] is False
    assert "server.client_qps" in {d["setting"] for d in pinned["drift"]}


@pytest.mark.parametrize(("image", "version"), [
    ("velero/velero:v1.99.0", "1.99.0"),  # a tag this collection does not know: tolerated, no drift
    ("velero/velero:v2.0.0-rc.1", "2.0.0-rc.1"),
])
def test_unsupported_image_tag_is_tolerated_as_partial(kube_server, tmp_path, image, version):
    vc.populate(kube_server)
    _set_server_image(kube_server, image)
    facts = _gather(kube_server, tmp_path)
    assert facts["velero"]["version"] == version and facts["drift"] == [] and facts["recommendation"] is None
    assert facts["partial"] is True
    [error] = [e for e in facts["errors"] if e["what"] == "Velero version"]
    assert f"is not supported; supported versions are {SUPPORTED_RANGE}" in error["message"]
    assert any("set velero_version to compute drift" in w for w in facts["velero"]["warnings"])


def test_release_candidate_tags_are_reported_and_sized(kube_server, tmp_path):
    vc.populate(kube_server)
    _set_server_image(kube_server, "velero/velero:v1.16.2-rc.1")
    facts = _gather(kube_server, tmp_path)
    assert facts["velero"]["version"] == "1.16.2-rc.1" and facts["partial"] is False
    assert facts["drift"] and facts["recommendation"] is not None


@pytest.mark.parametrize(("version", "message"), [
    ("x", r"velero_version: expected a Velero version such as 1.14.0 or v1.16.2 \(" + re.escape(SUPPORTED_RANGE)
     + r"\), got 'x'"),
    ("1.99.0", f"velero_version: Velero 1.99.0 is not supported; supported versions are {SUPPORTED_RANGE}"),
])
def test_invalid_velero_version_option_is_rejected_before_any_request(kube_server, version, message):
    with pytest.raises(ValueError, match=message):
        FactsRequest(velero_version=version)
    assert kube_server.requests == []


def test_velero_1_12_maintenance_runs_in_the_server(kube_server, tmp_path):
    vc.populate(kube_server, velero_version="1.12.3")
    facts = _gather(kube_server, tmp_path)
    settings = facts["velero"]["settings"]
    assert settings["sources"]["server.client_qps"] == "server flag --client-qps"
    assert settings["sources"]["maintenance.pod_resources"].startswith("server Deployment")
    assert settings["keep_latest_maintenance_jobs"] is None
    assert facts["recommendation"]["maintenance"]["mechanism"] == "in-server"


def test_missing_configmap_and_failing_group_are_reported(tmp_path):
    with KubeAPITestServer(aggregated_discovery=False) as server:
        vc.populate(server)
        server.delete("v1", "ConfigMap", "velero", "velero-backup-repository")
        server.register_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, ("get", "list"))
        server.inject("GET", r"^/apis/metrics\.k8s\.io/v1beta1$", 503, times=None)
        facts = _gather(server, tmp_path)
    what = {e["what"]: e for e in facts["errors"]}
    assert "read ConfigMap velero/velero-backup-repository" in what
    assert "discover metrics.k8s.io/v1beta1" in what
    assert facts["partial"] is True  # a group could not be discovered: its types are not counted
    assert facts["velero"]["settings"]["sources"]["repository.cache_limit_mb"] == "Velero default"


def test_no_namespace_in_scope_is_an_error(kube_server, tmp_path):
    vc.populate(kube_server)
    with pytest.raises(FactsError, match="no active namespace matches include_namespaces"):
        _gather(kube_server, tmp_path, scope=Scope.from_options(include_namespaces=["nothing-*"]))


def test_forbidden_namespace_list_is_fatal_with_the_permission(kube_server, tmp_path):
    vc.populate(kube_server)
    kube_server.forbid("list", "", "namespaces")
    with pytest.raises(FactsError, match='list namespaces \\(API group ""\\) at the cluster scope'):
        _gather(kube_server, tmp_path)
