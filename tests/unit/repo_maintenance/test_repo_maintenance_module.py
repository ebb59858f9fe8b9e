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
    ({"velero_version": "x"}, "velero_version: expected a Velero version such as 1.14.0"),
    ({"velero_version": "1.99.0"}, "velero_version: Velero 1.99.0 is not supported; supported versions are 1.12.0"),
    ({"recommendation": {"server": {}}}, "recommendation: expected the recommendation of velero_ops.tuning.sizing"),
    ({"progress_format": "xml"}, "value of progress_format must be one of"),
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
    assert "no_log" not in spec["kubeconfig"]  # only its secrets are hidden (see the kubeconfig tests)
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


KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "default",
    "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:1"}}],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default", "namespace": "default"}}],
    "users": [{"name": "default", "user": {"token": "tok-9f8e7d6c5b4a"}}],
}


def test_kubeconfig_token_is_hidden_even_when_the_arguments_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    """The argument validation fails inside AnsibleModule and returns the invocation: the token must already be
    a no_log value then, while the mapping's ordinary strings stay readable."""
    result = run_module({"kubeconfig": KUBECONFIG, "memory_stepp": 2}, capsys)
    raw = json.dumps(result)
    assert result["failed"] is True and "memory_stepp" in result["msg"]
    assert "tok-9f8e7d6c5b4a" not in raw
    assert result["invocation"]["module_args"]["kubeconfig"]["contexts"][0]["context"]["namespace"] == "default"


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.parametrize(("text", "expected"), [
    (True, "2024-12-03T08:00:00Z payments-default-kopia: Job j started (memory limit 8Gi)"),
    (False, '{"event": "Job j started (memory limit 8Gi)", "repository": "payments-default-kopia", '
            '"time": "2024-12-03T08:00:00Z"}'),
])
def test_progress_writer_formats(tmp_path, text: bool, expected: str) -> None:
    log = _Log()
    writer = mod.ProgressWriter(log, str(tmp_path / "progress.log"), text)  # type: ignore[arg-type]
    writer({"time": "2024-12-03T08:00:00Z", "repository": "payments-default-kopia",
            "event": "Job j started (memory limit 8Gi)"})
    assert (tmp_path / "progress.log").read_text(encoding="utf-8") == expected + "\n"
    assert log.lines == ["repo_maintenance: 2024-12-03T08:00:00Z payments-default-kopia: Job j started "
                         "(memory limit 8Gi)"]


def test_progress_writer_never_stops_the_run(tmp_path) -> None:
    writer = mod.ProgressWriter(_Log(), str(tmp_path / "missing-dir" / "progress.log"), True)  # type: ignore[arg-type]
    for event in ("first", "second"):
        writer({"time": "t", "repository": None, "event": event})
    assert writer.problem and "missing-dir" in writer.problem
