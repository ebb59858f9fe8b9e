# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options shared by every module that talks to a cluster.

Names, types and aliases follow kubernetes.core so users' habits carry over. Paired with the
doc fragment ``velero_ops.tuning.k8s_auth``. The K8S_AUTH_* environment fallbacks are applied
by ``_kube.ConnectionOptions.from_params`` (not here), so this stays a plain dict.

``kubeconfig`` is deliberately not ``no_log``: with a kubeconfig mapping Ansible would then mask
every string of it (cluster and context names, ``default``, the server URL) wherever it appears
in the result. Instead the modules add only the secret values of the mapping to the module's
``no_log_values`` (``kubeconfig_secrets``), as kubernetes.core does since it stopped hiding the
whole option. ``host`` and ``proxy`` stay visible too, but the password of a ``user:password@`` URL in them
(or in K8S_AUTH_HOST / K8S_AUTH_PROXY) is added to ``no_log_values`` (``url_passwords``).
"""

from __future__ import annotations

import copy
import os
import re
import typing as t
from urllib.parse import urlsplit

AUTH_ARG_SPEC: dict[str, dict[str, t.Any]] = {
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": {
        "proxy_basic_auth": {"type": "str", "no_log": True},
        "basic_auth": {"type": "str", "no_log": True},
        "user_agent": {"type": "str"},
    }},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}

AUTH_OPTION_NAMES: tuple[str, ...] = tuple(AUTH_ARG_SPEC)


def auth_argspec() -> dict[str, dict[str, t.Any]]:
    """A deep copy, so a module can extend it without touching the shared spec."""
    return copy.deepcopy(AUTH_ARG_SPEC)


# Keys whose string values are credentials, wherever they appear in a kubeconfig (users[].user, the
# auth-provider config, exec plugin settings). Certificate data is public but long and unique, so hiding
# it costs nothing.
SECRET_KEYS = frozenset((
    "token", "password", "client-key-data", "client-certificate-data", "id-token", "refresh-token",
    "access-token", "client-secret", "secret", "apiKey", "api-key",
))
# exec plugin env entries ({name, value}) whose name says the value is a credential.
_SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH)", re.IGNORECASE)
_URL_KEYS = frozenset(("server", "proxy-url"))


def kubeconfig_secrets(kubeconfig: t.Any) -> set[str]:
    """The secret strings of a kubeconfig mapping, for ``AnsibleModule.no_log_values``.

    A path (or None) has none: the file's content never reaches the result. Only credentials are
    returned, never names, namespaces or URLs, so masking them does not garble the facts.
    """
    found: set[str] = set()
    if isinstance(kubeconfig, dict):
        _collect(kubeconfig, found)
    return {value for value in found if value.strip()}


class HideKubeconfigSecrets:
    """Mixin for AnsibleModule: hide the credentials of a kubeconfig mapping (only those) from every output,
    including the invocation logged while the arguments are validated (kubernetes.core does the same).

    Use as ``class Module(HideKubeconfigSecrets, AnsibleModule)``; no Ansible import is needed here.
    """

    params: t.Any
    no_log_values: set[str]

    def _load_params(self) -> None:
        super()._load_params()  # type: ignore[misc]
        self.no_log_values.update(kubeconfig_secrets((self.params or {}).get("kubeconfig")))
        self.no_log_values.update(url_passwords(self.params or {}))


def url_passwords(params: t.Mapping[str, t.Any], environ: t.Mapping[str, str] | None = None) -> set[str]:
    """Passwords in ``user:password@`` of the ``host`` and ``proxy`` options and of their K8S_AUTH_HOST and
    K8S_AUTH_PROXY fallbacks, so every message and the -vvv invocation show ``user:********@``."""
    environ = os.environ if environ is None else environ
    urls = [params.get("host"), params.get("proxy"), environ.get("K8S_AUTH_HOST"), environ.get("K8S_AUTH_PROXY")]
    return {password for url in urls if isinstance(url, str) and (password := _url_password(url))}


def _collect(node: t.Any, found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, found)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = str(key)
        if (name in SECRET_KEYS or name.lower() in SECRET_KEYS) and isinstance(value, (str, int, float)) \
                and not isinstance(value, bool):
            found.add(str(value))
            continue
        if name == "env" and isinstance(value, list):
            found.update(entry["value"] for entry in value
                         if isinstance(entry, dict) and isinstance(entry.get("value"), str)
                         and _SECRET_ENV_NAME.search(str(entry.get("name", ""))))
        if name in _URL_KEYS and isinstance(value, str):
            password = _url_password(value)
            if password:
                found.add(password)
        _collect(value, found)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None
