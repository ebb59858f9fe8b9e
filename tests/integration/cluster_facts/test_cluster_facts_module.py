# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real module, run by ansible-playbook, against the loopback Kubernetes API server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import SUPPORTED_RANGE
from support import rbac
from support import velero_cluster as vc
from support.kube_api_server import KubeAPITestServer

pytestmark = pytest.mark.slow

GiB = 2**30
ROLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs/rbac/cluster-facts-clusterrole.yaml").read_text())
# Lists that must carry whole objects (status or spec is needed); every other list is metadata-only.
# Nodes whole: allocatable memory (observed node size) is not in the metadata.
FULL_OBJECT_LISTS = ("/api/v1/namespaces", "/api/v1/persistentvolumeclaims", "/apis/apps/v1/namespaces/velero/",
                     "/api/v1/nodes",
                     "/api/v1/namespaces/velero/configmaps", "/apis/velero.io/")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _no_traceback(result: dict) -> None:
    text = str(result.get("module_stderr", "")) + str(result.get("exception", "")) + str(result.get("msg", ""))
    assert "Traceback" not in text, text


def test_whole_cluster_scope_and_check_mode(kube_server: KubeAPITestServer, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    whole, checked, restricted = module_runner.run(
        {"kubeconfig": str(kubeconfig_path)},
        {"kubeconfig": str(kubeconfig_path), "__task__": {"check_mode": True}},
        {"kubeconfig": str(kubeconfig_path), "include_namespaces": ["shop", "wi*"], "exclude_resources": ["secrets"]},
    )
    assert not whole.get("failed"), whole.get("msg")
    assert whole["changed"] is False and whole["partial"] is False and whole["errors"] == []
    assert whole["cluster"] == {
        "namespaces": 5,  # "leaving" is Terminating
        "objects": vc.expected_objects(kube_server),
        "resource_types": len(vc.WHOLE_CLUSTER_TYPES), "namespaced_resource_types": len(vc.WHOLE_CLUSTER_TYPES) - 3,
        "api_groups": 6, "aggregated_discovery": True, "nodes": 3,
        "pods": 77,  # 73 + 4 in the Terminating namespace (a cluster-wide list sees them)
        "largest_resource_type_objects": 77,  # pods are the most numerous type here
        "volumes": 4,
    }
    skipped = {s["resource"]: s["reason"] for s in whole["scope"]["skipped_resources"]}
    assert "listed once" in skipped["events.events.k8s.io"]
    assert whole["data"] == {"volume_bytes": 77 * 10**9, "repositories": 2,
                             "largest_repository_bytes": 65 * 10**9, "largest_repository_key": "shop-default-kopia",
                             "backups_retained": 3, "backups_per_day": 1.0}
    assert whole["volumes"]["source"] == "protected"
    assert whole["volumes"]["bound_capacity_bytes"] == 130 * GiB
    assert whole["namespaces"]["shop"] == {"pods": 40, "pvcs": 3, "bound_pvcs": 2, "bound_capacity_bytes": 110 * GiB}
    velero = whole["velero"]
    assert velero["version"] == "1.16.0" and velero["deployment"]["named_velero"] is True
    assert velero["settings"]["client_qps"] == 40.0 and velero["settings"]["client_burst"] == 60
    assert velero["settings"]["sources"]["server.client_qps"] == "server flag --client-qps"
    assert velero["settings"]["maintenance_pod_resources"]["memoryLimit"] == "1Gi"
    assert velero["backups"]["retained"] == 10 and velero["backups"]["by_phase"] == {"Completed": 10, "Failed": 1}
    repositories = {r["key"]: r for r in velero["repositories"]}
    assert repositories["shop-default-kopia"]["recent_failures"] == 1
    assert repositories["shop-default-kopia"]["last_failure_message"] == "OOMKilled"
    assert velero["backup_storage_locations"][0]["default"] is True
    drift = {d["setting"]: d for d in whole["drift"]}
    assert drift["server.client_qps"]["current"] == 40.0
    assert drift["server.client_qps"]["velero_default"] == 100.0
    assert drift["server.client_qps"]["recommended"] >= 100.0

    assert checked["changed"] is False
    assert checked["cluster"] == whole["cluster"] and checked["data"] == whole["data"]

    assert restricted["partial"] is False
    assert restricted["cluster"]["namespaces"] == 2
    assert restricted["cluster"]["objects"] == vc.expected_objects(kube_server, ["shop", "wiki"], cluster_scoped=False) \
        - kube_server.count("v1", "Secret", "shop") - kube_server.count("v1", "Secret", "wiki")
    assert restricted["cluster"]["pods"] == 50 and restricted["cluster"]["volumes"] == 4
    assert restricted["scope"]["cluster_resources_included"] is False
    assert {"persistentvolumes", "nodes", "secrets"} <= {s["resource"] for s in restricted["scope"]["skipped_resources"]}
    assert restricted["data"]["volume_bytes"] == 77 * 10**9

    lists = [r for r in kube_server.requests if r.path not in ("/api", "/apis", "/version")]
    assert lists and all(r.method == "GET" for r in kube_server.requests)
    assert all(r.query.get("limit") == "500" for r in lists), "every list is paginated"
    full = [r for r in lists if "as=PartialObjectMetadataList" not in r.accept]
    assert all(r.path.startswith(FULL_OBJECT_LISTS) for r in full), [r.path for r in full]
    assert not [r for r in full if r.path in ("/api/v1/pods", "/api/v1/secrets", "/api/v1/configmaps")]
    assert {r.path for r in kube_server.requests if r.path in ("/api", "/apis")} == {"/api", "/apis"}
    assert all("as=APIGroupDiscoveryList" in r.accept for r in kube_server.requests if r.path in ("/api", "/apis"))
    assert rbac.uncovered(ROLE, kube_server.requests) == []


def test_legacy_discovery_and_paging_without_remaining_count_give_the_same_facts(tmp_path, module_runner):
    with KubeAPITestServer(aggregated_discovery=False, remaining_item_count=False) as server:
        vc.populate(server)
        server.add_synthetic("v1", "ConfigMap", "shop", 1200)  # several pages
        (result,) = module_runner.run({"kubeconfig": str(server.write_kubeconfig(tmp_path / "kc")),
                                       "page_size": 100})
        assert not result.get("failed"), result.get("msg")
        assert result["cluster"]["objects"] == vc.expected_objects(server)
        assert result["cluster"]["aggregated_discovery"] is False
        assert result["kubernetes"]["aggregated_discovery"] is False
        configmap_pages = server.requests_matching("GET", r"^/api/v1/configmaps$")
        assert len(configmap_pages) == -(-server.count("v1", "ConfigMap") // 100)
        assert all(r.query.get("continue") for r in configmap_pages[1:])
        discovery = [r.path for r in server.requests if r.path.startswith(("/api/v1", "/apis/")) and
                     r.path.count("/") <= 3 and r.query == {}]
        assert set(discovery) >= {"/api/v1", "/apis/apps/v1", "/apis/velero.io/v1", "/apis/velero.io/v2alpha1"}
        assert rbac.uncovered(ROLE, server.requests) == []


def test_forbidden_types_are_reported_and_the_rest_is_counted(kube_server, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    kube_server.forbid("list", "", "secrets")
    kube_server.forbid("list", "velero.io", "backuprepositories", namespace="velero")
    (result,) = module_runner.run({"kubeconfig": str(kubeconfig_path)})
    assert not result.get("failed"), result.get("msg")
    assert result["partial"] is True
    permissions = [e["missing_permission"] for e in result["errors"] if "missing_permission" in e]
    assert {"verb": "list", "api_group": "", "resource": "secrets", "namespace": None} in permissions
    assert {"verb": "list", "api_group": "velero.io", "resource": "backuprepositories",
            "namespace": "velero"} in permissions
    assert result["cluster"]["objects"] == vc.expected_objects(kube_server) - kube_server.count("v1", "Secret") \
        - kube_server.count("velero.io/v1", "BackupRepository")
    assert set(result["scope"]["uncounted_resources"]) == {"secrets", "backuprepositories.velero.io"}
    assert result["velero"]["repositories"] == []
    assert "repositories" not in result["data"]


def test_429_with_retry_after_is_waited_for(kube_server, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    kube_server.inject("GET", r"^/api/v1/pods$", 429, headers={"Retry-After": "1"}, times=1)
    (result,) = module_runner.run({"kubeconfig": str(kubeconfig_path)})
    assert not result.get("failed"), result.get("msg")
    assert result["partial"] is False and result["cluster"]["pods"] == 77
    assert result["api_requests"]["retries"] == 1
    assert result["api_requests"]["waited_seconds"] == pytest.approx(1.0)
    assert [r.status for r in kube_server.requests_matching("GET", r"^/api/v1/pods$")] == [429, 200]


def test_api_faults_fail_cleanly(kube_server, kubeconfig_path, module_runner, tmp_path):
    vc.populate(kube_server)
    kube_server.inject("GET", r"^/api/v1/pods$", 503, times=None)
    wrong_token = kube_server.write_kubeconfig(tmp_path / "wrong", token="rotated")
    kube_server.tokens.discard("rotated")
    unavailable, unreachable, unauthorized = module_runner.run(
        {"kubeconfig": str(kubeconfig_path), "max_retries": 2},
        {"host": f"http://127.0.0.1:{_free_port()}", "api_key": "not-a-real-token", "max_retries": 1},
        {"kubeconfig": str(wrong_token)},
    )
    for result in (unreachable, unauthorized):
        assert result["failed"] is True
        _no_traceback(result)
    # One type that keeps answering 503 is one broken type (issue 13 item 8): partial, not a failure.
    assert not unavailable.get("failed"), unavailable.get("msg")
    assert unavailable["partial"] is True and "cluster.pods" in unavailable["lower_bounds"]
    [error] = [e for e in unavailable["errors"] if e.get("resource") == "pods" and "all namespaces" in e["what"]]
    assert error["status"] == 503 and "GET /api/v1/pods" in error["message"]
    assert "kept answering 503" in error["message"] and "3 attempt(s)" in error["message"]
    assert len(kube_server.requests_matching("GET", r"^/api/v1/pods$")) == 3
    assert "unreachable after 2 attempt(s)" in unreachable["msg"] and "refused" in unreachable["msg"]
    assert "401" in unauthorized["msg"]


def test_timeouts_are_retried_then_fail(kube_server, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    kube_server.inject("GET", r"^/api/v1/namespaces$", 200, times=None, delay=2.0)
    (result,) = module_runner.run({"kubeconfig": str(kubeconfig_path), "request_timeout": 0.5, "max_retries": 1})
    assert result["failed"] is True
    _no_traceback(result)
    assert "timed out" in result["msg"] and "GET /api/v1/namespaces" in result["msg"]


def test_environment_fallbacks_and_chart_10_deployment_name(kube_server, module_runner):
    vc.populate(kube_server, velero_version="1.14.0", deployment_name="backup-velero")
    env = {"K8S_AUTH_HOST": kube_server.url, "K8S_AUTH_API_KEY": "test-token", "KUBECONFIG": "/nonexistent"}
    (result,) = module_runner.run({}, env=env)
    assert not result.get("failed"), result.get("msg")
    deployment = result["velero"]["deployment"]
    assert deployment == {"name": "backup-velero", "named_velero": False, "replicas": 1, "container": "velero",
                          "resources": {"requests": {"cpu": "500m", "memory": "128Mi"},
                                        "limits": {"cpu": "1", "memory": "512Mi"}}}
    assert any("#7987" in w for w in result["warnings"])
    # 1.14: maintenance resources from the server flags, keep-latest from the flag.
    settings = result["velero"]["settings"]
    assert settings["maintenance_pod_resources"] == {"cpuRequest": "0", "memoryRequest": "0", "cpuLimit": "0",
                                                     "memoryLimit": "1Gi"}
    assert settings["keep_latest_maintenance_jobs"] == 2
    assert all(r.headers.get("authorization") == "Bearer test-token" for r in kube_server.requests)


def test_missing_kubernetes_library_is_reported(kube_server, kubeconfig_path, module_runner, tmp_path):
    shadow = tmp_path / "shadow" / "kubernetes"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('kubernetes is not installed (test shadow)')\n")
    (result,) = module_runner.run({"kubeconfig": str(kubeconfig_path)}, env={"PYTHONPATH": str(shadow.parent)})
    assert result["failed"] is True
    assert "Failed to import the required Python library (kubernetes)" in result["msg"]
    assert kube_server.requests == []


def test_bad_options_fail_with_the_option_named(kube_server, kubeconfig_path, module_runner):
    bad_scope, bad_host, bad_page = module_runner.run(
        {"kubeconfig": str(kubeconfig_path), "include_namespaces": ["ok", ""]},
        {"host": "api.example.com", "api_key": "not-a-real-token"},
        {"kubeconfig": str(kubeconfig_path), "page_size": 0},
    )
    assert "include_namespaces[1]" in bad_scope["msg"]
    assert "host: expected a URL" in bad_host["msg"]
    assert "page_size" in bad_page["msg"]
    for result in (bad_scope, bad_host, bad_page):
        _no_traceback(result)
    assert kube_server.requests == []


def test_bad_velero_version_fails_cleanly(kube_server, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    word, future = module_runner.run({"kubeconfig": str(kubeconfig_path), "velero_version": "x"},
                                     {"kubeconfig": str(kubeconfig_path), "velero_version": "1.99.0"})
    assert word["failed"] is True and word["msg"].startswith("velero_version: expected a Velero version")
    assert future["failed"] is True
    assert future["msg"] == f"velero_version: Velero 1.99.0 is not supported; supported versions are {SUPPORTED_RANGE}"
    for result in (word, future):
        _no_traceback(result)
    assert kube_server.requests == []


def test_kubeconfig_environment_variable_is_the_default_kubeconfig(kube_server, kubeconfig_path, module_runner):
    vc.populate(kube_server)
    (result,) = module_runner.run({}, env={"KUBECONFIG": f"/nonexistent/first:{kubeconfig_path}"})
    assert not result.get("failed"), result.get("msg")
    assert result["velero"]["version"] == "1.16.0"


def _module_json(args: dict, tmp_path: Path) -> tuple[str, dict]:
    """Run the module the way Ansible's executor does (arguments in, JSON out) and return its raw stdout."""
    repo = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(repo / ".build" / "collections"))
    process = subprocess.run([sys.executable, "-m", "ansible_collections.velero_ops.tuning.plugins.modules.cluster_facts",
                              json.dumps({"ANSIBLE_MODULE_ARGS": args})], capture_output=True, text=True, env=env,
                             cwd=str(tmp_path), timeout=120, check=False)
    return process.stdout, json.loads(process.stdout)


def test_kubeconfig_mapping_hides_its_token_and_nothing_else(kube_server, kubeconfig_path, tmp_path):
    """A kubeconfig passed as a mapping (e.g. from a vault) is full of ordinary words ("default", cluster names):
    hiding the whole option would mask them in every result. Only its credentials are hidden."""
    vc.populate(kube_server)
    config = yaml.safe_load(kubeconfig_path.read_text(encoding="utf-8"))
    token = config["users"][0]["user"]["token"]
    assert config["contexts"][0]["context"]["namespace"] == "default"
    raw, result = _module_json({"kubeconfig": config}, tmp_path)
    assert not result.get("failed"), result.get("msg")
    assert token not in raw  # not in the invocation echoed back, not anywhere
    assert "********" not in raw  # nothing else was masked
    echoed = result["invocation"]["module_args"]["kubeconfig"]
    assert echoed["users"][0]["user"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert echoed["clusters"][0]["cluster"]["server"] == kube_server.url
    assert result["data"]["largest_repository_key"] == "shop-default-kopia"
    assert result["kubernetes"]["version"].startswith("v1.")
    assert result["velero"]["backup_storage_locations"][0]["name"] == "default"
    assert result["invocation"]["module_args"]["kubeconfig"]["contexts"][0]["context"]["namespace"] == "default"
    # A failure message quotes a kubeconfig path as it is (it is no secret).
    missing = tmp_path / "missing-kubeconfig"
    raw_failure, failure = _module_json({"kubeconfig": str(missing)}, tmp_path)
    assert failure["failed"] is True and str(missing) in failure["msg"]
