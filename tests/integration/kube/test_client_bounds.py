# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 13 item 1: every loop over the API is bounded. Real HTTP against the loopback server, the real client."""

from __future__ import annotations

import re
import time

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import (
    KubeDeadlineExceeded,
    KubeMalformedAnswer,
    KubePaginationError,
    KubeUnavailable,
)
from support.fake_time import FakeTime


def _client(kubeconfig_path, **kwargs) -> _kube.KubeClient:
    return _kube.KubeClient(_kube.ConnectionOptions(kubeconfig=str(kubeconfig_path)), **kwargs)


def test_a_repeated_continue_token_is_an_error_naming_the_resource(kube_server, kubeconfig_path):
    kube_server.add_synthetic("v1", "ConfigMap", "shop", 30)
    kube_server.repeat_continue(r"^/api/v1/namespaces/shop/configmaps$")
    with _client(kubeconfig_path, max_retries=0) as client:
        with pytest.raises(KubePaginationError) as caught:
            list(client.list("/api/v1/namespaces/shop/configmaps", limit=10))
    message = str(caught.value)
    assert 'configmaps (API group "") in namespace "shop"' in message and "continue token" in message
    assert "page 2" in message
    assert len(kube_server.requests_matching("GET", "/configmaps$")) == 2  # not 5,280


def test_count_stops_on_a_repeated_token_too(kube_server, kubeconfig_path):
    kube_server.add_synthetic("v1", "Secret", "shop", 30)
    kube_server.repeat_continue(r"/secrets$")
    kube_server.remaining_item_count = False
    with _client(kubeconfig_path, max_retries=0) as client:
        with pytest.raises(KubePaginationError):
            client.count("/api/v1/secrets", limit=10)
    assert len(kube_server.requests_matching("GET", "/secrets$")) == 2


def test_page_cap_derives_from_the_object_bound():
    assert _kube.page_cap(500) == 200_001  # 100,000,000 objects / 500 per page, plus the last one
    assert _kube.page_cap(1) == 100_000_001
    assert _kube.page_cap(0) == _kube.page_cap(_kube.DEFAULT_PAGE_SIZE)  # no limit sent: the server pages at will


def test_a_list_longer_than_the_cap_stops(kube_server, kubeconfig_path):
    kube_server.add_synthetic("v1", "ConfigMap", "shop", 50)
    with _client(kubeconfig_path, max_retries=0) as client:
        with pytest.raises(KubePaginationError, match="more than 3 pages"):
            list(client.list_pages("/api/v1/configmaps", limit=10, max_pages=3))
        assert len(list(client.list("/api/v1/configmaps", limit=10))) == 50  # the derived cap lets it through


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "ConfigMapList", "metadata": {}, "items": "abc"}, "items"),
    ({"kind": "ConfigMapList", "metadata": "x", "items": []}, "metadata"),
    ({"kind": "ConfigMapList", "metadata": {"continue": 5}, "items": []}, "metadata.continue"),
    ({"kind": "ConfigMapList", "metadata": {}, "items": [1]}, "items[0]"),
])
def test_a_malformed_list_answer_names_the_field(kube_server, kubeconfig_path, body, field):
    kube_server.inject("GET", "^/api/v1/configmaps$", 200, body=body)
    with _client(kubeconfig_path, max_retries=0) as client:
        with pytest.raises(KubeMalformedAnswer, match=rf"GET /api/v1/configmaps: .* list whose {re.escape(field)} is "):
            list(client.list("/api/v1/configmaps"))


def test_deadline_stops_retry_after_waits_it_cannot_afford(kube_server, kubeconfig_path):
    kube_server.inject("GET", "^/api/v1/pods$", 503, headers={"Retry-After": "60"}, times=None)
    fake = FakeTime()
    with _client(kubeconfig_path, max_retries=5, sleep=fake.sleep, clock=fake.clock, deadline=30) as client:
        with pytest.raises(KubeDeadlineExceeded) as caught:
            client.get("/api/v1/pods")
    # Retry-After 60 does not fit in 30 s: not waited at all (today: 5 x 60 s).
    assert fake.slept == []
    assert "GET /api/v1/pods" in str(caught.value) and "Retry-After" in str(caught.value)
    assert "30" in str(caught.value) and isinstance(caught.value, KubeUnavailable)
    assert len(kube_server.requests_matching("GET", "^/api/v1/pods$")) == 1


def test_deadline_bounds_backoff_across_requests(kube_server, kubeconfig_path):
    kube_server.inject("GET", "^/api/v1/pods$", 500, times=None)
    fake = FakeTime()
    with _client(kubeconfig_path, max_retries=10, sleep=fake.sleep, clock=fake.clock, deadline=10,
                 backoff_base=0.5, backoff_max=8.0) as client:
        with pytest.raises(KubeDeadlineExceeded):
            client.get("/api/v1/pods")
        assert fake.slept == [0.5, 1.0, 2.0, 4.0]  # the next 8 s would pass the deadline: not waited
        fake.sleep(2.5)
        with pytest.raises(KubeDeadlineExceeded, match="overall timeout of 10s passed"):
            client.get("/version")  # past the deadline, the next request does not even start
    assert not kube_server.requests_matching("GET", "^/version$")


def test_deadline_shortens_the_request_timeout(kube_server, kubeconfig_path):
    kube_server.slow("GET", "^/api/v1/namespaces$", 5)
    started = time.monotonic()
    with _client(kubeconfig_path, max_retries=3, request_timeout=30, deadline=1.0, sleep=lambda s: None) as client:
        with pytest.raises(KubeDeadlineExceeded):
            client.get("/api/v1/namespaces")
    assert time.monotonic() - started < 4  # not 30 s, not 4 x 30 s


def test_set_deadline_and_remaining(kube_server, kubeconfig_path):
    fake = FakeTime()
    with _client(kubeconfig_path, sleep=fake.sleep, clock=fake.clock) as client:
        assert client.remaining() is None
        client.set_deadline(20)
        assert client.remaining() == 20
        fake.sleep(5)
        assert client.remaining() == 15
        client.check_deadline("waiting for the Job")
        fake.sleep(16)
        with pytest.raises(KubeDeadlineExceeded, match="waiting for the Job"):
            client.check_deadline("waiting for the Job")
        client.set_deadline(None)
        assert client.remaining() is None
