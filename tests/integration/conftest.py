# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by every integration suite: a loopback Kubernetes API server and a kubeconfig for it."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from support.kube_api_server import DEFAULT_TOKEN, KubeAPITestServer


@pytest.fixture
def kube_server() -> t.Iterator[KubeAPITestServer]:
    """A started server (aggregated discovery on, Velero CRDs registered); stopped after the test."""
    with KubeAPITestServer(aggregated_discovery=True) as server:
        server.register_velero_crds()
        yield server


@pytest.fixture
def kubeconfig_path(kube_server: KubeAPITestServer, tmp_path: Path) -> Path:
    """A kubeconfig (bearer token ``test-token``) pointing at ``kube_server``."""
    return kube_server.write_kubeconfig(tmp_path / "kubeconfig", token=DEFAULT_TOKEN)


@pytest.fixture
def kube_client(kubeconfig_path: Path) -> t.Iterator[t.Any]:
    """A ``_kube.KubeClient`` for ``kube_server`` that retries twice without really sleeping."""
    from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube

    slept: list[float] = []
    client = _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(kubeconfig_path)), max_retries=2,
                              request_timeout=10.0, sleep=slept.append)
    client.slept = slept  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        client.close()
