#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a documentation-only module: the work is done by the action plugin of the same name on the
# controller (plugins/action/release_values.py).

from __future__ import annotations

DOCUMENTATION = r"""
module: release_values
short_description: The values a Helm release has after an upgrade with the written values, and their diff
version_added: 0.1.0
description:
  - Given the user-supplied values of the deployed release (C(status.values) of M(kubernetes.core.helm_info)) and
    the written C(values.yaml), returns every value the release has after the upgrade, so C(helm upgrade) can be
    given all of them and never drops one the user did not ask to change.
  - With O(contract=overlay) (the default), the written values are layered over the deployed ones the way
    C(helm upgrade --reuse-values) or C(-f <your values> -f values.yaml) layer them; maps merge key by key, lists
    and other values replace.
  - With O(contract=complete) the written values are every value of the release and replace the deployed ones;
    the paths that disappear are listed in RV(removed_paths) and in a warning.
  - In diff mode the task shows the release's values before and after; C(changed) says whether they differ.
  - Runs on the controller and writes nothing; the C(velero_ops.tuning.helm_values) role uses it before
    M(kubernetes.core.helm).
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the same result; it never changes anything.
  diff_mode:
    support: full
  idempotent:
    support: full
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  deployed:
    description:
      - User-supplied values of the deployed release (empty or omitted when the release does not exist yet).
    type: raw
  values:
    description: The written values (the content of C(values.yaml)).
    type: dict
    required: true
  contract:
    description: Whether O(values) is an overlay on the release's values or every value of the release.
    type: str
    choices: [overlay, complete]
    default: overlay
  release:
    description: Release name, for messages.
    type: str
    default: velero
  namespace:
    description: Release namespace, for messages.
    type: str
    default: velero
seealso:
  - module: kubernetes.core.helm_info
  - module: kubernetes.core.helm
"""

EXAMPLES = r"""
- name: Read the deployed release
  kubernetes.core.helm_info:
    release_name: velero
    release_namespace: velero
  register: deployed

- name: Values of release velero after the upgrade
  velero_ops.tuning.release_values:
    deployed: "{{ deployed.status['values'] | default({}) }}"
    values: "{{ lookup('ansible.builtin.file', 'out/prod-eu1/values.yaml') | from_yaml }}"
  register: planned

- name: Upgrade with every value
  kubernetes.core.helm:
    release_name: velero
    release_namespace: velero
    chart_ref: vmware-tanzu/velero
    chart_version: 10.1.3
    release_values: "{{ planned['values'] }}"
    reset_values: true
"""

RETURN = r"""
values:
  description: Every user-supplied value of the release after the upgrade.
  returned: success
  type: dict
changed_paths:
  description: Dotted paths whose value changes.
  returned: success
  type: list
  elements: str
added_paths:
  description: Dotted paths the release did not set before.
  returned: success
  type: list
  elements: str
removed_paths:
  description: Dotted paths the release no longer sets (only with O(contract=complete)).
  returned: success
  type: list
  elements: str
"""
