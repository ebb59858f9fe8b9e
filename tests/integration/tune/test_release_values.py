# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""velero_ops.tuning.release_values in a playbook: --check --diff shows the release's values before and after."""

from __future__ import annotations

import sys

import pytest
import yaml

from support.ansible_run import run_playbook

pytestmark = pytest.mark.slow

PLAY = [{
    "name": "Plan an upgrade",
    "hosts": "localhost",
    "connection": "local",
    "gather_facts": False,
    "vars": {"ansible_python_interpreter": sys.executable},
    "tasks": [{
        "name": "Values of release velero after the upgrade",
        "velero_ops.tuning.release_values": {
            "deployed": {"configuration": {"clientQPS": 150, "backupStorageLocation": [{"name": "default"}]},
                         "credentials": {"useSecret": False}},
            "values": {"configuration": {"clientQPS": 300}},
            "namespace": "backup",
        },
        "register": "planned",
    }, {
        "name": "Nothing the user did not ask to change is dropped",
        "ansible.builtin.assert": {"that": [
            "planned['values'].credentials.useSecret == false",
            "planned['values'].configuration.backupStorageLocation[0].name == 'default'",
            "planned['values'].configuration.clientQPS == 300",
            "planned.changed_paths == ['configuration.clientQPS']",
        ]},
    }],
}]


def test_check_diff_shows_the_release_values_before_and_after(tmp_path):
    playbook = tmp_path / "plan.yml"
    playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))
    run = run_playbook(playbook, "localhost,", check=True, diff=True,
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "release velero (namespace backup): values now" in run.stdout
    assert "release velero (namespace backup): values after the upgrade" in run.stdout
    assert "-  clientQPS: 150" in run.stdout and "+  clientQPS: 300" in run.stdout
