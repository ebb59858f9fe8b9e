# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""repo_maintenance against hostile and broken API servers (issue 13): bounded work, nothing left changed
without a record, no command that a hostile value can turn into something else. Real HTTP against the
loopback API server, with tests/support/velero_sim.py playing Velero's controller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.ansible_run import REPO_ROOT
from support.velero_sim import Scenario

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils import _restore_marks as marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_run import MaintenanceRunner

pytestmark = pytest.mark.slow

Gi = 2**30
FAST = {"poll_interval": 0.05, "timeout": 5}
HOSTILE = "1h0m0s'; touch /tmp/x; echo '"
LAST = marks.ANNOTATIONS["last_maintenance_time"]
FREQUENCY = marks.ANNOTATIONS["frequency"]
MODULE = "ansible_collections.velero_ops.tuning.plugins.modules.repo_maintenance"


def annotations(sim, name: str) -> dict:
    return sim.repository(name)["metadata"].get("annotations") or {}


def on_trigger(kube_server, name: str, action) -> None:
    """Run ``action`` once, right after the module's first write that makes repository ``name`` due."""
    done = []

    def callback(verb, after, before) -> None:
        if done or not after or after.get("kind") != "BackupRepository" or after["metadata"]["name"] != name:
            return
        if (after.get("status") or {}).get("lastMaintenanceTime") is None or \
                (after.get("spec") or {}).get("maintenanceFrequency") == "1m":
            done.append(True)
            action()

    kube_server.on_write(callback)


def start_module(args: dict, kubeconfig_path: Path) -> subprocess.Popen:
    """The module as Ansible runs it: its own process, arguments as JSON."""
    payload = {"ANSIBLE_MODULE_ARGS": {"kubeconfig": str(kubeconfig_path), **args}}
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / ".build" / "collections"))
    return subprocess.Popen([sys.executable, "-m", MODULE, json.dumps(payload)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO_ROOT))


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "condition not reached"
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------------------------
# 1. Every loop is bounded: pagination, Retry-After waits, 409 re-reads.

def test_a_repeated_continue_token_stops_the_job_list_and_restores(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    sim.endless_job_lists(name, same_token=True)
    with sim:
        result, _run = run_module({**FAST, "timeout": 30, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert "listing Jobs" in item["message"] and "continue token it had already given" in item["message"]
    job_lists = kube_server.requests_matching("GET", "/jobs$")
    assert len(job_lists) < 10  # two pages with the same token, not 909
    assert item["duration_seconds"] < 10  # the module's own time, well before the 30 s timeout: an error at once
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert LAST not in annotations(sim, name)
    assert result["restored"] == [f"BackupRepository {name}: status.lastMaintenanceTime restored to {before}"]


def test_endless_new_continue_tokens_stop_at_the_timeout(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    sim.endless_job_lists(name, same_token=False)
    with sim:
        result, _run = run_module({**FAST, "timeout": 3, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "timed_out", item["message"]
    # Said by the step deadline between pages, or by the client when a request or wait would pass it.
    assert "jobs" in item["message"].lower()
    assert "ran out while listing Jobs" in item["message"] or "overall timeout" in item["message"]
    # The module's own time: the 3 s timeout, then the restore (before, the list never ended). Wall-clock time of
    # the whole playbook is not asserted: ansible-playbook's start-up alone varies too much on a loaded machine.
    assert item["duration_seconds"] < 3 + 5
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before  # restored after the deadline
    assert result["unrestored"] == []


def test_retry_after_waits_end_at_the_timeout(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    # After the trigger every Jobs list answers 503 Retry-After: 60 (the client used to wait 60 s x 5 per request).
    on_trigger(kube_server, name, lambda: kube_server.inject("GET", "/jobs$", 503, times=None,
                                                             headers={"Retry-After": "60"}))
    with sim:
        result, _run = run_module({**FAST, "timeout": 3, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "timed_out", item["message"]
    # Said by the client (a wait past its deadline is not started) or by the step deadline's sleep.
    assert "would pass the overall timeout" in item["message"] or "ran out while waiting to retry" in item["message"]
    assert item["duration_seconds"] < 3 + 5  # not 5 x 60 s of Retry-After per request
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert result["unrestored"] == []


def test_conflicts_are_re_read_with_growing_pauses_within_the_deadline(make_sim, kube_client, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments")
    kube_server.inject("PATCH", f"/backuprepositories/{name}$", 409, times=None)  # someone always writes first
    slept: list[float] = []
    options = m.parse_options({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    with sim:
        report = MaintenanceRunner(kube_client, options, sleep=slept.append).run()
    [item] = report["results"]
    assert item["outcome"] == "failed" and "still conflicting after" in item["message"]
    pauses = [s for s in slept if s != options.poll_interval]
    assert pauses[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]  # not five immediate re-reads
    patches = kube_server.requests_matching("PATCH", f"/backuprepositories/{name}$")
    assert 1 < len(patches) <= 6
    assert sim.jobs == []


# ------------------------------------------------------------------------------------------------------------
# 3. An interrupted run leaves a record on the object; the next run restores it.

def test_sigterm_while_the_api_fails_leaves_the_mark_and_the_next_run_restores(
        make_sim, run_module, kube_server, kubeconfig_path, tmp_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    progress = tmp_path / "progress.jsonl"
    with sim:
        process = start_module({"poll_interval": 0.05, "timeout": 60, "pod_resources": {"memoryLimit": "1Gi"},
                                "progress_file": str(progress)}, kubeconfig_path)
        try:
            wait_for(lambda: bool(sim.jobs))
            mark = json.loads(annotations(sim, name)[LAST])  # recorded with the trigger, on the object itself
            assert mark["original"] == before and mark["temporary"] is None and mark["since"].endswith("Z")
            kube_server.inject("PATCH", f"/backuprepositories/{name}$", 503, times=None, headers={"Retry-After": "0"})
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        result = json.loads(stdout)
        assert result["failed"] is True and "interrupted by signal 15" in result["msg"], stderr
        assert sim.repository(name)["status"].get("lastMaintenanceTime") is None  # really not restored
        assert LAST in annotations(sim, name)
        # The report reached the progress file (Ansible's pipe may be closed by then).
        events = [json.loads(line) for line in progress.read_text(encoding="utf-8").splitlines()]
        final = events[-1]
        assert "interrupted by signal 15" in final["event"] and "NOT restored" in final["event"]
        assert final["report"]["unrestored"][0]["original"] == before
        assert "kubectl -n velero patch backuprepository" in final["report"]["unrestored"][0]["command"]

        kube_server.clear_faults()
        kube_server.clear_requests()
        checked, _run = run_module({**FAST, "on_busy": "skip"}, check=True)
        assert [r.method for r in kube_server.requests if r.method != "GET"] == []
        [leftover] = checked["leftovers"]
        assert (leftover["repository"], leftover["field"], leftover["original"], leftover["action"]) == (
            name, "status.lastMaintenanceTime", before, "reported")

        result, _run = run_module({**FAST, "on_busy": "skip"})
    [leftover] = result["leftovers"]
    assert leftover["action"] == "restored" and leftover["since"] == mark["since"]
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert LAST not in annotations(sim, name)
    assert any(text.startswith(f"BackupRepository {name}: status.lastMaintenanceTime restored to {before}")
               and "interrupted run" in text for text in result["restored"])


def test_sigkill_leaves_the_mark_and_the_next_run_restores_the_frequency(
        make_sim, run_module, kube_server, kubeconfig_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", frequency="2h0m0s", last_maintenance_ago=5)  # not due again within 1m
    process = start_module({"poll_interval": 0.05, "timeout": 60, "trigger": "frequency",
                            "pod_resources": {"memoryLimit": "1Gi"}}, kubeconfig_path)
    try:
        wait_for(lambda: sim.repository(name)["spec"]["maintenanceFrequency"] == "1m")
        process.kill()  # nothing in the module runs: only the record on the object is left
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert json.loads(annotations(sim, name)[FREQUENCY])["original"] == "2h0m0s"
    # A typo in the selection fails before anything is changed: the leftover is only reported.
    result, _run = run_module({**FAST, "repositories": ["no-such-repository"]})
    assert "no BackupRepository named 'no-such-repository'" in result["msg"]
    assert [(x["repository"], x["action"]) for x in result["leftovers"]] == [(name, "reported")]
    assert sim.repository(name)["spec"]["maintenanceFrequency"] == "1m"
    with sim:
        result, _run = run_module({**FAST, "repositories": [name], "pod_resources": {"memoryLimit": "1Gi"}})
    [leftover] = result["leftovers"]
    assert leftover["action"] == "restored" and leftover["field"] == "spec.maintenanceFrequency"
    assert result["results"][0]["outcome"] == "succeeded"
    assert sim.repository(name)["spec"]["maintenanceFrequency"] == "2h0m0s"
    assert annotations(sim, name) == {}


def test_a_leftover_whose_field_moved_on_only_loses_its_mark(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", last_maintenance_ago=60)
    now = sim.repository(name)["status"]["lastMaintenanceTime"]
    rtype = kube_server._type_for("velero.io/v1", "BackupRepository")
    kube_server.patch_object(rtype, "velero", name, {"metadata": {"annotations": {
        LAST: marks.encode_mark("last_maintenance_time", "2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z")}}})
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    [leftover] = result["leftovers"]
    assert leftover["action"] == "cleared" and "no longer holds" in leftover["message"]
    assert result["results"][0]["outcome"] == "succeeded"
    assert sim.repository(name)["status"]["lastMaintenanceTime"] not in (None, "2020-01-01T00:00:00Z", now)
    assert annotations(sim, name) == {}


def test_every_successful_run_removes_its_mark(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments")
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    assert result["results"][0]["outcome"] == "succeeded"
    assert annotations(sim, name) == {}
    trigger = kube_server.requests_matching("PATCH", f"/backuprepositories/{name}$")[0]
    assert trigger.body["status"] == {"lastMaintenanceTime": None}
    assert json.loads(trigger.body["metadata"]["annotations"][LAST])["original"] is not None
    assert result["leftovers"] == []


# ------------------------------------------------------------------------------------------------------------
# 4. The printed undo command is safe to paste whatever the cluster's value holds.

def test_a_hostile_frequency_cannot_turn_the_undo_command_into_another_command(
        make_sim, run_module, kube_server, tmp_path) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", frequency=HOSTILE)
    # Velero (not started: it could not parse that frequency anyway) starts no Job; after the trigger, every
    # PATCH of the repository fails, so the frequency cannot be put back and the undo command is printed.
    on_trigger(kube_server, name, lambda: kube_server.inject("PATCH", f"/backuprepositories/{name}$", 503,
                                                             times=None, headers={"Retry-After": "0"}))
    result, _run = run_module({"poll_interval": 0.05, "timeout": 1, "trigger": "frequency",
                               "pod_resources": {"memoryLimit": "1Gi"}})
    [entry] = result["unrestored"]
    assert entry["original"] == HOSTILE
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "$ARGS_FILE"\n',
                                     encoding="utf-8")
    (bin_dir / "kubectl").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", ARGS_FILE=str(tmp_path / "args"))
    marker = Path("/tmp/x")
    existed = marker.exists()
    subprocess.run(["bash", "-c", entry["command"]], check=True, env=env, cwd=tmp_path)
    assert marker.exists() == existed
    args = (tmp_path / "args").read_text(encoding="utf-8").split("\0")[:-1]
    assert args[:8] == ["-n", "velero", "patch", "backuprepository", name, "--type", "merge", "-p"]
    [body] = args[8:]
    assert json.loads(body) == {"spec": {"maintenanceFrequency": HOSTILE}, "metadata": {"annotations": {FREQUENCY: None}}}
    assert entry["command"] in result["msg"]
    kube_server.clear_faults()
    kube_server.patch_object(kube_server._type_for("velero.io/v1", "BackupRepository"), "velero", name, json.loads(body))
    assert sim.repository(name)["spec"]["maintenanceFrequency"] == HOSTILE and annotations(sim, name) == {}


# ------------------------------------------------------------------------------------------------------------
# 5. Unexpected types from the API fail with kind, name and field; the run still restores and reports.

def test_a_job_with_a_string_count_fails_with_the_field_and_restores(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="hang"))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    jobs = kube_server._type_for("batch/v1", "Job")
    corrupt = sim.after_first_job(lambda: kube_server.patch_object(jobs, "velero", sim.jobs[0].name,
                                                                   {"status": {"succeeded": "abc"}}))
    with sim:
        corrupt.start()
        result, run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    corrupt.join()
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert f"Job velero/{sim.jobs[0].name}: status.succeeded: expected an integer, got string 'abc'" in item["message"]
    assert "Traceback" not in run.stdout + run.stderr and "has no attribute" not in json.dumps(result)
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert result["restored"] and result["unrestored"] == []


def test_a_string_recent_maintenance_still_lets_the_restore_through(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments")
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    repos = kube_server._type_for("velero.io/v1", "BackupRepository")
    # Right after the trigger an aggregation layer starts returning a string where the history list belongs.
    on_trigger(kube_server, name, lambda: kube_server.patch_object(repos, "velero", name,
                                                                   {"status": {"recentMaintenance": "abc"}}))
    # Velero (not started) starts no Job, so the module keeps re-reading the repository while it waits.
    result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert f"BackupRepository velero/{name}: status.recentMaintenance: expected a list, got string 'abc'" \
        in item["message"]
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before  # the restore needs only its own fields
    assert result["unrestored"] == [] and result["restored"]


def test_a_jobs_list_whose_items_are_not_a_list_is_named(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    kube_server.inject("GET", "/jobs$", 200, times=None, body={"kind": "JobList", "metadata": {}, "items": "abc"})
    result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    [item] = result["results"]
    assert item["outcome"] == "failed"
    assert "JobList in velero: items: expected a list, got string 'abc'" in item["message"]


# ------------------------------------------------------------------------------------------------------------
# 7. A restore whose answer was lost (then 409) counts as restored.

def test_a_lost_restore_answer_then_409_counts_as_restored(make_sim, run_module, kube_server) -> None:
    sim = make_sim("1.16.2")
    sim.install()
    name = sim.add_repository("payments", scenario=Scenario(outcome="fail", run_seconds=0.5))
    before = sim.repository(name)["status"]["lastMaintenanceTime"]
    # Right after the trigger: the next PATCH of the repository (the restore, once the Job failed) is applied but
    # its answer is lost.
    on_trigger(kube_server, name, lambda: kube_server.inject("PATCH", f"/backuprepositories/{name}$", 0, apply=True))
    with sim:
        result, _run = run_module({**FAST, "pod_resources": {"memoryLimit": "1Gi"}})
    statuses = [r.status for r in kube_server.requests_matching("PATCH", f"/backuprepositories/{name}$")]
    assert statuses == [200, 0, 409]  # trigger; restore applied but its answer lost; the retried body conflicts
    assert sim.repository(name)["status"]["lastMaintenanceTime"] == before
    assert LAST not in annotations(sim, name)
    assert result["restored"] == [f"BackupRepository {name}: status.lastMaintenanceTime restored to {before}"]
    assert result["unrestored"] == []


# ------------------------------------------------------------------------------------------------------------
# Issue 10: the ladder keeps every other field of the maintenance ConfigMap.

@pytest.mark.parametrize("scope", ["repository", "global"])
def test_the_ladder_keeps_priority_class_load_affinity_and_other_fields(make_sim, run_module, scope) -> None:
    sim = make_sim("1.18.1")
    affinity = [{"nodeSelector": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                                        "values": ["us-central1-a"]}]}}]
    global_entry = {"podResources": {"cpuRequest": "100m", "cpuLimit": "0", "memoryRequest": "1Gi", "memoryLimit": "1Gi"},
                    "priorityClassName": "maintenance-low", "loadAffinity": affinity, "keepLatestMaintenanceJobs": 2,
                    "podLabels": {"team": "platform"}, "podAnnotations": {"owner": "ops"}}
    repo_entry = {"loadAffinity": affinity, "keepLatestMaintenanceJobs": 5, "somethingNewer": {"x": 1}}
    data = {"global": global_entry}
    if scope == "repository":
        data["payments-default-kopia"] = repo_entry
    sim.install(configmap_data=data)
    sim.add_repository("payments", scenario=Scenario(oom_below=2 * Gi))
    with sim:
        result, _run = run_module({**FAST, "memory_cap": "2Gi", "config_scope": scope})
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    assert [(a["memory_limit"], a["outcome"]) for a in item["attempts"]] == [("1Gi", "oom_killed"), ("1536Mi", "oom_killed"),
                                                                             ("2Gi", "succeeded")]
    written = {key: json.loads(value) for key, value in sim.configmap()["data"].items()}
    key = "global" if scope == "global" else "payments-default-kopia"
    expected = dict(global_entry if scope == "global" else repo_entry)
    expected["podResources"] = {"cpuRequest": "100m", "cpuLimit": "0", "memoryRequest": "2Gi", "memoryLimit": "2Gi"}
    assert written[key] == expected
    if scope == "repository":
        assert written["global"] == global_entry


# ------------------------------------------------------------------------------------------------------------
# 6. The progress file stays inside the output directory.

def hosts_inventory(tmp_path: Path, kubeconfig: Path, host: str, **host_vars) -> Path:
    import yaml

    path = tmp_path / "clusters.yml"
    variables = {"ansible_python_interpreter": sys.executable, "velero_kubeconfig": str(kubeconfig),
                 "tune_output_dir": str(tmp_path / "out"), "repo_maintenance_poll_interval": 0.05,
                 "repo_maintenance_timeout": 5, "repo_maintenance_pod_resources": {"memoryLimit": "1Gi"}, **host_vars}
    path.write_text(yaml.safe_dump({"all": {"children": {"clusters": {"hosts": {host: variables}}}}}), encoding="utf-8")
    return path


@pytest.mark.parametrize("host", ["../escape", "sub/dir", ".."])
def test_the_role_refuses_a_host_name_that_is_not_one_folder(make_sim, tmp_path, kubeconfig_path, kube_server,
                                                             host) -> None:
    from support.ansible_run import run_playbook

    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", hosts_inventory(tmp_path, kubeconfig_path, host),
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}, timeout=120)
    assert run.returncode != 0
    assert "must be a single safe path component" in run.stdout, run.stdout[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.yml", "kubeconfig"]  # nothing written anywhere
    assert kube_server.requests == []  # stopped before the module ran


def test_a_symlinked_host_folder_or_progress_file_is_not_followed(make_sim, tmp_path, kubeconfig_path,
                                                                  kube_server) -> None:
    from support.ansible_run import run_playbook

    sim = make_sim("1.16.2")
    sim.install()
    sim.add_repository("payments")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "prod").symlink_to(elsewhere, target_is_directory=True)
    run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml", hosts_inventory(tmp_path, kubeconfig_path, "prod"),
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}, timeout=120)
    assert run.returncode != 0 and "outside the output directory" in run.stdout, run.stdout[-3000:]
    assert list(elsewhere.iterdir()) == [] and kube_server.requests == []

    # The progress file itself a link to a file outside: the module does not write through it.
    (tmp_path / "out" / "prod").unlink()
    (tmp_path / "out" / "prod").mkdir()
    target = elsewhere / "precious.txt"
    target.write_text("keep\n", encoding="utf-8")
    (tmp_path / "out" / "prod" / "maintenance-progress.log").symlink_to(target)
    with sim:
        run = run_playbook(REPO_ROOT / "playbooks" / "maintenance.yml",
                           hosts_inventory(tmp_path, kubeconfig_path, "prod"),
                           env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "payments-default-kopia: succeeded" in run.stdout
    assert "symbolic link, which is not followed" in run.stdout + run.stderr
    assert target.read_text(encoding="utf-8") == "keep\n"
