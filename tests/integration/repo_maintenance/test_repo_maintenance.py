# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""velero_ops.tuning.repo_maintenance end to end: ansible-playbook -> module -> real HTTP -> loopback API
server, with tests/support/velero_sim.py playing Velero's BackupRepository controller."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from support.velero_sim import Scenario

from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory


def m_bytes(quantity: str) -> int:
    return parse_memory(quantity, "memory_limit")


pytestmark = pytest.mark.slow

Gi = 2**30
FAST = {"poll_interval": 0.05, "timeout": 5}
VELERO_PATH = "/apis/velero.io/v1/namespaces/velero/backuprepositories"


def writes(server, path_regex: str = "") -> list:
    return [r for r in server.requests if r.method in ("POST", "PUT", "PATCH", "DELETE") and path_regex in r.path]


def cm_entry(sim, key: str) -> dict:
    return json.loads(sim.configmap()["data"][key])


def test_success(make_sim, run_module, kube_server, rbac_allows) -> None:
    sim = make_sim("1.16.2")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})
    name = sim.add_repository("payments", scenario=Scenario(index_blobs=2438, kopia_mode="full"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"cpuRequest": "500m", "cpuLimit": "2",
                                                             "memoryRequest": "2Gi", "memoryLimit": "4Gi"}})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    [item] = result["results"]
    assert item["name"] == name and item["outcome"] == "succeeded"
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [("4Gi", "succeeded")]
    assert item["index_blobs"] == 2438 and item["kopia_mode"] == "full"
    assert item["last_maintenance_before"] == before and item["last_maintenance_after"] != before
    assert item["recent_maintenance"]["result"] == "Succeeded"
    assert any("2438 index blobs" in advice for advice in item["advice"])
    assert "auto mode" in result["full_maintenance"] and "24h" in result["full_maintenance"]
    # Velero reads all four podResources fields; the other keys of the ConfigMap are kept.
    assert cm_entry(sim, "payments-default-kopia") == {"podResources": {
        "cpuRequest": "500m", "cpuLimit": "2", "memoryRequest": "2Gi", "memoryLimit": "4Gi"}}
    assert cm_entry(sim, "global") == {"keepLatestMaintenanceJobs": 3}
    assert [job.memory_limit for job in sim.jobs] == ["4Gi"]
    # The Job was found by Velero's label, and the status patch was the only change to the repository.
    assert any(r.query.get("labelSelector") == f"velero.io/repo-name={name}" for r in kube_server.requests)
    # The trigger (with its restore mark) and, after the success, the mark removed: nothing else changed.
    trigger, unmark = writes(kube_server, VELERO_PATH)
    assert trigger.body["status"] == {"lastMaintenanceTime": None}
    assert list(trigger.body["metadata"]["annotations"]) == ["velero-ops.tuning/restore-last-maintenance-time"]
    assert set(unmark.body) == {"metadata"}
    assert unmark.body["metadata"]["annotations"] == {"velero-ops.tuning/restore-last-maintenance-time": None}
    assert not sim.repository(name)["metadata"].get("annotations")
    assert result["restored"] == []  # success: Velero wrote a new lastMaintenanceTime, nothing to put back
    assert [line.split(";")[0] for line in result["summary"]] == [f"{name}: succeeded"]
    events = [p["event"] for p in result["progress"]]
    assert any("started (memory limit 4Gi)" in e for e in events)
    rbac_allows(kube_server.requests)


def test_oom_then_retry_then_success(make_sim, run_module, kube_server, rbac_allows) -> None:
    sim = make_sim("1.17.1")
    sim.install(configmap_data={"global": {"podResources": {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "512Mi",
                                                            "memoryLimit": "1Gi"}}})
    name = sim.add_repository("ledger", scenario=Scenario(oom_below=2 * Gi, index_blobs=1800))
    with sim:
        result, _run = run_module({**FAST, "memory_cap": "4Gi"})
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    assert item["outcome"] == "succeeded"
    assert item["resources_source"] == "current maintenance config"
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [
        ("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2304Mi", "succeeded")]
    assert item["attempts"][0]["reason"] == "OOMKilled" and item["attempts"][0]["exit_code"] == 137
    # The Jobs Velero built really had these limits, and the limit that worked stays for Velero's hourly runs.
    assert [(job.memory_limit, job.result) for job in sim.jobs] == [
        ("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2304Mi", "succeeded")]
    assert cm_entry(sim, "ledger-default-kopia")["podResources"] == {
        "cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "1152Mi", "memoryLimit": "2304Mi"}
    assert "global" in sim.configmap()["data"]  # untouched
    assert sim.repository(name)["status"]["recentMaintenance"][-1]["result"] == "Succeeded"
    rbac_allows(kube_server.requests)


def test_oom_until_the_cap(make_sim, run_module) -> None:
    sim = make_sim("1.18.1")
    sim.install()
    name = sim.add_repository("archive", scenario=Scenario(oom_below=100 * Gi))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    with sim:
        result, run = run_module({**FAST, "pod_resources": {"memoryRequest": "1Gi", "memoryLimit": "1Gi"},
                                  "memory_cap": "2Gi", "memory_step": 1.5})
    assert result["failed"] is True and f"{name} (oom_cap_reached)" in result["msg"]
    [item] = result["results"]
    assert item["outcome"] == "oom_cap_reached"
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [
        ("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2Gi", "oom_killed")]
    assert "memory_cap 2Gi reached after 3 attempt(s)" in item["message"]
    assert any("raise memory_cap" in advice for advice in item["advice"])
    assert len(sim.jobs) == 3  # bounded: never a fourth Job
    # Nothing succeeded, so the trigger is undone: Velero does not keep retrying every 5 minutes.
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert any("status.lastMaintenanceTime restored" in text for text in result["restored"])
    assert run.failed_hosts() == set()  # ignore_errors in the test playbook; the module itself failed


def test_timeout_leaves_the_job_and_restores(make_sim, run_module) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    slow = sim.add_repository("big", scenario=Scenario(outcome="hang"))
    later = sim.add_repository("small")
    before = sim.repository(slow)["status"]["lastMaintenanceTime"]
    with sim:
        result, _run = run_module({"poll_interval": 0.05, "timeout": 1, "pod_resources": {"memoryLimit": "2Gi"}})
    by_name = {item["name"]: item for item in result["results"]}
    assert by_name[slow]["outcome"] == "timed_out"
    assert "still running after" in by_name[slow]["message"]
    assert by_name[later]["outcome"] == "skipped" and "one maintenance Job at a time" in by_name[later]["message"]
    assert sim.jobs[0].result is None  # left running: Velero waits for it and records the result
    assert sim.repository(slow)["status"]["lastMaintenanceTime"] == before


def test_forbidden_patch_names_the_permission(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    kube_server.forbid("patch", "velero.io", "backuprepositories", namespace="velero")
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "2Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert "patch backuprepositories" in item["message"] and "repo-maintenance-role.yaml" in item["message"]
    assert sim.jobs == []


def test_forbidden_preflight_fails_cleanly(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    kube_server.forbid("list", "apps", "deployments", namespace="velero")
    result, _run = run_module(FAST)
    assert result["failed"] is True
    assert "list deployments" in result["msg"] and "repo-maintenance-role.yaml" in result["msg"]
    assert writes(kube_server) == []


def test_frequency_trigger_is_restored_after_a_failure(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.15.2")
    sim.install()
    name = sim.add_repository("payments", frequency="1h0m0s",
                              scenario=Scenario(outcome="fail", fail_message="unable to read format blob"))
    with sim:
        result, _run = run_module({**FAST, "trigger": "frequency", "pod_resources": {"memoryLimit": "2Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert "unable to read format blob" in item["message"]
    assert sim.repository(name)["spec"]["maintenanceFrequency"] == "1h0m0s"
    assert result["restored"] == [f"BackupRepository {name}: spec.maintenanceFrequency restored to 1h0m0s"]
    bodies = [r.body["spec"]["maintenanceFrequency"] for r in writes(kube_server, VELERO_PATH)]
    assert bodies == ["1m", "1h0m0s"]
    assert [p["temporary"] for p in result["patches"] if p["object"].startswith("BackupRepository")] == [True, True]


def test_check_mode_changes_nothing_and_shows_the_patches(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})
    name = sim.add_repository("payments")
    before = sim.repository(name)
    with sim:
        result, run = run_module({**FAST, "pod_resources": {"memoryLimit": "4Gi"}, "memory_cap": "8Gi"},
                                 check=True, diff=True)
    assert writes(kube_server) == [] and sim.jobs == []
    assert sim.repository(name)["status"] == before["status"]
    assert result["changed"] is True
    [item] = result["results"]
    assert item["outcome"] == "skipped" and item["message"].startswith("check mode")
    assert "4Gi, 6Gi, 8Gi" in item["message"]
    verbs = [(p["verb"], p["object"]) for p in item["planned"]]
    assert verbs == [("patch", "ConfigMap velero/velero-repo-maintenance"), ("patch", f"BackupRepository velero/{name}")]
    assert item["planned"][1]["body"]["status"] == {"lastMaintenanceTime": None}
    assert all(not p["applied"] for p in item["planned"])
    diffs = {d["before_header"]: d for d in result["diff"]}
    assert diffs[f"BackupRepository velero/{name}"]["after"] == {"status": {"lastMaintenanceTime": None}}
    assert diffs["ConfigMap velero/velero-repo-maintenance data.payments-default-kopia"]["after"]["podResources"][
        "memoryLimit"] == "4Gi"
    assert "lastMaintenanceTime" in run.stdout  # the diff reaches the callback


def test_conflict_is_retried_with_a_fresh_read(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments")
    kube_server.inject("PATCH", f"/backuprepositories/{name}$", 409, times=1)
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "2Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "succeeded"
    patches = [r for r in kube_server.requests if r.method == "PATCH" and r.path.endswith(f"/backuprepositories/{name}")]
    assert [r.status for r in patches] == [409, 200, 200]  # conflict, trigger, restore mark removed after success
    gets_between = [r for r in kube_server.requests if r.method == "GET" and r.path.endswith(f"/backuprepositories/{name}")]
    assert len(gets_between) >= 2
    assert any("409" in p["event"] for p in result["progress"])


def test_velero_1_14_reports_flags_instead_of_changing_the_deployment(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.14.1")
    sim.install(extra_args=["--maintenance-job-mem-limit=1Gi", "--maintenance-job-mem-request=512Mi"])
    sim.add_repository("payments")
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"cpuRequest": "500m", "cpuLimit": "1", "memoryRequest": "2Gi",
                                                             "memoryLimit": "4Gi"}, "memory_cap": "8Gi"})
    assert result["velero"]["mechanism"] == "server-flags"
    [action] = result["actions_required"]
    assert "--maintenance-job-mem-limit=4Gi" in action["server_flags"]
    assert action["helm_values"]["configuration.repositoryMaintenanceJob.limits.memory"] == "4Gi"
    # Which charts take the keys and which need extraArgs comes from the era table (7.1.2/7.1.3 break on requests).
    assert "Helm chart 7.1.4 to 7.2.2: the keys below; chart 7.0.0 to 7.1.3: configuration.extraArgs" in \
        action["summary"]
    [item] = result["results"]
    assert item["outcome"] == "succeeded"
    assert [a["memory_limit"] for a in item["attempts"]] == ["1Gi"]  # what the Job really got: the current flags
    assert writes(kube_server, "/deployments") == [] and writes(kube_server, "/configmaps") == []


def test_velero_1_13_explains_in_server_maintenance(make_sim, run_module, kube_server) -> None:
    from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

    peak = recommend({"velero_version": "1.13.2", **SIZING})["predicted"]["maintenance_peak_memory"]
    sim = make_sim("1.13.2")
    sim.install()
    name = sim.add_repository("payments")
    with sim:
        result, _run = run_module({**FAST, "sizing": SIZING})
    assert not result.get("failed"), result.get("msg")
    assert "inside the velero server pod" in result["velero"]["explanation"]
    assert f"maintenance peak of about {peak}" in result["velero"]["explanation"]
    assert "resources.limits.memory" in result["velero"]["explanation"]
    [item] = result["results"]
    assert item["outcome"] == "skipped" and "inside the server pod" in item["message"]
    assert writes(kube_server) == [] and sim.in_server_runs == []
    assert result["repositories"][0]["name"] == name


def test_deployment_not_named_velero_is_explained(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install(deployment_name="backup-velero")
    sim.add_repository("payments")
    result, _run = run_module(FAST)
    assert "'backup-velero'" in result["velero"]["explanation"]
    assert result["velero"]["deployment_name_ok"] is False
    [item] = result["results"]
    assert item["outcome"] == "skipped" and "not named 'velero'" in item["message"]
    assert writes(kube_server) == []


def test_unreferenced_configmap_is_created_and_the_flag_reported(make_sim, run_module, kube_server, rbac_allows) -> None:
    sim = make_sim("1.15.2")
    sim.install(configmap=None)
    sim.add_repository("payments")
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "4Gi"}, "memory_cap": "8Gi"})
    assert result["velero"]["configmap"]["referenced_by_server"] is False
    flags = [flag for action in result["actions_required"] for flag in action["server_flags"]]
    assert flags == ["--repo-maintenance-job-configmap=velero-repo-maintenance"]
    assert cm_entry(sim, "payments-default-kopia")["podResources"]["memoryLimit"] == "4Gi"
    [item] = result["results"]
    assert item["outcome"] == "succeeded"
    assert [a["memory_limit"] for a in item["attempts"]] == ["0"]  # the server does not read the ConfigMap yet
    assert [r.method for r in writes(kube_server, "/configmaps")] == ["POST"]
    rbac_allows(kube_server.requests)


def test_selection(make_sim, run_module) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    sim.add_repository("ledger")
    sim.add_repository("web")
    with sim:
        result, _run = run_module({**FAST, "repositories": ["web-default-kopia"], "volume_namespaces": ["ledger"],
                                   "pod_resources": {"memoryLimit": "1Gi"}})
    outcomes = {item["name"]: item["outcome"] for item in result["results"]}
    assert outcomes == {"ledger-default-kopia": "succeeded", "web-default-kopia": "succeeded"}
    assert sorted(job.repository for job in sim.jobs) == ["ledger-default-kopia", "web-default-kopia"]
    assert len(result["repositories"]) == 3


@pytest.mark.parametrize(("selection", "message"), [
    ({"repositories": ["web-default-kopia", "payments-defualt-kopia"]},
     "repositories: no BackupRepository named 'payments-defualt-kopia' in namespace velero; "
     "found: ledger-default-kopia, payments-default-kopia, web-default-kopia"),
    ({"volume_namespaces": ["ledgr"]},
     "volume_namespaces: no BackupRepository with volume namespace 'ledgr' in namespace velero; "
     "found volume namespaces: ledger, payments, web"),
])
def test_a_name_that_matches_nothing_fails_before_any_change(
        make_sim, run_module, kube_server, selection, message) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    for namespace in ("payments", "ledger", "web"):
        sim.add_repository(namespace)
    with sim:
        result, run = run_module({**FAST, **selection, "pod_resources": {"memoryLimit": "1Gi"}})
    assert result["failed"] is True and result["msg"] == message
    assert result["results"] == [] and writes(kube_server) == [] and sim.jobs == []
    assert "failed=0" in run.stdout  # the test playbook ignores errors; the module itself failed


def test_read_only_location_and_busy_repository_are_skipped(make_sim, run_module) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_bsl("archive", access_mode="ReadOnly")
    read_only = sim.add_repository("payments", bsl="archive")
    busy = sim.add_repository("ledger")
    sim.server.put({"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "nightly", "namespace": "velero"},
                    "spec": {"storageLocation": "default", "includedNamespaces": ["ledger"]},
                    "status": {"phase": "InProgress"}})
    with sim:
        result, _run = run_module({**FAST, "on_busy": "skip"})
    by_name = {item["name"]: item for item in result["results"]}
    assert by_name[read_only]["outcome"] == "skipped" and "ReadOnly" in by_name[read_only]["message"]
    assert by_name[busy]["outcome"] == "skipped" and "Backup nightly (InProgress)" in by_name[busy]["message"]
    assert sim.jobs == []


SIZING = {"cluster": {"namespaces": 50, "objects": 20000, "resource_types": 150},
          "data": {"volume_bytes": "763GB", "largest_repository_bytes": "700GB"}}


def test_starts_from_the_sizing_recommendation(make_sim, run_module) -> None:
    from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

    expected = recommend({"velero_version": "1.16.2", **SIZING})["maintenance"]["pod_resources"]
    sim = make_sim("1.16.2")
    sim.install(configmap_data={"global": {"keepLatestMaintenanceJobs": 3}})  # no podResources: BestEffort today
    sim.add_repository("payments")
    with sim:
        result, _run = run_module({**FAST, "sizing": SIZING})
    [item] = result["results"]
    assert item["outcome"] == "succeeded" and item["resources_source"] == "sizing recommendation"
    assert [a["memory_limit"] for a in item["attempts"]] == [expected["memoryLimit"]]
    assert cm_entry(sim, "payments-default-kopia")["podResources"] == expected


def test_without_any_starting_resources_there_is_no_ladder(make_sim, run_module) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments", scenario=Scenario(oom_below=4 * Gi))
    with sim:
        result, _run = run_module({**FAST, "memory_cap": "8Gi"})
    [item] = result["results"]
    assert item["outcome"] == "oom_cap_reached"
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [("0", "oom_killed")]
    assert "no memory limit to start a ladder from" in item["message"]
    assert sim.configmap() is None  # nothing to write


# ------------------------------------------------------------------------------------------------------------
# Velero's timing: a failed repository is retried at once (the 5-minute periodic enqueue fired meanwhile), so the
# next Job may start with the previous ConfigMap limit, before the module has written the next rung.


def planned(item: dict) -> list[tuple[str, str]]:
    return [(a["memory_limit"], a["outcome"]) for a in item["attempts"] if not a["extra"]]


def test_ladder_follows_jobs_started_with_the_previous_limit(make_sim, run_module, rbac_allows, kube_server) -> None:
    sim = make_sim("1.16.2", retry="immediate")
    sim.install()
    name = sim.add_repository("archive", scenario=Scenario(oom_below=2 * Gi, run_seconds=0.3))
    with sim:
        result, _run = run_module({**FAST, "timeout": 10, "pod_resources": {"memoryRequest": "1Gi", "memoryLimit": "1Gi"},
                                   "memory_cap": "2Gi"})
        sim_jobs = [(job.name, job.memory_limit, job.result) for job in sim.jobs]
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    # The cap (2Gi) was really tried, and succeeded: not "oom_cap_reached" after Jobs that had 1Gi and 1536Mi.
    assert item["outcome"] == "succeeded", item["message"]
    assert planned(item) == [("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2Gi", "succeeded")]
    extras = [a for a in item["attempts"] if a["extra"]]
    assert extras, "the immediate retry must have started a Job with the previous limit"
    for extra in extras:
        assert extra["outcome"] == "oom_killed"
        assert Gi <= m_bytes(extra["memory_limit"]) < m_bytes(extra["planned_memory_limit"])
        assert "not the planned" in extra["message"]
    # Every Job Velero started was followed (none left behind unseen), and their limits are what the report says.
    followed = {a["job"]: a["memory_limit"] for a in item["attempts"]}
    assert {job: limit for job, limit, _result in sim_jobs} == followed
    assert all(job_result is not None for _job, _limit, job_result in sim_jobs)
    assert len(item["attempts"]) <= 3 * 3  # bounded: at most two extra attempts per rung
    assert f"{name}: succeeded; attempts [1Gi: oom_killed, 1Gi (planned 1536Mi): oom_killed" in result["summary"][0]
    rbac_allows(kube_server.requests)


def test_cap_is_only_reached_when_the_cap_itself_ran_out_of_memory(make_sim, run_module) -> None:
    sim = make_sim("1.17.1", retry="immediate")
    sim.install()
    sim.add_repository("archive", scenario=Scenario(oom_below=100 * Gi, run_seconds=0.3))
    with sim:
        result, _run = run_module({**FAST, "timeout": 10, "pod_resources": {"memoryRequest": "1Gi", "memoryLimit": "1Gi"},
                                   "memory_cap": "2Gi"})
    [item] = result["results"]
    assert item["outcome"] == "oom_cap_reached"
    assert planned(item) == [("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2Gi", "oom_killed")]
    assert any(a["extra"] for a in item["attempts"])
    assert "memory_cap 2Gi reached" in item["message"]
    assert result["failed"] is True and "(oom_cap_reached)" in result["msg"]


def test_node_memory_pressure_eviction_climbs_the_ladder(make_sim, run_module) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    # Evicted while the request is below 1536Mi: the kubelet evicts pods using more than their request first.
    sim.add_repository("payments", scenario=Scenario(evict_below=1536 * 2**20))
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryRequest": "1Gi", "memoryLimit": "2Gi"},
                                   "memory_cap": "4Gi"})
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    assert item["outcome"] == "succeeded"
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [("2Gi", "evicted"), ("3Gi", "succeeded")]
    first = item["attempts"][0]
    assert first["pod_reason"] == "Evicted" and "low on resource: memory" in first["pod_message"]
    assert "evicted because the node ran low on memory" in first["message"]
    assert [(job.memory_request, job.result) for job in sim.jobs] == [("1Gi", "evicted"), ("1536Mi", "succeeded")]
    assert any("evicted (node low on memory) at memory limit 2Gi; raising to 3Gi" in p["event"]
               for p in result["progress"])


def test_original_time_survives_a_lost_patch_response(make_sim, run_module, kube_server) -> None:
    """The trigger PATCH is applied but its answer is lost; the client's retry of the same body gets 409. The
    re-read shows the module's own null: the value to restore must still be the one from the first read."""
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="fail"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    kube_server.inject("PATCH", f"/backuprepositories/{name}$", 0, apply=True, times=1)
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    patches = [r.status for r in kube_server.requests if r.method == "PATCH" and r.path.endswith(f"/{name}")]
    assert patches[:2] == [0, 409]  # lost answer, then the retried body conflicts with the new resourceVersion
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert result["restored"] == [f"BackupRepository {name}: status.lastMaintenanceTime restored to {before}"]
    assert result["unrestored"] == []
    # Velero may have run and recorded the Job before the module re-read the repository after the 409: its result
    # is still recognised (the baseline is the read before the trigger).
    assert item["attempts"][0]["recent_maintenance"]["result"] == "Failed"


def test_a_failed_restore_names_the_value_and_the_command(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="fail", run_seconds=0.5))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]

    breaker = sim.break_repository_patches_after_first_job(name)
    with sim:
        breaker.start()
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}, "fail_on_error": False})
    breaker.join()
    assert sim.repository(name)["status"].get("lastMaintenanceTime") is None  # really not restored
    command = (f"kubectl -n velero patch backuprepository {name} --type merge "
               f"-p '{{\"status\":{{\"lastMaintenanceTime\":\"{before}\"}},\"metadata\":{{\"annotations\":"
               f"{{\"velero-ops.tuning/restore-last-maintenance-time\":null}}}}}}'")
    [entry] = result["unrestored"]
    assert entry["repository"] == name and entry["field"] == "status.lastMaintenanceTime"
    assert entry["original"] == before and entry["temporary_value"] is None
    assert entry["command"] == command and "503" in entry["error"]
    # The task fails (even with fail_on_error: false) and its message carries the command.
    assert result["failed"] is True and "temporary changes NOT restored" in result["msg"] and command in result["msg"]
    assert result["restored"] == []
    # The command's patch really puts the value back.
    kube_server.clear_faults()
    body = json.loads(command.split(" -p ", 1)[1].strip("'"))
    kube_server.patch_object(kube_server._type_for("velero.io/v1", "BackupRepository"), "velero", name, body)
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert not sim.repository(name)["metadata"].get("annotations")  # the command removes the restore mark too


def test_the_registered_sizing_result_is_accepted_as_recommendation(make_sim, tmp_path, kubeconfig_path) -> None:
    from support.ansible_run import run_playbook

    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    output = tmp_path / "result.json"
    tasks = [
        {"name": "Size", "velero_ops.tuning.sizing": {"velero_version": "1.16.2", **SIZING}, "register": "sized"},
        {"name": "Maintain", "velero_ops.tuning.repo_maintenance": {
            "kubeconfig": str(kubeconfig_path), **FAST, "recommendation": "{{ sized }}"},  # the whole result
         "register": "maintained", "ignore_errors": True},
        {"name": "Keep", "ansible.builtin.copy": {"content": "{{ {'sized': sized, 'maintained': maintained} | to_json }}",
                                                  "dest": str(output), "mode": "0600"}},
    ]
    playbook = tmp_path / "pb.yml"
    playbook.write_text(yaml.safe_dump([{"name": "P", "hosts": "localhost", "connection": "local",
                                         "gather_facts": False, "vars": {"ansible_python_interpreter": sys.executable},
                                         "tasks": tasks}]), encoding="utf-8")
    inventory = tmp_path / "inv.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {}}}}), encoding="utf-8")
    with sim:
        run = run_playbook(playbook, inventory, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}, timeout=120)
    assert output.exists(), run.stdout[-3000:] + run.stderr[-2000:]
    kept = json.loads(output.read_text(encoding="utf-8"))
    expected = kept["sized"]["recommendation"]["maintenance"]["pod_resources"]["memoryLimit"]
    [item] = kept["maintained"]["results"]
    assert item["resources_source"] == "sizing recommendation" and item["outcome"] == "succeeded"
    assert [a["memory_limit"] for a in item["attempts"]] == [expected]


ZONE_A = {"nodeSelector": {"matchExpressions": [
    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}]}}
ZONE_B = {"nodeSelector": {"matchLabels": {"topology.kubernetes.io/zone": "zone-b"}}}


def job_pod_spec(kube_server, sim, record) -> dict:
    return kube_server.get("batch/v1", "Job", "velero", record.name)["spec"]["template"]["spec"]


@pytest.mark.parametrize("scope", ["global", "repository"])
def test_ladder_keeps_the_users_other_maintenance_fields(make_sim, run_module, kube_server, scope) -> None:
    """Raising memory rewrites podResources only: priorityClassName, loadAffinity, podLabels and the rest of the
    user's entries stay, so every Job of the ladder is scheduled as the user asked (Velero 1.18: first affinity)."""
    sim = make_sim("1.18.1")
    global_entry = {"podResources": {"cpuRequest": "100m", "cpuLimit": "1", "memoryRequest": "512Mi",
                                     "memoryLimit": "1Gi", "ephemeralStorageRequest": "1Gi",
                                     "ephemeralStorageLimit": "2Gi"},
                    "priorityClassName": "maintenance-critical", "loadAffinity": [ZONE_A, ZONE_B],
                    "podLabels": {"team": "storage"}, "keepLatestMaintenanceJobs": 2}
    own_entry = {"loadAffinity": [ZONE_B], "keepLatestMaintenanceJobs": 5}
    sim.install(configmap_data={"global": global_entry, "ledger-default-kopia": own_entry})
    sim.add_repository("ledger", scenario=Scenario(oom_below=2 * Gi))
    with sim:
        result, _run = run_module({**FAST, "memory_cap": "4Gi", "config_scope": scope})
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [
        ("1Gi", "oom_killed"), ("1536Mi", "oom_killed"), ("2304Mi", "succeeded")]
    written = cm_entry(sim, "global" if scope == "global" else "ledger-default-kopia")
    assert written["podResources"]["memoryLimit"] == "2304Mi"
    assert written["podResources"]["ephemeralStorageLimit"] == "2Gi"  # 1.18.1 reads it: kept
    kept = {key: value for key, value in written.items() if key != "podResources"}
    assert kept == {key: value for key, value in (global_entry if scope == "global" else own_entry).items()
                    if key != "podResources"}
    if scope == "repository":
        assert cm_entry(sim, "global") == global_entry  # untouched
    for record in sim.jobs:
        spec = job_pod_spec(kube_server, sim, record)
        assert spec["priorityClassName"] == "maintenance-critical"  # read from global only
        [term] = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        # The repository's own loadAffinity wins over global's; Velero 1.18 uses only the first entry.
        zone = term["matchExpressions"][0]["values"]
        assert zone == ["zone-b"], (record.name, term)
