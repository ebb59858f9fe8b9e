# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Repository maintenance, step by step against a live cluster.

``MaintenanceRunner`` talks to Kubernetes only through a ``_kube.KubeClient`` (injected, so tests
hand it a client pointed at the loopback API server) and keeps time through an injected clock and
sleep. Decisions live in ``_maintenance``; the runner is the orchestrator: preflight (which Velero, which
repositories), then for each repository its resources (``_maintenance_resources``), the memory ladder
(``_maintenance_ladder``) of attempts made due (``_maintenance_trigger``) and followed (``_maintenance_watch``),
its result entry (``_maintenance_report``), and every temporary change restored on the way out, also on failure
or interruption (``_maintenance_journal``). Shared run state lives in ``_maintenance_context``.

No Ansible imports.
"""

from __future__ import annotations

import contextlib
import time
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import (
    KubeAPIError,
    KubeForbidden,
    KubeUnavailable,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import Deadline
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext, object_name
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_journal import UndoJournal
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_ladder import MemoryLadder
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_report import RepositoryReport
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_resources import (
    MaintenanceResources,
    ResourcePlan,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_trigger import Trigger, trigger_patch
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_watch import JobWatcher
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import format_seconds
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import find_server_deployment, format_timestamp


class RunnerError(Exception):
    """Preflight found something that stops the whole run before anything was changed."""


class MaintenanceRunner:
    """Run maintenance for the selected repositories, one at a time."""

    def __init__(self, client: t.Any, options: m.Options, *, check_mode: bool = False,
                 clock: t.Callable[[], float] = time.time, sleep: t.Callable[[float], t.Any] = time.sleep,
                 on_progress: t.Callable[[dict[str, t.Any]], t.Any] | None = None,
                 shield: t.Callable[[], t.ContextManager[t.Any]] = contextlib.nullcontext,
                 recommend: t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]] | None = None,
                 deadline: Deadline | None = None) -> None:
        self.ctx = RunContext(client, options, check_mode=check_mode, clock=clock, sleep=sleep,
                              on_progress=on_progress, recommend=recommend, deadline=deadline)
        self.journal = UndoJournal(self.ctx, shield)
        self.resources = MaintenanceResources(self.ctx)
        self.watch = JobWatcher(self.ctx, Trigger(self.ctx, self.journal), self.journal)
        self.ladder = MemoryLadder(self.ctx, self.resources, self.watch)
        self.repository_report = RepositoryReport(self.ctx)

    @property
    def report(self) -> dict[str, t.Any]:
        """The module's result, built while the run goes (also after a failure or interruption)."""
        return self.ctx.report

    @property
    def diff(self) -> list[dict[str, t.Any]]:
        return self.ctx.diff

    def run(self) -> dict[str, t.Any]:
        """Preflight, then each selected repository in turn; temporary changes restored in any case."""
        try:
            with self.ctx.limit(self.ctx.options.timeout, "preflight"):
                repositories = self._preflight()
            selected = self._select(repositories)
            # A typo in the selection fails above, before anything is changed: leftovers are then only reported.
            if self.journal.restore_leftovers():
                with self.ctx.limit(self.ctx.options.timeout, "preflight"):
                    repositories = self._list_repositories()
                selected = self._select(repositories)
            if not selected:
                self.ctx.warn(f"no BackupRepository in namespace {self.ctx.ns}; nothing to maintain")
            for repository in selected:
                self.ctx.report["results"].append(self._maintain(repository))
        finally:
            self.journal.restore()
        self.ctx.report["diff"] = self.ctx.diff
        self.ctx.report["summary"] = m.summary_lines(self.ctx.report["results"])
        return self.ctx.report

    def _select(self, repositories: t.Sequence[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        try:
            return m.select_repositories(repositories, self.ctx.options.repositories,
                                         self.ctx.options.volume_namespaces, self.ctx.ns)
        except ValueError as exc:
            raise RunnerError(str(exc)) from None

    def _list_repositories(self) -> list[dict[str, t.Any]]:
        repositories = sorted(self.ctx.api.list("BackupRepository", self.ctx.velero_path("backuprepositories")),
                              key=object_name)
        self.ctx.report["repositories"] = [m.repository_view(r) for r in repositories]
        return repositories

    def _preflight(self) -> list[dict[str, t.Any]]:
        server = find_server_deployment(self.ctx.api.list("Deployment",
                                                          f"/apis/apps/v1/namespaces/{self.ctx.ns}/deployments"))
        if server is None:
            raise RunnerError(f"no Deployment running 'velero server' found in namespace {self.ctx.ns}; "
                              f"set velero_namespace to where Velero is installed")
        version = self.ctx.options.velero_version or server.version
        if version is None:
            raise RunnerError(f"cannot tell the Velero version from the server image {server.image!r}; set velero_version")
        try:
            self.ctx.release = release(version, "velero_version" if self.ctx.options.velero_version else
                                       f"Velero server image {server.image}")
        except ValueError as exc:
            raise RunnerError(str(exc)) from None
        rel = self.ctx.release
        self.ctx.flags = server.flags
        named_ok = server.named_velero
        self.ctx.deployment_ok = named_ok
        velero: dict[str, t.Any] = {
            "version": rel.text, "image": server.image, "deployment": server.name,
            "mechanism": rel.maintenance_mechanism, "deployment_name_ok": named_ok or not rel.at_least(14),
            "configmap": None,
        }
        if rel.assumed_from:
            self.ctx.warn(f"Velero {rel.text} is newer than the newest known {rel.assumed_from}; assuming it behaves the same")
        if not rel.at_least(14):
            peak = self._recommendation_value("predicted", "maintenance_peak_memory")
            explanation = m.in_server_explanation(rel, peak)
            velero["explanation"] = explanation
            self.ctx.action(explanation, helm_values={"resources.limits.memory": peak} if peak else None)
        elif not named_ok:
            problem = m.deployment_name_problem(server.name, rel)
            velero["explanation"] = problem
            self.ctx.action(problem, helm_values={"fullnameOverride": "velero"})
        if rel.maintenance_configmap:
            referenced = self.ctx.flags.get(m.CONFIGMAP_FLAG[2:])
            self.ctx.configmap_name = referenced or self.ctx.options.configmap_name
            self.ctx.configmap_referenced = bool(referenced)
            configmap = self.ctx.get_configmap()
            velero["configmap"] = {"name": self.ctx.configmap_name, "referenced_by_server": self.ctx.configmap_referenced,
                                   "exists": configmap is not None, "managed_by_helm": m.is_helm_managed(configmap)}
        elif rel.maintenance_server_flags:
            velero["server_flags"] = {flag: self.ctx.flags[flag[2:]] for flag in m.FLAG_FOR_FIELD.values()
                                      if flag[2:] in self.ctx.flags}
        self.ctx.report["velero"] = velero
        repositories = self._list_repositories()
        self.journal.find_leftovers(repositories)
        self.ctx.progress(None, f"Velero {rel.text} ({rel.maintenance_mechanism}), {len(repositories)} BackupRepositories "
                          f"in {self.ctx.ns}")
        return repositories

    def _recommendation_value(self, *path: str) -> t.Any:
        recommendation = self.ctx.recommendation()
        return nested_get(recommendation, path) if recommendation else None

    def _maintain(self, repository: dict[str, t.Any]) -> dict[str, t.Any]:
        item = self.repository_report.new_item(repository)
        name = item["name"]
        rel = self.ctx.rel
        error = None
        ceiling: int | None = None  # highest memory limit of the ladder (None: no ladder)
        cap_note = stop_note = ""
        started = self.ctx.clock()
        try:
            with self.ctx.limit(self.ctx.options.busy_timeout + self.ctx.options.timeout,
                                f"checking whether {name} can be maintained"):
                reason = self._skip_reason(repository)
            if reason:
                item["message"] = reason
                self.ctx.progress(name, f"skipped: {reason}")
                return item
            with self.ctx.limit(self.ctx.options.timeout, f"planning the resources of {name}"):
                plan = self.resources.plan(repository)
            item["resources_source"] = plan.source
            item["pod_resources"] = plan.start or plan.current
            item["advice"].extend(plan.notes)
            if self.ctx.check_mode:
                with self.ctx.limit(self.ctx.options.timeout, f"planning the changes for {name}"):
                    return self._check_mode_item(repository, plan, item)
            ceiling = plan.ladder[-1] if plan.ladder else None
            cap_note, stop_note = self.ladder.climb(repository, plan, item)
        except (KeyboardInterrupt, SystemExit):
            item["outcome"] = "failed"
            item["message"] = "interrupted; temporary changes were restored"
            self.ctx.report["results"].append(item)
            raise
        except KubeForbidden as exc:
            error = f"{exc} (docs/rbac/repo-maintenance-role.yaml lists every permission the module needs)"
        except KubeUnavailable as exc:
            error = str(exc)
            self.ctx.stop_reason = f"the Kubernetes API became unavailable while maintaining {name}"
        except (KubeAPIError, ValueError) as exc:
            error = str(exc)
        finally:
            self.journal.restore(name)
        if item["attempts"] or error:
            item["duration_seconds"] = round(self.ctx.clock() - started, 3)
        self.repository_report.finish_item(repository, item, rel, ceiling, cap_note, stop_note)
        if error:
            item["outcome"] = "failed"
            item["message"] = error
            self.ctx.progress(name, f"failed: {error}")
        return item

    def _skip_reason(self, repository: t.Mapping[str, t.Any]) -> str | None:
        rel = self.ctx.rel
        name = object_name(repository)
        if self.ctx.stop_reason:
            return f"not attempted: {self.ctx.stop_reason}"
        if not rel.at_least(14):
            return (f"Velero {rel.text} runs maintenance inside the server pod; there is no Job to size or follow "
                    f"(see velero.explanation)")
        if not self.ctx.deployment_ok:
            return "the Velero server Deployment is not named 'velero', so Velero cannot start maintenance Jobs " \
                   "(see velero.explanation)"
        problem = m.label_problem(name, rel) or m.repository_phase_problem(repository)
        if problem:
            return problem
        bsl_name = nested_get(repository, "spec.backupStorageLocation", "")
        bsl = self.ctx.api.get_optional("BackupStorageLocation", self.ctx.velero_path("backupstoragelocations", bsl_name))
        problem = m.bsl_problem(bsl, bsl_name)
        if problem:
            return problem
        return self._wait_until_idle(repository)

    def _busy(self, repository: t.Mapping[str, t.Any]) -> list[str]:
        api = self.ctx.api
        busy = m.busy_operations(repository, api.list("Backup", self.ctx.velero_path("backups")),
                                 api.list("Restore", self.ctx.velero_path("restores")),
                                 api.list("DeleteBackupRequest", self.ctx.velero_path("deletebackuprequests")))
        for job in self.watch.repository_jobs(repository):
            if m.is_job_active(job):
                busy.append(f"maintenance Job {object_name(job)} (running)")
        return busy

    def _wait_until_idle(self, repository: t.Mapping[str, t.Any]) -> str | None:
        name = object_name(repository)
        deadline = self.ctx.clock() + self.ctx.options.busy_timeout
        announced: list[str] = []
        while True:
            busy = self._busy(repository)
            if not busy:
                return None
            listing = ", ".join(busy)
            if self.ctx.check_mode:
                return f"in use by {listing}; a real run would {'wait' if self.ctx.options.on_busy == 'wait' else 'skip'}"
            if self.ctx.options.on_busy == "skip":
                return f"in use by {listing} (on_busy=skip)"
            if self.ctx.clock() >= deadline:
                return f"still in use after {format_seconds(self.ctx.options.busy_timeout)}: {listing}"
            if busy != announced:
                self.ctx.progress(name, f"waiting: in use by {listing}")
                announced = busy
            self.ctx.pause(self.ctx.options.poll_interval)

    def _check_mode_item(self, repository: dict[str, t.Any], plan: ResourcePlan, item: dict[str, t.Any]) -> dict[str, t.Any]:
        """Plan without writing: the exact ConfigMap change and trigger patch a real run starts with."""
        name = item["name"]
        patches_before = len(self.ctx.report["patches"])
        if plan.start is not None and plan.key is not None:
            first = m.resources_for_limit(plan.start, plan.ladder[0]) if plan.ladder else plan.start
            self.resources.apply(repository, plan.key, first)
        field, key = m.trigger_field(self.ctx.options.trigger)
        original = nested_get(repository, (field, key))
        method = self.ctx.options.trigger
        patch = self.journal.patch_repository(
            name, lambda current: trigger_patch(current, method, original, format_timestamp(self.ctx.clock())),
            temporary=True)[1]
        if patch is not None:
            self.ctx.record_diff(f"repo/{name}", f"BackupRepository {self.ctx.ns}/{name} (temporary, restored after the run)"
                                 if self.ctx.options.trigger == "frequency" else f"BackupRepository {self.ctx.ns}/{name}",
                                 {field: {key: original}}, {field: {key: patch[field][key]}})
        item["planned"] = self.ctx.report["patches"][patches_before:]
        if item["planned"]:
            self.ctx.report["changed"] = True
        ladder = ", ".join(m.render_memory(r) for r in plan.ladder) if plan.ladder else "none"
        item["message"] = (f"check mode: would apply {len(item['planned'])} change(s) and wait for Velero's Job; "
                           f"memory ladder: {ladder}")
        return item
