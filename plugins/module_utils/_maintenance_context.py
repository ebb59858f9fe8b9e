# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one ``repo_maintenance`` run shares between its steps: the injected client, options, clock and sleep, the
Velero that preflight found (release, server flags, maintenance ConfigMap), the report being built (progress,
warnings, actions, patches, diff) and the sizing recommendation, computed once when first needed.

No Ansible imports.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import Deadline, MaintenanceAPI
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import VeleroRelease
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import format_timestamp

VELERO_API = "/apis/velero.io/v1"


def object_name(obj: t.Mapping[str, t.Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclasses.dataclass
class RunContext:
    """State of one run, shared by the runner and its steps (journal, trigger, watcher, resources, ladder)."""

    client: t.Any
    options: m.Options
    check_mode: bool = False
    clock: t.Callable[[], float] = time.time
    sleep: t.Callable[[float], t.Any] = time.sleep
    on_progress: t.Callable[[dict[str, t.Any]], t.Any] | None = None
    recommend: t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]] | None = None
    # The deadline of the current step; the module shares it with the client (its retry waits end there too).
    deadline: Deadline | None = None
    api: MaintenanceAPI = dataclasses.field(init=False)
    # Found by preflight.
    release: VeleroRelease | None = None
    flags: dict[str, str] = dataclasses.field(default_factory=dict)
    deployment_ok: bool = False
    configmap_name: str | None = None
    configmap_referenced: bool = False
    # Why the remaining repositories are not attempted (set when going on would be pointless or harmful).
    stop_reason: str | None = None
    cached_recommendation: dict[str, t.Any] | None = None
    recommendation_error: str | None = None
    diffs: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    report: dict[str, t.Any] = dataclasses.field(default_factory=lambda: {
        "changed": False, "results": [], "repositories": [], "velero": {}, "actions_required": [],
        "patches": [], "restored": [], "unrestored": [], "leftovers": [], "progress": [], "warnings": [],
        "full_maintenance": m.KOPIA_AUTO_MODE,
    })

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = Deadline(self.clock, self.sleep)
        # Every read and write of the run goes through ``api``: checked shapes, bounded pages, the deadline.
        self.api = MaintenanceAPI(self.client, self.deadline, self.ns)

    @property
    def limit(self) -> t.Callable[..., t.ContextManager[Deadline]]:
        """``with ctx.limit(seconds, what):`` - the deadline of one step (see ``_maintenance_bounds.Deadline``)."""
        return t.cast(Deadline, self.deadline).limit

    @property
    def restore_seconds(self) -> float:
        """Time to put temporary changes back, even after a step ran out of time."""
        return max(10.0, min(self.options.timeout, 60.0))

    def pause(self, seconds: float) -> None:
        """A poll pause, never past the current deadline."""
        t.cast(Deadline, self.deadline).pause(seconds)

    @property
    def ns(self) -> str:
        return self.options.velero_namespace

    @property
    def rel(self) -> VeleroRelease:
        """The Velero release found by preflight (only read after it)."""
        return t.cast(VeleroRelease, self.release)

    def velero_path(self, plural: str, name: str | None = None) -> str:
        return f"{VELERO_API}/namespaces/{self.ns}/{plural}" + (f"/{name}" if name else "")

    def configmap_path(self, name: str | None = None) -> str:
        return f"/api/v1/namespaces/{self.ns}/configmaps" + (f"/{name}" if name else "")

    def jobs_path(self, name: str | None = None) -> str:
        return f"/apis/batch/v1/namespaces/{self.ns}/jobs" + (f"/{name}" if name else "")

    def progress(self, repository: str | None, event: str) -> None:
        entry = {"time": format_timestamp(self.clock()), "repository": repository, "event": event}
        self.report["progress"].append(entry)
        if self.on_progress is not None:
            self.on_progress(entry)

    def warn(self, text: str) -> None:
        if text not in self.report["warnings"]:
            self.report["warnings"].append(text)

    def action(self, summary: str, server_flags: t.Sequence[str] = (), helm_values: t.Mapping[str, t.Any] | None = None) -> None:
        action = {"summary": summary, "server_flags": list(server_flags), "helm_values": dict(helm_values or {})}
        if action not in self.report["actions_required"]:
            self.report["actions_required"].append(action)

    def record_patch(self, kind: str, path: str, patch: t.Mapping[str, t.Any], *, temporary: bool, verb: str = "patch") -> None:
        self.report["patches"].append({"object": f"{kind} {self.ns}/{path.rsplit('/', 1)[-1]}", "path": path,
                                       "verb": verb, "body": copy.deepcopy(dict(patch)), "temporary": temporary,
                                       "applied": not self.check_mode})

    def record_diff(self, key: str, header: str, before: t.Any, after: t.Any) -> None:
        if key in self.diffs:
            self.diffs[key]["after"] = copy.deepcopy(after)
        else:
            self.diffs[key] = {"before_header": header, "after_header": header,
                               "before": copy.deepcopy(before), "after": copy.deepcopy(after)}

    @property
    def diff(self) -> list[dict[str, t.Any]]:
        return [d for d in self.diffs.values() if d["before"] != d["after"]]

    def get_configmap(self) -> dict[str, t.Any] | None:
        return self.api.get_optional("ConfigMap", self.configmap_path(self.configmap_name))

    def recommendation(self) -> dict[str, t.Any] | None:
        if self.cached_recommendation is not None or self.recommendation_error is not None:
            return self.cached_recommendation
        if self.options.recommendation:
            self.cached_recommendation = dict(self.options.recommendation)
        elif self.options.sizing:
            if self.recommend is None:
                self.recommendation_error = "the sizing model (module_utils/_recommend.py) is not available"
            else:
                inputs = dict(self.options.sizing)
                if self.release is not None:
                    inputs.setdefault("velero_version", self.release.text)
                try:
                    self.cached_recommendation = self.recommend(inputs)
                except ValueError as exc:
                    self.recommendation_error = f"sizing: {exc}"
        if self.recommendation_error:
            self.warn(f"no sizing recommendation: {self.recommendation_error}")
        return self.cached_recommendation
