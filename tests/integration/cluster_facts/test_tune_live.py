# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tune.yml with ``velero_live_facts: true``: gather -> size -> render, end to end, over HTTP."""

from __future__ import annotations

import sys

import pytest
import yaml

from support import velero_cluster as vc
from support.ansible_run import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow
TUNE = REPO_ROOT / "playbooks" / "tune.yml"


def _inventory(tmp_path, hosts: dict) -> str:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {"ansible_python_interpreter": sys.executable}}}))
    return str(path)


def test_tune_with_live_facts_renders_values_from_the_measured_cluster(kube_server, kubeconfig_path, tmp_path):
    vc.populate(kube_server, velero_version="1.16.0")
    out = tmp_path / "out"
    inventory = _inventory(tmp_path, {
        "live": {"velero_live_facts": True, "velero_kubeconfig": str(kubeconfig_path),
                 "velero_chart_version": "10.1.3"},
        # The same cluster through host + token (velero_kube_*), Velero version pinned by the user.
        "pinned": {"velero_live_facts": True, "velero_kube_host": kube_server.url,
                   "velero_kube_api_key": "test-token", "velero_version": "1.16.0",
                   "velero_chart_version": "10.1.3"},
    })
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)},
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-3000:]}"
    for host in ("live", "pinned"):
        values = yaml.safe_load((out / host / "values.yaml").read_text())
        report = (out / host / "report.md").read_text()
        # The measured facts reached the sizing model: the live QPS (40) is reported as drift ...
        assert "## Drift (live cluster against the recommendation)" in report
        assert "server.client_qps" in report
        # ... and the rendered value is the recommendation (never below Velero 1.16's default 100).
        assert float(values["configuration"]["clientQPS"]) >= 100.0
    assert (out / "fleet-report.md").exists()
    # Everything the playbook asked of the API was read-only.
    assert {r.method for r in kube_server.requests} == {"GET"}
    assert any(r.headers.get("authorization") == "Bearer test-token" for r in kube_server.requests)


def test_tune_live_facts_unreachable_cluster_fails_that_host_only(kube_server, kubeconfig_path, tmp_path):
    vc.populate(kube_server, velero_version="1.16.0")
    out = tmp_path / "out"
    inventory = _inventory(tmp_path, {
        "good": {"velero_live_facts": True, "velero_kubeconfig": str(kubeconfig_path),
                 "velero_chart_version": "10.1.3"},
        "down": {"velero_live_facts": True, "velero_kube_host": "http://127.0.0.1:9",
                 "velero_kube_api_key": "test-token", "velero_chart_version": "10.1.3"},
    })
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)},
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    assert run.returncode != 0
    assert (out / "good" / "values.yaml").exists()
    assert not (out / "down" / "values.yaml").exists()
    fleet = (out / "fleet-report.md").read_text()
    assert "unreachable" in fleet or "127.0.0.1:9" in fleet, fleet
    assert "Traceback" not in run.stdout + run.stderr


def _maintenance_memory_limits(values: dict) -> list[int]:
    """Every maintenance Job memory limit the rendered values set, in bytes."""
    from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory

    found: list[int] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, path)
        elif isinstance(node, str) and node.strip().startswith("{"):
            walk(yaml.safe_load(node), path)  # ConfigMap data holds JSON text
        elif "aintenance" in path and (path.endswith(".memoryLimit") or path.endswith(".limits.memory")) and node:
            found.append(parse_memory(node, path))

    walk(values, "")
    return found


def test_tune_live_facts_feed_observed_ooms_into_the_sizing(kube_server, kubeconfig_path, tmp_path):
    """A maintenance Job OOMKilled at 6Gi in this cluster: the rendered limit is above it, whatever the model says."""
    vc.populate(kube_server, velero_version="1.16.0")
    job = "shop-default-kopia-maintain-job-1733000000000"
    kube_server.put({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"{job}-abcde", "namespace": "velero",
                                  "labels": {"velero.io/repo-name": "shop-default-kopia", "job-name": job}},
                     "spec": {"containers": [{"name": "velero-repo-maintenance-container", "command": ["/velero"],
                                              "args": ["repo-maintenance"],
                                              "resources": {"limits": {"memory": "6Gi"}}}]},
                     "status": {"phase": "Failed", "containerStatuses": [{
                         "name": "velero-repo-maintenance-container", "restartCount": 0,
                         "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}})
    out = tmp_path / "out"
    inventory = _inventory(tmp_path, {"live": {"velero_live_facts": True, "velero_kubeconfig": str(kubeconfig_path),
                                               "velero_chart_version": "10.1.3"}})
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)},
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-3000:]}"
    limits = _maintenance_memory_limits(yaml.safe_load((out / "live" / "values.yaml").read_text()))
    assert limits and min(limits) > 6 * 2**30, limits
    assert "6Gi" in (out / "live" / "report.md").read_text()  # observed shown next to recommended
