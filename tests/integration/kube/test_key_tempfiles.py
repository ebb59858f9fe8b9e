# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 13 item 9: the client-key data the kubernetes client writes to a temporary file is removed on every
exit path: close() after success or failure, and SIGTERM in the middle of a request (atexit does not run then)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube, _kube_tempfiles
from support import velero_cluster as vc

KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTUlJRXZnSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2d3Z2dTa0FnRUFBb0lC\n-----END PRIVATE KEY-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ3lEQ0NBYkNnQXdJQkFnSUJBREFOQmdrcWhraUc5dzBCQVFzRkFEQVZN\n-----END CERTIFICATE-----\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _kubeconfig_with_key_data(server, path: Path) -> Path:
    """The client writes key files only for an https server; the tests then reach the loopback server over
    plain HTTP through the ``host`` option, which overrides the kubeconfig's server after loading."""
    server.write_kubeconfig(path)
    document = yaml.safe_load(path.read_text())
    document["clusters"][0]["cluster"]["server"] = server.url.replace("http://", "https://")
    document["users"][0]["user"].update({"client-certificate-data": _b64(CERT_PEM), "client-key-data": _b64(KEY_PEM)})
    path.write_text(yaml.safe_dump(document))
    return path


def _key_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file() and "PRIVATE KEY" in p.read_text(errors="replace")]


def test_close_removes_the_key_file_on_success_and_failure(kube_server, tmp_path):
    kubeconfig = _kubeconfig_with_key_data(kube_server, tmp_path / "kc")
    for fail in (False, True):
        client = _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(kubeconfig), host=kube_server.url),
                                  max_retries=0)
        files = set(client.key_files)
        assert files and all(os.path.exists(f) for f in files)
        assert any("PRIVATE KEY" in Path(f).read_text() for f in files)
        try:
            if fail:
                kube_server.inject("GET", "^/version$", 500)
                with pytest.raises(_kube.KubeAPIError):
                    client.server_version()
            else:
                assert client.server_version()["gitVersion"]
        finally:
            client.close()
        assert not any(os.path.exists(f) for f in files)
        assert not files & _kube_tempfiles.tracked()


def test_sigterm_mid_request_removes_the_key_file(tmp_path):
    from support.kube_api_server import KubeAPITestServer

    temp = tmp_path / "tmp"
    temp.mkdir()
    with KubeAPITestServer() as server:
        vc.populate(server)
        server.slow("GET", r"^/api/v1/namespaces$", 30)  # the run hangs here until SIGTERM
        kubeconfig = _kubeconfig_with_key_data(server, tmp_path / "kc")
        script = textwrap.dedent(f"""
            import sys
            from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
            from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsRequest, gather
            client = _kube.KubeClient(_kube.ConnectionOptions(kubeconfig={str(kubeconfig)!r}, host={server.url!r}))
            print("files", *sorted(client.key_files), flush=True)
            try:
                gather(client, FactsRequest())
            finally:
                client.close()
        """)
        env = dict(os.environ, TMPDIR=str(temp), PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            line = process.stdout.readline().split()
            assert line and line[0] == "files", process.stderr.read()
            files = [Path(p) for p in line[1:]]
            assert files and all(p.parent == temp for p in files) and _key_files(temp)
            deadline = 100
            while not server.requests_matching("GET", r"^/api/v1/namespaces$") and deadline:
                deadline -= 1
                __import__("time").sleep(0.05)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == -signal.SIGTERM
    assert _key_files(temp) == [] and not any(p.exists() for p in files)
