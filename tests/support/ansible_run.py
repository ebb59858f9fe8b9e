# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook the way a user would, from tests.

The playbook runs in a child process with this checkout on ANSIBLE_COLLECTIONS_PATH (set by
tests/conftest.py) and the test JSON callback (tests/support/callback_plugins), so tests can
assert on per-host, per-task results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict[str, t.Any]

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        return self.result.get("stats", {})

    def task_results(self, task_name: str) -> dict[str, dict[str, t.Any]]:
        """Per-host results of the task with this exact name (last play that has it)."""
        found: dict[str, dict[str, t.Any]] = {}
        for play in self.result.get("plays", []):
            for task in play.get("tasks", []):
                if task.get("task", {}).get("name") == task_name:
                    found = task.get("hosts", {})
        return found

    def failed_hosts(self) -> set[str]:
        return {host for host, stat in self.stats.items() if stat.get("failures") or stat.get("unreachable")}

    def changed_count(self) -> int:
        return sum(stat.get("changed", 0) for stat in self.stats.values())


def run_playbook(
    playbook: str | Path,
    inventory: str | Path,
    *,
    extra_vars: dict[str, t.Any] | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 600,
) -> PlaybookRun:
    """Run ``ansible-playbook`` with the JSON callback and return its parsed result."""
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if limit:
        command += ["--limit", limit]
    child_env = dict(os.environ)
    child_env.update({
        # tests/support/callback_plugins/json_results.py: one JSON document on stdout.
        "ANSIBLE_STDOUT_CALLBACK": "json_results",
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    })
    child_env.update(env or {})
    completed = subprocess.run(command, capture_output=True, text=True, env=child_env, cwd=str(cwd or REPO_ROOT),
                               timeout=timeout, check=False)
    try:
        result = json.loads(completed.stdout) if completed.stdout.strip() else {}
    except json.JSONDecodeError:
        result = {}
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr, result)
