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
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import nested_get
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError, KubeConflict
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext

CONFLICT_RETRIES = 5


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
        value = nested_get(current, m.trigger_field(self.method))
        if not self.captured or value != m.trigger_value(self.method):
            self.original = value
            self.captured = True


class UndoJournal:
    """Temporary changes still to put back (``pending``), and how to put them back."""

    def __init__(self, ctx: RunContext, shield: t.Callable[[], t.ContextManager[t.Any]] = contextlib.nullcontext) -> None:
        self.ctx = ctx
        self.shield = shield
        self.pending: list[Undo] = []

    def register(self, repository: str, method: str) -> Undo:
        """The entry for a temporary change, registered before the write: an interruption right after it still
        restores. One entry per repository and method, however often the change is made."""
        undo = next((u for u in self.pending if u.repository == repository and u.method == method), None)
        if undo is None:
            undo = Undo(repository, method)
            self.pending.append(undo)
        return undo

    def patch_repository(self, name: str, compute: t.Callable[[dict[str, t.Any]], dict[str, t.Any] | None],
                         *, temporary: bool) -> tuple[dict[str, t.Any], dict[str, t.Any] | None]:
        """Read, compute a merge patch from the fresh object, apply; on 409 read again (bounded)."""
        path = self.ctx.velero_path("backuprepositories", name)
        for _attempt in range(CONFLICT_RETRIES):
            current = self.ctx.client.get(path)
            patch = compute(current)
            if patch is None:
                return current, None
            self.ctx.record_patch("BackupRepository", path, patch, temporary=temporary)
            if self.ctx.check_mode:
                return current, patch
            try:
                return self.ctx.client.merge_patch(path, patch), patch
            except KubeConflict:
                self.ctx.report["patches"].pop()
                self.ctx.progress(name, "BackupRepository changed meanwhile (409 Conflict); re-reading")
        raise KubeAPIError(f"BackupRepository {self.ctx.ns}/{name}: still conflicting after {CONFLICT_RETRIES} fresh reads")

    def restore(self, repository: str | None = None) -> None:
        """Undo temporary changes (all, or one repository's), newest first, shielded from signals.

        What cannot be put back is listed in ``unrestored`` with the command that does it by hand.
        """
        with self.shield():
            for undo in reversed(list(self.pending)):
                if repository is not None and undo.repository != repository:
                    continue
                self.pending.remove(undo)
                if not undo.captured:
                    continue  # the trigger's first read failed: nothing was written, nothing to put back
                try:
                    patch = self.patch_repository(
                        undo.repository, lambda current, u=undo: m.restore_patch(current, u.method, u.original),
                        temporary=True)[1]
                except KubeAPIError as exc:
                    self._report_unrestored(undo, exc)
                    continue
                if patch is not None:
                    text = f"BackupRepository {undo.repository}: {undo.field} restored to {undo.original}"
                    self.ctx.report["restored"].append(text)
                    self.ctx.progress(undo.repository, text)

    def _report_unrestored(self, undo: Undo, exc: KubeAPIError) -> None:
        body = m.restore_body(undo.method, undo.original)
        if body is None:
            return  # the trigger replaced nothing worth putting back
        temporary_value = m.trigger_value(undo.method)
        temporary = json.dumps(temporary_value)
        command = (f"kubectl -n {self.ctx.ns} patch backuprepository {undo.repository} --type merge "
                   f"-p '{json.dumps(body, separators=(',', ':'))}'")
        entry = {"repository": undo.repository, "field": undo.field, "original": undo.original,
                 "temporary_value": temporary_value, "command": command, "error": str(exc)}
        self.ctx.report["unrestored"].append(entry)
        self.ctx.warn(f"could not restore BackupRepository {self.ctx.ns}/{undo.repository} {undo.field} to "
                      f"{json.dumps(undo.original)} ({exc}); if it is still {temporary}, run: {command}")
        self.ctx.progress(undo.repository, f"NOT restored: {undo.field} (original {json.dumps(undo.original)}); "
                          f"if it is still {temporary}, run: {command}")
