# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only action (benchmarks/tune/floor.yml): write given files into a directory, in-process.

The floor of benchmarks/tune_fleet.py: one controller-side task per host that writes the same files tune.yml
writes (static content, read once per process), with the same helper (temporary file then rename, mode), and
nothing else. tune.yml cannot be faster than Ansible running this once per host.
"""

from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import _output_files

_CACHE: dict[str, bytes] = {}


def _content(path: str) -> bytes:
    if path not in _CACHE:
        with open(path, "rb") as handle:
            _CACHE[path] = handle.read()
    return _CACHE[path]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        directory = str(self._task.args["dest"])
        mode = _output_files.parse_mode(self._task.args.get("mode", "0600"))
        try:
            _output_files.ensure_directory(directory, create=not self._task.check_mode)
            plans = [_output_files.plan(os.path.join(directory, os.path.basename(source)), _content(source), mode)
                     for source in self._task.args["files"]]
            if not self._task.check_mode:
                for file_plan in plans:
                    _output_files.apply(file_plan)
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail(str(exc)) from None
        result["changed"] = any(file_plan.changed for file_plan in plans)
        return result
