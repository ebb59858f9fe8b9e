# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument errors name the inventory variable and the closest known key."""

from __future__ import annotations

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _arg_errors as ae
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import FIELDS

SECTIONS = {section: list(fields) for section, fields in FIELDS.items()}
REQUIRED = {section: [k for k, f in fields.items() if f.required] for section, fields in FIELDS.items()}


@pytest.mark.parametrize("params, expected", [
    ({"cluster": {"namspaces": 3, "objects": 1, "resource_types": 1}},
     ["velero_cluster.namspaces is not a known key; did you mean namespaces?"]),
    ({"cluster": {"objects": 1, "resource_types": 1}}, ["velero_cluster.namespaces is required and missing"]),
    ({"data": {"volume_bytes": "1Ti", "filez": 3}}, ["velero_data.filez is not a known key; did you mean files?"]),
    ({"policy": {"max_client_qs": 3}}, ["velero_policy.max_client_qs is not a known key; did you mean max_client_qps?"]),
    ({"cluster": {"namespaces": 3, "objects": 1, "resource_types": 1}, "data": {"volume_bytes": 1}}, []),
    ({"cluster": "not a mapping"}, []),  # the shape check reports it
])
def test_section_key_problems(params, expected):
    assert ae.section_key_problems(params, SECTIONS, REQUIRED) == expected


def test_a_key_with_no_close_match_lists_the_known_ones():
    (problem,) = ae.section_key_problems({"policy": {"zzz": 1}}, SECTIONS, REQUIRED)
    assert problem.startswith("velero_policy.zzz is not a known key; known keys: ") and "max_client_qps" in problem


@pytest.mark.parametrize("message, expected", [
    ("Validation of arguments failed:\nmissing required arguments: namespaces found in cluster",
     "velero_cluster.namespaces is required and missing"),
    ("argument 'resource_types' is of type str found in 'cluster'. and we were unable to convert to int: "
     "\"'lots'\" cannot be converted to an int",
     "velero_cluster.resource_types: expected a whole number, got str (\"'lots'\" cannot be converted to an int)"),
    ("argument 'unchecked_keys' is of type <class 'int'> and we were unable to convert to list",
     "argument 'velero_values_unchecked_keys' is of type <class 'int'> and we were unable to convert to list"),
])
def test_ansible_messages_in_inventory_terms(message, expected):
    assert ae.in_inventory_terms(message) == expected


def test_misspelt_host_variables_get_the_likely_one():
    assert ae.misspelt_host_variables(["velero_value_overrides", "velero_cluster", "velero_my_team", "other"]) == [
        "host variable velero_value_overrides is not used by velero_ops.tuning; did you mean velero_values_overrides?"]
