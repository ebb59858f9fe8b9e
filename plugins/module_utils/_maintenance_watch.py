# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Follow one maintenance attempt: find the Job Velero starts for the repository (or one it started on its own),
watch the Job and its pod until they finish or the timeout passes, read the pod log, and wait until Velero has
recorded the result on the BackupRepository. Job and pod states are classified by ``_maintenance.classify_job``.

No Ansible imports.
"""

from __future__ import annotations

import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError, KubeForbidden, KubeNotFound
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import DEADLINE_ERRORS, Deadline
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext, object_name
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_journal import UndoJournal
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_trigger import Trigger
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import format_seconds

PROGRESS_EVERY_SECONDS = 60.0
STATUS_GRACE_SECONDS = 60.0  # how long Velero may take to record a finished Job on the BackupRepository
LOG_TAIL_LINES = 20000  # the index-blob warning repeats at every index refresh, so the tail has it too


class JobWatcher:
    """One attempt = one maintenance Job of one repository, followed to its end."""

    def __init__(self, ctx: RunContext, trigger: Trigger, journal: UndoJournal) -> None:
        self.ctx = ctx
        self.trigger = trigger
        self.journal = journal

    def repository_jobs(self, repository: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
        label = m.repo_name_label(object_name(repository), self.ctx.rel)
        return self.ctx.api.list("Job", self.ctx.jobs_path(), label_selector=f"{m.REPO_NAME_LABEL}={label}")

    def attempt(self, repository: dict[str, t.Any], known_jobs: set[str],
                resources: dict[str, str] | None) -> dict[str, t.Any]:
        """One attempt, from the trigger to the end of the Job, within ``timeout``: every request, retry wait and
        re-read included. When the time runs out while the API misbehaves, the attempt ends ``timed_out``."""
        name = object_name(repository)
        began = self.ctx.clock()
        planned_limit = resources.get("memoryLimit") if resources else None
        attempt: dict[str, t.Any] = {"memory_limit": planned_limit or "0", "outcome": "timed_out", "job": None,
                                     "pod": None, "reason": None, "exit_code": None, "pod_reason": None,
                                     "pod_message": None, "duration_seconds": None, "started": None, "completed": None,
                                     "index_blobs": None, "kopia_mode": None, "recent_maintenance": None, "message": "",
                                     "planned_memory_limit": planned_limit, "extra": False}
        try:
            with self.ctx.limit(self.ctx.options.timeout, f"maintenance attempt for {name}"):
                return self._follow(repository, known_jobs, attempt, began)
        except DEADLINE_ERRORS as exc:
            attempt.update(outcome="timed_out", message=str(exc))
            attempt["duration_seconds"] = round(self.ctx.clock() - began, 3)
            self.ctx.progress(name, str(exc))
            return attempt

    def _follow(self, repository: dict[str, t.Any], known_jobs: set[str], attempt: dict[str, t.Any],
                began: float) -> dict[str, t.Any]:
        name = object_name(repository)
        opts = self.ctx.options
        deadline = began + opts.timeout
        planned_limit = attempt["planned_memory_limit"]
        # A Job Velero already started on its own (its retry right after the previous attempt failed) comes first:
        # it may even have succeeded by now, and triggering again would start one more maintenance for nothing.
        # The repository is read before the Jobs are listed: a Job still active then has no result in that read.
        baseline: dict[str, t.Any] | None = self.ctx.api.get("BackupRepository",
                                                             self.ctx.velero_path("backuprepositories", name))
        job = self.oldest_new_job(repository, known_jobs)
        if job is None:
            baseline = self.trigger.make_due(name)
        else:
            if not m.is_job_active(job):
                baseline = None  # it ended before it was found: its result may be in the read already
            self.ctx.progress(name, f"Job {object_name(job)} was started by Velero on its own after the previous attempt; "
                              f"following it")
        while job is None:
            # The repository is read before the Jobs are listed: a result in this read comes from a Job that
            # already exists (Velero keeps the latest Jobs), so the list below finds it. Listed first, a Job
            # created and finished in between looked like a result without a Job (the -n 8 flake).
            current = self.ctx.api.get("BackupRepository", self.ctx.velero_path("backuprepositories", name))
            job = self.oldest_new_job(repository, known_jobs)
            if job is not None:
                break
            if m.result_recorded(current, t.cast(dict, baseline)):
                return self._status_only_result(current, attempt, began)
            self.ctx.pause(opts.poll_interval)
            # The pause ends at the step's deadline at the latest: then there is no time left for another look.
            if self.ctx.clock() >= deadline or t.cast(Deadline, self.ctx.deadline).expired():
                attempt["message"] = (f"Velero started no maintenance Job within {format_seconds(opts.timeout)}; its "
                                      f"controller looks at repositories every 5 minutes and runs one Job at a time")
                attempt["duration_seconds"] = round(self.ctx.clock() - began, 3)
                return attempt
        if opts.trigger == "frequency":
            self.journal.restore(name)  # the Job exists: a 1m frequency must not start more of them
        job_name = object_name(job)
        attempt["job"] = job_name
        attempt["memory_limit"] = m.job_memory_limit(job)
        self.ctx.progress(name, f"Job {job_name} started (memory limit {attempt['memory_limit']})")
        if planned_limit and m.memory_bytes(attempt["memory_limit"]) != m.memory_bytes(planned_limit):
            # Started from the ConfigMap as it was before this rung was written (Velero's periodic retry of a
            # failed repository): followed, but it does not count as the planned rung.
            attempt["extra"] = True
            self.ctx.progress(name, f"Job {job_name} has memory limit {attempt['memory_limit']}, not the planned "
                              f"{planned_limit}: Velero started it before the ConfigMap change; following it")
        state, last_note, last_phase = None, self.ctx.clock(), None
        while True:
            try:
                job = self.ctx.api.get("Job", self.ctx.jobs_path(job_name))
                pods = self.ctx.api.list("Pod", f"/api/v1/namespaces/{self.ctx.ns}/pods",
                                         label_selector=f"{m.JOB_NAME_POD_LABEL}={job_name}")
            except KubeNotFound:
                attempt.update(outcome="failed", message=f"Job {job_name} was deleted before it finished")
                attempt["duration_seconds"] = round(self.ctx.clock() - began, 3)
                return attempt
            except DEADLINE_ERRORS:
                if state is None:
                    raise
                # The time ran out during a look (a slow answer at the very end): the Job was running at the last one.
                return self._still_running(attempt, state, job_name, began)
            state = m.classify_job(job, pods)
            if state.finished:
                break
            now = self.ctx.clock()
            if state.phase != last_phase:
                self.ctx.progress(name, f"Job {job_name} {state.phase}")
                last_phase = state.phase
            elif now - last_note >= PROGRESS_EVERY_SECONDS:
                self.ctx.progress(name, f"Job {job_name} {state.phase} for {format_seconds(now - began)}")
                last_note = now
            self.ctx.pause(opts.poll_interval)
            now = self.ctx.clock()
            if now >= deadline or t.cast(Deadline, self.ctx.deadline).expired():
                return self._still_running(attempt, state, job_name, began)
        # The Job has ended: reading its log and the result Velero records gets its own (short) time.
        with self.ctx.limit(self.ctx.restore_seconds, f"reading the result of Job {job_name}", independent=True):
            return self._finished_result(repository, state, attempt, baseline, began)

    def _still_running(self, attempt: dict[str, t.Any], state: m.JobState, job_name: str,
                       began: float) -> dict[str, t.Any]:
        attempt.update(pod=state.pod_name, started=state.started,
                       message=(f"Job {job_name} still {state.phase} after {format_seconds(self.ctx.options.timeout)}; "
                                f"left running (Velero waits for it and records the result); raise timeout "
                                f"for large repositories"))
        attempt["duration_seconds"] = round(self.ctx.clock() - began, 3)
        return attempt

    def oldest_new_job(self, repository: t.Mapping[str, t.Any], known_jobs: set[str]) -> dict[str, t.Any] | None:
        """The oldest maintenance Job of the repository this run has not followed yet (names end in Velero's
        unix-millis suffix, so they order like their creation within one repository)."""
        new = [j for j in self.repository_jobs(repository) if object_name(j) not in known_jobs]
        if not new:
            return None
        return min(new, key=lambda j: (nested_get(j, "metadata.creationTimestamp", ""), object_name(j)))

    def _status_only_result(self, current: t.Mapping[str, t.Any], attempt: dict[str, t.Any], began: float) -> dict[str, t.Any]:
        """Velero recorded something without a new Job: a start failure (1.16+) or a 1.14 shortcut."""
        entry = m.latest_recent_maintenance(current)
        status = current.get("status") or {}
        if entry and entry.get("result") == "Failed":
            message = entry.get("message") or "maintenance failed"
        elif status.get("message"):
            message = str(status["message"])
        else:
            message = ("Velero changed the BackupRepository status without a new maintenance Job for it (no Job "
                       "labelled velero.io/repo-name for this repository appeared); nothing was followed - check "
                       "status.message and the velero server log")
        attempt.update(outcome="failed", message=message, recent_maintenance=entry)
        attempt["duration_seconds"] = round(self.ctx.clock() - began, 3)
        return attempt

    def _finished_result(self, repository: t.Mapping[str, t.Any], state: m.JobState, attempt: dict[str, t.Any],
                         baseline: t.Mapping[str, t.Any] | None, began: float) -> dict[str, t.Any]:
        name = object_name(repository)
        rel = self.ctx.rel
        findings = m.LogFindings()
        log_note = ""
        if state.pod_name:
            try:
                findings = m.parse_maintenance_log(self.ctx.api.pod_log(state.pod_name, LOG_TAIL_LINES))
            except DEADLINE_ERRORS:
                raise
            except KubeForbidden as exc:
                log_note = f" (log not read: {exc})"
            except KubeAPIError as exc:
                log_note = f" (log not read: {exc.message})"
        if baseline is None:
            current = self.ctx.api.get("BackupRepository", self.ctx.velero_path("backuprepositories", name))
        else:
            current = self._await_status(name, baseline)
        entry = m.latest_recent_maintenance(current) if rel.recent_maintenance_status else None
        if entry is not None and baseline is not None and not m.result_recorded(current, baseline):
            entry = None  # nothing new recorded
        outcome = state.phase if state.phase in ("succeeded",) + m.MEMORY_FAILURES else "failed"
        elapsed = self.ctx.clock() - began
        attempt.update(outcome=outcome, pod=state.pod_name, reason=state.reason, exit_code=state.exit_code,
                       pod_reason=state.pod_reason, pod_message=state.pod_message,
                       started=state.started, completed=state.completed, index_blobs=findings.index_blobs,
                       kopia_mode=findings.kopia_mode, recent_maintenance=entry,
                       duration_seconds=m.job_duration(state, elapsed))
        if outcome == "succeeded":
            mode = f" (kopia {findings.kopia_mode} cycle)" if findings.kopia_mode else ""
            message = f"maintenance succeeded in {format_seconds(attempt['duration_seconds'] or elapsed)}{mode}"
        elif outcome == "oom_killed":
            message = (f"pod {state.pod_name} OOMKilled (exit code {state.exit_code}) at memory limit "
                       f"{attempt['memory_limit']}")
        elif outcome == "evicted":
            message = (f"pod {state.pod_name} evicted because the node ran low on memory, at memory limit "
                       f"{attempt['memory_limit']}: {state.pod_message}")
        else:
            pod_status = f"pod {state.pod_name} {state.pod_reason}: {state.pod_message}" if state.pod_reason else None
            detail = (pod_status or m.termination_error(state.termination_message) or findings.error
                      or (entry or {}).get("message") or nested_get(current, "status.message")
                      or f"Job {state.job_name} failed ({state.reason or 'no reason given'})")
            message = f"maintenance failed: {detail}"
        attempt["message"] = message + log_note
        attempt["mmap_fallback"] = findings.mmap_fallback
        self.ctx.progress(name, attempt["message"])
        return attempt

    def _await_status(self, name: str, baseline: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The repository once Velero has recorded the finished Job (bounded wait)."""
        path = self.ctx.velero_path("backuprepositories", name)
        deadline = self.ctx.clock() + min(STATUS_GRACE_SECONDS, self.ctx.options.timeout)
        while True:
            current = self.ctx.api.get("BackupRepository", path)
            if m.result_recorded(current, baseline) or self.ctx.clock() >= deadline:
                return current
            self.ctx.pause(self.ctx.options.poll_interval)
