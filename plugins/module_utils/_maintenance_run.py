# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Repository maintenance, step by step against a live cluster.

``MaintenanceRunner`` talks to Kubernetes only through a ``_kube.KubeClient`` (injected, so tests
hand it a client pointed at the loopback API server) and keeps time through an injected clock and
sleep. Decisions live in ``_maintenance``; this file sequences them: preflight, apply maintenance
resources, make the repository due, follow the Job Velero starts, climb the memory ladder on
OOMKilled, and restore every temporary change on the way out, also on failure or interruption.

No Ansible imports.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube import (
    KubeAPIError,
    KubeConflict,
    KubeForbidden,
    KubeNotFound,
    KubeUnavailable,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import format_seconds
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import VeleroRelease, release
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import (
    find_server_deployment,
    format_timestamp,
)

VELERO_API = "/apis/velero.io/v1"
CONFLICT_RETRIES = 5
EXTRA_ATTEMPTS_PER_RUNG = 2  # Jobs Velero starts with the previous limit, followed before the planned rung is retried
PROGRESS_EVERY_SECONDS = 60.0
STATUS_GRACE_SECONDS = 60.0  # how long Velero may take to record a finished Job on the BackupRepository
LOG_TAIL_LINES = 20000  # the index-blob warning repeats at every index refresh, so the tail has it too


class RunnerError(Exception):
    """Preflight found something that stops the whole run before anything was changed."""


@dataclasses.dataclass
class Undo:
    """A temporary change that must be put back (``restore_patch`` decides whether it still applies)."""

    repository: str
    method: str
    original: t.Any = None
    captured: bool = False  # ``original`` is known (from the first read before the trigger)

    @property
    def field(self) -> str:
        return ".".join(m.trigger_field(self.method))

    def observe(self, current: t.Mapping[str, t.Any]) -> None:
        """Remember the value the trigger replaces: the first read's value, never the module's own.

        A re-read after a 409 may show the trigger value already in place (the first PATCH reached the
        server but its answer was lost and the retry conflicted); that value is ours and must not become
        the value to restore. Another writer's value (not the trigger value) does replace it.
        """
        value = m._get(current, *m.trigger_field(self.method))
        if not self.captured or value != m.trigger_value(self.method):
            self.original = value
            self.captured = True


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


def _name(obj: t.Mapping[str, t.Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class MaintenanceRunner:
    """Run maintenance for the selected repositories, one at a time."""

    def __init__(self, client: t.Any, options: m.Options, *, check_mode: bool = False,
                 clock: t.Callable[[], float] = time.time, sleep: t.Callable[[float], t.Any] = time.sleep,
                 on_progress: t.Callable[[dict[str, t.Any]], t.Any] | None = None,
                 shield: t.Callable[[], t.ContextManager[t.Any]] = contextlib.nullcontext,
                 recommend: t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]] | None = None) -> None:
        self.client = client
        self.options = options
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.on_progress = on_progress
        self.shield = shield
        self.recommend = recommend
        self.ns = options.velero_namespace
        self.release: VeleroRelease | None = None
        self.flags: dict[str, str] = {}
        self.deployment_ok = False
        self.configmap_name: str | None = None
        self.configmap_referenced = False
        self._recommendation: dict[str, t.Any] | None = None
        self._recommendation_error: str | None = None
        self._undo: list[Undo] = []
        self._stop_reason: str | None = None
        self._diffs: dict[str, dict[str, t.Any]] = {}
        self.report: dict[str, t.Any] = {
            "changed": False, "results": [], "repositories": [], "velero": {}, "actions_required": [],
            "patches": [], "restored": [], "unrestored": [], "progress": [], "warnings": [], "full_maintenance": m.KOPIA_AUTO_MODE,
        }

    # ------------------------------------------------------------------------------------- paths

    def _velero_path(self, plural: str, name: str | None = None) -> str:
        return f"{VELERO_API}/namespaces/{self.ns}/{plural}" + (f"/{name}" if name else "")

    def _configmap_path(self, name: str | None = None) -> str:
        return f"/api/v1/namespaces/{self.ns}/configmaps" + (f"/{name}" if name else "")

    def _jobs_path(self, name: str | None = None) -> str:
        return f"/apis/batch/v1/namespaces/{self.ns}/jobs" + (f"/{name}" if name else "")

    # ------------------------------------------------------------------------------------- reporting

    def _progress(self, repository: str | None, event: str) -> None:
        entry = {"time": format_timestamp(self.clock()), "repository": repository, "event": event}
        self.report["progress"].append(entry)
        if self.on_progress is not None:
            self.on_progress(entry)

    def _warn(self, text: str) -> None:
        if text not in self.report["warnings"]:
            self.report["warnings"].append(text)

    def _action(self, summary: str, server_flags: t.Sequence[str] = (), helm_values: t.Mapping[str, t.Any] | None = None) -> None:
        action = {"summary": summary, "server_flags": list(server_flags), "helm_values": dict(helm_values or {})}
        if action not in self.report["actions_required"]:
            self.report["actions_required"].append(action)

    def _record_patch(self, kind: str, path: str, patch: t.Mapping[str, t.Any], *, temporary: bool, verb: str = "patch") -> None:
        self.report["patches"].append({"object": f"{kind} {self.ns}/{path.rsplit('/', 1)[-1]}", "path": path,
                                       "verb": verb, "body": copy.deepcopy(dict(patch)), "temporary": temporary,
                                       "applied": not self.check_mode})

    def _record_diff(self, key: str, header: str, before: t.Any, after: t.Any) -> None:
        if key in self._diffs:
            self._diffs[key]["after"] = copy.deepcopy(after)
        else:
            self._diffs[key] = {"before_header": header, "after_header": header,
                                "before": copy.deepcopy(before), "after": copy.deepcopy(after)}

    @property
    def diff(self) -> list[dict[str, t.Any]]:
        return [d for d in self._diffs.values() if d["before"] != d["after"]]

    # ------------------------------------------------------------------------------------- entry point

    def run(self) -> dict[str, t.Any]:
        """Preflight, then each selected repository in turn; temporary changes restored in any case."""
        try:
            repositories = self._preflight()
            try:
                selected = m.select_repositories(repositories, self.options.repositories,
                                                 self.options.volume_namespaces, self.ns)
            except ValueError as exc:
                raise RunnerError(str(exc)) from None
            if not selected:
                self._warn(f"no BackupRepository in namespace {self.ns}; nothing to maintain")
            for repository in selected:
                self.report["results"].append(self._maintain(repository))
        finally:
            self._restore()
        self.report["diff"] = self.diff
        self.report["summary"] = m.summary_lines(self.report["results"])
        return self.report

    # ------------------------------------------------------------------------------------- preflight

    def _preflight(self) -> list[dict[str, t.Any]]:
        server = find_server_deployment(self.client.list(f"/apis/apps/v1/namespaces/{self.ns}/deployments"))
        if server is None:
            raise RunnerError(f"no Deployment running 'velero server' found in namespace {self.ns}; "
                              f"set velero_namespace to where Velero is installed")
        version = self.options.velero_version or server.version
        if version is None:
            raise RunnerError(f"cannot tell the Velero version from the server image {server.image!r}; set velero_version")
        try:
            self.release = release(version, "velero_version" if self.options.velero_version else
                                   f"Velero server image {server.image}")
        except ValueError as exc:
            raise RunnerError(str(exc)) from None
        rel = self.release
        self.flags = server.flags
        named_ok = server.named_velero
        self.deployment_ok = named_ok
        velero: dict[str, t.Any] = {
            "version": rel.text, "image": server.image, "deployment": server.name,
            "mechanism": rel.maintenance_mechanism, "deployment_name_ok": named_ok or not rel.at_least(14),
            "configmap": None,
        }
        if rel.assumed_from:
            self._warn(f"Velero {rel.text} is newer than the newest known {rel.assumed_from}; assuming it behaves the same")
        if not rel.at_least(14):
            peak = self._recommendation_value("predicted", "maintenance_peak_memory")
            explanation = m.in_server_explanation(rel, peak)
            velero["explanation"] = explanation
            self._action(explanation, helm_values={"resources.limits.memory": peak} if peak else None)
        elif not named_ok:
            problem = m.deployment_name_problem(server.name, rel)
            velero["explanation"] = problem
            self._action(problem, helm_values={"fullnameOverride": "velero"})
        if rel.maintenance_configmap:
            referenced = self.flags.get(m.CONFIGMAP_FLAG[2:])
            self.configmap_name = referenced or self.options.configmap_name
            self.configmap_referenced = bool(referenced)
            configmap = self._get_configmap()
            velero["configmap"] = {"name": self.configmap_name, "referenced_by_server": self.configmap_referenced,
                                   "exists": configmap is not None, "managed_by_helm": m.is_helm_managed(configmap)}
        elif rel.maintenance_server_flags:
            velero["server_flags"] = {flag: self.flags[flag[2:]] for flag in m.FLAG_FOR_FIELD.values()
                                      if flag[2:] in self.flags}
        self.report["velero"] = velero
        repositories = sorted(self.client.list(self._velero_path("backuprepositories")), key=_name)
        self.report["repositories"] = [m.repository_view(r) for r in repositories]
        self._progress(None, f"Velero {rel.text} ({rel.maintenance_mechanism}), {len(repositories)} BackupRepositories "
                             f"in {self.ns}")
        return repositories

    def _get_configmap(self) -> dict[str, t.Any] | None:
        try:
            return self.client.get(self._configmap_path(self.configmap_name))
        except KubeNotFound:
            return None

    def _recommendation_value(self, *path: str) -> t.Any:
        recommendation = self._get_recommendation()
        return m._get(recommendation, *path) if recommendation else None

    def _get_recommendation(self) -> dict[str, t.Any] | None:
        if self._recommendation is not None or self._recommendation_error is not None:
            return self._recommendation
        if self.options.recommendation:
            self._recommendation = dict(self.options.recommendation)
        elif self.options.sizing:
            if self.recommend is None:
                self._recommendation_error = "the sizing model (module_utils/_recommend.py) is not available"
            else:
                inputs = dict(self.options.sizing)
                if self.release is not None:
                    inputs.setdefault("velero_version", self.release.text)
                try:
                    self._recommendation = self.recommend(inputs)
                except ValueError as exc:
                    self._recommendation_error = f"sizing: {exc}"
        if self._recommendation_error:
            self._warn(f"no sizing recommendation: {self._recommendation_error}")
        return self._recommendation

    # ------------------------------------------------------------------------------------- one repository

    def _new_item(self, repository: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        view = m.repository_view(repository)
        return {
            "name": view["name"], "outcome": "skipped", "attempts": [], "index_blobs": None, "message": "",
            "volume_namespace": view["volume_namespace"], "backup_storage_location": view["backup_storage_location"],
            "repository_type": view["repository_type"], "config_key": m.config_key(repository),
            "last_maintenance_before": view["last_maintenance_time"], "last_maintenance_after": view["last_maintenance_time"],
            "recent_maintenance": m.latest_recent_maintenance(repository), "duration_seconds": None,
            "kopia_mode": None, "pod_resources": None, "resources_source": None, "advice": [], "planned": [],
        }

    def _maintain(self, repository: dict[str, t.Any]) -> dict[str, t.Any]:
        item = self._new_item(repository)
        name = item["name"]
        rel = t.cast(VeleroRelease, self.release)
        error = None
        ceiling: int | None = None  # highest memory limit of the ladder (None: no ladder)
        cap_note = stop_note = ""
        started = self.clock()
        try:
            reason = self._skip_reason(repository)
            if reason:
                item["message"] = reason
                self._progress(name, f"skipped: {reason}")
                return item
            plan = self._plan_resources(repository)
            item["resources_source"] = plan.source
            item["pod_resources"] = plan.start or plan.current
            item["advice"].extend(plan.notes)
            if self.check_mode:
                return self._check_mode_item(repository, plan, item)
            ceiling = plan.ladder[-1] if plan.ladder else None
            cap_note, stop_note = self._attempts(repository, plan, item)
        except (KeyboardInterrupt, SystemExit):
            item["outcome"] = "failed"
            item["message"] = "interrupted; temporary changes were restored"
            self.report["results"].append(item)
            raise
        except KubeForbidden as exc:
            error = f"{exc} (docs/rbac/repo-maintenance-role.yaml lists every permission the module needs)"
        except KubeUnavailable as exc:
            error = str(exc)
            self._stop_reason = f"the Kubernetes API became unavailable while maintaining {name}"
        except (KubeAPIError, ValueError) as exc:
            error = str(exc)
        finally:
            self._restore(name)
        if item["attempts"] or error:
            item["duration_seconds"] = round(self.clock() - started, 3)
        self._finish_item(repository, item, rel, ceiling, cap_note, stop_note)
        if error:
            item["outcome"] = "failed"
            item["message"] = error
            self._progress(name, f"failed: {error}")
        return item

    def _skip_reason(self, repository: t.Mapping[str, t.Any]) -> str | None:
        rel = t.cast(VeleroRelease, self.release)
        name = _name(repository)
        if self._stop_reason:
            return f"not attempted: {self._stop_reason}"
        if not rel.at_least(14):
            return (f"Velero {rel.text} runs maintenance inside the server pod; there is no Job to size or follow "
                    f"(see velero.explanation)")
        if not self.deployment_ok:
            return "the Velero server Deployment is not named 'velero', so Velero cannot start maintenance Jobs " \
                   "(see velero.explanation)"
        problem = m.label_problem(name, rel) or m.repository_phase_problem(repository)
        if problem:
            return problem
        bsl_name = m._get(repository, "spec", "backupStorageLocation", default="")
        try:
            bsl = self.client.get(self._velero_path("backupstoragelocations", bsl_name))
        except KubeNotFound:
            bsl = None
        problem = m.bsl_problem(bsl, bsl_name)
        if problem:
            return problem
        return self._wait_until_idle(repository)

    def _busy(self, repository: t.Mapping[str, t.Any]) -> list[str]:
        busy = m.busy_operations(repository, list(self.client.list(self._velero_path("backups"))),
                                 list(self.client.list(self._velero_path("restores"))),
                                 list(self.client.list(self._velero_path("deletebackuprequests"))))
        for job in self._repository_jobs(repository):
            if m.is_job_active(job):
                busy.append(f"maintenance Job {_name(job)} (running)")
        return busy

    def _wait_until_idle(self, repository: t.Mapping[str, t.Any]) -> str | None:
        name = _name(repository)
        deadline = self.clock() + self.options.busy_timeout
        announced: list[str] = []
        while True:
            busy = self._busy(repository)
            if not busy:
                return None
            listing = ", ".join(busy)
            if self.check_mode:
                return f"in use by {listing}; a real run would {'wait' if self.options.on_busy == 'wait' else 'skip'}"
            if self.options.on_busy == "skip":
                return f"in use by {listing} (on_busy=skip)"
            if self.clock() >= deadline:
                return f"still in use after {format_seconds(self.options.busy_timeout)}: {listing}"
            if busy != announced:
                self._progress(name, f"waiting: in use by {listing}")
                announced = busy
            self.sleep(self.options.poll_interval)

    # ------------------------------------------------------------------------------------- resources

    def _plan_resources(self, repository: t.Mapping[str, t.Any]) -> ResourcePlan:
        rel = t.cast(VeleroRelease, self.release)
        key = m.config_key(repository) if self.options.config_scope == "repository" else m.GLOBAL_CONFIG_KEY
        plan = ResourcePlan(mechanism=rel.maintenance_mechanism)
        if rel.maintenance_configmap:
            configmap = self._get_configmap()
            plan.key = key
            # podResources in the ConfigMap replace the 1.15/1.16 flags wholesale; without them the flags apply.
            plan.current = m.current_pod_resources(configmap, m.config_key(repository))[0]
            if plan.current is None and rel.maintenance_server_flags:
                plan.current = m.flag_resources(self.flags)
            plan.effective = self.configmap_referenced
        else:
            plan.current = m.flag_resources(self.flags)
        plan.start, plan.source = self._starting_resources(repository, plan.current)
        if plan.start is not None:
            plan.start = m.normalize_pod_resources(plan.start, "pod_resources", complete=True)
            if not rel.ephemeral_storage_fields and any(k in plan.start for k in m.EPHEMERAL_FIELDS):
                plan.start = {k: v for k, v in plan.start.items() if k not in m.EPHEMERAL_FIELDS}
                plan.notes.append(f"ephemeral storage fields dropped: Velero {rel.text} reads them from 1.18.1 on")
            plan.start, note = m.cap_resources(plan.start, self.options.memory_cap)
            if note:
                plan.notes.append(note)
        limit = m.memory_bytes(plan.start["memoryLimit"]) if plan.start else 0
        if plan.effective and limit:
            plan.ladder = m.memory_ladder(limit, self.options.memory_step, self.options.memory_cap)
        self._explain_mechanism(repository, plan)
        return plan

    def _starting_resources(self, repository: t.Mapping[str, t.Any],
                            current: dict[str, str] | None) -> tuple[dict[str, str] | None, str]:
        bounded = current if current and m.memory_bytes(current.get("memoryLimit", "0")) else None
        if self.options.pod_resources:
            merged = dict(bounded or current or {})
            merged.update(self.options.pod_resources)
            return merged, "pod_resources"
        if bounded:
            return dict(bounded), "current maintenance config"
        recommendation = self._get_recommendation()
        if recommendation:
            per_repo = m._get(recommendation, "maintenance", "repositories", m.config_key(repository), "pod_resources")
            chosen = per_repo or m._get(recommendation, "maintenance", "pod_resources")
            if chosen:
                return dict(chosen), "sizing recommendation"
        return None, "none (Velero's default: no requests or limits)"

    def _explain_mechanism(self, repository: t.Mapping[str, t.Any], plan: ResourcePlan) -> None:
        rel = t.cast(VeleroRelease, self.release)
        start = plan.start
        if plan.mechanism == "server-flags":
            if start and start != plan.current:
                flags = [f"{m.FLAG_FOR_FIELD[f]}={start[f]}" for f in m.POD_RESOURCE_FIELDS]
                helm = {m.HELM_KEY_FOR_FIELD[f]: start[f] for f in m.POD_RESOURCE_FIELDS}
                self._action(f"Velero {rel.text} takes maintenance Job resources only from server flags, which this "
                             f"module does not change: set them on the velero Deployment (Helm chart 7.1.2-10.x keys "
                             f"below; chart 7.0.0-7.1.1: configuration.extraArgs). They apply to every repository.",
                             server_flags=flags, helm_values=helm)
            plan.notes.append("Velero 1.14 reads maintenance resources from server flags only: one attempt with the "
                              "current flags, no memory ladder")
            return
        if start is None:
            plan.notes.append("no starting resources (no pod_resources, no bounded current config, no sizing "
                              "recommendation): the Job runs with Velero's defaults and there is no memory ladder")
            return
        key = t.cast(str, plan.key)
        if not self.configmap_referenced:
            self._action(
                f"The velero server reads no maintenance ConfigMap: add the flag so Job resources from "
                f"ConfigMap {self.ns}/{self.configmap_name} apply (Helm chart 10.1.0+: the values below; the chart then "
                f"renders the ConfigMap itself). Until then Jobs run with "
                f"{'the --maintenance-job-* flags' if rel.maintenance_server_flags else 'no requests or limits'}.",
                server_flags=[f"{m.CONFIGMAP_FLAG}={self.configmap_name}"],
                helm_values={"configuration.repositoryMaintenanceJob.repositoryConfigData.name": self.configmap_name,
                             self._helm_entry_path(key): {"podResources": start}})
            plan.notes.append("the server does not reference the maintenance ConfigMap yet: one attempt, no memory "
                              "ladder (see actions_required)")
        elif m.is_helm_managed(self._get_configmap()):
            self._action(f"ConfigMap {self.ns}/{self.configmap_name} is managed by Helm: the next helm upgrade "
                         f"overwrites what this module writes; keep the resources that worked in your values.",
                         helm_values={self._helm_entry_path(key): {"podResources": start}})

    @staticmethod
    def _helm_entry_path(key: str) -> str:
        base = "configuration.repositoryMaintenanceJob.repositoryConfigData"
        return f"{base}.global" if key == m.GLOBAL_CONFIG_KEY else f"{base}.repositories.{key}"

    def _apply_resources(self, repository: t.Mapping[str, t.Any], key: str, resources: dict[str, str]) -> bool:
        """Write ``podResources`` under ``key`` of the maintenance ConfigMap; True when something changed."""
        name = t.cast(str, self.configmap_name)
        header = f"ConfigMap {self.ns}/{name} data.{key}"
        for _attempt in range(CONFLICT_RETRIES):
            configmap = self._get_configmap()
            before, after = m.config_entry_update(configmap, key, resources)
            if before == after:
                return False
            self._record_diff(f"configmap/{name}/{key}", header, before or {}, after)
            if configmap is None:
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": self.ns,
                                     "annotations": {"velero-ops.tuning/written-by": "repo_maintenance"}},
                        "data": {key: m.encode_entry(after)}}
                self._record_patch("ConfigMap", self._configmap_path(name), body, temporary=False, verb="create")
                if self.check_mode:
                    return True
                try:
                    self.client.create(self._configmap_path(), body)
                except KubeConflict:
                    self.report["patches"].pop()
                    continue
            else:
                patch = {"metadata": {"resourceVersion": m._get(configmap, "metadata", "resourceVersion")},
                         "data": {key: m.encode_entry(after)}}
                self._record_patch("ConfigMap", self._configmap_path(name), patch, temporary=False)
                if self.check_mode:
                    return True
                try:
                    self.client.merge_patch(self._configmap_path(name), patch)
                except KubeConflict:
                    self.report["patches"].pop()
                    self._progress(_name(repository), f"ConfigMap {name} changed meanwhile (409); re-reading")
                    continue
            self.report["changed"] = True
            self._progress(_name(repository), f"ConfigMap {name} {key}: memoryLimit {resources.get('memoryLimit')}, "
                                              f"memoryRequest {resources.get('memoryRequest')}")
            return True
        raise KubeAPIError(f"ConfigMap {self.ns}/{name}: still conflicting after {CONFLICT_RETRIES} fresh reads")

    # ------------------------------------------------------------------------------------- trigger and restore

    def _patch_repository(self, name: str, compute: t.Callable[[dict[str, t.Any]], dict[str, t.Any] | None],
                          *, temporary: bool) -> tuple[dict[str, t.Any], dict[str, t.Any] | None]:
        """Read, compute a merge patch from the fresh object, apply; on 409 read again (bounded)."""
        path = self._velero_path("backuprepositories", name)
        for _attempt in range(CONFLICT_RETRIES):
            current = self.client.get(path)
            patch = compute(current)
            if patch is None:
                return current, None
            self._record_patch("BackupRepository", path, patch, temporary=temporary)
            if self.check_mode:
                return current, patch
            try:
                return self.client.merge_patch(path, patch), patch
            except KubeConflict:
                self.report["patches"].pop()
                self._progress(name, "BackupRepository changed meanwhile (409 Conflict); re-reading")
        raise KubeAPIError(f"BackupRepository {self.ns}/{name}: still conflicting after {CONFLICT_RETRIES} fresh reads")

    def _trigger(self, name: str) -> dict[str, t.Any]:
        """Make the repository due; returns the repository as first read, before any write (the baseline
        against which Velero's result is recognised)."""
        method = self.options.trigger
        undo = next((u for u in self._undo if u.repository == name and u.method == method), None)
        if undo is None:
            undo = Undo(name, method)
            self._undo.append(undo)  # registered before the write: an interruption right after it still restores

        reads: list[dict[str, t.Any]] = []

        def compute(current: dict[str, t.Any]) -> dict[str, t.Any] | None:
            reads.append(current)
            undo.observe(current)
            return m.trigger_patch(current, method)

        after, patch = self._patch_repository(name, compute, temporary=True)
        if patch is not None:
            self.report["changed"] = True
            what = (f"spec.maintenanceFrequency {undo.original} -> {m.TRIGGER_FREQUENCY}" if method == "frequency"
                    else f"status.lastMaintenanceTime {undo.original} -> null")
            self._progress(name, f"made due: {what}")
        else:
            self._progress(name, "already due; waiting for Velero to start the Job")
        return reads[0] if reads else after

    def _restore(self, repository: str | None = None) -> None:
        """Undo temporary changes (all, or one repository's), newest first, shielded from signals.

        What cannot be put back is listed in ``unrestored`` with the command that does it by hand.
        """
        with self.shield():
            for undo in reversed(list(self._undo)):
                if repository is not None and undo.repository != repository:
                    continue
                self._undo.remove(undo)
                if not undo.captured:
                    continue  # the trigger's first read failed: nothing was written, nothing to put back
                try:
                    patch = self._patch_repository(
                        undo.repository, lambda current, u=undo: m.restore_patch(current, u.method, u.original),
                        temporary=True)[1]
                except KubeAPIError as exc:
                    self._unrestored(undo, exc)
                    continue
                if patch is not None:
                    text = f"BackupRepository {undo.repository}: {undo.field} restored to {undo.original}"
                    self.report["restored"].append(text)
                    self._progress(undo.repository, text)

    def _unrestored(self, undo: Undo, exc: KubeAPIError) -> None:
        body = m.restore_body(undo.method, undo.original)
        if body is None:
            return  # the trigger replaced nothing worth putting back
        temporary_value = m.trigger_value(undo.method)
        temporary = json.dumps(temporary_value)
        command = (f"kubectl -n {self.ns} patch backuprepository {undo.repository} --type merge "
                   f"-p '{json.dumps(body, separators=(',', ':'))}'")
        entry = {"repository": undo.repository, "field": undo.field, "original": undo.original,
                 "temporary_value": temporary_value, "command": command, "error": str(exc)}
        self.report["unrestored"].append(entry)
        self._warn(f"could not restore BackupRepository {self.ns}/{undo.repository} {undo.field} to "
                   f"{json.dumps(undo.original)} ({exc}); if it is still {temporary}, run: {command}")
        self._progress(undo.repository, f"NOT restored: {undo.field} (original {json.dumps(undo.original)}); "
                                        f"if it is still {temporary}, run: {command}")

    # ------------------------------------------------------------------------------------- attempts

    def _repository_jobs(self, repository: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
        label = m.repo_name_label(_name(repository), t.cast(VeleroRelease, self.release))
        return list(self.client.list(self._jobs_path(), label_selector=f"{m.REPO_NAME_LABEL}={label}"))

    def _attempts(self, repository: dict[str, t.Any], plan: ResourcePlan, item: dict[str, t.Any]) -> tuple[str, str]:
        """Climb the memory ladder: one planned rung after the other while attempts run out of memory.

        Velero re-enqueues every repository every 5 minutes, so right after a failed Job it may start the
        next one with the *old* ConfigMap limit, before this module has written the next rung. Such a Job
        (its limit is not the planned one) is followed as an extra attempt and the planned rung is then
        tried again (at most ``EXTRA_ATTEMPTS_PER_RUNG`` times), so the cap is only reported as reached
        when a Job that really had the cap ran out of memory.

        Returns the notes for the repository's message: why no higher limit was tried after the last attempt
        ran out of memory (cap note), and why the ladder stopped early (stop note); each may be empty.
        """
        name = _name(repository)
        rungs: list[int | None] = list(plan.ladder) or [None]
        if plan.start is not None and plan.key is not None and not plan.ladder:
            self._apply_resources(repository, plan.key, plan.start)  # unreferenced ConfigMap: prepared for the flag
        known_jobs = {_name(j) for j in self._repository_jobs(repository)}
        for index, rung in enumerate(rungs):
            resources = None
            if rung is not None:
                resources = m.resources_for_limit(t.cast(dict, plan.start), rung)
                self._apply_resources(repository, t.cast(str, plan.key), resources)
                item["pod_resources"] = resources
            extra = 0
            while True:
                attempt = self._attempt(repository, known_jobs, resources)
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
                        f"of the planned {planned}: check that the server reads ConfigMap {self.ns}/{self.configmap_name} "
                        f"key {plan.key} (a per-repository key wins over global)")
                attempt["message"] += (f"; Velero started this Job with memory limit {attempt['memory_limit']}, not "
                                       f"the planned {planned} (its periodic retry ran before the ConfigMap change)")
                self._progress(name, f"{self._memory_failure_text(attempt)} in a Job started with the previous limit; "
                                     f"trying the planned {planned} again")
            if attempt["outcome"] == "timed_out":
                self._stop_reason = (f"maintenance of {name} was still running at the timeout; Velero runs one "
                                     f"maintenance Job at a time")
            if attempt["outcome"] not in m.MEMORY_FAILURES:
                break
            if index + 1 == len(rungs):
                return self._cap_message(plan, len(item["attempts"])), ""
            self._progress(name, f"{self._memory_failure_text(attempt)}; raising to "
                                 f"{m.render_memory(t.cast(int, rungs[index + 1]))} "
                                 f"(step {self.options.memory_step:g}, cap "
                                 f"{m.render_memory(self.options.memory_cap) if self.options.memory_cap else 'none'})")
        return "", ""

    @staticmethod
    def _memory_failure_text(attempt: t.Mapping[str, t.Any]) -> str:
        if attempt["outcome"] == "evicted":
            return f"evicted (node low on memory) at memory limit {attempt['memory_limit']}"
        return f"OOMKilled at memory limit {attempt['memory_limit']}"

    def _attempt(self, repository: dict[str, t.Any], known_jobs: set[str],
                 resources: dict[str, str] | None) -> dict[str, t.Any]:
        name = _name(repository)
        opts = self.options
        began = self.clock()
        deadline = began + opts.timeout
        planned_limit = resources.get("memoryLimit") if resources else None
        attempt: dict[str, t.Any] = {"memory_limit": planned_limit or "0", "outcome": "timed_out", "job": None,
                                     "pod": None, "reason": None, "exit_code": None, "pod_reason": None,
                                     "pod_message": None, "duration_seconds": None, "started": None, "completed": None,
                                     "index_blobs": None, "kopia_mode": None, "recent_maintenance": None, "message": "",
                                     "planned_memory_limit": planned_limit, "extra": False}
        # A Job Velero already started on its own (its retry right after the previous attempt failed) comes first:
        # it may even have succeeded by now, and triggering again would start one more maintenance for nothing.
        # The repository is read before the Jobs are listed: a Job still active then has no result in that read.
        baseline: dict[str, t.Any] | None = self.client.get(self._velero_path("backuprepositories", name))
        job = self._oldest_new_job(repository, known_jobs)
        if job is None:
            baseline = self._trigger(name)
        else:
            if not m.is_job_active(job):
                baseline = None  # it ended before it was found: its result may be in the read already
            self._progress(name, f"Job {_name(job)} was started by Velero on its own after the previous attempt; "
                                 f"following it")
        while job is None:
            # The repository is read before the Jobs are listed: a result in this read comes from a Job that
            # already exists (Velero keeps the latest Jobs), so the list below finds it. Listed first, a Job
            # created and finished in between looked like a result without a Job (the -n 8 flake).
            current = self.client.get(self._velero_path("backuprepositories", name))
            job = self._oldest_new_job(repository, known_jobs)
            if job is not None:
                break
            if m.result_recorded(current, t.cast(dict, baseline)):
                return self._status_only_result(current, attempt, began)
            if self.clock() >= deadline:
                attempt["message"] = (f"Velero started no maintenance Job within {format_seconds(opts.timeout)}; its "
                                      f"controller looks at repositories every 5 minutes and runs one Job at a time")
                attempt["duration_seconds"] = round(self.clock() - began, 3)
                return attempt
            self.sleep(opts.poll_interval)
        if opts.trigger == "frequency":
            self._restore(name)  # the Job exists: a 1m frequency must not start more of them
        job_name = _name(job)
        attempt["job"] = job_name
        attempt["memory_limit"] = m.job_memory_limit(job)
        self._progress(name, f"Job {job_name} started (memory limit {attempt['memory_limit']})")
        if planned_limit and m.memory_bytes(attempt["memory_limit"]) != m.memory_bytes(planned_limit):
            # Started from the ConfigMap as it was before this rung was written (Velero's periodic retry of a
            # failed repository): followed, but it does not count as the planned rung.
            attempt["extra"] = True
            self._progress(name, f"Job {job_name} has memory limit {attempt['memory_limit']}, not the planned "
                                 f"{planned_limit}: Velero started it before the ConfigMap change; following it")
        state, last_note, last_phase = None, self.clock(), None
        while True:
            try:
                job = self.client.get(self._jobs_path(job_name))
            except KubeNotFound:
                attempt.update(outcome="failed", message=f"Job {job_name} was deleted before it finished")
                attempt["duration_seconds"] = round(self.clock() - began, 3)
                return attempt
            pods = list(self.client.list(f"/api/v1/namespaces/{self.ns}/pods",
                                         label_selector=f"{m.JOB_NAME_POD_LABEL}={job_name}"))
            state = m.classify_job(job, pods)
            if state.finished:
                break
            now = self.clock()
            if state.phase != last_phase:
                self._progress(name, f"Job {job_name} {state.phase}")
                last_phase = state.phase
            elif now - last_note >= PROGRESS_EVERY_SECONDS:
                self._progress(name, f"Job {job_name} {state.phase} for {format_seconds(now - began)}")
                last_note = now
            if now >= deadline:
                attempt.update(pod=state.pod_name, started=state.started,
                               message=(f"Job {job_name} still {state.phase} after {format_seconds(opts.timeout)}; "
                                        f"left running (Velero waits for it and records the result); raise timeout "
                                        f"for large repositories"))
                attempt["duration_seconds"] = round(now - began, 3)
                return attempt
            self.sleep(opts.poll_interval)
        return self._finished_result(repository, state, attempt, baseline, began)

    def _oldest_new_job(self, repository: t.Mapping[str, t.Any], known_jobs: set[str]) -> dict[str, t.Any] | None:
        """The oldest maintenance Job of the repository this run has not followed yet (names end in Velero's
        unix-millis suffix, so they order like their creation within one repository)."""
        new = [j for j in self._repository_jobs(repository) if _name(j) not in known_jobs]
        if not new:
            return None
        return min(new, key=lambda j: (m._get(j, "metadata", "creationTimestamp", default=""), _name(j)))

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
        attempt["duration_seconds"] = round(self.clock() - began, 3)
        return attempt

    def _finished_result(self, repository: t.Mapping[str, t.Any], state: m.JobState, attempt: dict[str, t.Any],
                         baseline: t.Mapping[str, t.Any] | None, began: float) -> dict[str, t.Any]:
        name = _name(repository)
        rel = t.cast(VeleroRelease, self.release)
        findings = m.LogFindings()
        log_note = ""
        if state.pod_name:
            try:
                findings = m.parse_maintenance_log(self.client.pod_log(self.ns, state.pod_name, tail_lines=LOG_TAIL_LINES))
            except KubeForbidden as exc:
                log_note = f" (log not read: {exc})"
            except KubeAPIError as exc:
                log_note = f" (log not read: {exc.message})"
        if baseline is None:
            current = self.client.get(self._velero_path("backuprepositories", name))
        else:
            current = self._await_status(name, baseline)
        entry = m.latest_recent_maintenance(current) if rel.recent_maintenance_status else None
        if entry is not None and baseline is not None and not m.result_recorded(current, baseline):
            entry = None  # nothing new recorded
        outcome = state.phase if state.phase in ("succeeded",) + m.MEMORY_FAILURES else "failed"
        elapsed = self.clock() - began
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
                      or (entry or {}).get("message") or m._get(current, "status", "message")
                      or f"Job {state.job_name} failed ({state.reason or 'no reason given'})")
            message = f"maintenance failed: {detail}"
        attempt["message"] = message + log_note
        attempt["mmap_fallback"] = findings.mmap_fallback
        self._progress(name, attempt["message"])
        return attempt

    def _await_status(self, name: str, baseline: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The repository once Velero has recorded the finished Job (bounded wait)."""
        path = self._velero_path("backuprepositories", name)
        deadline = self.clock() + min(STATUS_GRACE_SECONDS, self.options.timeout)
        while True:
            current = self.client.get(path)
            if m.result_recorded(current, baseline) or self.clock() >= deadline:
                return current
            self.sleep(self.options.poll_interval)

    # ------------------------------------------------------------------------------------- report

    def _finish_item(self, repository: t.Mapping[str, t.Any], item: dict[str, t.Any], rel: VeleroRelease,
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
                fresh = self.client.get(self._velero_path("backuprepositories", item["name"]))
                item["last_maintenance_after"] = m._get(fresh, "status", "lastMaintenanceTime")
                item["recent_maintenance"] = m.latest_recent_maintenance(fresh)
                self._record_diff(f"repo/{item['name']}", f"BackupRepository {self.ns}/{item['name']}",
                                  {"status": {"lastMaintenanceTime": item["last_maintenance_before"]}},
                                  {"status": {"lastMaintenanceTime": item["last_maintenance_after"]}})
            except KubeAPIError as exc:
                self._warn(f"could not re-read BackupRepository {item['name']}: {exc}")
            item["advice"].extend(m.maintenance_advice(
                rel, outcome=item["outcome"], index_blobs=item["index_blobs"], kopia_mode=item["kopia_mode"],
                mmap_fallback=any(a.get("mmap_fallback") for a in attempts),
                repository_config=m._get(repository, "spec", "repositoryConfig")))

    def _cap_message(self, plan: ResourcePlan, attempts: int) -> str:
        """Why no higher memory limit was tried after the last OOMKilled attempt."""
        if plan.mechanism == "server-flags":
            return ("; Velero 1.14 takes Job resources from server flags only: raise --maintenance-job-mem-limit "
                    "(see actions_required) and run again")
        if not self.configmap_referenced:
            return "; the server reads no maintenance ConfigMap yet, so memory could not be raised (see actions_required)"
        if not plan.ladder:
            return ("; the Job had no memory limit to start a ladder from: give pod_resources (or a sizing "
                    "recommendation) and memory_cap")
        if self.options.memory_cap is None:
            return "; no memory_cap given, so the module did not retry with more memory: set memory_cap to allow a ladder"
        return f"; memory_cap {m.render_memory(self.options.memory_cap)} reached after {attempts} attempt(s)"

    def _check_mode_item(self, repository: dict[str, t.Any], plan: ResourcePlan, item: dict[str, t.Any]) -> dict[str, t.Any]:
        """Plan without writing: the exact ConfigMap change and trigger patch a real run starts with."""
        name = item["name"]
        patches_before = len(self.report["patches"])
        if plan.start is not None and plan.key is not None:
            first = m.resources_for_limit(plan.start, plan.ladder[0]) if plan.ladder else plan.start
            self._apply_resources(repository, plan.key, first)
        field, key = m.trigger_field(self.options.trigger)
        original = m._get(repository, field, key)
        patch = self._patch_repository(name, lambda current: m.trigger_patch(current, self.options.trigger),
                                       temporary=True)[1]
        if patch is not None:
            self._record_diff(f"repo/{name}", f"BackupRepository {self.ns}/{name} (temporary, restored after the run)"
                              if self.options.trigger == "frequency" else f"BackupRepository {self.ns}/{name}",
                              {field: {key: original}}, {field: {key: patch[field][key]}})
        item["planned"] = self.report["patches"][patches_before:]
        if item["planned"]:
            self.report["changed"] = True
        ladder = ", ".join(m.render_memory(r) for r in plan.ladder) if plan.ladder else "none"
        item["message"] = (f"check mode: would apply {len(item['planned'])} change(s) and wait for Velero's Job; "
                           f"memory ladder: {ladder}")
        return item
