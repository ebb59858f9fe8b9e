# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options: kubernetes.core names, K8S_AUTH_* fallbacks, argspec/doc-fragment agreement."""

from __future__ import annotations

import yaml
import pytest

from ansible_collections.velero_ops.tuning.plugins.doc_fragments.k8s_auth import ModuleDocFragment
from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import AUTH_ARG_SPEC, auth_argspec

NO_PARAMS = {name: None for name in AUTH_ARG_SPEC}


@pytest.mark.parametrize("env, field, expected", [
    ({"K8S_AUTH_HOST": "https://h:6443"}, "host", "https://h:6443"),
    ({"K8S_AUTH_API_KEY": "tok"}, "api_key", "tok"),
    ({"K8S_AUTH_CONTEXT": "ctx"}, "context", "ctx"),
    ({"K8S_AUTH_KUBECONFIG": "/k"}, "kubeconfig", "/k"),
    ({"KUBECONFIG": "/from-kubeconfig-env"}, "kubeconfig", "/from-kubeconfig-env"),
    ({"K8S_AUTH_KUBECONFIG": "/k", "KUBECONFIG": "/other"}, "kubeconfig", "/k"),
    ({"K8S_AUTH_VERIFY_SSL": "no"}, "validate_certs", False),
    ({"K8S_AUTH_VERIFY_SSL": "False"}, "validate_certs", False),
    ({"K8S_AUTH_VERIFY_SSL": "0"}, "validate_certs", False),
    ({"K8S_AUTH_VERIFY_SSL": "yes"}, "validate_certs", True),
    ({"K8S_AUTH_VALIDATE_CERTS": "false"}, "validate_certs", False),
    ({"K8S_AUTH_SSL_CA_CERT": "/ca"}, "ca_cert", "/ca"),
    ({"K8S_AUTH_CA_CERT": "/ca2"}, "ca_cert", "/ca2"),
    ({"K8S_AUTH_CERT_FILE": "/c"}, "client_cert", "/c"),
    ({"K8S_AUTH_KEY_FILE": "/k"}, "client_key", "/k"),
    ({"K8S_AUTH_PROXY": "http://proxy:3128"}, "proxy", "http://proxy:3128"),
    ({}, "host", None),
])
def test_environment_fallbacks(env, field, expected):
    options = _kube.ConnectionOptions.from_params(NO_PARAMS, env)
    assert getattr(options, field) == expected


def test_parameters_win_over_environment():
    params = dict(NO_PARAMS, host="https://param:6443", validate_certs=True)
    options = _kube.ConnectionOptions.from_params(params, {"K8S_AUTH_HOST": "https://env", "K8S_AUTH_VERIFY_SSL": "no"})
    assert options.host == "https://param:6443"
    assert options.validate_certs is True


@pytest.mark.parametrize("params, message", [
    ({"host": "api.example.com"}, "host: expected a URL"),
    ({"kubeconfig": 42}, "kubeconfig: expected a path or a kubeconfig mapping"),
])
def test_bad_options_raise_value_errors_naming_the_option(params, message):
    with pytest.raises(ValueError, match=message):
        _kube.ConnectionOptions.from_params(dict(NO_PARAMS, **params), {})


def test_api_key_is_not_in_repr():
    assert "secret-token" not in repr(_kube.ConnectionOptions(api_key="secret-token"))


def test_direct_credentials_configure_host_token_and_tls():
    options = _kube.ConnectionOptions(host="https://api.example.com:6443/", api_key="tok", validate_certs=False,
                                      ca_cert="/ca.pem", proxy="http://proxy:3128")
    configuration = options.build_configuration()
    assert configuration.host == "https://api.example.com:6443"
    assert configuration.api_key == {"authorization": "Bearer tok"}
    assert configuration.verify_ssl is False
    assert configuration.ssl_ca_cert == "/ca.pem"
    assert configuration.proxy == "http://proxy:3128"
    assert configuration.retries is False  # our loop owns retries


def test_argspec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(AUTH_ARG_SPEC)
    for name, spec in AUTH_ARG_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("aliases", []) == spec.get("aliases", []), name
    assert AUTH_ARG_SPEC["api_key"]["no_log"] is True
    copy = auth_argspec()
    copy["host"]["type"] = "int"
    assert AUTH_ARG_SPEC["host"]["type"] == "str"


@pytest.mark.parametrize("path, method, verb, expected", [
    ("/api/v1/pods", "GET", "list", ("", "pods", None, None)),
    ("/api/v1/namespaces/a/pods/p/log", "GET", "get", ("", "pods/log", "a", "p")),
    ("/api/v1/namespaces/a", "GET", "get", ("", "namespaces", None, "a")),
    ("/api/v1/namespaces/a/status", "PUT", "update", ("", "namespaces/status", None, "a")),
    ("/apis/velero.io/v1/namespaces/velero/backuprepositories/r", "PATCH", "patch",
     ("velero.io", "backuprepositories", "velero", "r")),
    ("/apis/batch/v1/namespaces/velero/jobs", "POST", "create", ("batch", "jobs", "velero", None)),
    ("/apis/batch/v1/namespaces/velero/jobs/j", "DELETE", "delete", ("batch", "jobs", "velero", "j")),
    ("/apis/batch/v1/namespaces/velero/jobs", "DELETE", "deletecollection", ("batch", "jobs", "velero", None)),
    ("/version", "GET", "get", (None, "/version", None, None)),
])
def test_parse_api_path(path, method, verb, expected):
    ref = _kube.parse_api_path(path)
    assert (ref.group, ref.resource, ref.namespace, ref.name) == expected
    assert ref.verb(method) == verb
