# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The resources of a repository's maintenance Job: where Velero takes them from in this release (server flags or
the maintenance ConfigMap), what to start with (``pod_resources``, the current bounded config or the sizing
recommendation), the memory ladder to climb, what the user must change by hand, and the ConfigMap write.

No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError, KubeConflict
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext, object_name
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import CONFLICT_RETRIES


@dataclasses.dataclass
class ResourcePlan:
    """How one repository's maintenance Job gets its resources."""

    mechanism: str  # in-server | server-flags | configmap
    key: str | None = None  # ConfigMap key written
    current: dict[str, str] | None = None  # what Velero uses today
    start: dict[str, str] | None = None  # first rung
    source: str = "none"  # where ``start`` came from
    effective: bool = False  # whether writing the ConfigMap changes what the Job gets
    ladder: list[int] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


class MaintenanceResources:
    """Plans and writes the maintenance Job resources of one repository at a time."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def plan(self, repository: t.Mapping[str, t.Any]) -> ResourcePlan:
        rel = self.ctx.rel
        key = m.config_key(repository) if self.ctx.options.config_scope == "repository" else m.GLOBAL_CONFIG_KEY
        plan = ResourcePlan(mechanism=rel.maintenance_mechanism)
        if rel.maintenance_configmap:
            configmap = self.ctx.get_configmap()
            plan.key = key
            # podResources in the ConfigMap replace the 1.15/1.16 flags wholesale; without them the flags apply.
            plan.current = m.current_pod_resources(configmap, m.config_key(repository))[0]
            if plan.current is None and rel.maintenance_server_flags:
                plan.current = m.flag_resources(self.ctx.flags)
            plan.effective = self.ctx.configmap_referenced
        else:
            plan.current = m.flag_resources(self.ctx.flags)
        plan.start, plan.source = self._starting_resources(repository, plan.current)
        if plan.start is not None:
            plan.start = m.normalize_pod_resources(plan.start, "pod_resources", complete=True)
            if not rel.ephemeral_storage_fields and any(k in plan.start for k in m.EPHEMERAL_FIELDS):
                plan.start = {k: v for k, v in plan.start.items() if k not in m.EPHEMERAL_FIELDS}
                plan.notes.append(f"ephemeral storage fields dropped: Velero {rel.text} reads them from 1.18.1 on")
            plan.start, note = m.cap_resources(plan.start, self.ctx.options.memory_cap)
            if note:
                plan.notes.append(note)
        limit = m.memory_bytes(plan.start["memoryLimit"]) if plan.start else 0
        if plan.effective and limit:
            plan.ladder = m.memory_ladder(limit, self.ctx.options.memory_step, self.ctx.options.memory_cap)
        self._explain_mechanism(repository, plan)
        return plan

    def _starting_resources(self, repository: t.Mapping[str, t.Any],
                            current: dict[str, str] | None) -> tuple[dict[str, str] | None, str]:
        bounded = current if current and m.memory_bytes(current.get("memoryLimit", "0")) else None
        if self.ctx.options.pod_resources:
            merged = dict(bounded or current or {})
            merged.update(self.ctx.options.pod_resources)
            return merged, "pod_resources"
        if bounded:
            return dict(bounded), "current maintenance config"
        recommendation = self.ctx.recommendation()
        if recommendation:
            per_repo = nested_get(recommendation,
                                  ("maintenance", "repositories", m.config_key(repository), "pod_resources"))
            chosen = per_repo or nested_get(recommendation, "maintenance.pod_resources")
            if chosen:
                return dict(chosen), "sizing recommendation"
        return None, "none (Velero's default: no requests or limits)"

    def _explain_mechanism(self, repository: t.Mapping[str, t.Any], plan: ResourcePlan) -> None:
        rel = self.ctx.rel
        start = plan.start
        if plan.mechanism == "server-flags":
            if start and start != plan.current:
                flags = [f"{m.FLAG_FOR_FIELD[f]}={start[f]}" for f in m.POD_RESOURCE_FIELDS]
                helm = {m.HELM_KEY_FOR_FIELD[f]: start[f] for f in m.POD_RESOURCE_FIELDS}
                self.ctx.action(f"Velero {rel.text} takes maintenance Job resources only from server flags, which this "
                                f"module does not change: set them on the velero Deployment "
                                f"({m.server_flags_chart_advice(rel)}). They apply to every repository.",
                                server_flags=flags, helm_values=helm)
            plan.notes.append("Velero 1.14 reads maintenance resources from server flags only: one attempt with the "
                              "current flags, no memory ladder")
            return
        if start is None:
            plan.notes.append("no starting resources (no pod_resources, no bounded current config, no sizing "
                              "recommendation): the Job runs with Velero's defaults and there is no memory ladder")
            return
        key = t.cast(str, plan.key)
        if not self.ctx.configmap_referenced:
            self.ctx.action(
                f"The velero server reads no maintenance ConfigMap: add the flag so Job resources from "
                f"ConfigMap {self.ctx.ns}/{self.ctx.configmap_name} apply ({m.configmap_chart_advice()}: the values below; the chart then "
                f"renders the ConfigMap itself). Until then Jobs run with "
                f"{'the --maintenance-job-* flags' if rel.maintenance_server_flags else 'no requests or limits'}.",
                server_flags=[f"{m.CONFIGMAP_FLAG}={self.ctx.configmap_name}"],
                helm_values={"configuration.repositoryMaintenanceJob.repositoryConfigData.name": self.ctx.configmap_name,
                             self._helm_entry_path(key): {"podResources": start}})
            plan.notes.append("the server does not reference the maintenance ConfigMap yet: one attempt, no memory "
                              "ladder (see actions_required)")
        elif m.is_helm_managed(self.ctx.get_configmap()):
            self.ctx.action(f"ConfigMap {self.ctx.ns}/{self.ctx.configmap_name} is managed by Helm: the next helm upgrade "
                            f"overwrites what this module writes; keep the resources that worked in your values.",
                            helm_values={self._helm_entry_path(key): {"podResources": start}})

    @staticmethod
    def _helm_entry_path(key: str) -> str:
        base = "configuration.repositoryMaintenanceJob.repositoryConfigData"
        return f"{base}.global" if key == m.GLOBAL_CONFIG_KEY else f"{base}.repositories.{key}"

    def apply(self, repository: t.Mapping[str, t.Any], key: str, resources: dict[str, str]) -> bool:
        """Write ``podResources`` under ``key`` of the maintenance ConfigMap (every other field of the entry kept:
        ``priorityClassName``, ``loadAffinity``, ``podLabels``, ...); True when something changed. Within
        ``timeout``; a 409 is re-read after a growing pause."""
        with self.ctx.limit(self.ctx.options.timeout, f"writing ConfigMap {self.ctx.configmap_name}"):
            return self._apply(repository, key, resources)

    def _apply(self, repository: t.Mapping[str, t.Any], key: str, resources: dict[str, str]) -> bool:
        name = t.cast(str, self.ctx.configmap_name)
        header = f"ConfigMap {self.ctx.ns}/{name} data.{key}"
        for attempt in range(CONFLICT_RETRIES):
            self.ctx.api.conflict_pause(attempt)
            configmap = self.ctx.get_configmap()
            before, after = m.config_entry_update(configmap, key, resources)
            if before == after:
                return False
            self.ctx.record_diff(f"configmap/{name}/{key}", header, before or {}, after)
            if configmap is None:
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": self.ctx.ns,
                                     "annotations": {"velero-ops.tuning/written-by": "repo_maintenance"}},
                        "data": {key: m.encode_entry(after)}}
                self.ctx.record_patch("ConfigMap", self.ctx.configmap_path(name), body, temporary=False, verb="create")
                if self.ctx.check_mode:
                    return True
                try:
                    self.ctx.api.create("ConfigMap", self.ctx.configmap_path(), body)
                except KubeConflict:
                    self.ctx.report["patches"].pop()
                    continue
            else:
                patch = {"metadata": {"resourceVersion": nested_get(configmap, "metadata.resourceVersion")},
                         "data": {key: m.encode_entry(after)}}
                self.ctx.record_patch("ConfigMap", self.ctx.configmap_path(name), patch, temporary=False)
                if self.ctx.check_mode:
                    return True
                try:
                    self.ctx.api.merge_patch("ConfigMap", self.ctx.configmap_path(name), patch)
                except KubeConflict:
                    self.ctx.report["patches"].pop()
                    self.ctx.progress(object_name(repository), f"ConfigMap {name} changed meanwhile (409); re-reading")
                    continue
            self.ctx.report["changed"] = True
            self.ctx.progress(object_name(repository), f"ConfigMap {name} {key}: memoryLimit {resources.get('memoryLimit')}, "
                              f"memoryRequest {resources.get('memoryRequest')}")
            return True
        raise KubeAPIError(f"ConfigMap {self.ctx.ns}/{name}: still conflicting after {CONFLICT_RETRIES} fresh reads")
