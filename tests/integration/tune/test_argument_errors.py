# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tune.yml: argument errors name the host, the inventory variable and the closest known key."""

from __future__ import annotations

import sys

import pytest
import yaml

from support.ansible_run import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow
TUNE = REPO_ROOT / "playbooks" / "tune.yml"
GOOD = {"velero_version": "1.16.0", "velero_chart_version": "10.1.3",
        "velero_cluster": {"namespaces": 30, "objects": 1000, "resource_types": 100},
        "velero_data": {"volume_bytes": "1Ti"}}


def test_argument_errors_and_misspelt_host_variables(tmp_path):
    hosts = {
        "prod-eu1": {**GOOD, "velero_cluster": {"namspaces": 30, "objects": 1000, "resource_types": 100}},
        "prod-eu2": {**GOOD, "velero_cluster": {"namespaces": 30, "objects": 1000, "resource_types": "lots"}},
        "prod-eu3": {**GOOD, "velero_value_overrides": {"deployNodeAgent": True}},
        # The inventory check render_values does for tune.yml (once an assert task per host).
        "no-chart": {key: value for key, value in GOOD.items() if key != "velero_chart_version"},
        "no-data": {key: value for key, value in GOOD.items() if key != "velero_data"},
        "no-version": {key: value for key, value in GOOD.items() if key != "velero_version"},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts,
                                                 "vars": {"ansible_python_interpreter": sys.executable}}}))
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(tmp_path / "out")},
                       env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "prod-eu1: velero_cluster.namspaces is not a known key; did you mean namespaces?" in output
    assert "missing required arguments" not in output
    assert "prod-eu2: velero_cluster.resource_types: expected a whole number" in output
    assert ("prod-eu3: host variable velero_value_overrides is not used by velero_ops.tuning; did you mean "
            "velero_values_overrides?") in " ".join(output.split())
    assert (tmp_path / "out" / "prod-eu3" / "values.yaml").exists()  # a warning, not a failure
    flat = " ".join(output.split())
    for host in ("no-chart", "no-data", "no-version"):
        assert (f"{host}: set velero_chart_version, and velero_version, velero_cluster and velero_data (or "
                "velero_live_facts: true to read them from the cluster); see docs/tune-playbook.md") in flat, host
        assert not (tmp_path / "out" / host).exists()
    report = (tmp_path / "out" / "fleet-report.md").read_text()
    assert "| no-chart | FAILED |" in report
