#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: repo_maintenance
short_description: Run Velero repository maintenance now, follow it, and recover OOMKilled runs
version_added: 0.1.0
description:
  - Velero has no command that runs repository maintenance on demand (C(velero repo) has only C(get) in every
    release from 1.12 to 1.18). From Velero 1.14 the BackupRepository controller starts a maintenance Job when
    C(status.lastMaintenanceTime + spec.maintenanceFrequency) has passed. This module makes selected repositories
    due, follows the Job Velero starts, and reports the result.
  - "Preflight: the Velero version (Job-based maintenance needs 1.14+; on 1.12 and 1.13 maintenance runs inside the
    server and the module explains what to size instead), the server Deployment name (Velero builds Jobs from the
    Deployment named C(velero); Helm charts up to 10.x may name it otherwise), the BackupStorageLocation (Available,
    not ReadOnly), the repository phase, and backups, restores or backup deletions in progress that use the
    repository (wait or skip, O(on_busy))."
  - "Resources: on Velero 1.15+ the module writes C(podResources) (all four fields) into the maintenance ConfigMap
    under the per-repository key C(<volumeNamespace>-<bsl>-<repoType>) (or C(global), O(config_scope)). If the
    server references no ConfigMap, the module creates one and reports the server flag and Helm value it needs in
    RV(actions_required). On 1.14 Job resources come from server flags only; the module reports the flags and Helm
    values to set and leaves the Deployment alone."
  - "Trigger: C(status.lastMaintenanceTime) is merge-patched to null (default) or C(spec.maintenanceFrequency) is
    temporarily shortened to C(1m) (O(trigger)). The same patch records the original value and the time on the
    object itself, in the annotation C(velero-ops.tuning/restore-last-maintenance-time) or
    C(velero-ops.tuning/restore-maintenance-frequency). Temporary changes are restored always (and the annotation
    removed): after the run, on failure, on a timeout and on SIGTERM/SIGINT/SIGHUP; on a signal the final report
    also goes to O(progress_file)."
  - "Leftovers: a run that could not restore (killed with SIGKILL, the API down at that moment) leaves the
    annotation behind. Every later run finds it, puts the original value back when the field still holds the
    temporary value (else only removes the annotation), and lists it in RV(leftovers); in check mode, or when the
    repository selection fails, it is only reported."
  - "Bounded work: every API request, client retry, C(Retry-After) wait, 409 re-read and poll of an attempt ends by
    the attempt's deadline (O(timeout)); a list whose server repeats a continue token, or never ends, is an error
    naming the list. Objects the API returns are checked before use: an unexpected type fails the repository with
    the object's kind, name and field, and the run still restores and reports."
  - "Follow: the Job is found by its C(velero.io/repo-name) label (a SHA3-224 hash of names longer than 63 characters
    on Velero 1.18+), waited for with a bounded O(timeout), and its Job status, pod termination reason, the
    C(status.recentMaintenance) entry (1.16+), message and kopia's index-blob warning in the pod log
    (C(Found too many index blobs)) are collected."
  - "Recover: when the pod is OOMKilled, or evicted because its node ran low on memory, the memory limit is raised
    along a ladder (start x O(memory_step) per step, rounded up to whole Mi, never above O(memory_cap)) and
    maintenance runs again; the ladder is finite and stops at the cap with outcome V(oom_cap_reached). The memory
    limit that succeeded stays in the ConfigMap."
  - "Velero retries a failed repository on its own (it looks at every repository every 5 minutes), so the next Job
    may start with the previous limit before the module has written the next rung. Such a Job is followed as an
    extra attempt (C(extra=true) in RV(results[].attempts)) and the planned rung is tried again, at most twice per
    rung; V(oom_cap_reached) is only reported when a Job that really had the highest limit ran out of memory. A Job
    Velero started on its own between two attempts is always followed before the module triggers again (it may
    already have succeeded)."
  - "Full maintenance: Velero runs kopia in auto mode, so a triggered run is a full cycle only when kopia's 24h
    full cycle is due. RV(full_maintenance) and the per-repository advice explain this and C(fullMaintenanceInterval)
    (Velero 1.16+). Running kopia directly is a manual path documented in C(docs/runbooks/repo-maintenance.md)."
  - Repositories are processed one at a time, because Velero's controller runs one maintenance Job at a time.
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
  - velero_ops.tuning.k8s_auth
attributes:
  check_mode:
    support: full
    details:
      - Reads everything, writes nothing; RV(results[].planned) and RV(patches) list the exact ConfigMap change and
        merge patch a real run starts with.
  diff_mode:
    support: full
    details:
      - Shows the maintenance ConfigMap entry and the BackupRepository fields before and after.
  idempotent:
    support: partial
    details:
      - Resource changes converge; a second run with the same options writes no ConfigMap change.
      - Triggering maintenance is an action, not a state; every run that is not in check mode runs maintenance
        again and reports C(changed).
options:
  velero_namespace:
    description: Namespace where Velero (server Deployment, BackupRepositories, maintenance Jobs) runs.
    type: str
    default: velero
  repositories:
    description:
      - Names of BackupRepositories to maintain.
      - Together with O(volume_namespaces), a repository is selected when it matches either; when both are empty
        every BackupRepository is selected.
      - A name that matches no BackupRepository fails the task before anything is changed, listing the names that
        exist (a typo must not pass as "nothing to do").
    type: list
    elements: str
    default: []
  volume_namespaces:
    description:
      - Select the BackupRepositories whose C(spec.volumeNamespace) is one of these namespaces.
      - A namespace that no BackupRepository has fails the task before anything is changed.
    type: list
    elements: str
    default: []
  pod_resources:
    description:
      - Starting resources of the maintenance Job. Missing fields are taken from the current maintenance config,
        else V(0) (no request or limit).
      - Default is the current maintenance config when it has a memory limit, else the recommendation from
        O(recommendation) or O(sizing), else Velero's default (no requests or limits, no memory ladder).
    type: dict
    suboptions:
      cpuRequest:
        description: CPU request, for example V(500m).
        type: str
      cpuLimit:
        description: CPU limit, for example V(2).
        type: str
      memoryRequest:
        description: Memory request, for example V(2Gi).
        type: str
      memoryLimit:
        description: Memory limit where the ladder starts, for example V(4Gi).
        type: str
      ephemeralStorageRequest:
        description: Ephemeral storage request (Velero 1.18.1+; dropped with a note on older versions).
        type: str
      ephemeralStorageLimit:
        description: Ephemeral storage limit (Velero 1.18.1+; dropped with a note on older versions).
        type: str
  memory_cap:
    description:
      - Highest memory limit the ladder may set, as a Kubernetes quantity such as V(16Gi).
      - Without it there is no retry with more memory; an OOMKilled run ends with V(oom_cap_reached).
      - A starting limit above the cap is lowered to the cap.
    type: str
  memory_step:
    description: Factor between two rungs of the memory ladder (1.1 to 4).
    type: float
    default: 1.5
  timeout:
    description:
      - Seconds to wait for one maintenance attempt, from the trigger to the end of the Job.
      - Velero's controller looks at repositories every 5 minutes (sooner after a spec change), so allow for that.
      - On a timeout the Job is left running (Velero waits for it) and the remaining repositories are skipped.
      - Everything the attempt does with the API (requests, retries, C(Retry-After) waits, 409 re-reads) ends by
        this deadline too. Putting temporary changes back gets its own time afterwards (the smaller of O(timeout)
        and 60 seconds, at least 10).
    type: float
    default: 3600
  poll_interval:
    description: Seconds between two looks at the Job and the BackupRepository.
    type: float
    default: 10
  trigger:
    description:
      - How to make a repository due.
      - V(last_maintenance_time) merge-patches C(status.lastMaintenanceTime) to null; Velero 1.14+ notices it at its
        next periodic pass (at most 5 minutes). Put back when maintenance did not succeed.
      - V(frequency) sets C(spec.maintenanceFrequency) to C(1m); a spec change makes Velero look at once. Restored as
        soon as the Job exists, and in any case on the way out.
    type: str
    choices: [last_maintenance_time, frequency]
    default: last_maintenance_time
  on_busy:
    description:
      - What to do when a backup, restore or backup deletion that may use the repository is in progress, or a
        maintenance Job for it is already running.
      - V(wait) polls until it is idle (at most O(busy_timeout) seconds, then skips); V(skip) skips at once.
    type: str
    choices: [wait, skip]
    default: wait
  busy_timeout:
    description: Seconds to wait for a repository to become idle when O(on_busy=wait).
    type: float
    default: 1800
  config_scope:
    description:
      - Maintenance ConfigMap key the resources are written to (Velero 1.15+).
      - V(repository) writes C(<volumeNamespace>-<bsl>-<repoType>), which only this repository uses;
        V(global) changes the default of every repository without its own key.
    type: str
    choices: [repository, global]
    default: repository
  configmap_name:
    description:
      - Name of the maintenance ConfigMap to create when the server references none
        (C(--repo-maintenance-job-configmap)). The Helm chart's default name is used by default.
    type: str
    default: velero-repo-maintenance
  velero_version:
    description:
      - Velero version, when the server image tag does not tell it (for example a digest-only image).
      - Must be a supported version (1.12.0 to 1.18.x); anything else fails the task.
    type: str
  recommendation:
    description:
      - A recommendation returned by M(velero_ops.tuning.sizing); its C(maintenance.pod_resources) (or the
        per-repository entry) is the starting point when there is no O(pod_resources) and no bounded current config.
      - The whole task result registered from M(velero_ops.tuning.sizing) is accepted too (its C(recommendation) is
        used); any other dictionary fails the task.
    type: dict
  sizing:
    description:
      - Inputs of M(velero_ops.tuning.sizing) (C(cluster), C(data), optional C(policy)); the recommendation is computed
        from them when O(recommendation) is not given. C(velero_version) defaults to the detected version.
    type: dict
  progress_file:
    description:
      - File to append one line per progress event to, for C(tail -f) while a long maintenance runs (also in check
        mode; the file is on the machine that runs the module, the controller for the role and playbook).
      - Progress is also sent to the system log and returned in RV(progress). If the file cannot be written the run
        goes on and a warning says so.
      - The role C(velero_ops.tuning.repo_maintenance) sets a file by default and prints its path before the run.
      - Created with mode C(0600). A symbolic link is never followed (the module warns and keeps progress in the
        result only).
      - When the run is interrupted by a signal, the last line is the final report (what was and was not restored,
        with the commands); with V(json) it carries C(report) with RV(restored), RV(unrestored) and RV(leftovers).
    type: path
  progress_format:
    description:
      - "V(json) writes one JSON object per line (C(time), C(repository), C(event)); V(text) writes
        C(<time> <repository>: <event>), easier to read with C(tail -f)."
    type: str
    choices: [json, text]
    default: json
  fail_on_error:
    description:
      - Fail the task when a repository ends V(failed), V(oom_cap_reached) or V(timed_out). The results are returned
        either way.
      - A temporary change that could not be put back (RV(unrestored)) fails the task regardless.
    type: bool
    default: true
notes:
  - "Permissions: C(docs/rbac/repo-maintenance-role.yaml) lists the exact Role the module needs in the Velero
    namespace. No Secret is ever read."
  - "The ConfigMap change is persistent by design: the memory limit that succeeded stays, so Velero's hourly runs
    keep working. When the whole ladder fails the last limit tried stays. When the ConfigMap is managed by Helm, put
    the values into the chart values too (see RV(actions_required))."
  - "The worst-case run time of one repository is the number of ladder rungs times O(timeout), times three when
    Velero keeps starting Jobs with the previous limit (extra attempts)."
seealso:
  - name: Runbook
    description: Repository maintenance runbook (docs/runbooks/repo-maintenance.md in the collection).
    link: https://example.invalid/velero_ops/tuning/-/tree/main/docs/runbooks/repo-maintenance.md
"""

EXAMPLES = r"""
- name: Run maintenance for the repositories of two namespaces, raising memory up to 16Gi on OOMKilled
  velero_ops.tuning.repo_maintenance:
    kubeconfig: ~/.kube/prod.yaml
    volume_namespaces: [payments, ledger]
    pod_resources:
      cpuRequest: 500m
      cpuLimit: "2"
      memoryRequest: 2Gi
      memoryLimit: 4Gi
    memory_cap: 16Gi
    timeout: 14400
    poll_interval: 30
  register: maintenance

- name: Show what would be patched, without changing anything
  velero_ops.tuning.repo_maintenance:
    context: prod
    repositories: [payments-default-kopia]
    memory_cap: 8Gi
  check_mode: true
  diff: true

- name: Start from the sizing recommendation
  velero_ops.tuning.repo_maintenance:
    sizing:
      cluster: {namespaces: 120, objects: 40000, resource_types: 180}
      data: {volume_bytes: 763GB, largest_repository_bytes: 700GB}
    memory_cap: 12Gi
    trigger: frequency
"""

RETURN = r"""
results:
  description: One item per selected repository.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: BackupRepository name.
      type: str
    outcome:
      description: V(succeeded), V(failed), V(oom_cap_reached), V(timed_out) or V(skipped) (also in check mode).
      type: str
    attempts:
      description:
        - One item per maintenance Job, in order. C(memory_limit) is the Job's memory limit (V(0) = none);
          C(outcome) is V(succeeded), V(failed), V(oom_killed), V(evicted) (the kubelet evicted the pod because the
          node ran low on memory; treated like V(oom_killed)) or V(timed_out).
        - C(planned_memory_limit) is the rung the module had written; C(extra) is V(true) when the Job had another
          limit (Velero started it before the ConfigMap change) - it is followed but does not count as the rung.
        - Also C(job), C(pod), C(reason) (container termination reason), C(exit_code), C(pod_reason) and
          C(pod_message) (the pod's own status, for example C(Evicted)), C(duration_seconds), C(index_blobs),
          C(kopia_mode), C(recent_maintenance), C(message).
      type: list
      elements: dict
    index_blobs:
      description: Index blobs kopia reported in its warning C(Found too many index blobs); null when it did not
        warn (at most 1000).
      type: int
    message:
      description: What happened, in one sentence.
      type: str
    last_maintenance_before:
      description: C(status.lastMaintenanceTime) before the run.
      type: str
    last_maintenance_after:
      description: C(status.lastMaintenanceTime) after the run.
      type: str
    duration_seconds:
      description: Seconds this repository took, from its checks (including any wait for a backup, restore or
        deletion using it, at most O(busy_timeout)) to the result.
      type: float
    recent_maintenance:
      description: Newest C(status.recentMaintenance) entry (Velero 1.16+).
      type: dict
    kopia_mode:
      description: V(full) or V(quick), as kopia logged it; null when not logged.
      type: str
    pod_resources:
      description: podResources of the last attempt (or the current config).
      type: dict
    resources_source:
      description: Where the starting resources came from.
      type: str
    advice:
      description: Notes on the run, C(fullMaintenanceInterval), index blobs and what to do at the cap.
      type: list
      elements: str
    planned:
      description: Check mode only - the exact writes a real run starts with (same shape as RV(patches)).
      type: list
      elements: dict
    config_key:
      description: Per-repository key of the maintenance ConfigMap, C(<volumeNamespace>-<bsl>-<repoType>).
      type: str
  sample:
    - name: payments-default-kopia
      outcome: succeeded
      attempts:
        - {memory_limit: 4Gi, outcome: oom_killed}
        - {memory_limit: 6Gi, outcome: succeeded}
      index_blobs: 2438
      message: maintenance succeeded in 41m12s (kopia full cycle)
repositories:
  description: Every BackupRepository of the namespace with its last and recent maintenance.
  returned: success
  type: list
  elements: dict
velero:
  description: Detected version, maintenance mechanism, server Deployment and maintenance ConfigMap; C(explanation)
    when maintenance cannot run as a Job.
  returned: success
  type: dict
actions_required:
  description: Changes only a person can make (server flags, Helm values), each with C(summary), C(server_flags)
    and C(helm_values).
  returned: always
  type: list
  elements: dict
patches:
  description: Every write, with the exact body; C(temporary) ones are restored.
  returned: always
  type: list
  elements: dict
restored:
  description: Temporary changes that were put back.
  returned: always
  type: list
  elements: str
unrestored:
  description:
    - Temporary changes that could not be put back (for example the API answered 503 at the end). The task fails
      and its C(msg) names each of them. C(command) puts the value back by hand; run it only if C(field) still holds
      C(temporary_value) (Velero may have written a newer value since).
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: BackupRepository name.
      type: str
    field:
      description: C(status.lastMaintenanceTime) or C(spec.maintenanceFrequency).
      type: str
    original:
      description: The value before the run.
      type: raw
    temporary_value:
      description: What the module wrote (null or V(1m)).
      type: raw
    command:
      description:
        - C(kubectl -n <namespace> patch backuprepository <name> --type merge -p '...') that restores it and removes
          the restore annotation. The JSON is built with C(json.dumps) and every argument quoted for a POSIX shell,
          so it is safe to paste whatever value the cluster holds.
      type: str
    error:
      description: Why the restore failed.
      type: str
  sample:
    - repository: payments-default-kopia
      field: status.lastMaintenanceTime
      original: "2024-12-03T07:00:00Z"
      temporary_value: null
      command: >-
        kubectl -n velero patch backuprepository payments-default-kopia --type merge
        -p '{"status":{"lastMaintenanceTime":"2024-12-03T07:00:00Z"},"metadata":{"annotations":{"velero-ops.tuning/restore-last-maintenance-time":null}}}'
      error: "PATCH ...: the Kubernetes API ... kept answering 503"
leftovers:
  description:
    - Restore annotations (C(velero-ops.tuning/restore-*)) an earlier, interrupted run left on BackupRepositories,
      and what this run did about them.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: BackupRepository name.
      type: str
    field:
      description: C(status.lastMaintenanceTime) or C(spec.maintenanceFrequency).
      type: str
    original:
      description: The value before the interrupted run, from the annotation.
      type: raw
    temporary_value:
      description: What the interrupted run wrote (null or V(1m)).
      type: raw
    since:
      description: When the interrupted run wrote it.
      type: str
    action:
      description:
        - V(restored) (the field held the temporary value and got the original back), V(cleared) (the field had
          changed since, only the annotation was removed), V(reported) (check mode, a failed repository selection,
          or an annotation the module cannot read; nothing changed) or V(failed) (the restore failed; also in
          RV(unrestored)).
      type: str
    message:
      description: What happened, in one sentence.
      type: str
  sample:
    - repository: payments-default-kopia
      field: spec.maintenanceFrequency
      original: 1h0m0s
      temporary_value: 1m
      since: "2024-12-03T08:00:00Z"
      action: restored
      message: "spec.maintenanceFrequency was still 1m since 2024-12-03T08:00:00Z: restored to 1h0m0s"
progress:
  description: Timestamped progress events.
  returned: always
  type: list
  elements: dict
summary:
  description: One readable line per repository.
  returned: always
  type: list
  elements: str
full_maintenance:
  description: How Velero runs kopia maintenance (auto mode, 24h full cycle) and why there is no on-demand full run.
  returned: always
  type: str
"""

import json
import os
import signal
import time
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube, _kube_errors
from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import HideKubeconfigSecrets, auth_argspec
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import Deadline
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_run import MaintenanceRunner, RunnerError
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import format_timestamp

try:
    from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend as _recommend
except ImportError:  # the sizing model is optional here: pod_resources or the current config also work
    _recommend = None

_UNSUCCESSFUL = ("failed", "oom_cap_reached", "timed_out")
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


class MaintenanceInterrupted(KeyboardInterrupt):
    """A termination signal arrived; unwinding runs the restores."""


class SignalGuard:
    """Turn termination signals into an exception, except while restoring (then deliver it afterwards)."""

    def __init__(self) -> None:
        self.shielded = 0
        self.pending: int | None = None
        self.received: int | None = None

    def install(self) -> None:
        for number in _SIGNALS:
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: t.Any) -> None:
        self.received = number
        if self.shielded:
            self.pending = number
            return
        raise MaintenanceInterrupted(f"signal {number}")

    def shield(self) -> "SignalGuard":
        return self

    def __enter__(self) -> "SignalGuard":
        self.shielded += 1
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.shielded -= 1
        if not self.shielded and self.pending is not None and exc_info[0] is None:
            number, self.pending = self.pending, None
            raise MaintenanceInterrupted(f"signal {number}")


def argument_spec() -> dict[str, t.Any]:
    spec = auth_argspec()
    resource_fields = {name: {"type": "str"} for name in _maintenance.POD_RESOURCE_FIELDS + _maintenance.EPHEMERAL_FIELDS}
    spec.update(
        velero_namespace={"type": "str", "default": "velero"},
        repositories={"type": "list", "elements": "str", "default": []},
        volume_namespaces={"type": "list", "elements": "str", "default": []},
        pod_resources={"type": "dict", "options": resource_fields},
        memory_cap={"type": "str"},
        memory_step={"type": "float", "default": 1.5},
        timeout={"type": "float", "default": 3600},
        poll_interval={"type": "float", "default": 10},
        trigger={"type": "str", "choices": list(_maintenance.TRIGGER_METHODS), "default": "last_maintenance_time"},
        on_busy={"type": "str", "choices": list(_maintenance.ON_BUSY_CHOICES), "default": "wait"},
        busy_timeout={"type": "float", "default": 1800},
        config_scope={"type": "str", "choices": list(_maintenance.CONFIG_SCOPES), "default": "repository"},
        configmap_name={"type": "str", "default": _maintenance.DEFAULT_CONFIGMAP_NAME},
        velero_version={"type": "str"},
        recommendation={"type": "dict"},
        sizing={"type": "dict"},
        progress_file={"type": "path"},
        progress_format={"type": "str", "choices": ["json", "text"], "default": "json"},
        fail_on_error={"type": "bool", "default": True},
    )
    return spec


class _Module(HideKubeconfigSecrets, AnsibleModule):
    """AnsibleModule that hides the credentials of a kubeconfig mapping (only those) from every output."""


class ProgressWriter:
    """Progress to the system log and, when asked, appended to a file (JSON lines or text lines for
    ``tail -f``). Writing the file never stops maintenance: a failure becomes one warning.

    The file is opened without following a symbolic link (``O_NOFOLLOW``) and created ``0600``: a link
    planted where the progress file goes cannot redirect the writes outside the output directory.
    """

    def __init__(self, module: AnsibleModule, path: str | None, text: bool) -> None:
        self.module = module
        self.path = path
        self.text = text
        self.problem: str | None = None

    def __call__(self, entry: dict[str, t.Any]) -> None:
        line = f"{entry['time']} {entry.get('repository') or '-'}: {entry['event']}"
        try:
            self.module.log(f"repo_maintenance: {line}")
        except Exception:  # syslog/journal unavailable: progress still goes to the result and the file
            pass
        self._append(line if self.text else json.dumps(entry, sort_keys=True))

    def report(self, entry: dict[str, t.Any], report: t.Mapping[str, t.Any]) -> None:
        """The final word of an interrupted run: Ansible may have closed the module's output by then, so what
        was and was not restored (with the commands) goes to the progress file too."""
        self.module.log(f"repo_maintenance: {entry['event']}")
        if self.text:
            lines = [f"{entry['time']} -: {entry['event']}"]
            lines += [f"{entry['time']} {u['repository']}: NOT restored {u['field']}: {u['command']}"
                      for u in report.get("unrestored") or []]
            self._append("\n".join(lines))
        else:
            final = {key: report.get(key) for key in ("restored", "unrestored", "leftovers")}
            self._append(json.dumps({**entry, "report": final}, sort_keys=True))

    def _append(self, text: str) -> None:
        if not self.path or self.problem:
            return
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            descriptor = os.open(self.path, flags, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if os.path.islink(self.path):
                reason = "it is a symbolic link, which is not followed"
            self.problem = f"progress_file {self.path}: {reason}; progress is only in the result"


def main() -> t.NoReturn:
    module = _Module(argument_spec=argument_spec(), supports_check_mode=True)
    if not _kube.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
    # One deadline for the current step (an attempt: timeout). The client sleeps through it, so its retry and
    # Retry-After waits end at the deadline too.
    deadline = Deadline(time.time, time.sleep)
    try:
        options = _maintenance.parse_options(module.params)
        client = _kube.KubeClient(_kube.ConnectionOptions.from_params(module.params), sleep=deadline.sleep)
    except ValueError as exc:  # KubeConfigError is a ValueError too
        module.fail_json(msg=str(exc))
    guard = SignalGuard()
    guard.install()
    progress = ProgressWriter(module, module.params["progress_file"], module.params["progress_format"] == "text")
    runner = MaintenanceRunner(client, options, check_mode=module.check_mode, on_progress=progress,
                               shield=guard.shield, recommend=_recommend, deadline=deadline)
    try:
        report = runner.run()
    except MaintenanceInterrupted:
        message = (f"interrupted by signal {guard.received}; temporary changes restored: "
                   f"{len(runner.report['restored'])}")
        if runner.report["unrestored"]:
            message += "; " + _unrestored_text(runner.report["unrestored"])
        progress.report({"time": format_timestamp(time.time()), "repository": None, "event": message}, runner.report)
        module.fail_json(msg=message, **_result(module, runner.report, runner, progress))
    except (RunnerError, _kube_errors.KubeAPIError, ValueError) as exc:
        message = str(exc)
        if isinstance(exc, _kube_errors.KubeForbidden):
            message += " (docs/rbac/repo-maintenance-role.yaml lists every permission the module needs)"
        _fail(module, message, runner, progress)
    except Exception as exc:  # a defect: the restores already ran on the way out; report them all the same
        _fail(module, f"repo_maintenance stopped on an unexpected error: {type(exc).__name__}: {exc}", runner,
              progress, exception=traceback.format_exc())
    finally:
        client.close()
    result = _result(module, report, runner, progress)
    unsuccessful = [r for r in report["results"] if r["outcome"] in _UNSUCCESSFUL]
    problems = []
    if unsuccessful and module.params["fail_on_error"]:
        problems.append("repository maintenance did not succeed for "
                        + ", ".join(f"{r['name']} ({r['outcome']})" for r in unsuccessful))
    if report["unrestored"]:
        problems.append(_unrestored_text(report["unrestored"]))
    if problems:
        module.fail_json(msg="; ".join(problems), **result)
    module.exit_json(**result)


def _unrestored_text(unrestored: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """Temporary changes that are still in place, with the command that puts each back."""
    return "temporary changes NOT restored (see unrestored): " + "; ".join(
        f"{u['repository']} {u['field']} (was {json.dumps(u['original'])}; if it is still "
        f"{json.dumps(u['temporary_value'])}, run: {u['command']})" for u in unrestored)


def _result(module: AnsibleModule, report: dict[str, t.Any], runner: MaintenanceRunner,
            progress: ProgressWriter) -> dict[str, t.Any]:
    result = dict(report)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if progress.problem:
        module.warn(progress.problem)
    result.pop("diff", None)
    result.setdefault("summary", _maintenance.summary_lines(result.get("results") or []))
    if module._diff:
        result["diff"] = runner.diff
    return result


def _fail(module: AnsibleModule, message: str, runner: MaintenanceRunner, progress: ProgressWriter,
          **extra: t.Any) -> t.NoReturn:
    if runner.report["unrestored"]:
        message += "; " + _unrestored_text(runner.report["unrestored"])
    module.fail_json(msg=message, **extra, **_result(module, runner.report, runner, progress))


if __name__ == "__main__":
    main()
