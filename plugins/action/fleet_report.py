# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for velero_ops.tuning.fleet_report: one Markdown row per inventory cluster, from host variables.

Thin glue on the controller: collect each host's summary (set by the helm_values role, or the registered
result of render_values) or its failure (set by the play's rescue), carry over the rows of hosts this run
left out from the previous run's fleet-report.json, and render them with module_utils._report. With
``output_dir`` it writes fleet-report.md and fleet-report.json there itself (module_utils._output_files:
temporary file then rename, mode, backup, check mode, diff), so tune.yml needs no copy module for them.
"""

from __future__ import annotations

import datetime
import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import _output_files, _report
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import to_plain

ARGUMENT_SPEC: dict[str, t.Any] = {
    "hosts": {"type": "list", "elements": "str"},
    "inventory_hosts": {"type": "list", "elements": "str"},
    "previous": {"type": "path"},
    "summary_var": {"type": "str", "default": "helm_values_summary"},
    "failure_var": {"type": "str", "default": "tune_failure"},
    "result_vars": {"type": "list", "elements": "str", "default": []},
    "output_dir": {"type": "path"},
    "mode": {"type": "raw", "default": "0644"},
    "backup": {"type": "bool", "default": False},
}
REPORT_FILE = "fleet-report.md"
SIDECAR_FILE = "fleet-report.json"


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


def _failed_result(variables: t.Any, names: list[str]) -> t.Mapping[str, t.Any] | None:
    """The first registered result among ``names`` that failed (a host that failed without a rescue)."""
    for name in names:
        registered = variables.get(name) if name in variables else None
        if isinstance(registered, t.Mapping) and registered.get("failed"):
            return registered
    return None


def _text(value: t.Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


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
            # Registered results and set_fact values are data, not templates: read them without templating the
            # host's variables (a registered render_values result holds the values, report and SVG texts, and
            # templating 500 of them cost more than the rest of this task).
            raw_get = getattr(hostvars, "raw_get", None)
            variables = raw_get(host) if raw_get is not None else hostvars[host]
            failed = _failed_result(variables, args["result_vars"])
            if args["failure_var"] in variables:
                rows.append(_failure_row(host, to_plain(variables[args["failure_var"]])))
            elif failed is not None:
                templated = hostvars[host]  # inventory variables may be templates
                rows.append(_failure_row(host, {
                    "msg": failed.get("msg") or "failed",
                    "velero_version": _text(templated.get("velero_version")),
                    "chart_version": _text(templated.get("velero_chart_version"))}))
            elif args["summary_var"] in variables:
                row = variables[args["summary_var"]]
                # A registered render_values result carries the row as its summary.
                if isinstance(row, t.Mapping) and isinstance(row.get("summary"), t.Mapping):
                    row = row["summary"]
                rows.append(to_plain(row))
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
        if args["output_dir"]:
            self._write(result, args)
        return result

    def _write(self, result: dict[str, t.Any], args: dict[str, t.Any]) -> None:
        check = bool(self._task.check_mode)
        directory = os.path.abspath(args["output_dir"])
        try:
            mode = _output_files.parse_mode(args["mode"])
            created = _output_files.ensure_directory(directory, create=not check)
            plans = [_output_files.plan(os.path.join(directory, name), text.encode("utf-8"), mode)
                     for name, text in ((REPORT_FILE, result["content"]), (SIDECAR_FILE, result["sidecar"]))]
            files: dict[str, dict[str, t.Any]] = {}
            for file_plan in plans:
                backup_file = None if check else _output_files.apply(file_plan, keep_backup=args["backup"])
                files[os.path.basename(file_plan.path)] = {"path": file_plan.path, "changed": file_plan.changed,
                                                           **({"backup_file": backup_file} if backup_file else {})}
        except ValueError as exc:
            raise AnsibleActionFail(f"fleet_report: {exc}") from None
        result["changed"] = created or any(file_plan.changed for file_plan in plans)
        result["files"] = files
        if self._task.diff:
            diffs = [{"before_header": p.path, "after_header": p.path,
                      "before": (p.before or b"").decode("utf-8", "replace"), "after": p.content.decode("utf-8")}
                     for p in plans if p.content_changed]
            if diffs:
                result["diff"] = diffs

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
