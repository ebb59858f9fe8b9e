# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``velero_ops.tuning.cluster_facts`` through ansible-playbook, as a user would."""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from support.ansible_run import PlaybookRun, run_playbook


class ModuleRunner:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.inventory = tmp_path / "inventory.yml"
        # The controller's venv Python, which has the kubernetes client.
        self.inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        self.last: PlaybookRun | None = None

    def run(self, *invocations: t.Mapping[str, t.Any], check: bool = False,
            env: t.Mapping[str, str] | None = None) -> list[dict[str, t.Any]]:
        """One task per invocation (all run, failures included); returns each task's registered result.

        Results are written to files by the playbook itself: ansible-core 2.19 ships no JSON stdout
        callback (ansible.posix.json is not installed here).
        """
        tasks: list[dict[str, t.Any]] = []
        outputs = []
        for index, args in enumerate(invocations):
            output = self.tmp_path / f"facts-{index}.json"
            output.unlink(missing_ok=True)
            outputs.append(output)
            args = dict(args)
            keywords = args.pop("__task__", {})  # task keywords such as check_mode
            tasks.append({"name": f"Facts {index}", "velero_ops.tuning.cluster_facts": args,
                          "register": f"facts_{index}", "ignore_errors": True, **keywords})
            tasks.append({"name": f"Keep result {index}", "ansible.builtin.copy": {
                "content": "{{ facts_%d | to_json }}" % index, "dest": str(output), "mode": "0600"},
                "check_mode": False})
        playbook = self.tmp_path / "facts.yml"
        playbook.write_text(yaml.safe_dump([{"name": "Cluster facts", "hosts": "localhost", "gather_facts": False,
                                             "tasks": tasks}], sort_keys=False))
        self.last = run_playbook(playbook, self.inventory, check=check, timeout=300,
                                 env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", **dict(env or {})})
        results = []
        for output in outputs:
            assert output.exists(), f"no result\n{self.last.stdout[-3000:]}\n{self.last.stderr[-3000:]}"
            results.append(json.loads(output.read_text()))
        return results


@pytest.fixture
def module_runner(tmp_path: Path) -> ModuleRunner:
    return ModuleRunner(tmp_path)
