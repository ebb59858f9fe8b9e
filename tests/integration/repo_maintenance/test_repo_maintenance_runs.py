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
    # tune_output_dir: the role's default progress file goes under it (never into the checkout's ./out).
    variables = {"ansible_python_interpreter": sys.executable, "velero_kubeconfig": str(kubeconfig),
                 "tune_output_dir": str(tmp_path / "out"), **host_vars}
    path.write_text(yaml.safe_dump({"all": {"children": {"clusters": {"hosts": {"prod": variables}}}}}), encoding="utf-8")
    return path


def test_playbook_success(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.18.1")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})
    name = sim.add_repository("payments", scenario=Scenario(oom_below=3 * Gi, index_blobs=2438))
    out = tmp_path / "out"
    # No progress variable: the role's default file under tune_output_dir, announced before the run.
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_memory_cap="8Gi",
                                  repo_maintenance_pod_resources={"memoryRequest": "1Gi", "memoryLimit": "2Gi"},
                                  tune_output_dir=str(out))
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{name}: succeeded; attempts [2Gi: oom_killed, 3Gi: succeeded]; index blobs 2438" in run.stdout
    assert "fullMaintenanceInterval" in run.stdout  # the advice is shown
    assert [job.memory_limit for job in sim.jobs] == ["2Gi", "3Gi"]
    progress = out / "prod" / "maintenance-progress.log"
    announced = run.stdout.index(f"tail -f {progress}")
    assert announced < run.stdout.index("TASK [velero_ops.tuning.repo_maintenance : Run repository maintenance]")
    lines = progress.read_text(encoding="utf-8").splitlines()
    assert any(f"{name}: OOMKilled at memory limit 2Gi; raising to 3Gi" in line for line in lines)
    assert all(line[:4].isdigit() and line[19] == "Z" for line in lines)  # "<RFC 3339 time> <repo>: <event>"


def test_progress_file_json_and_none(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    progress = tmp_path / "p" / "progress.jsonl"
    common = {"repo_maintenance_poll_interval": 0.05, "repo_maintenance_timeout": 5,
              "repo_maintenance_pod_resources": {"memoryLimit": "1Gi"}, "tune_output_dir": str(tmp_path / "out")}
    with sim:
        first = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml",
                             cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_progress_file=str(progress),
                                               repo_maintenance_progress_format="json", **common),
                             env=DEFAULT_CALLBACK, timeout=120)
        second = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml",
                              cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_progress_file="", **common),
                              env=DEFAULT_CALLBACK, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stdout[-3000:] + second.stdout[-3000:]
    events = [json.loads(line)["event"] for line in progress.read_text(encoding="utf-8").splitlines()]
    assert any(event.startswith("Job payments-default-kopia-maintain-job-") for event in events)
    assert "tail -f" not in second.stdout and not (tmp_path / "out").exists()


def test_playbook_fails_the_host_after_the_summary(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(oom_below=100 * Gi))
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_pod_resources={"memoryLimit": "1Gi"},
                                  tune_output_dir=str(tmp_path / "out"))
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
    assert item["outcome"] == "succeeded", item["message"]
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
                                  repo_maintenance_timeout=5, repo_maintenance_pod_resources={"memoryLimit": "2Gi"},
                                  tune_output_dir=str(tmp_path / "out"))
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, check=True, diff=True,
                           env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{name}: skipped - check mode: would apply 2 change(s)" in run.stdout
    assert '"lastMaintenanceTime": null' in run.stdout  # the diff
    assert [r for r in kube_server.requests if r.method != "GET"] == [] and sim.jobs == []


def test_playbook_uses_the_controller_python_whatever_the_inventory_says(make_sim, tmp_path, kubeconfig_path) -> None:
    """A runbook-style inventory (or interpreter discovery) must not pick a Python without the kubernetes library."""
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments")
    inventory = cluster_inventory(tmp_path, kubeconfig_path, ansible_python_interpreter="/nonexistent/bin/python3",
                                  repo_maintenance_poll_interval=0.05, repo_maintenance_timeout=5,
                                  repo_maintenance_pod_resources={"memoryLimit": "1Gi"},
                                  tune_output_dir=str(tmp_path / "out"))
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{name}: succeeded" in run.stdout


def test_role_shows_a_module_crash(tmp_path, kubeconfig_path) -> None:
    """When the module process dies (here: its interpreter), the role's failure shows stderr, not just msg."""
    crash = tmp_path / "python-that-crashes"
    crash.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                     "echo 'RuntimeError: kaboom in the module process' >&2\nexit 1\n", encoding="utf-8")
    crash.chmod(0o755)
    playbook = tmp_path / "role.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Role", "hosts": "all", "connection": "local", "gather_facts": False,
                                         "vars": {"ansible_python_interpreter": str(crash)},
                                         "roles": [{"role": "velero_ops.tuning.repo_maintenance"}]}]), encoding="utf-8")
    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_progress_file="")
    run = run_playbook(playbook, inventory, env=DEFAULT_CALLBACK, timeout=120)
    assert run.returncode != 0
    failed_task = run.stdout[run.stdout.index("TASK [velero_ops.tuning.repo_maintenance : Fail when the module could "
                                              "not run]"):]
    assert "kaboom in the module process" in failed_task and "module_stderr" in failed_task
    assert "TASK [velero_ops.tuning.repo_maintenance : Show the module's own error output" in run.stdout


def test_role_shows_what_could_not_be_restored(make_sim, tmp_path, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="fail", run_seconds=0.5))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]

    inventory = cluster_inventory(tmp_path, kubeconfig_path, repo_maintenance_poll_interval=0.05,
                                  repo_maintenance_timeout=5, repo_maintenance_pod_resources={"memoryLimit": "1Gi"},
                                  repo_maintenance_progress_file="")
    breaker = sim.break_repository_patches_after_first_job(name)
    with sim:
        breaker.start()
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", inventory, env=DEFAULT_CALLBACK, timeout=120)
    breaker.join()
    assert run.returncode != 0
    command = f"kubectl -n velero patch backuprepository {name} --type merge"
    shown = run.stdout[run.stdout.index("TASK [velero_ops.tuning.repo_maintenance : Show temporary changes that could "
                                        "NOT be put back"):]
    assert command in shown and before in shown
    assert "temporary changes NOT restored" in run.stdout
