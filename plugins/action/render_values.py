# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for velero_ops.tuning.render_values: size and render on the controller.

Thin glue: read options, run the sizing model and the chart-era rendering in module_utils, turn
``ValueError`` into a clean task failure. Nothing is shipped to the target and nothing is written
here; the helm_values role writes the returned texts with ansible.builtin.copy.
"""

from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import (
    _arg_errors,
    _helm_values,
    _release_values,
    _report,
    _svg,
    _values_plan,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import describe_value, to_plain, type_name
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import (
    argument_spec as sizing_argument_spec,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import FIELDS as SIZING_FIELDS
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import section_shape_problem

# cluster, data, policy and observed come from the sizing module's field table, so both accept and coerce the same input;
# the versions are raw so an unquoted YAML 1.14 reaches the validator as a float and gets its "quote it" hint.
ARGUMENT_SPEC: dict[str, t.Any] = {
    **sizing_argument_spec(),
    "chart_version": {"type": "raw", "required": True},
    "overrides": {"type": "raw"},
    "release_name": {"type": "str", "default": "velero"},
    "user_wins": {"type": "raw", "default": False},
    "unchecked_keys": {"type": "list", "elements": "str", "default": []},
    "cluster_name": {"type": "str"},
    "facts": {"type": "dict"},
    "values_file": {"type": "str", "default": _report.VALUES_FILE},
    "svg_file": {"type": "str", "default": _report.SVG_FILE},
    "namespace": {"type": "str", "default": "velero"},
    "values_complete": {"type": "bool", "default": False},
    "values_path": {"type": "str"},
}


def _shown_path(path: str) -> str:
    """A path under the current directory as the user would type it there (out/prod-eu1/values.yaml)."""
    if os.path.isabs(path):
        relative = os.path.relpath(path, os.getcwd())
        if not relative.startswith(os.pardir):
            return relative
    return path


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        name = self._task.args.get("cluster_name") or task_vars.get("inventory_hostname") or "cluster"
        # ansible-core's argument validation crashes on a list or number where a dict with options is expected.
        problem = section_shape_problem(self._task.args)
        if problem:
            raise AnsibleActionFail(f"{name}: {problem}")
        # Unknown and missing keys in the user's words (host, inventory variable, closest known key), before
        # Ansible's own validation says "missing required arguments: namespaces found in cluster".
        problems = _arg_errors.section_key_problems(
            self._task.args, {section: list(fields) for section, fields in SIZING_FIELDS.items()},
            {section: [key for key, spec in fields.items() if spec.required]
             for section, fields in SIZING_FIELDS.items()})
        if problems:
            raise AnsibleActionFail(f"{name}: {'; '.join(problems)}")
        try:
            _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        except AnsibleActionFail as exc:
            raise AnsibleActionFail(f"{name}: {_arg_errors.in_inventory_terms(exc.message)}") from None
        misspelt = _arg_errors.misspelt_host_variables(task_vars)
        try:
            overrides, source, sensitive = self._overrides(args["overrides"], task_vars)
            # Options Ansible filled with None stay: the sizing validator reads None as "not known".
            recommendation = recommend(to_plain(
                {key: args[key] for key in ("velero_version", "cluster", "data", "policy", "observed")}))
            rendered = _helm_values.render_values(
                recommendation, args["chart_version"], velero_version=args["velero_version"], overrides=overrides,
                overrides_source=source, release_name=args["release_name"],
                user_wins=to_plain(args["user_wins"]), unchecked_keys=args["unchecked_keys"],
                cluster_name=name)
            # values.yaml says whether it is the release's complete values or an overlay, and how to apply it.
            contract = _release_values.contract(
                args["release_name"], args["namespace"], rendered["chart_version"],
                _shown_path(args["values_path"] or args["values_file"]), args["values_complete"])
            rendered["values_yaml"] = "".join(
                f"# {line}\n" for line in _release_values.header_lines(*contract)) + rendered["values_yaml"]
            facts = to_plain(args["facts"] or {})
            svg_file = args["svg_file"] or None
            report = _report.cluster_report(name, recommendation, rendered, release_name=args["release_name"],
                                            svg_file=svg_file, values_file=args["values_file"], facts=facts,
                                            applying=contract)
            svg = _svg.api_time_svg(
                recommendation["predicted"]["api_time_curve"],
                (recommendation.get("velero_defaults") or {}).get("server.client_qps"),
                recommendation["server"]["client_qps"],
                title=f"{name}: modeled backup API time against client QPS")
        except ValueError as exc:
            raise AnsibleActionFail(f"{name}: {exc}") from None
        summary = _report.fleet_summary(name, recommendation, rendered)
        # Only replaced user values are shown as Ansible warnings; everything else is in the report.
        replaced = [c for c in rendered["conflicts"] if c["winner"] == "tuned"]
        result["warnings"] = [f"{name}: {warning}" for warning in misspelt]
        if replaced:
            result["warnings"] += [
                f"{name}: replaced your {c['path']} ({_values_plan.describe(c['user'])}) with the tuned "
                f"{_values_plan.describe(c['tuned'])}; list it in velero_values_user_wins to keep yours"
                for c in replaced]
        result.update({
            "changed": False,
            "recommendation": recommendation,
            "values": rendered["values"],
            "values_yaml": rendered["values_yaml"],
            "report": report,
            "svg": svg,
            "era": rendered["era"],
            "chart_version": rendered["chart_version"],
            "placements": rendered["placements"],
            "conflicts": rendered["conflicts"],
            "tuning_warnings": list(recommendation.get("warnings") or []) + rendered["warnings"],
            "notes": rendered["notes"],
            "summary": summary,
            "sensitive": sensitive,
        })
        if sensitive:
            # The values carry what a Vault-encrypted overrides file held: keep them out of the task output.
            result["_ansible_no_log"] = True
        return result

    def _overrides(self, value: t.Any, task_vars: dict[str, t.Any]) -> tuple[t.Any, str | None, bool]:
        """(overrides, file they came from, whether that file was Vault-encrypted).

        A mapping is used as is; a string is the path of a YAML file (relative: inventory dir, then playbook dir,
        then the current directory), read through Ansible's loader so a Vault-encrypted file works.
        """
        if value is None or isinstance(value, t.Mapping):
            return value, None, False
        if not isinstance(value, str):
            raise ValueError("velero_values_overrides: expected a mapping of Helm values or the path of a YAML "
                             f"file, got {type_name(value)} {describe_value(value)}")
        path = os.path.expanduser(value)
        if os.path.isabs(path):
            candidates = [path]
        else:
            bases = [task_vars.get("inventory_dir"), self._loader.get_basedir(), os.getcwd()]
            candidates = [os.path.join(str(base), path) for base in bases if base]
        for candidate in candidates:
            if not os.path.isfile(candidate):
                continue
            real = None
            try:
                real = self._loader.get_real_file(candidate, decrypt=True)
                with open(real, encoding="utf-8") as handle:
                    text = handle.read()
            except AnsibleError as exc:
                raise ValueError(f"velero_values_overrides: cannot read {candidate}: {exc.message}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"velero_values_overrides: cannot read {candidate}: {exc}") from None
            finally:
                if real is not None and real != candidate:
                    self._loader.cleanup_tmp_file(real)
            return text, candidate, real != candidate
        raise ValueError(f"velero_values_overrides: file {value!r} not found (looked in "
                         f"{', '.join(dict.fromkeys(candidates))})")
