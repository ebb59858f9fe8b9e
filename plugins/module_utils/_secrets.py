# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the user's chart values hold credentials, and URLs with their password masked.

Pure Python, no Ansible imports. ``secret_paths`` lists the dotted paths of values that are credentials by
where they sit in the Velero chart (``credentials.secretContents``, ``credentials.extraEnvVars``), by their key
(``accessKey``, ``secretKey``, ``password``, ``token``... in ``configuration.backupStorageLocation[].config`` or
anywhere else) or, for ``extraEnvVars`` lists, by the variable's name. Values that only *name* a secret
(``existingSecret``, ``credentials.name``, ``*EnvVar``, ``*File``) are not credentials. Paths, never values, go
into messages.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit, urlunsplit

# Everything below these chart keys is secret material: the chart writes it into a Secret.
_SECRET_SUBTREES = (("credentials", "secretContents"), ("credentials", "extraEnvVars"))
# A key (lowercase, without "-" and "_") that holds a credential: accessKey, secretKey, secretAccessKey,
# storageAccountKey, password, token, apiKey, clientSecret, privateKey, sessionToken...
_SECRET_KEY = re.compile(r"(password|passwd|passphrase|secret|token|accesskey|apikey|accountkey|privatekey|"
                         r"credential|sascode|connectionstring)")
# ...unless the key only names where the secret lives.
_REFERENCE_KEY = re.compile(r"(^existingsecret$|^usesecret$|name$|envvar$|file$|ref$|path$|keyid$|id$|enabled$)")
# extraEnvVars entries ({name, value}) whose variable name says the value is a credential.
_SECRET_ENV_NAME = re.compile(r"(SECRET|PASSW|TOKEN|ACCESS_KEY|API_KEY|ACCOUNT_KEY|PRIVATE_KEY|CREDENTIAL)",
                              re.IGNORECASE)


def _normal(key: t.Any) -> str:
    return str(key).lower().replace("-", "").replace("_", "")


def is_secret_key(key: t.Any) -> bool:
    """Whether a mapping key names a credential value (not merely a reference to one)."""
    name = _normal(key)
    return bool(_SECRET_KEY.search(name)) and not _REFERENCE_KEY.search(name)


def _has_value(value: t.Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (str, bytes)):
        return bool(value)
    if isinstance(value, t.Mapping):
        return any(_has_value(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_value(item) for item in value)
    return True


def secret_paths(values: t.Any) -> list[str]:
    """Dotted paths (``a.b[0].c``) of the credentials in a chart values mapping, in document order."""
    found: list[str] = []
    _walk(values, (), "", found)
    return found


def _walk(node: t.Any, keys: tuple[str, ...], path: str, found: list[str]) -> None:
    if isinstance(node, t.Mapping):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if keys + (str(key),) in _SECRET_SUBTREES:
                if _has_value(value):
                    found.append(child)
                continue
            if is_secret_key(key) and not isinstance(value, (t.Mapping, list, tuple)) and _has_value(value):
                found.append(child)
                continue
            if str(key) == "extraEnvVars" and isinstance(value, (list, tuple)):
                for index, entry in enumerate(value):
                    if isinstance(entry, t.Mapping) and _SECRET_ENV_NAME.search(str(entry.get("name", ""))) \
                            and _has_value(entry.get("value")):
                        found.append(f"{child}[{index}]")
                continue
            if str(key) == "extraEnvVars" and isinstance(value, t.Mapping):
                found.extend(f"{child}.{name}" for name, item in value.items()
                             if _SECRET_ENV_NAME.search(str(name)) and _has_value(item))
                continue
            _walk(value, keys + (str(key),), child, found)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            _walk(item, keys + ("[]",), f"{path}[{index}]", found)


def url_password(url: t.Any) -> str | None:
    """The password of a ``scheme://user:password@host`` URL, or None."""
    if not isinstance(url, str) or "@" not in url:
        return None
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``********`` (the rest kept, for messages)."""
    if not isinstance(url, str) or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc
        userinfo, _at, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:********@{hostport}"))
    except ValueError:
        return url
