# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: wall time per task over all hosts, written as JSON (like ansible.posix.profile_tasks).

Enabled by benchmarks/tune_fleet.py with ANSIBLE_CALLBACK_PLUGINS=benchmarks/tune/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=task_times and TASK_TIMES_FILE=<path>. With the linear strategy a task runs on every host
before the next one starts, so the time between two task starts is what that task cost the whole fleet.
"""

from __future__ import annotations

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: Wall time per task for benchmarks/tune_fleet.py
description: Writes a JSON mapping of task name to seconds to the file named by TASK_TIMES_FILE at the end.
requirements: [enable in callbacks_enabled]
"""

import json
import os
import time
import typing as t

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._start = time.perf_counter()
        self._current: str | None = None
        self._since = self._start
        self._times: dict[str, float] = {}

    def _switch(self, name: str | None) -> None:
        now = time.perf_counter()
        key = self._current or "(playbook start: parse, inventory)"
        self._times[key] = self._times.get(key, 0.0) + now - self._since
        self._current, self._since = name, now

    def v2_playbook_on_task_start(self, task: t.Any, is_conditional: bool) -> None:
        self._switch(task.get_name())

    def v2_playbook_on_handler_task_start(self, task: t.Any) -> None:
        self._switch(task.get_name())

    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        self._switch(None)
        path = os.environ.get("TASK_TIMES_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self._times, handle, indent=1)
