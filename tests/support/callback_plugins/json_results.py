# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stdout callback for tests: one JSON document with every play, task, per-host result and the stats.

ansible-core ships no JSON callback (it lives in ansible.posix), and tests must not depend on
Galaxy, so this small one is loaded from tests/support/callback_plugins by ``run_playbook``.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: json_results
type: stdout
short_description: Test-only JSON stdout callback
description: Prints one JSON document with plays, tasks, per-host results and stats at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_results"

    def __init__(self) -> None:
        super().__init__()
        self._plays: list[dict] = []

    def v2_playbook_on_play_start(self, play) -> None:
        self._plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task_entry(self, task) -> dict:
        tasks = self._plays[-1]["tasks"]
        if not tasks or tasks[-1]["task"]["id"] != str(task._uuid):
            tasks.append({"task": {"name": task.get_name(), "id": str(task._uuid)}, "hosts": {}})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._task_entry(task)

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._task_entry(task)

    def _record(self, result, **status) -> None:
        entry = self._task_entry(result._task)
        payload = dict(self._convert_result(result))
        payload.update(status)
        entry["hosts"][result._host.get_name()] = payload

    @staticmethod
    def _convert_result(result) -> dict:
        # Results may hold Ansible's tagged types; a JSON round trip with str() fallback flattens them.
        return json.loads(json.dumps(result._result, default=str))

    def v2_runner_on_ok(self, result, **kwargs) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs) -> None:
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs) -> None:
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs) -> None:
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats) -> None:
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self._plays, "stats": summary}, indent=1, sort_keys=True))
