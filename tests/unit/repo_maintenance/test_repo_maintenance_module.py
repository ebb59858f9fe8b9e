# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's option validation: every bad input ends in a clean failure, never a traceback."""

from __future__ import annotations

import json
import signal

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.velero_ops.tuning.plugins.modules import repo_maintenance as mod


def run_module(args: dict, capsys: pytest.CaptureFixture[str]) -> dict:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("args", "message"), [
    ({"memory_step": 0.5}, "memory_step: expected a factor between 1.1 and 4.0"),
    ({"memory_cap": "sixteen"}, "memory_cap: expected a Kubernetes memory quantity"),
    ({"timeout": 1, "poll_interval": 5}, "poll_interval: 5 is longer than timeout 1"),
    ({"pod_resources": {"memoryLimit": "4GiB!"}}, "pod_resources.memoryLimit"),
    ({"pod_resources": {"memoryRequest": "8Gi", "memoryLimit": "4Gi"}}, "must not exceed its limit"),
    ({"pod_resources": {"memoryLimit": "32Gi"}, "memory_cap": "16Gi"}, "above memory_cap"),
    ({"trigger": "cli"}, "value of trigger must be one of"),
    ({"pod_resources": {"gpuLimit": "1"}}, "gpuLimit"),
    ({"configmap_name": "Not/Valid"}, "configmap_name"),
])
def test_option_validation(args: dict, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module({"kubeconfig": "/nonexistent/kubeconfig", **args}, capsys)
    assert result["failed"] is True
    assert message in result["msg"]


def test_unusable_kubeconfig_is_a_clean_failure(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    result = run_module({"kubeconfig": str(tmp_path / "missing"), "api_key": "s3cr3t-token"}, capsys)
    assert result["failed"] is True and "kubeconfig" in result["msg"]
    assert "s3cr3t-token" not in json.dumps(result)


def test_argument_spec_matches_the_contract() -> None:
    spec = mod.argument_spec()
    for name in ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert", "client_key",
                 "proxy", "velero_namespace", "repositories", "volume_namespaces", "pod_resources", "memory_cap",
                 "memory_step", "timeout", "poll_interval"):
        assert name in spec, name
    assert spec["api_key"]["no_log"] is True
    assert spec["velero_namespace"]["default"] == "velero" and spec["memory_step"]["default"] == 1.5
    assert set(spec["pod_resources"]["options"]) == {"cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit",
                                                     "ephemeralStorageRequest", "ephemeralStorageLimit"}


def test_signal_guard_defers_signals_while_shielded() -> None:
    guard = mod.SignalGuard()
    with pytest.raises(mod.MaintenanceInterrupted):
        guard._handle(signal.SIGTERM, None)
    with pytest.raises(mod.MaintenanceInterrupted):
        with guard.shield():
            guard._handle(signal.SIGTERM, None)  # deferred ...
            restored = True  # ... so the restore inside the shield completes
    assert restored and guard.received == signal.SIGTERM and guard.pending is None
