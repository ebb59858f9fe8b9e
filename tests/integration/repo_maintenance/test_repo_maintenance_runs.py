# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/maintenance.yml (role + module) and the runs that need more than one playbook: interruption by a
signal, waiting for a busy repository, reruns, long repository names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from support.ansible_run import REPO_ROOT, run_playbook
from support.velero_sim import Scenario

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_run import MaintenanceRunner

pytestmark = pytest.mark.slow

Gi = 2**30
FAST = {"poll_interval": 0.05, "timeout": 5}
DEFAULT_CALLBACK = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}


def cluster_inventory(tmp_path: Path, kubeconfig: Path, **host_vars) -> Path:
    path = tmp_path / "clusters.yml"
    variables = {"ansible_python_interpreter": sys.executable, "velero_kubeconfig": str(kubeconfig), **host_vars}
    path.write_text(yaml.safe_dump({"all": {"children": {"clusters": {"hosts": {"prod": variables}}}}}), encoding="utf-8")
    return path


def test_playbook_success(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.18.1")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})
    name = sim.add_repository("payments", scenario=Scenario(oom_below=3 * Gi, index_blobs=2438))
    progress = tmp_path / "progress.jsonl"
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_memory_cap="8Gi",
                                  repo_maintenance_pod_resources={"memoryRequest": "1Gi", "memoryLimit": "2Gi"},
                                  repo_maintenance_progress_file=str(progress))
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{name}: succeeded; attempts [2Gi: oom_killed, 3Gi: succeeded]; index blobs 2438" in run.stdout
    assert "fullMaintenanceInterval" in run.stdout  # the advice is shown
    assert [job.memory_limit for job in sim.jobs] == ["2Gi", "3Gi"]
    events = [json.loads(line)["event"] for line in progress.read_text(encoding="utf-8").splitlines()]
    assert any("OOMKilled at memory limit 2Gi; raising to 3Gi" in event for event in events)


def test_playbook_fails_the_host_after_the_summary(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(oom_below=100 * Gi))
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_pod_resources={"memoryLimit": "1Gi"})
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode != 0
    assert f"{name}: oom_cap_reached; attempts [1Gi: oom_killed]" in run.stdout
    assert "no memory_cap given" in run.stdout
    assert f"repository maintenance did not succeed for {name}" in run.stdout
    assert "failed=1" in run.stdout


def test_sigterm_restores_the_temporary_change(make_sim, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    args = {"ANSIBLE_MODULE_ARGS": {"kubeconfig": str(kubeconfig_path), "poll_interval": 0.05, "timeout": 60,
                                    "pod_resources": {"memoryLimit": "1Gi"}}}
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / ".build" / "collections"))
    module = "ansible_collections.velero_ops.tuning.plugins.modules.repo_maintenance"
    with sim:
        process = subprocess.Popen([sys.executable, "-m", module, json.dumps(args)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO_ROOT))
        try:
            deadline = time.time() + 30
            while not sim.jobs and time.time() < deadline:
                time.sleep(0.02)
            assert sim.jobs, "Velero (simulated) never started a Job"
            assert sim.repository(name)["status"].get("lastMaintenanceTime") is None  # the trigger is in place
            process.send_signal(signal.SIGTERM)  # e.g. a CI job timeout while the Job runs
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    result = json.loads(stdout)
    assert result["failed"] is True and result["msg"].startswith("interrupted by signal 15"), stderr
    [item] = result["results"]
    assert item["outcome"] == "failed" and "interrupted" in item["message"]
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert result["restored"] == [f"BackupRepository {name}: status.lastMaintenanceTime restored to {before}"]


def test_interruption_during_the_trigger_wait_restores(make_sim, kube_client) -> None:
    """The runner over real HTTP: an interrupt while waiting for the Job still restores the frequency."""
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", frequency="2h0m0s", last_maintenance_ago=5)
    calls = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 3:
            raise KeyboardInterrupt
        time.sleep(seconds)

    # Not due within 1m of the last maintenance: Velero (simulated) starts no Job, the runner keeps waiting.
    options = m.parse_options({**FAST, "trigger": "frequency", "pod_resources": {"memoryLimit": "1Gi"}})
    runner = MaintenanceRunner(kube_client, options, sleep=sleep)
    with sim, pytest.raises(KeyboardInterrupt):
        runner.run()
    assert sim.repository(name)["spec"]["maintenanceFrequency"] == "2h0m0s"
    assert runner.report["restored"] == [f"BackupRepository {name}: spec.maintenanceFrequency restored to 2h0m0s"]
    assert runner.report["results"][0]["outcome"] == "failed"
    assert sim.jobs == []


def test_waits_for_a_busy_repository(make_sim, kube_client, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("ledger")
    backup = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "nightly", "namespace": "velero"},
              "spec": {"includedNamespaces": ["*"]}, "status": {"phase": "InProgress"}}
    kube_server.put(backup)

    def finish_backup() -> None:
        kube_server.put({**backup, "status": {"phase": "Completed"}})

    timer = threading.Timer(0.5, finish_backup)
    options = m.parse_options({**FAST, "busy_timeout": 10, "pod_resources": {"memoryLimit": "1Gi"}})
    with sim:
        timer.start()
        report = MaintenanceRunner(kube_client, options).run()
    timer.join()
    [item] = report["results"]
    assert item["outcome"] == "succeeded"
    assert any(p["event"] == "waiting: in use by Backup nightly (InProgress)" for p in report["progress"])
    assert sim.jobs[0].repository == name


def test_rerun_converges_on_resources(make_sim, kube_client, kube_server) -> None:
    sim = make_sim("1.17.1")
    sim.install(configmap_data={"global": {}})
    sim.add_repository("payments")
    options = m.parse_options({**FAST, "pod_resources": {"memoryLimit": "2Gi"}, "memory_cap": "4Gi"})
    with sim:
        first = MaintenanceRunner(kube_client, options).run()
        second = MaintenanceRunner(kube_client, options).run()
    assert [p["verb"] for p in first["patches"] if "ConfigMap" in p["object"]] == ["patch"]
    assert [p for p in second["patches"] if "ConfigMap" in p["object"]] == []  # nothing to change the second time
    assert second["changed"] is True  # maintenance itself ran again: that is an action, not a state
    assert [r["outcome"] for r in first["results"] + second["results"]] == ["succeeded", "succeeded"]
    assert len(sim.jobs) == 2


def test_long_repository_names_are_found_by_their_hash(make_sim, kube_client, kube_server) -> None:
    sim = make_sim("1.18.1")
    sim.install()
    namespace = "team-" + "x" * 50
    name = sim.add_repository(namespace)  # "<ns>-default-kopia" is longer than 63 characters
    assert len(name) > 63
    options = m.parse_options({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    with sim:
        report = MaintenanceRunner(kube_client, options).run()
    [item] = report["results"]
    assert item["outcome"] == "succeeded", item["message"]
    hashed = [r.query.get("labelSelector") for r in kube_server.requests if r.path.endswith("/jobs")]
    assert hashed and all(len(selector.split("=", 1)[1]) == 56 for selector in hashed)
    assert sim.jobs[0].name.startswith("repo-maintain-job-")


def test_playbook_check_mode_writes_nothing(make_sim, tmp_path, kubeconfig_path, kube_server) -> None:
    sim = make_sim("1.17.1")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})
    name = sim.add_repository("payments")
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_pod_resources={"memoryLimit": "2Gi"})
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, check=True, diff=True,
                           env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{name}: skipped - check mode: would apply 2 change(s)" in run.stdout
    assert '"lastMaintenanceTime": null' in run.stdout  # the diff
    assert [r for r in kube_server.requests if r.method != "GET"] == [] and sim.jobs == []
