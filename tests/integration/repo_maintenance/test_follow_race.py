# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The race behind the -n 8 flake of test_velero_1_14_reports_flags_instead_of_changing_the_deployment.

While waiting for Velero's Job, the module listed the Jobs and then read the repository. On a loaded machine
Velero created the Job, the Job ended and Velero recorded the result in between: the read showed a result, the
list had shown no Job, and the run reported "Velero changed the BackupRepository status without a new
maintenance Job" with outcome failed. A slow API server (every read of the repository answered 0.8 s late,
from the state at that moment), a controller that looks every 0.3 s and a short Job make that interleaving
the normal case here.
"""

from __future__ import annotations

import pytest

from support.velero_sim import Scenario

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("version", ["1.14.1", "1.16.2"])
def test_a_job_that_ends_between_list_and_read_is_still_followed(make_sim, run_module, kube_server, version):
    sim = make_sim(version, tick=0.3)
    sim.install(extra_args=["--maintenance-job-mem-limit=1Gi"] if version.startswith("1.14") else ())
    name = sim.add_repository("payments", scenario=Scenario(run_seconds=0.01))
    kube_server.slow("GET", f"/backuprepositories/{name}$", 0.8)
    with sim:
        result, _run = run_module({"poll_interval": 0.05, "timeout": 10})
    assert not result.get("failed"), result.get("msg")
    [item] = result["results"]
    assert item["outcome"] == "succeeded", item["message"]
    assert [a["job"] for a in item["attempts"]] == [sim.jobs[0].name]
