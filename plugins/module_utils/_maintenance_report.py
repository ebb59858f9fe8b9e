# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The result entry of one repository: created before anything happens (``new_item``) and completed from its
attempts (``finish_item``: final outcome, index blobs, last maintenance time re-read, advice).

No Ansible imports.
"""

from __future__ import annotations

import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import VeleroRelease


class RepositoryReport:
    """Builds the ``results`` entries of the run report."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def new_item(self, repository: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        view = m.repository_view(repository)
        return {
            "name": view["name"], "outcome": "skipped", "attempts": [], "index_blobs": None, "message": "",
            "volume_namespace": view["volume_namespace"], "backup_storage_location": view["backup_storage_location"],
            "repository_type": view["repository_type"], "config_key": m.config_key(repository),
            "last_maintenance_before": view["last_maintenance_time"], "last_maintenance_after": view["last_maintenance_time"],
            "recent_maintenance": m.latest_recent_maintenance(repository), "duration_seconds": None,
            "kopia_mode": None, "pod_resources": None, "resources_source": None, "advice": [], "planned": [],
        }

    def finish_item(self, repository: t.Mapping[str, t.Any], item: dict[str, t.Any], rel: VeleroRelease,
                    ceiling: int | None, cap_note: str, stop_note: str) -> None:
        attempts = item["attempts"]
        if attempts:
            item["outcome"] = m.final_outcome(attempts, ceiling)
            last = attempts[-1]
            blobs = [a["index_blobs"] for a in attempts if a.get("index_blobs") is not None]
            item["index_blobs"] = blobs[-1] if blobs else None
            item["kopia_mode"] = last.get("kopia_mode")
            item["message"] = last["message"] + (cap_note if item["outcome"] == "oom_cap_reached" else "") + stop_note
            try:
                with self.ctx.limit(self.ctx.restore_seconds, f"reading the result of {item['name']}", independent=True):
                    fresh = self.ctx.api.get("BackupRepository", self.ctx.velero_path("backuprepositories", item["name"]))
                item["last_maintenance_after"] = nested_get(fresh, "status.lastMaintenanceTime")
                item["recent_maintenance"] = m.latest_recent_maintenance(fresh)
                self.ctx.record_diff(f"repo/{item['name']}", f"BackupRepository {self.ctx.ns}/{item['name']}",
                                     {"status": {"lastMaintenanceTime": item["last_maintenance_before"]}},
                                     {"status": {"lastMaintenanceTime": item["last_maintenance_after"]}})
            except (KubeAPIError, ValueError) as exc:  # ValueError: an object of an unexpected shape
                self.ctx.warn(f"could not re-read BackupRepository {item['name']}: {exc}")
            item["advice"].extend(m.maintenance_advice(
                rel, outcome=item["outcome"], index_blobs=item["index_blobs"], kopia_mode=item["kopia_mode"],
                mmap_fallback=any(a.get("mmap_fallback") for a in attempts),
                repository_config=nested_get(repository, "spec.repositoryConfig")))
