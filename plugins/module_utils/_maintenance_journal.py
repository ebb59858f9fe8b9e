# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The undo journal of a maintenance run: every temporary change to a BackupRepository (the trigger) is registered
before it is written and put back on the way out, newest first, shielded from signals; what cannot be put back is
reported with the command that does it by hand. Also the one way this run patches a BackupRepository
(``patch_repository``: read, compute the patch from the fresh object, apply, re-read on 409).

No Ansible imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils import _restore_marks as marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError, KubeConflict
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import CONFLICT_RETRIES
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext, object_name


@dataclasses.dataclass
class Undo:
    """A temporary change that must be put back (``restore_patch`` decides whether it still applies)."""

    repository: str
    method: str
    original: t.Any = None
    captured: bool = False  # ``original`` is known (from the first read before the trigger)
    since: str | None = None  # set for a leftover of an interrupted run (from its restore mark)

    @property
    def field(self) -> str:
        return ".".join(m.trigger_field(self.method))

    def observe(self, current: t.Mapping[str, t.Any]) -> None:
        """Remember the value the trigger replaces: the first read's value, never the module's own.

        A re-read after a 409 may show the trigger value already in place (the first PATCH reached the
        server but its answer was lost and the retry conflicted); that value is ours and must not become
        the value to restore. Another writer's value (not the trigger value) does replace it.
        """
        value = nested_get(current, m.trigger_field(self.method))
        if not self.captured or value != m.trigger_value(self.method):
            self.original = value
            self.captured = True


@dataclasses.dataclass
class _Outcome:
    """What one restore did: ``restored`` (the field holds the original again), ``cleared`` (only the restore
    mark was removed: the field had changed since), ``none`` (nothing to do)."""

    action: str
    before: t.Any = None  # the field as last read before the restore


class UndoJournal:
    """Temporary changes still to put back (``pending``), and how to put them back.

    Every temporary change carries a restore mark on the object (``_restore_marks``), written by the same patch;
    ``find_leftovers``/``restore_leftovers`` deal with the marks an earlier, interrupted run left behind.
    """

    def __init__(self, ctx: RunContext, shield: t.Callable[[], t.ContextManager[t.Any]] = contextlib.nullcontext) -> None:
        self.ctx = ctx
        self.shield = shield
        self.pending: list[Undo] = []
        self.leftovers: list[tuple[Undo, dict[str, t.Any]]] = []

    def register(self, repository: str, method: str) -> Undo:
        """The entry for a temporary change, registered before the write: an interruption right after it still
        restores. One entry per repository and method, however often the change is made."""
        undo = next((u for u in self.pending if u.repository == repository and u.method == method), None)
        if undo is None:
            undo = Undo(repository, method)
            self.pending.append(undo)
        return undo

    def patch_repository(self, name: str, compute: t.Callable[[dict[str, t.Any]], dict[str, t.Any] | None],
                         *, temporary: bool, shape: str = "BackupRepository",
                         sent: list[dict[str, t.Any]] | None = None) -> tuple[dict[str, t.Any], dict[str, t.Any] | None]:
        """Read, compute a merge patch from the fresh object, apply; on 409 read again after a growing pause
        (bounded, within the current deadline). Every PATCH sent is appended to ``sent``."""
        path = self.ctx.velero_path("backuprepositories", name)
        for attempt in range(CONFLICT_RETRIES):
            self.ctx.api.conflict_pause(attempt)
            current = self.ctx.api.get(shape, path)
            patch = compute(current)
            if patch is None:
                return current, None
            self.ctx.record_patch("BackupRepository", path, patch, temporary=temporary)
            if self.ctx.check_mode:
                return current, patch
            if sent is not None:
                sent.append(patch)
            try:
                return self.ctx.api.merge_patch(shape, path, patch), patch
            except KubeConflict:
                self.ctx.report["patches"].pop()
                self.ctx.progress(name, "BackupRepository changed meanwhile (409 Conflict); re-reading")
        raise KubeAPIError(f"BackupRepository {self.ctx.ns}/{name}: still conflicting after {CONFLICT_RETRIES} fresh reads")

    def _put_back(self, undo: Undo) -> _Outcome:
        """One restore: the field back if it still holds the temporary value, the restore mark removed.

        A re-read that already shows the original after a PATCH was sent counts as restored: the PATCH was
        applied but its answer was lost, and the client's retry of the same body got 409.
        """
        sent: list[dict[str, t.Any]] = []
        before: list[t.Any] = []

        def compute(current: dict[str, t.Any]) -> dict[str, t.Any] | None:
            before.append(nested_get(current, m.trigger_field(undo.method)))
            return marks.restore_patch(current, undo.method, undo.original)

        _after, patch = self.patch_repository(undo.repository, compute, temporary=True,
                                              shape="BackupRepository:restore", sent=sent)
        first = before[0] if before else None
        if marks.puts_back(patch, undo.method):
            return _Outcome("restored", first)
        if patch is None and any(marks.puts_back(p, undo.method) for p in sent) \
                and before and before[-1] == undo.original:
            return _Outcome("restored", first)
        return _Outcome("cleared" if patch is not None or sent else "none", first)

    def restore(self, repository: str | None = None) -> None:
        """Undo temporary changes (all, or one repository's), newest first, shielded from signals and with their
        own time (also after a step ran out of it).

        What cannot be put back is listed in ``unrestored`` with the command that does it by hand.
        """
        with self.shield(), self.ctx.limit(self.ctx.restore_seconds, "putting temporary changes back",
                                           independent=True):
            for undo in reversed(list(self.pending)):
                if repository is not None and undo.repository != repository:
                    continue
                self.pending.remove(undo)
                if not undo.captured:
                    continue  # the trigger's first read failed: nothing was written, nothing to put back
                try:
                    outcome = self._put_back(undo)
                except (KubeAPIError, ValueError) as exc:  # ValueError: an object of an unexpected shape
                    self._report_unrestored(undo, exc)
                    continue
                if outcome.action == "restored":
                    text = f"BackupRepository {undo.repository}: {undo.field} restored to {undo.original}"
                    self.ctx.report["restored"].append(text)
                    self.ctx.progress(undo.repository, text)

    # ------------------------------------------------------------------------------------- leftovers

    def find_leftovers(self, repositories: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        """List the restore marks earlier runs left (``leftovers``); nothing is changed yet."""
        for repository in repositories:
            name = object_name(repository)
            for mark in marks.read_marks(repository):
                entry = {"repository": name, "field": mark.field, "original": mark.original,
                         "temporary_value": mark.temporary, "since": mark.since, "action": "reported",
                         "message": mark.problem or (
                             f"an interrupted run left {mark.field} = {json.dumps(mark.temporary)} since "
                             f"{mark.since or 'an unknown time'} (original {json.dumps(mark.original)})")}
                self.ctx.report["leftovers"].append(entry)
                if mark.problem or mark.method is None:
                    self.ctx.warn(f"BackupRepository {self.ctx.ns}/{name}: {mark.problem}")
                    continue
                undo = Undo(name, mark.method, mark.original, captured=True, since=mark.since)
                self.leftovers.append((undo, entry))
                self.ctx.progress(name, f"leftover of an interrupted run: {entry['message']}")

    def restore_leftovers(self) -> bool:
        """Put back what earlier runs left (check mode: only say so); True when something was written."""
        changed = False
        if self.ctx.check_mode:
            for _undo, entry in self.leftovers:
                entry["message"] += "; check mode: a real run puts it back"
            return False
        with self.shield(), self.ctx.limit(self.ctx.restore_seconds, "putting back what an interrupted run left",
                                           independent=True):
            for undo, entry in self.leftovers:
                try:
                    outcome = self._put_back(undo)
                except (KubeAPIError, ValueError) as exc:
                    entry["action"] = "failed"
                    entry["message"] += f"; could not put it back: {exc}"
                    self._report_unrestored(undo, exc)
                    continue
                changed = changed or outcome.action != "none"
                if outcome.action == "restored":
                    text = (f"BackupRepository {undo.repository}: {undo.field} restored to {undo.original} (left by "
                            f"an interrupted run at {undo.since or 'an unknown time'})")
                    entry.update(action="restored", message=f"{undo.field} was still {json.dumps(entry['temporary_value'])} "
                                                            f"since {undo.since}: restored to {undo.original}")
                    self.ctx.report["restored"].append(text)
                    self.ctx.progress(undo.repository, text)
                else:
                    entry.update(action="cleared", message=(
                        f"{undo.field} no longer holds the temporary value {json.dumps(entry['temporary_value'])} (now "
                        f"{json.dumps(outcome.before)}: Velero or someone else changed it since {undo.since}); only the "
                        f"restore mark was removed"))
                    self.ctx.progress(undo.repository, f"leftover restore mark removed: {entry['message']}")
        self.leftovers = []
        if changed:
            self.ctx.report["changed"] = True
        return changed

    def _report_unrestored(self, undo: Undo, exc: Exception) -> None:
        if m.restore_body(undo.method, undo.original) is None:
            self.ctx.warn(f"could not remove the restore mark from BackupRepository {self.ctx.ns}/{undo.repository} "
                          f"({exc}); the next run removes it")
            return  # the trigger replaced nothing worth putting back
        temporary_value = m.trigger_value(undo.method)
        temporary = json.dumps(temporary_value)
        command = marks.undo_command(self.ctx.ns, undo.repository, marks.manual_body(undo.method, undo.original))
        entry = {"repository": undo.repository, "field": undo.field, "original": undo.original,
                 "temporary_value": temporary_value, "command": command, "error": str(exc)}
        self.ctx.report["unrestored"].append(entry)
        self.ctx.warn(f"could not restore BackupRepository {self.ctx.ns}/{undo.repository} {undo.field} to "
                      f"{json.dumps(undo.original)} ({exc}); if it is still {temporary}, run: {command}")
        self.ctx.progress(undo.repository, f"NOT restored: {undo.field} (original {json.dumps(undo.original)}); "
                          f"if it is still {temporary}, run: {command}")
