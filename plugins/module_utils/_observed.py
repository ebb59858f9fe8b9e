# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the cluster itself says about Velero's memory: the ``observed`` facts of ``cluster_facts``.

Pure logic, fed by ``_facts_gather`` with objects already checked by ``_api_shapes``:

- pods in Velero's namespace: a container whose ``state`` or ``lastState`` is ``terminated`` with reason
  ``OOMKilled`` ran out of memory at that container's memory limit (the kubelet's reason for a cgroup OOM
  kill; velero.md 3.5: the reason is only on the pod, the BackupRepository only says the result is "not
  retrieveable"). Maintenance Job pods stay while ``keepLatestMaintenanceJobs`` keeps their Jobs (default 3).
  The highest such limit per role (maintenance Job, server, node-agent) is reported;
- restart counts (evidence only: a restart is not always memory);
- BackupRepositories' ``status.recentMaintenance`` (1.16+, the last 3 runs): failures counted, and kopia's
  "Found too many index blobs (N)" read from their messages (and from ``status.message`` before 1.16);
- ``metrics.k8s.io`` PodMetrics, when served: the current working set of Velero's pods, a lower bound of
  their peak (metrics-server reports the last scrape, not a maximum).

The shape of ``observed`` is the ``sizing`` input of the same name; every figure names its source in
``evidence``.
"""

from __future__ import annotations

import re
import typing as t

from ._quantity import format_memory, parse_memory
from ._restore_marks import read_marks
from ._velero_server import container_runs

OOM_REASON = "OOMKilled"
INDEX_BLOBS = re.compile(r"Found too many index blobs \((\d+)\)")
MAINTENANCE_CONTAINER = "velero-repo-maintenance-container"  # pkg/repository/maintenance (1.14+)
REPO_NAME_LABEL = "velero.io/repo-name"

ROLES = ("maintenance", "server", "node_agent")
_ROLE_TEXT = {"maintenance": "maintenance Job", "server": "Velero server", "node_agent": "node-agent"}


def pod_role(pod: t.Mapping[str, t.Any]) -> str | None:
    """``maintenance``, ``server``, ``node_agent`` or None for another pod in Velero's namespace."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    if REPO_NAME_LABEL in labels or any(c.get("name") == MAINTENANCE_CONTAINER for c in containers) \
            or any(container_runs(c, "repo-maintenance") for c in containers):
        return "maintenance"
    if any(container_runs(c, "node-agent") or container_runs(c, "restic") for c in containers):
        return "node_agent"
    if any(container_runs(c, "server") for c in containers):
        return "server"
    return None


def _memory(value: t.Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return parse_memory(value, "memory")
    except ValueError:
        return None


class Observations:
    """Folds pods, PodMetrics and BackupRepositories into ``observed`` (one object at a time)."""

    def __init__(self) -> None:
        self.oom_limits: dict[str, int] = {}
        self.peaks: dict[str, int] = {}
        self.failures: int | None = None
        self.index_blobs: int | None = None
        self.evidence: list[str] = []
        self.roles: dict[str, str] = {}  # pod name -> role
        self.node_agent_nodes: set[str] = set()
        self.metrics: str | None = None  # why there is no metrics figure, when there is none

    # -- pods --------------------------------------------------------------------------------------

    def add_pod(self, pod: t.Mapping[str, t.Any]) -> None:
        role = pod_role(pod)
        if role is None:
            return
        meta = pod.get("metadata") or {}
        name = str(meta.get("name") or "")
        self.roles[name] = role
        spec = pod.get("spec") or {}
        if role == "node_agent" and spec.get("nodeName"):
            self.node_agent_nodes.add(str(spec["nodeName"]))
        limits = {str(c.get("name")): ((c.get("resources") or {}).get("limits") or {}).get("memory")
                  for c in spec.get("containers") or [] if isinstance(c, dict)}
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            container = str(status.get("name") or "")
            restarts = status.get("restartCount") or 0
            if restarts:
                self.evidence.append(f"{_ROLE_TEXT[role]} pod {name} container {container} restarted {restarts} "
                                     f"time(s)")
            for which in ("state", "lastState"):
                terminated = (status.get(which) or {}).get("terminated") or {}
                if terminated.get("reason") != OOM_REASON:
                    continue
                self._oom(role, name, container, limits.get(container), which, terminated.get("finishedAt"))
                break

    def _oom(self, role: str, pod: str, container: str, limit: t.Any, which: str, when: t.Any) -> None:
        at = f" at {when}" if when else ""
        where = f"pod {pod} container {container} ({which}.terminated.reason OOMKilled{at})"
        limit_bytes = _memory(limit)
        if limit_bytes is None:
            self.evidence.append(f"{_ROLE_TEXT[role]} OOMKilled without a memory limit: {where}; the node ran out of "
                                 f"memory, no limit figure")
            return
        self.evidence.append(f"{_ROLE_TEXT[role]} OOMKilled at memory limit {limit}: {where}")
        self.oom_limits[role] = max(self.oom_limits.get(role, 0), limit_bytes)

    # -- metrics -------------------------------------------------------------------------------------

    def add_pod_metrics(self, metrics: t.Mapping[str, t.Any]) -> None:
        name = str((metrics.get("metadata") or {}).get("name") or "")
        role = self.roles.get(name)
        if role not in ("server", "maintenance"):
            return
        total = 0
        for container in metrics.get("containers") or []:
            total += _memory((container.get("usage") or {}).get("memory")) or 0
        if total <= 0:
            return
        window = metrics.get("window")
        self.evidence.append(f"{_ROLE_TEXT[role]} pod {name} uses {format_memory(total)} now (metrics.k8s.io"
                             f"{', window ' + str(window) if window else ''}): a lower bound of its peak")
        self.peaks[role] = max(self.peaks.get(role, 0), total)

    # -- BackupRepositories -------------------------------------------------------------------------

    def add_repository(self, repo: t.Mapping[str, t.Any]) -> None:
        name = str((repo.get("metadata") or {}).get("name") or "")
        status = repo.get("status") or {}
        recent = status.get("recentMaintenance")
        messages: list[str] = []
        if isinstance(recent, list):
            failed = [e for e in recent if isinstance(e, dict) and e.get("result") == "Failed"]
            self.failures = (self.failures or 0) + len(failed)
            for entry in failed:
                message = str(entry.get("message") or "")
                messages.append(message)
                self.evidence.append(f"BackupRepository {name}: maintenance failed at "
                                     f"{entry.get('startTimestamp') or 'an unknown time'}: {message or 'no message'}")
        if status.get("message"):
            messages.append(str(status["message"]))
        for message in messages:
            for match in INDEX_BLOBS.finditer(message):
                blobs = int(match.group(1))
                if self.index_blobs is None or blobs > self.index_blobs:
                    self.index_blobs = blobs
                self.evidence.append(f"BackupRepository {name}: kopia reported {blobs} index blobs")

    # -- result --------------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, t.Any]:
        def size(table: dict[str, int], role: str) -> str | None:
            return format_memory(table[role]) if role in table else None

        evidence = list(self.evidence)
        if self.metrics:
            evidence.append(self.metrics)
        if not any("OOMKilled" in e for e in evidence):
            evidence.append("no OOMKilled container among the pods in Velero's namespace")
        return {
            "maintenance_oom_limit": size(self.oom_limits, "maintenance"),
            "server_oom_limit": size(self.oom_limits, "server"),
            "node_agent_oom_limit": size(self.oom_limits, "node_agent"),
            "server_peak_memory": size(self.peaks, "server"),
            "maintenance_peak_memory": size(self.peaks, "maintenance"),
            "maintenance_failures": self.failures,
            "evidence": evidence,
        }


def smallest_node_memory(nodes: t.Iterable[t.Mapping[str, t.Any]], names: t.Collection[str]) -> tuple[int | None, str]:
    """Allocatable memory of the smallest node among ``names`` (the node-agent's nodes), or of every
    schedulable node when ``names`` is empty; and which nodes that was."""
    smallest: int | None = None
    for node in nodes:
        meta = node.get("metadata") or {}
        if names and meta.get("name") not in names:
            continue
        if not names and (node.get("spec") or {}).get("unschedulable"):
            continue
        memory = _memory(((node.get("status") or {}).get("allocatable") or {}).get("memory"))
        if memory is not None and (smallest is None or memory < smallest):
            smallest = memory
    source = "nodes running the node-agent" if names else "all schedulable nodes (no node-agent pod found)"
    return smallest, source


def leftover_restore_marks(repo: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """Drift entries for a BackupRepository still carrying ``repo_maintenance``'s restore annotations
    (``_restore_marks``): an interrupted run changed a field temporarily and never put the original back."""
    meta = repo.get("metadata") or {}
    name = str(meta.get("name") or "")
    entries = []
    for mark in read_marks(repo):
        section, _dot, key = mark.field.partition(".")
        part = repo.get(section) if section else None
        current = part.get(key) if isinstance(part, dict) else None
        when = f" at {mark.since}" if mark.since else ""
        if mark.problem:
            explanation = f"a restore annotation of repo_maintenance is present but unusable: {mark.problem}"
        else:
            explanation = (f"a repo_maintenance run changed {mark.field} temporarily{when} and did not restore it "
                           f"(interrupted); run velero_ops.tuning.repo_maintenance again, which restores it, or set "
                           f"it back to {mark.original!s} and remove the annotation")
        entries.append({
            "setting": f"backup_repositories.{name}.{_snake(key) if key else 'restore_annotation'}",
            "current": current,
            "recommended": mark.original,
            "velero_default": None,
            "source": f"BackupRepository {meta.get('namespace') or ''}/{name} annotation {mark.annotation}",
            "explanation": explanation,
        })
    return entries


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
