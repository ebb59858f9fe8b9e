# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options shared by every module that talks to a cluster.

Names, types and aliases follow kubernetes.core so users' habits carry over. Paired with the
doc fragment ``velero_ops.tuning.k8s_auth``. The K8S_AUTH_* environment fallbacks are applied
by ``_kube.ConnectionOptions.from_params`` (not here), so this stays a plain dict.
"""

from __future__ import annotations

import copy
import typing as t

AUTH_ARG_SPEC: dict[str, dict[str, t.Any]] = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
}

AUTH_OPTION_NAMES: tuple[str, ...] = tuple(AUTH_ARG_SPEC)


def auth_argspec() -> dict[str, dict[str, t.Any]]:
    """A deep copy, so a module can extend it without touching the shared spec."""
    return copy.deepcopy(AUTH_ARG_SPEC)
