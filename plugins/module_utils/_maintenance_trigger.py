# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make a BackupRepository due for maintenance so Velero starts a Job now (``velero repo maintenance run`` does not
exist): the trigger patch from ``_maintenance``, registered in the undo journal before it is written and carrying
the restore mark (``_restore_marks``: the original value recorded on the object by the same write).

No Ansible imports.
"""

from __future__ import annotations

import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils import _restore_marks as marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_context import RunContext
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_journal import UndoJournal
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import format_timestamp


def trigger_patch(current: t.Mapping[str, t.Any], method: str, original: t.Any, since: str) -> dict[str, t.Any] | None:
    """The trigger patch with the restore mark: the original value is recorded on the object by the same write
    that changes it, so the record exists exactly when the change does (also after a SIGKILL)."""
    patch = m.trigger_patch(current, method)
    return None if patch is None else marks.add_mark(patch, method, original, since)


class Trigger:
    """Makes one repository due at a time (``options.trigger``: frequency or lastMaintenanceTime)."""

    def __init__(self, ctx: RunContext, journal: UndoJournal) -> None:
        self.ctx = ctx
        self.journal = journal

    def make_due(self, name: str) -> dict[str, t.Any]:
        """Make the repository due; returns the repository as first read, before any write (the baseline
        against which Velero's result is recognised)."""
        method = self.ctx.options.trigger
        undo = self.journal.register(name, method)  # before the write: an interruption right after it still restores

        reads: list[dict[str, t.Any]] = []

        def compute(current: dict[str, t.Any]) -> dict[str, t.Any] | None:
            reads.append(current)
            undo.observe(current)
            return trigger_patch(current, method, undo.original, format_timestamp(self.ctx.clock()))

        after, patch = self.journal.patch_repository(name, compute, temporary=True)
        if patch is not None:
            self.ctx.report["changed"] = True
            what = (f"spec.maintenanceFrequency {undo.original} -> {m.TRIGGER_FREQUENCY}" if method == "frequency"
                    else f"status.lastMaintenanceTime {undo.original} -> null")
            self.ctx.progress(name, f"made due: {what}")
        else:
            self.ctx.progress(name, "already due; waiting for Velero to start the Job")
        return reads[0] if reads else after
