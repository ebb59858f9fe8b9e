# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument errors in the user's words: the inventory variable, the key, and the closest known key.

Ansible's argument spec says ``missing required arguments: namespaces found in cluster`` about a host whose
``velero_cluster`` has ``namspaces``. Here the same input gives
``velero_cluster.namspaces is not a known key; did you mean namespaces?`` (the caller prefixes the host).
Pure Python, no Ansible imports.
"""

from __future__ import annotations

import difflib
import re
import typing as t

# Options of velero_ops.tuning.render_values -> the host variable of playbooks/tune.yml that feeds it.
INVENTORY_VARIABLES: dict[str, str] = {
    "velero_version": "velero_version",
    "chart_version": "velero_chart_version",
    "cluster": "velero_cluster",
    "data": "velero_data",
    "policy": "velero_policy",
    "overrides": "velero_values_overrides",
    "release_name": "velero_release_name",
    "user_wins": "velero_values_user_wins",
    "unchecked_keys": "velero_values_unchecked_keys",
}
# Host variables of playbooks/tune.yml (docs/tune-playbook.md), for the "did you mean" of a misspelt one.
HOST_VARIABLES: tuple[str, ...] = (
    "velero_version", "velero_chart_version", "velero_cluster", "velero_data", "velero_policy",
    "velero_values_overrides", "velero_values_user_wins", "velero_values_unchecked_keys", "velero_values_complete",
    "velero_release_name", "velero_live_facts", "velero_namespace", "velero_kubeconfig", "velero_kube_context",
    "velero_kube_host", "velero_kube_api_key", "velero_kube_validate_certs", "velero_kube_ca_cert",
    "velero_kube_client_cert", "velero_kube_client_key", "velero_kube_proxy",
)


def closest(word: str, known: t.Iterable[str]) -> str | None:
    """The known word a typo most likely meant (difflib ratio >= 0.75), else None."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def _did_you_mean(word: str, known: t.Iterable[str]) -> str:
    guess = closest(word, known)
    return f"; did you mean {guess}?" if guess else f"; known keys: {', '.join(sorted(known))}"


def section_key_problems(params: t.Mapping[str, t.Any], sections: t.Mapping[str, t.Iterable[str]],
                         required: t.Mapping[str, t.Iterable[str]],
                         names: t.Mapping[str, str] | None = None) -> list[str]:
    """Unknown and missing keys of the mapping options (``cluster``, ``data``, ``policy``), in inventory terms."""
    names = names or INVENTORY_VARIABLES
    problems: list[str] = []
    for section, known_keys in sections.items():
        value = params.get(section)
        if not isinstance(value, t.Mapping):
            continue
        known = list(known_keys)
        variable = names.get(section, section)
        unknown = [str(key) for key in value if key not in known]
        for key in unknown:
            problems.append(f"{variable}.{key} is not a known key{_did_you_mean(key, known)}")
        meant = {closest(key, known) for key in unknown}
        for key in required.get(section, ()):
            if value.get(key) is None and key not in meant:
                problems.append(f"{variable}.{key} is required and missing")
    return problems


def misspelt_host_variables(variables: t.Iterable[str], known: t.Iterable[str] = HOST_VARIABLES) -> list[str]:
    """Warnings for velero_* variables that are not ours but close to one of ours (``velero_value_overrides``)."""
    known = list(known)
    warnings = []
    for name in sorted(set(variables)):
        if not name.startswith("velero_") or name in known:
            continue
        guess = closest(name, known)
        if guess:
            warnings.append(f"host variable {name} is not used by velero_ops.tuning; did you mean {guess}?")
    return warnings


_TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "dict": "a mapping",
               "list": "a list", "str": "a string"}
_OPTION = re.compile(r"\b(" + "|".join(sorted(INVENTORY_VARIABLES, key=len, reverse=True)) + r")\b")


def in_inventory_terms(message: str, names: t.Mapping[str, str] | None = None) -> str:
    """An Ansible argument-spec message with option names replaced by the inventory variables that feed them."""
    names = names or INVENTORY_VARIABLES
    text = re.sub(r"^Validation of arguments failed:\s*", "", message.strip())
    found = re.match(r"missing required arguments: (.+) found in (\w+)$", text)
    if found:
        section = names.get(found.group(2), found.group(2))
        return "; ".join(f"{section}.{key.strip()} is required and missing" for key in found.group(1).split(","))
    found = re.match(r"argument '(\w+)' is of type (\w+) found in '(\w+)'\. and we were unable to convert to "
                     r"(\w+): (.*)$", text, re.DOTALL)
    if found:
        key, got, section, wanted, detail = found.groups()
        return f"{names.get(section, section)}.{key}: expected {_TYPE_WORDS.get(wanted, wanted)}, got {got} ({detail})"
    return _OPTION.sub(lambda m: names.get(m.group(1), m.group(1)), text)
