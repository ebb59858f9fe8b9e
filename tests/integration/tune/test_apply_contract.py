# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tune.yml: values.yaml and report.md say complete values or overlay, with the command that applies it."""

from __future__ import annotations

import sys

import pytest
import yaml

from support.ansible_run import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow
TUNE = REPO_ROOT / "playbooks" / "tune.yml"
HOST = {"velero_version": "1.16.0", "velero_chart_version": "10.1.3", "velero_namespace": "backup",
        "velero_release_name": "velero-prod",
        "velero_cluster": {"namespaces": 30, "objects": 1000, "resource_types": 100},
        "velero_data": {"volume_bytes": "1Ti"},
        "velero_values_overrides": {"configuration": {"backupStorageLocation": [
            {"name": "default", "provider": "aws", "bucket": "b", "config": {"region": "eu-west-1"}}]}}}


def test_overlay_and_complete_values_say_so_and_show_their_command(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"overlay": HOST,
                                                           "complete": {**HOST, "velero_values_complete": True}},
                                                 "vars": {"ansible_python_interpreter": sys.executable}}}))
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": "out"}, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    overlay = (tmp_path / "out" / "overlay" / "values.yaml").read_text()
    complete = (tmp_path / "out" / "complete" / "values.yaml").read_text()
    assert overlay.startswith("# OVERLAY, not the complete values of release velero-prod (namespace backup)")
    assert ("#   helm upgrade velero-prod vmware-tanzu/velero -n backup --version 10.1.3 -f <your values> "
            "-f out/overlay/values.yaml\n") in overlay
    assert complete.startswith("# COMPLETE values of release velero-prod (namespace backup)")
    assert "#   helm upgrade velero-prod vmware-tanzu/velero -n backup --version 10.1.3 -f out/complete/values.yaml\n" \
        in complete
    report = (tmp_path / "out" / "overlay" / "report.md").read_text()
    assert "## Applying" in report and "-f <your values> -f out/overlay/values.yaml" in report
    # The header is YAML comments: the values themselves are unchanged.
    assert yaml.safe_load(overlay) == yaml.safe_load(complete)
