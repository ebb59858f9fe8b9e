# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for velero_ops.tuning.release_values: the release's values after the upgrade, and their diff.

Thin glue on the controller around module_utils._release_values; writes nothing.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import _release_values
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import to_plain
from ansible_collections.velero_ops.tuning.plugins.module_utils._values_dump import dump_values

ARGUMENT_SPEC: dict[str, t.Any] = {
    "deployed": {"type": "raw"},
    "values": {"type": "dict", "required": True},
    "contract": {"type": "str", "default": _release_values.OVERLAY,
                 "choices": [_release_values.OVERLAY, _release_values.COMPLETE]},
    "release": {"type": "str", "default": "velero"},
    "namespace": {"type": "str", "default": "velero"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            planned = _release_values.release_values(to_plain(args["deployed"]),
                                                     to_plain(args["values"]), args["contract"])
        except ValueError as exc:
            raise AnsibleActionFail(f"release {args['release']} in namespace {args['namespace']}: {exc}") from None
        result.update(planned)
        result["changed"] = planned["changed"]
        if planned["removed_paths"]:
            result["warnings"] = [
                f"release {args['release']} in namespace {args['namespace']}: values.yaml is the complete values, "
                f"so the upgrade removes {', '.join(planned['removed_paths'])}"]
        if self._task.diff:
            name = f"release {args['release']} (namespace {args['namespace']})"
            result["diff"] = {
                "before_header": f"{name}: values now",
                "after_header": f"{name}: values after the upgrade",
                "before": dump_values(to_plain(args["deployed"] or {})),
                "after": dump_values(planned["values"]),
            }
        return result
