# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubernetes.core connection parity, over real HTTP: what the API server (or the proxy) actually receives."""

from __future__ import annotations

import base64
import sys

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import AUTH_ARG_SPEC
from support import velero_cluster as vc
from support.ansible_run import run_playbook

NO_PARAMS = {name: None for name in AUTH_ARG_SPEC}


def _client(params: dict, env: dict | None = None) -> _kube.KubeClient:
    options = _kube.ConnectionOptions.from_params(dict(NO_PARAMS, **params), env or {})
    return _kube.KubeClient(options, max_retries=0, request_timeout=10.0, sleep=lambda _s: None)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("how", ["options", "environment"])
def test_basic_auth_reaches_the_server(kube_server, how):
    kube_server.basic_users["admin"] = "s3cret"
    params = {"host": kube_server.url, "username": "admin", "password": "s3cret"}
    env = {"K8S_AUTH_HOST": kube_server.url, "K8S_AUTH_USERNAME": "admin", "K8S_AUTH_PASSWORD": "s3cret"}
    with (_client(params) if how == "options" else _client({}, env)) as client:
        assert client.get("/version")["gitVersion"]
    assert kube_server.requests[-1].headers["authorization"] == _basic("admin", "s3cret")


def test_a_bearer_token_wins_over_basic_auth(kube_server):
    with _client({"host": kube_server.url, "api_key": "test-token", "username": "u", "password": "p"}) as client:
        client.get("/version")
    assert kube_server.requests[-1].headers["authorization"] == "Bearer test-token"


def test_wrong_basic_password_is_refused(kube_server):
    kube_server.basic_users["admin"] = "s3cret"
    with _client({"host": kube_server.url, "username": "admin", "password": "nope"}) as client:
        with pytest.raises(_kube.KubeAPIError) as caught:
            client.get("/version")
    assert caught.value.status == 401


@pytest.mark.parametrize("how", ["options", "environment"])
def test_impersonation_headers_reach_the_server(kube_server, how):
    params = {"host": kube_server.url, "api_key": "test-token", "impersonate_user": "jane",
              "impersonate_groups": ["ops", "velero-admins"]}
    env = {"K8S_AUTH_HOST": kube_server.url, "K8S_AUTH_API_KEY": "test-token", "K8S_AUTH_IMPERSONATE_USER": "jane",
           "K8S_AUTH_IMPERSONATE_GROUPS": "ops, velero-admins"}
    with (_client(params) if how == "options" else _client({}, env)) as client:
        client.get("/version")
    seen = kube_server.requests[-1]
    assert seen.headers["impersonate-user"] == "jane"
    assert seen.header_lists["impersonate-group"] == ["ops", "velero-admins"]


@pytest.mark.parametrize("how", ["options", "environment"])
def test_requests_go_through_the_proxy_with_its_headers(kube_server, how):
    # The loopback server is the proxy too: it serves the absolute-form request line a proxy receives.
    params = {"host": "http://kube.invalid:6443", "api_key": "test-token", "proxy": kube_server.url,
              "proxy_headers": {"proxy_basic_auth": "me:pw", "user_agent": "velero-test/1.0"}}
    env = {"K8S_AUTH_HOST": "http://kube.invalid:6443", "K8S_AUTH_API_KEY": "test-token",
           "K8S_AUTH_PROXY": kube_server.url, "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "me:pw",
           "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "velero-test/1.0"}
    with (_client(params) if how == "options" else _client({}, env)) as client:
        client.get("/version")
    seen = kube_server.requests[-1]
    assert seen.target == "http://kube.invalid:6443/version"
    assert seen.headers["proxy-authorization"] == _basic("me", "pw")


@pytest.mark.parametrize("how", ["options", "environment"])
def test_no_proxy_bypasses_the_proxy(kube_server, how):
    dead_proxy = "http://127.0.0.1:9"  # nothing listens: going through it would fail
    params = {"host": kube_server.url, "api_key": "test-token", "proxy": dead_proxy, "no_proxy": "localhost,127.0.0.1"}
    env = {"K8S_AUTH_HOST": kube_server.url, "K8S_AUTH_API_KEY": "test-token", "K8S_AUTH_PROXY": dead_proxy,
           "K8S_AUTH_NO_PROXY": "localhost,127.0.0.1"}
    with (_client(params) if how == "options" else _client({}, env)) as client:
        assert client.get("/version")["gitVersion"]
    assert kube_server.requests[-1].target == "/version"
    with _client({"host": kube_server.url, "api_key": "test-token", "proxy": dead_proxy}) as client:
        with pytest.raises(_kube.KubeAPIError):
            client.get("/version")


@pytest.mark.parametrize("params, message", [
    ({"username": "u"}, "basic authentication needs both"),
    ({"impersonate_groups": ["g"]}, "impersonate_groups: needs impersonate_user"),
    ({"proxy_headers": {"bogus": "x"}}, "proxy_headers: unknown keys bogus"),
])
def test_incomplete_options_are_named(params, message):
    with pytest.raises(_kube.KubeConfigError, match=message):
        _kube.ConnectionOptions.from_params(dict(NO_PARAMS, host="https://h", api_key="t", **params), {})


@pytest.mark.slow
def test_module_defaults_group_sets_the_connection_once(kube_server, tmp_path):
    vc.populate(kube_server, velero_version="1.16.0")
    kube_server.basic_users["admin"] = "s3cret"
    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "module_defaults": {"group/velero_ops.tuning.k8s": {
            "host": kube_server.url, "username": "admin", "password": "s3cret", "impersonate_user": "jane"}},
        "tasks": [{"name": "Facts with the group's connection", "velero_ops.tuning.cluster_facts": {},
                   "register": "facts"},
                  {"name": "It read the cluster", "ansible.builtin.assert": {"that": ["facts.cluster.namespaces >= 0"]}}],
    }]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    run = run_playbook(playbook, "localhost,")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert kube_server.requests and all(r.headers.get("authorization") == _basic("admin", "s3cret")
                                        and r.headers.get("impersonate-user") == "jane" for r in kube_server.requests)
    assert "s3cret" not in run.stdout  # password is no_log
