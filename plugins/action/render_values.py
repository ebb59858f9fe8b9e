# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for velero_ops.tuning.render_values: size and render on the controller.

Thin glue: read options, run the sizing model and the chart-era rendering in module_utils, turn
``ValueError`` into a clean task failure. Nothing is shipped to the target.

With ``output_root`` or ``output_dir`` it also writes values.yaml, report.md and api-time.svg here, in the
controller process (module_utils._output_files: temporary file then rename, mode, backup, check mode, diff).
That replaced one ``file`` and three ``copy`` module processes per cluster, which were nearly all of
tune.yml's time (benchmarks/RESULTS.md). Overrides holding credentials (a Vault file, inline ``!vault``
values, keys such as ``credentials.secretContents`` or ``accessKey``) make the result ``no_log`` and the
values.yaml diff is replaced by a warning that says why.
"""

from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.vault import VaultHelper
from ansible.plugins.action import ActionBase

from ansible_collections.velero_ops.tuning.plugins.module_utils import (
    _arg_errors,
    _helm_values,
    _output_files,
    _release_values,
    _report,
    _secrets,
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
    "chart_strict": {"type": "bool", "default": False},
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
    "output_root": {"type": "path"},
    "output_dir": {"type": "path"},
    "output_root_name": {"type": "str", "default": "output_root"},
    "write_report": {"type": "bool", "default": True},
    "report_link": {"type": "str"},
    "mode": {"type": "raw", "default": "0600"},
    "backup": {"type": "bool", "default": False},
    "live_facts": {"type": "bool"},
}
REPORT_FILE = "report.md"


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
        # tune.yml's input check, here rather than in an assert task: a task costs a worker process per host.
        missing = _missing_inventory_inputs(self._task.args)
        if missing:
            raise AnsibleActionFail(f"{name}: {missing}")
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
        writing = bool(args["output_dir"] or args["output_root"])
        try:
            mode = _output_files.parse_mode(args["mode"]) if writing else 0o600
            overrides, source, vault_file = self._overrides(args["overrides"], task_vars)
            # Paths of the credentials in the overrides, never their values; inline !vault values count too.
            secrets = (["(the Vault-encrypted overrides file)"] if vault_file else []) \
                + _vaulted_paths(self._task.args.get("overrides"))
            # Options Ansible filled with None stay: the sizing validator reads None as "not known".
            recommendation = recommend(to_plain(
                {key: args[key] for key in ("velero_version", "cluster", "data", "policy", "observed")}))
            rendered = _helm_values.render_values(
                recommendation, args["chart_version"], velero_version=args["velero_version"], overrides=overrides,
                overrides_source=source, release_name=args["release_name"],
                user_wins=to_plain(args["user_wins"]), unchecked_keys=args["unchecked_keys"],
                cluster_name=name, chart_strict=args["chart_strict"])
            # values.yaml says whether it is the release's complete values or an overlay, and how to apply it.
            values_path = args["values_path"] or (
                os.path.join(args["output_dir"], args["values_file"]) if args["output_dir"] else
                os.path.join(args["output_root"], name, args["values_file"]) if args["output_root"] else
                args["values_file"])
            contract = _release_values.contract(
                args["release_name"], args["namespace"], rendered["chart_version"],
                _shown_path(values_path), args["values_complete"])
            rendered["values_yaml"] = "".join(
                f"# {line}\n" for line in _release_values.header_lines(*contract)) + rendered["values_yaml"]
            facts = to_plain(args["facts"] or {})
            svg_file = args["svg_file"] or None
            # One computed object for every API figure of the report, its chart and the fleet row.
            figures = _report.report_figures(recommendation, rendered)
            report = _report.cluster_report(name, recommendation, rendered, release_name=args["release_name"],
                                            svg_file=svg_file, values_file=args["values_file"], facts=facts,
                                            applying=contract, figures=figures)
            svg = _report.figures_svg(figures, title=f"{name}: modeled backup API time against client QPS")
            # The merged values: the user's keys (from a mapping or a file) plus tuning keys, none of which is a
            # credential, so this finds the credentials of the overrides wherever they came from.
            secrets += [path for path in _secrets.secret_paths(rendered["values"]) if path not in secrets]
        except ValueError as exc:
            raise AnsibleActionFail(f"{name}: {exc}") from None
        sensitive = bool(secrets)
        summary = _report.fleet_summary(name, recommendation, rendered, figures=figures)
        # Only replaced user values are shown as Ansible warnings; everything else is in the report.
        replaced = [c for c in rendered["conflicts"] if c["winner"] == "tuned"]
        result["warnings"] = [f"{name}: {warning}" for warning in misspelt] + [
            f"{name}: replaced your {c['path']} ({_values_plan.describe(c['user'])}) with the tuned "
            f"{_values_plan.describe(c['tuned'])}; list it in velero_values_user_wins to keep yours"
            for c in replaced]
        # A chart newer than the newest known, rendered with the newest era's rules: say so where it is seen.
        if rendered.get("chart_assumption"):
            result["warnings"].append(f"{name}: {rendered['chart_assumption']}")
        if not result["warnings"]:
            del result["warnings"]
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
            # The values carry credentials: keep them out of every output (the registered result keeps them).
            result["_ansible_no_log"] = True
            result["sensitive_paths"] = secrets
        if writing:
            self._write(result, name, args, mode, svg_file is not None)
        return result

    def _write(self, result: dict[str, t.Any], name: str, args: dict[str, t.Any], mode: int,
               with_svg: bool) -> None:
        """values.yaml (and report.md, api-time.svg) into the cluster's directory; fills changed, diff, files."""
        check = bool(self._task.check_mode)
        try:
            if args["output_dir"]:
                directory = os.path.abspath(args["output_dir"])
                folder = None
            else:
                root = os.path.abspath(args["output_root"])
                try:
                    _output_files.ensure_directory(root, create=not check)
                except ValueError as exc:
                    # The same message for every host: the playbook can stop the run on it.
                    label = args["output_root_name"]
                    result.update(failed=True, output_unusable=True, reason=str(exc),
                                  msg=f"{label} {root} cannot be used: {exc}; set {label} to a directory you "
                                      "can write")
                    return
                folder = name
                directory = _output_files.host_directory(root, folder)
            created = _output_files.ensure_directory(directory, create=not check)
            contents = {_report.VALUES_FILE if args["values_file"] is None else args["values_file"]:
                        result["values_yaml"]}
            if args["write_report"]:
                contents[REPORT_FILE] = result["report"]
                if with_svg:
                    contents[args["svg_file"]] = result["svg"]
            plans = [_output_files.plan(os.path.join(directory, file_name), text.encode("utf-8"), mode)
                     for file_name, text in contents.items()]
            files: dict[str, dict[str, t.Any]] = {}
            for file_plan in plans:
                backup_file = None if check else _output_files.apply(file_plan, keep_backup=args["backup"])
                entry: dict[str, t.Any] = {"path": file_plan.path, "changed": file_plan.changed}
                if backup_file:
                    entry["backup_file"] = backup_file
                files[os.path.basename(file_plan.path)] = entry
        except ValueError as exc:
            result.update(failed=True, msg=f"{name}: {exc}")
            return
        result["changed"] = created or any(plan.changed for plan in plans)
        result["path"] = directory
        result["files"] = files
        if args["write_report"]:
            link = args["report_link"] or (f"{folder}/{REPORT_FILE}" if folder else f"{directory}/{REPORT_FILE}")
            result["summary"] = {**result["summary"], "report": link}
        else:
            result["summary"] = {**result["summary"], "report": None}
        if self._task.diff:
            values_plan = plans[0]
            diffs = []
            for file_plan in plans:
                # The picture's XML says nothing to a reader and is the bulk of a fleet's diff: listed in files.
                if not file_plan.content_changed or file_plan.path.endswith(".svg"):
                    continue
                if file_plan is values_plan and result.get("sensitive_paths"):
                    # no_log hides the result (diff included); the warning survives and says why.
                    result.setdefault("warnings", []).append(
                        f"{name}: {file_plan.path} {'would change' if check else 'changed'}; its diff is not "
                        f"shown because the overrides hold credentials ({', '.join(result['sensitive_paths'])})")
                    continue
                diffs.append({"before_header": file_plan.path, "after_header": file_plan.path,
                              "before": (file_plan.before or b"").decode("utf-8", "replace"),
                              "after": file_plan.content.decode("utf-8")})
            if diffs:
                result["diff"] = diffs

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


def _missing_inventory_inputs(args: t.Mapping[str, t.Any]) -> str | None:
    """What to set in the inventory when tune.yml (``live_facts`` given) lacks an input; None when nothing lacks."""
    if args.get("live_facts") is None:
        return None  # not tune.yml: the argument spec names what is missing
    live = boolean(args["live_facts"], strict=False)
    if args.get("chart_version") is not None:
        if not live and all(args.get(key) is not None for key in ("velero_version", "cluster", "data")):
            return None
        if live and args.get("velero_version") is not None:
            return None
        if live:
            return ("the Velero version could not be read from the cluster (no velero Deployment with a version "
                    f"tag in namespace {args.get('namespace') or 'velero'}); set velero_version")
    return ("set velero_chart_version, and velero_version, velero_cluster and velero_data (or velero_live_facts: "
            "true to read them from the cluster); see docs/tune-playbook.md")


def _vaulted_paths(node: t.Any, path: str = "") -> list[str]:
    """Dotted paths of inline ``!vault`` values in the overrides as the task received them."""
    if VaultHelper.get_ciphertext(node, with_tags=False) is not None:
        return [path or "(the overrides)"]
    found: list[str] = []
    if isinstance(node, t.Mapping):
        for key, value in node.items():
            found.extend(_vaulted_paths(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            found.extend(_vaulted_paths(item, f"{path}[{index}]"))
    return found
