# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for velero_ops.tuning.fleet_report: one Markdown row per inventory cluster, from host variables.

Thin glue on the controller: collect each host's summary (set by the helm_values role) or its failure
(set by the play's rescue), carry over the rows of hosts this run left out from the previous run's
fleet-report.json, and render them with module_utils._report. Writes nothing itself.
"""

from __future__ import annotations

import datetime
import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import _report
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import to_plain

ARGUMENT_SPEC: dict[str, t.Any] = {
    "hosts": {"type": "list", "elements": "str"},
    "inventory_hosts": {"type": "list", "elements": "str"},
    "previous": {"type": "path"},
    "summary_var": {"type": "str", "default": "helm_values_summary"},
    "failure_var": {"type": "str", "default": "tune_failure"},
}


def _failure_row(host: str, failure: t.Any) -> dict[str, t.Any]:
    if isinstance(failure, t.Mapping):
        message = failure.get("msg") or failure.get("message") or "failed"
        task = failure.get("task")
        row = {"cluster": host, "status": "failed",
               "message": f"{task}: {message}" if task else str(message)}
        for key in ("velero_version", "chart_version"):
            if failure.get(key):
                row[key] = failure[key]
        return row
    return {"cluster": host, "status": "failed", "message": str(failure or "failed")}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = task_vars.get("hostvars") or {}
        inventory = args["inventory_hosts"]
        if inventory is None:
            inventory = list((task_vars.get("groups") or {}).get("all", []))
        hosts = args["hosts"] if args["hosts"] is not None else list(inventory)
        rows: list[dict[str, t.Any]] = []
        missing: list[str] = []
        for host in hosts:
            if host not in hostvars:
                missing.append(host)
                continue
            variables = hostvars[host]
            if args["failure_var"] in variables:
                rows.append(_failure_row(host, to_plain(variables[args["failure_var"]])))
            elif args["summary_var"] in variables:
                rows.append(to_plain(variables[args["summary_var"]]))
            # Hosts with neither did not get this far: their earlier row (if any) is carried over below.
        if missing:
            raise AnsibleActionFail(f"fleet_report: unknown hosts {', '.join(missing)}")
        warnings: list[str] = []
        previous = self._previous_rows(args["previous"], warnings)
        try:
            merged = _report.merge_fleet_rows(rows, previous, inventory, datetime.date.today().isoformat())
            content = _report.fleet_report(merged)
        except ValueError as exc:
            raise AnsibleActionFail(f"fleet_report: {exc}") from None
        if warnings:
            result["warnings"] = warnings
        result.update({
            "changed": False,
            "content": content,
            "sidecar": _report.fleet_sidecar(merged),
            "rows": merged,
            "tuned_count": sum(1 for row in rows if row.get("status") == "ok"),
            "failed_count": sum(1 for row in rows if row.get("status") != "ok"),
            "earlier_count": sum(1 for row in merged if row.get("earlier_run")),
        })
        return result

    @staticmethod
    def _previous_rows(path: str | None, warnings: list[str]) -> list[dict[str, t.Any]]:
        """Rows of the previous run's fleet-report.json on the controller; none when absent or unreadable."""
        if not path or not os.path.isfile(path):
            return []
        try:
            with open(path, encoding="utf-8") as handle:
                return _report.read_fleet_sidecar(handle.read())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            warnings.append(f"fleet_report: ignoring the previous run's rows in {path}: {exc}; hosts left out of "
                            "this run are listed as not tuned yet")
            return []
