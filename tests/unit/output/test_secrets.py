# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which chart values are credentials (module_utils._secrets), and URLs with the password masked."""

from __future__ import annotations

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _secrets


def test_credentials_are_found_by_place_key_and_env_name():
    values = {
        "credentials": {"useSecret": True, "existingSecret": "", "name": "cloud-credentials",
                        "secretContents": {"cloud": "[default]\naws_secret_access_key=x\n"},
                        "extraEnvVars": {"AZURE_CLIENT_ID": "id"}},
        "configuration": {
            "clientQPS": 300,
            "backupStorageLocation": [{"name": "default", "provider": "aws", "bucket": "b", "config": {
                "region": "eu-west-1", "accessKey": "AKIA", "secretKey": "s3cr3t", "s3Url": "https://s3",
                "credentialsFile": "/credentials/cloud", "storageAccountKeyEnvVar": "AZURE_KEY"}}],
            "volumeSnapshotLocation": [{"config": {"password": "pw", "passwordSecretName": "vsl"}}],
        },
        "extraEnvVars": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "abc"}, {"name": "GOMAXPROCS", "value": "4"},
                         {"name": "MY_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "nodeAgent": {"extraEnvVars": {"GITHUB_TOKEN": "ghp", "LOG_FORMAT": "json"}},
        "resources": {"requests": {"cpu": "1"}},
    }
    assert _secrets.secret_paths(values) == [
        "credentials.secretContents", "credentials.extraEnvVars",
        "configuration.backupStorageLocation[0].config.accessKey",
        "configuration.backupStorageLocation[0].config.secretKey",
        "configuration.volumeSnapshotLocation[0].config.password",
        "extraEnvVars[0]", "nodeAgent.extraEnvVars.GITHUB_TOKEN",
    ]


@pytest.mark.parametrize("values", [
    {}, {"configuration": {"clientQPS": 300}}, {"credentials": {"useSecret": False, "secretContents": {}}},
    {"credentials": {"existingSecret": "cloud-credentials"}}, {"configuration": {"backupStorageLocation": [
        {"config": {"region": "r", "kmsKeyId": "k", "insecureSkipTLSVerify": "true"}}]}},
])
def test_no_credentials(values):
    assert _secrets.secret_paths(values) == []


@pytest.mark.parametrize("url, expected", [
    ("http://user:hunter2@proxy:3128", "http://user:********@proxy:3128"),
    ("https://admin:p%40ss@10.0.0.1:6443/path", "https://admin:********@10.0.0.1:6443/path"),
    ("http://proxy:3128", "http://proxy:3128"), ("http://user@proxy", "http://user@proxy"), ("", ""),
])
def test_urls_keep_everything_but_the_password(url, expected):
    assert _secrets.redact_url(url) == expected
    assert "hunter2" not in _secrets.redact_url(url) and "p%40ss" not in _secrets.redact_url(url)


def test_url_password():
    assert _secrets.url_password("http://u:pw@h") == "pw"
    assert _secrets.url_password("http://h") is None and _secrets.url_password(None) is None


def test_kube_url_passwords_come_from_options_and_their_environment_fallbacks():
    from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import url_passwords

    params = {"host": "https://admin:hunter2@10.0.0.1:6443", "proxy": "http://p:prox-pw@proxy:3128"}
    assert url_passwords(params, environ={}) == {"hunter2", "prox-pw"}
    assert url_passwords({}, environ={"K8S_AUTH_PROXY": "http://u:env-pw@proxy"}) == {"env-pw"}
    assert url_passwords({"host": "https://10.0.0.1:6443", "proxy": None}, environ={}) == set()
