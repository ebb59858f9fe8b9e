# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Climb the memory ladder of one repository: one attempt per planned memory limit (rungs from
``_maintenance.memory_ladder``) while attempts run out of memory, up to ``memory_cap``.

No Ansible imports.
"""

from __future__ import annotations

import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext, object_name
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_resources import MaintenanceResources, ResourcePlan
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_watch import JobWatcher

EXTRA_ATTEMPTS_PER_RUNG = 2  # Jobs Velero starts with the previous limit, followed before the planned rung is retried


class MemoryLadder:
    """Attempts for one repository, raising the memory limit after each OOMKilled/evicted one."""

    def __init__(self, ctx: RunContext, resources: MaintenanceResources, watch: JobWatcher) -> None:
        self.ctx = ctx
        self.resources = resources
        self.watch = watch

    def climb(self, repository: dict[str, t.Any], plan: ResourcePlan, item: dict[str, t.Any]) -> tuple[str, str]:
        """Climb the memory ladder: one planned rung after the other while attempts run out of memory.

        Velero re-enqueues every repository every 5 minutes, so right after a failed Job it may start the
        next one with the *old* ConfigMap limit, before this module has written the next rung. Such a Job
        (its limit is not the planned one) is followed as an extra attempt and the planned rung is then
        tried again (at most ``EXTRA_ATTEMPTS_PER_RUNG`` times), so the cap is only reported as reached
        when a Job that really had the cap ran out of memory.

        Returns the notes for the repository's message: why no higher limit was tried after the last attempt
        ran out of memory (cap note), and why the ladder stopped early (stop note); each may be empty.
        """
        name = object_name(repository)
        rungs: list[int | None] = list(plan.ladder) or [None]
        if plan.start is not None and plan.key is not None and not plan.ladder:
            self.resources.apply(repository, plan.key, plan.start)  # unreferenced ConfigMap: prepared for the flag
        with self.ctx.limit(self.ctx.options.timeout, f"listing the maintenance Jobs of {name}"):
            known_jobs = {object_name(j) for j in self.watch.repository_jobs(repository)}
        for index, rung in enumerate(rungs):
            resources = None
            if rung is not None:
                resources = m.resources_for_limit(t.cast(dict, plan.start), rung)
                self.resources.apply(repository, t.cast(str, plan.key), resources)
                item["pod_resources"] = resources
            extra = 0
            while True:
                attempt = self.watch.attempt(repository, known_jobs, resources)
                item["attempts"].append(attempt)
                if attempt.get("job"):
                    known_jobs.add(attempt["job"])
                if not (attempt["extra"] and attempt["outcome"] in m.MEMORY_FAILURES):
                    break
                extra += 1
                planned = attempt["planned_memory_limit"]
                if extra > EXTRA_ATTEMPTS_PER_RUNG:
                    return "", (
                        f"; Velero started {extra} Jobs in a row with memory limit {attempt['memory_limit']} instead "
                        f"of the planned {planned}: check that the server reads ConfigMap {self.ctx.ns}/{self.ctx.configmap_name} "
                        f"key {plan.key} (a per-repository key wins over global)")
                attempt["message"] += (f"; Velero started this Job with memory limit {attempt['memory_limit']}, not "
                                       f"the planned {planned} (its periodic retry ran before the ConfigMap change)")
                self.ctx.progress(name, f"{self._memory_failure_text(attempt)} in a Job started with the previous limit; "
                                  f"trying the planned {planned} again")
            if attempt["outcome"] == "timed_out":
                self.ctx.stop_reason = (f"maintenance of {name} was still running at the timeout; Velero runs one "
                                        f"maintenance Job at a time")
            if attempt["outcome"] not in m.MEMORY_FAILURES:
                break
            if index + 1 == len(rungs):
                return self.cap_message(plan, len(item["attempts"])), ""
            self.ctx.progress(name, f"{self._memory_failure_text(attempt)}; raising to "
                              f"{m.render_memory(t.cast(int, rungs[index + 1]))} "
                              f"(step {self.ctx.options.memory_step:g}, cap "
                              f"{m.render_memory(self.ctx.options.memory_cap) if self.ctx.options.memory_cap else 'none'})")
        return "", ""

    @staticmethod
    def _memory_failure_text(attempt: t.Mapping[str, t.Any]) -> str:
        if attempt["outcome"] == "evicted":
            return f"evicted (node low on memory) at memory limit {attempt['memory_limit']}"
        return f"OOMKilled at memory limit {attempt['memory_limit']}"

    def cap_message(self, plan: ResourcePlan, attempts: int) -> str:
        """Why no higher memory limit was tried after the last OOMKilled attempt."""
        if plan.mechanism == "server-flags":
            return ("; Velero 1.14 takes Job resources from server flags only: raise --maintenance-job-mem-limit "
                    "(see actions_required) and run again")
        if not self.ctx.configmap_referenced:
            return "; the server reads no maintenance ConfigMap yet, so memory could not be raised (see actions_required)"
        if not plan.ladder:
            return ("; the Job had no memory limit to start a ladder from: give pod_resources (or a sizing "
                    "recommendation) and memory_cap")
        if self.ctx.options.memory_cap is None:
            return "; no memory_cap given, so the module did not retry with more memory: set memory_cap to allow a ladder"
        return f"; memory_cap {m.render_memory(self.ctx.options.memory_cap)} reached after {attempts} attempt(s)"
