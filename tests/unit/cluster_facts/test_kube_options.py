# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options: kubernetes.core names, K8S_AUTH_* fallbacks, argspec/doc-fragment agreement."""

from __future__ import annotations

import yaml
import pytest

from ansible_collections.velero_ops.tuning.plugins.doc_fragments.k8s_auth import ModuleDocFragment
from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube
from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube_errors
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import (
    AUTH_ARG_SPEC,
    auth_argspec,
    kubeconfig_secrets,
)

NO_PARAMS = {name: None for name in AUTH_ARG_SPEC}


@pytest.mark.parametrize("env, field, expected", [
    ({"K8S_AUTH_HOST": "https://h:6443"}, "host", "https://h:6443"),
    ({"K8S_AUTH_API_KEY": "tok"}, "api_key", "tok"),
    ({"K8S_AUTH_CONTEXT": "ctx"}, "context", "ctx"),
    ({"K8S_AUTH_KUBECONFIG": "/k"}, "kubeconfig", "/k"),
    ({"KUBECONFIG": "/from-kubeconfig-env"}, "kubeconfig", None),  # only the default kubeconfig, not an option
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
    ref = _kube_errors.parse_api_path(path)
    assert (ref.group, ref.resource, ref.namespace, ref.name) == expected
    assert ref.verb(method) == verb


# -- which configuration is used (kubernetes.core order) ----------------------------------------------


def kubeconfig_file(path, server, contexts=("main",)):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
              "clusters": [{"name": c, "cluster": {"server": f"{server}/{c}"}} for c in contexts],
              "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
              "users": [{"name": "u", "user": {"token": "t"}}]}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


@pytest.fixture
def in_cluster(tmp_path):
    """A pod's service-account files and environment."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token", encoding="utf-8")
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return (str(token), str(ca)), {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def host_for(params, env, files=None):
    options = _kube.ConnectionOptions.from_params(dict(NO_PARAMS, **params), env)
    if files is not None:
        options.incluster_files = files
    return options.build_configuration().host


def test_in_cluster_wins_over_the_kubeconfig_environment_variable(tmp_path, in_cluster):
    files, pod_env = in_cluster
    default = kubeconfig_file(tmp_path / "kc", "https://from-kubeconfig-env")
    assert host_for({}, {**pod_env, "KUBECONFIG": default}, files) == "https://10.96.0.1:443"
    # Outside a pod: the default kubeconfig, i.e. $KUBECONFIG.
    assert host_for({}, {"KUBECONFIG": default}, files) == "https://from-kubeconfig-env/main"


def test_explicit_options_win_over_in_cluster(tmp_path, in_cluster):
    files, pod_env = in_cluster
    explicit = kubeconfig_file(tmp_path / "explicit", "https://explicit")
    default = kubeconfig_file(tmp_path / "default", "https://default", contexts=("main", "other"))
    env = {**pod_env, "KUBECONFIG": default}
    assert host_for({"kubeconfig": explicit}, env, files) == "https://explicit/main"
    assert host_for({}, {**env, "K8S_AUTH_KUBECONFIG": explicit}, files) == "https://explicit/main"
    # A context alone selects a context of the default kubeconfig (not in-cluster).
    assert host_for({"context": "other"}, env, files) == "https://default/other"
    assert host_for({"host": "https://direct:6443", "api_key": "k"}, env, files) == "https://direct:6443"


def test_kubeconfig_lists_are_merged(tmp_path):
    first = kubeconfig_file(tmp_path / "first", "https://first")
    assert host_for({}, {"KUBECONFIG": f"{tmp_path / 'missing'}:{first}"}) == "https://first/main"
    assert host_for({"kubeconfig": f"{tmp_path / 'missing'}:{first}"}, {}) == "https://first/main"


def test_nothing_configured_is_a_clear_error(tmp_path):
    with pytest.raises(_kube_errors.KubeConfigError, match="no connection configured: not in a pod .* does not exist"):
        host_for({}, {"KUBECONFIG": str(tmp_path / "none")}, (str(tmp_path / "t"), str(tmp_path / "c")))
    with pytest.raises(_kube_errors.KubeConfigError, match="could not load kubeconfig .*missing.*: no such file"):
        host_for({"kubeconfig": str(tmp_path / "missing")}, {})


# -- kubeconfig credentials ----------------------------------------------------------------------------------


def test_kubeconfig_secrets_are_the_credentials_only():
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "default",
        "clusters": [{"name": "default", "cluster": {"server": "https://api.example.com:6443",
                                                     "proxy-url": "http://proxyuser:proxy-pass-1@proxy:3128",
                                                     "certificate-authority-data": "Q0EtREFUQQ=="}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default", "namespace": "default"}}],
        "users": [
            {"name": "default", "user": {"token": "tok-1", "client-key-data": "S0VZLURBVEE=",
                                         "client-certificate-data": "Q0VSVC1EQVRB"}},
            {"name": "basic", "user": {"username": "admin", "password": "pw-2"}},
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "client-id": "kubernetes", "client-secret": "cs-3", "id-token": "id-4", "refresh-token": "rt-5",
                "idp-issuer-url": "https://issuer"}}}},
            {"name": "exec", "user": {"exec": {"command": "aws", "args": ["eks", "get-token"], "env": [
                {"name": "AWS_PROFILE", "value": "default"}, {"name": "AWS_SECRET_ACCESS_KEY", "value": "sk-6"},
                {"name": "VAULT_TOKEN", "value": "vt-7"}]}}},
        ],
    }
    assert kubeconfig_secrets(config) == {"tok-1", "S0VZLURBVEE=", "Q0VSVC1EQVRB", "pw-2", "cs-3", "id-4", "rt-5",
                                          "sk-6", "vt-7", "proxy-pass-1"}
    # Names, namespaces, URLs and the user name stay visible: masking them would garble the results.
    for visible in ("default", "admin", "kubernetes", "https://api.example.com:6443", "oidc", "aws"):
        assert visible not in kubeconfig_secrets(config)


@pytest.mark.parametrize("value", [None, "/home/me/.kube/config", 42, ["x"], {}])
def test_kubeconfig_paths_have_no_secrets(value):
    assert kubeconfig_secrets(value) == set()
