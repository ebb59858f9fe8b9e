# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Job/pod classification, log parsing, outcomes and advice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release


def job(status: dict | None = None, memory: str | None = "4Gi") -> dict:
    resources = {"limits": {"memory": memory}} if memory else {}
    return {"metadata": {"name": "repo-maintain-job-1", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": resources}]}}},
            "status": status or {}}


def pod(phase: str = "Running", state: dict | None = None, last_state: dict | None = None) -> dict:
    container: dict = {"name": "velero-repo-maintenance-container"}
    if state is not None:
        container["state"] = state
    if last_state is not None:
        container["lastState"] = last_state
    return {"metadata": {"name": "repo-maintain-job-1-abcde"}, "status": {"phase": phase, "containerStatuses": [container]}}


OOM = {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2024-05-01T10:03:00Z"}}
ERROR = {"terminated": {"reason": "Error", "exitCode": 1, "message": "Repo maintenance error: cannot open repo"}}
DONE = {"terminated": {"reason": "Completed", "exitCode": 0}}


@pytest.mark.parametrize(("job_status", "pods", "phase", "reason"), [
    ({}, [], "pending", None),
    ({"active": 1}, [], "running", None),
    ({"active": 1}, [pod("Running", {"running": {}})], "running", None),
    ({"succeeded": 1, "completionTime": "2024-05-01T10:05:00Z"}, [pod("Succeeded", DONE)], "succeeded", "Completed"),
    ({"conditions": [{"type": "Complete", "status": "True"}]}, [], "succeeded", None),
    ({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
     [pod("Failed", ERROR)], "failed", "Error"),
    ({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
     [], "failed", "BackoffLimitExceeded"),
    ({"failed": 1}, [pod("Failed", OOM)], "oom_killed", "OOMKilled"),
    # The pod already says OOMKilled while the Job controller has not counted the failure yet.
    ({"active": 1}, [pod("Failed", OOM)], "oom_killed", "OOMKilled"),
    # OOMKilled recorded in lastState (a restarted container) still counts.
    ({"failed": 1}, [pod("Failed", ERROR, OOM)], "oom_killed", "OOMKilled"),
    ({"conditions": [{"type": "Failed", "status": "False"}], "active": 1}, [], "running", None),
])
def test_classify_job(job_status: dict, pods: list, phase: str, reason: str | None) -> None:
    state = m.classify_job(job(job_status), pods)
    assert (state.phase, state.reason) == (phase, reason)
    assert state.finished == (phase in ("succeeded", "failed", "oom_killed", "evicted"))


MEMORY_EVICTION = ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 64Mi. Container "
                   "velero-repo-maintenance-container was using 3Gi, request is 1Gi, has larger consumption of memory. ")


def evicted_pod(message: str, *, condition_only: bool = False) -> dict:
    """A pod as the kubelet leaves it after a node-pressure eviction."""
    evicted = pod("Failed", {"terminated": {"reason": "Error", "exitCode": 137}})
    condition = {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": message}
    if condition_only:
        evicted["status"]["conditions"] = [condition]
    else:
        evicted["status"].update(reason="Evicted", message=message, conditions=[condition])
    return evicted


@pytest.mark.parametrize(("pods", "phase", "reason", "pod_reason"), [
    # Memory pressure: a memory failure, the ladder climbs (the request is scaled with the limit).
    ([evicted_pod(MEMORY_EVICTION)], "evicted", "Evicted", "Evicted"),
    # Kubernetes 1.26+ may only set the DisruptionTarget condition.
    ([evicted_pod(MEMORY_EVICTION, condition_only=True)], "evicted", "Evicted", "Evicted"),
    # Evicted for disk pressure: a failure, but not a memory one; the pod's reason is reported.
    ([evicted_pod("The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 10Mi.")],
     "failed", "Error", "Evicted"),
])
def test_classify_job_reads_the_pod_status(pods: list, phase: str, reason: str, pod_reason: str) -> None:
    state = m.classify_job(job({"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}), pods)
    assert (state.phase, state.reason, state.pod_reason) == (phase, reason, pod_reason)
    assert state.pod_message and "low on resource" in state.pod_message
    assert state.finished


def test_classify_job_reports_a_pod_reason_without_container_state() -> None:
    rejected = {"metadata": {"name": "p"}, "status": {
        "phase": "Failed", "reason": "OutOfmemory", "message": "Pod Node didn't have enough resource: memory"}}
    state = m.classify_job(job({"failed": 1}), [rejected])
    assert (state.phase, state.reason, state.pod_reason) == ("failed", "OutOfmemory", "OutOfmemory")
    assert "enough resource: memory" in (state.pod_message or "")


def test_classify_job_details() -> None:
    state = m.classify_job(job({"failed": 1, "startTime": "2024-05-01T10:00:00Z"}, memory="6Gi"), [pod("Failed", OOM)])
    assert state.exit_code == 137 and state.memory_limit == "6Gi" and state.pod_name == "repo-maintain-job-1-abcde"
    assert m.job_duration(state, None) == 180.0
    assert m.classify_job(job({}, memory=None), []).memory_limit == "0"
    failed = m.classify_job(job({"failed": 1}), [pod("Failed", ERROR)])
    assert m.termination_error(failed.termination_message) == "cannot open repo"


@pytest.mark.parametrize(("status", "active"), [
    ({}, True), ({"active": 1}, True), ({"succeeded": 1}, False), ({"failed": 1}, False),
    ({"conditions": [{"type": "Complete", "status": "True"}]}, False),
])
def test_is_job_active(status: dict, active: bool) -> None:
    assert m.is_job_active(job(status)) is active


KOPIA_LINE = ('time="2024-12-03T08:00:00Z" level=warning msg="Found too many index blobs ({n}), this may result in '
              'degraded performance! Please ensure periodic repository maintenance is enabled." '
              'logModule=kopia/kopia/format sublevel=error\n')


@pytest.mark.parametrize(("text", "blobs", "mode", "mmap", "error"), [
    ("", None, None, False, None),
    (None, None, None, False, None),
    (KOPIA_LINE.format(n=2438), 2438, None, False, None),
    (KOPIA_LINE.format(n=1200) + KOPIA_LINE.format(n=2438) + KOPIA_LINE.format(n=1800), 2438, None, False, None),
    ('msg="Running quick maintenance..."\nmsg="Finished quick maintenance."\n', None, "quick", False, None),
    ('msg="Running full maintenance..."\n', None, "full", False, None),
    ('msg="unable to create memory-mapped segment: unable to create memory-mapped file: open : no such file"\n',
     None, None, True, None),
    ("Repo maintenance error: failed to prune repo: context deadline exceeded\n", None, None, False,
     "failed to prune repo: context deadline exceeded"),
    ("found too many index blobs (12)\n", None, None, False, None),  # kopia's exact spelling only
])
def test_parse_maintenance_log(text, blobs, mode, mmap, error) -> None:
    findings = m.parse_maintenance_log(text)
    assert (findings.index_blobs, findings.kopia_mode, findings.mmap_fallback, findings.error) == (blobs, mode, mmap, error)


@given(counts=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=20),
       noise=st.text(alphabet=st.characters(blacklist_characters="(F"), max_size=50))
def test_parse_maintenance_log_finds_largest_count(counts: list[int], noise: str) -> None:
    text = noise + "\n".join(KOPIA_LINE.format(n=n) for n in counts) + noise
    assert m.parse_maintenance_log(text).index_blobs == max(counts)


def attempt(outcome: str, limit: str = "1Gi", extra: bool = False) -> dict:
    return {"outcome": outcome, "memory_limit": limit, "extra": extra}


@pytest.mark.parametrize(("attempts", "ceiling", "outcome"), [
    ([], None, "skipped"),
    ([attempt("succeeded")], None, "succeeded"),
    ([attempt("oom_killed"), attempt("succeeded", "2Gi")], 2 * 2**30, "succeeded"),
    ([attempt("oom_killed"), attempt("oom_killed", "2Gi")], 2 * 2**30, "oom_cap_reached"),
    ([attempt("oom_killed"), attempt("evicted", "2Gi")], 2 * 2**30, "oom_cap_reached"),
    ([attempt("oom_killed"), attempt("failed", "2Gi")], 2 * 2**30, "failed"),
    ([attempt("timed_out")], None, "timed_out"),
    ([attempt("oom_killed"), attempt("timed_out", "2Gi")], 2 * 2**30, "timed_out"),
    # No ladder (no cap, or no way to raise memory): the one limit there is counts as the cap.
    ([attempt("oom_killed", "0")], None, "oom_cap_reached"),
    # The ladder stopped below the cap (Velero kept starting Jobs with the old limit): not "cap reached".
    ([attempt("oom_killed"), attempt("oom_killed", "1Gi", extra=True)], 2 * 2**30, "failed"),
    # An extra Job that happened to have the cap does not count as the planned cap rung either.
    ([attempt("oom_killed"), attempt("oom_killed", "2Gi", extra=True)], 2 * 2**30, "failed"),
    # ... but the planned cap rung that ran out of memory does, even if extra attempts followed.
    ([attempt("oom_killed", "2Gi"), attempt("oom_killed", "1Gi", extra=True)], 2 * 2**30, "oom_cap_reached"),
])
def test_final_outcome(attempts: list[dict], ceiling: int | None, outcome: str) -> None:
    assert m.final_outcome(attempts, ceiling) == outcome
    assert outcome in m.OUTCOMES


def test_final_outcome_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="attempt outcome"):
        m.final_outcome([attempt("exploded")])


def test_advice_per_version() -> None:
    old = m.maintenance_advice(release("1.14.1"), outcome="succeeded", index_blobs=2438, kopia_mode="quick",
                               mmap_fallback=True, repository_config=None)
    text = " ".join(old)
    assert "2438 index blobs" in text and "not available on Velero 1.14.1" in text
    assert "memory-mapped segment" in text and "quick cycle" in text
    new = " ".join(m.maintenance_advice(release("1.16.2"), outcome="oom_cap_reached", index_blobs=2438,
                                        kopia_mode="full", mmap_fallback=False, repository_config={}))
    assert "fastGC" in new and "spec.repositoryConfig.fullMaintenanceInterval" in new
    assert "raise memory_cap" in new
    calm = " ".join(m.maintenance_advice(release("1.18.1"), outcome="succeeded", index_blobs=None, kopia_mode=None,
                                         mmap_fallback=False, repository_config={"fullMaintenanceInterval": "fastGC"}))
    assert "fullMaintenanceInterval: fastGC is fine" in calm
    assert "index blobs" not in calm.split("change it only if", maxsplit=1)[0]


def test_summary_lines() -> None:
    lines = m.summary_lines([
        {"name": "a", "outcome": "succeeded",
         "attempts": [{"memory_limit": "4Gi", "outcome": "oom_killed"}, {"memory_limit": "6Gi", "outcome": "succeeded"}],
         "index_blobs": 2438, "duration_seconds": 12.0, "message": "done"},
        {"name": "b", "outcome": "skipped", "attempts": [], "index_blobs": None, "message": "busy"},
        {"name": "c", "outcome": "succeeded", "index_blobs": None, "message": "",
         "attempts": [{"memory_limit": "1Gi", "outcome": "oom_killed"},
                      {"memory_limit": "1Gi", "planned_memory_limit": "1536Mi", "extra": True, "outcome": "oom_killed"},
                      {"memory_limit": "1536Mi", "outcome": "succeeded"}]},
    ])
    assert lines == ["a: succeeded; attempts [4Gi: oom_killed, 6Gi: succeeded]; index blobs 2438; 12.0s - done",
                     "b: skipped - busy",
                     "c: succeeded; attempts [1Gi: oom_killed, 1Gi (planned 1536Mi): oom_killed, 1536Mi: succeeded]"]
