#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a documentation-only module: the work is done by the action plugin of the same name on the
# controller (plugins/action/render_values.py), like ansible.builtin.template.

from __future__ import annotations

DOCUMENTATION = r"""
module: render_values
short_description: Size Velero for one cluster and render the Helm chart values of its chart version
version_added: 0.1.0
description:
  - Runs the collection's sizing model (the same as M(velero_ops.tuning.sizing)) on the controller and turns the
    recommendation into values for the official Velero Helm chart (C(vmware-tanzu/helm-charts), C(charts/velero))
    of O(chart_version), using the keys that chart release has (see C(docs/helm-values.md), "Chart eras").
  - Merges the result with the user's own values (O(overrides)). The user's keys stay, tuning keys are set; when the
    user set a tuning key to something else, the conflict is reported in RV(conflicts) and the tuned value wins
    unless O(user_wins) names that key.
  - Validates the merged values against the strict schema of the chart era (C(schemas/helm-values/)); unknown,
    misspelt or mis-indented keys and wrong types fail the task with a message that says where the key belongs.
  - Fails when C(configuration.extraArgs) or C(nodeAgent.extraArgs) holds a flag the cluster's Velero does not have
    (its server would not start), naming the flag and what to use instead.
  - Returns the values as YAML text (RV(values_yaml)), a Markdown report (RV(report)) and an SVG chart (RV(svg)).
  - With O(output_dir) or O(output_root), also writes them (C(values.yaml), and with O(write_report) C(report.md)
    and C(api-time.svg)) in the same task, with the guarantees of M(ansible.builtin.copy) (a temporary file in the
    target directory renamed over the old one, O(mode) on every file, O(backup), check mode that writes nothing,
    the diff of every file that changes, no change on a second run).
  - Overrides that hold credentials make the result sensitive (RV(sensitive)); that is a Vault-encrypted overrides file,
    inline C(!vault) values anywhere in them, anything under C(credentials.secretContents) or
    C(credentials.extraEnvVars), keys such as C(accessKey), C(secretKey), C(password), C(token) or C(apiKey) (for
    example in C(configuration.backupStorageLocation[].config)), C(extraEnvVars) entries with secret-like names.
    Then the task output is hidden (C(no_log)), and in diff mode the values.yaml diff is replaced by a warning that
    names those keys (never their values) and says why. The registered result keeps everything.
  - Runs entirely on the controller; no module is sent to the target host, so it costs little per cluster.
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
attributes:
  check_mode:
    support: full
    details:
      - Computes and returns the same result and what writing would change; writes nothing.
  diff_mode:
    support: full
    details:
      - When writing, the diff of values.yaml and report.md when they change (the SVG's change shows in RV(files)
        only); for values.yaml with credentials in the overrides, a warning instead (see above).
  idempotent:
    support: full
    details:
      - The output is deterministic for the same inputs; a second run writes nothing and reports no change.
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  velero_version:
    description:
      - Velero version the cluster runs, C(1.12.0) to C(1.18.x). Quote it in YAML; an unquoted C(1.14) is read as a
        float and rejected with a hint.
    type: raw
    required: true
  chart_version:
    description:
      - Version of the Velero Helm chart release the cluster runs (C(helm list)), C(5.1.0) to C(12.1.0).
      - It must ship the same Velero minor version as O(velero_version); the error names the chart versions that do.
      - A release newer than the newest known within the newest known major is rendered with the newest known
        era's rules and schema, with a warning that names the assumption, unless O(chart_strict) is set.
    type: raw
    required: true
  chart_strict:
    description:
      - V(true) refuses a chart release newer than the newest this collection knows instead of rendering it with
        the newest known era's rules. A chart of an unknown major is refused either way.
    type: bool
    default: false
  cluster:
    description:
      - Cluster size, shaped as the O(velero_ops.tuning.sizing#module:cluster) option, validated and converted by
        the same field table (for example V("10") is accepted for an integer, as there).
    type: dict
    required: true
  data:
    description: Data volume, shaped as the O(velero_ops.tuning.sizing#module:data) option.
    type: dict
    required: true
  policy:
    description: Sizing policy, shaped as the O(velero_ops.tuning.sizing#module:policy) option.
    type: dict
  observed:
    description:
      - What this cluster has already shown (OOMKilled limits, observed peaks), shaped as the
        O(velero_ops.tuning.sizing#module:observed) option; C(cluster_facts) returns it in this shape.
    type: dict
  overrides:
    description:
      - The user's own chart values, as a mapping or as the path of a YAML file.
      - A relative path is looked up in the inventory directory of the host, then the playbook directory, then the
        current directory. The file is read through Ansible's loader, so it may be encrypted with Ansible Vault;
        then, as with inline C(!vault) values or credential keys, RV(sensitive) is V(true) and the task's output
        is hidden.
    type: raw
  release_name:
    description:
      - Helm release name. ConfigMaps created through the chart's C(configMaps) key are named C(<fullname>-<key>),
        where the chart's fullname is the release name (plus C(-velero) unless it contains C(velero)), or
        C(fullnameOverride) from O(overrides).
      - Checked as Helm does, lowercase DNS-1123 labels joined by dots, at most 53 characters.
    type: str
    default: velero
  user_wins:
    description:
      - Which tuning keys keep the user's value when O(overrides) sets them differently.
      - V(false) (the default) reports the conflict and sets the tuned value; V(true) keeps every user value; a list
        of dotted keys (for example V(configuration.clientQPS) or V(resources)) keeps the user's value for those keys
        and everything below them.
    type: raw
    default: false
  unchecked_keys:
    description:
      - Dotted keys that the strict schema should not check, for chart keys this collection does not know yet.
    type: list
    elements: str
    default: []
  cluster_name:
    description: Name used in the report and the values header. Defaults to the inventory host name.
    type: str
  facts:
    description:
      - Result of M(velero_ops.tuning.cluster_facts) for this cluster. Its C(drift), C(partial) and C(errors)
        appear in the report.
    type: dict
  values_file:
    description: File name of the values the report links to.
    type: str
    default: values.yaml
  svg_file:
    description: File name of the SVG the report embeds; an empty string leaves the picture out of the report.
    type: str
    default: api-time.svg
  live_facts:
    description:
      - Set by C(playbooks/tune.yml) to C(velero_live_facts), whether O(velero_version), O(cluster) and O(data) come
        from M(velero_ops.tuning.cluster_facts) rather than from inventory variables.
      - When set (true or false), a missing input fails with the inventory variables to set (C(velero_chart_version),
        C(velero_version), C(velero_cluster), C(velero_data)) instead of Ansible's C(missing required arguments); with
        true and no O(velero_version), it says the version could not be read from the cluster.
      - Not set, missing inputs are reported by the argument validation.
    type: bool
  namespace:
    description: Namespace of the release, for the C(helm upgrade -n) command in the values' header and the report.
    type: str
    default: velero
  values_complete:
    description:
      - Whether O(overrides) holds every value of the release. The header of RV(values_yaml) and the report then
        say the values are the complete values of the release, applied alone; otherwise (the default) they say the
        values are an overlay and show the command that layers them over the user's own values,
        C(helm upgrade <release> vmware-tanzu/velero -n <namespace> --version <chart> -f <your values> -f <values>).
    type: bool
    default: false
  values_path:
    description:
      - Path of the written values file as the C(helm upgrade) command shows it (relative to the current directory
        when under it). Defaults to O(values_file).
    type: str
  output_root:
    description:
      - Directory, on the controller, holding one folder per cluster; the files go to
        C(<output_root>/<cluster_name>) (created if missing).
      - The cluster name (the inventory host name by default) must be one safe path component (not C(.) or C(..),
        no C(/), backslash or control characters); otherwise the task fails, naming the host. A per-cluster folder
        that is a symlink pointing outside O(output_root) is refused, not followed.
    type: path
  output_root_name:
    description: How messages name O(output_root) (for example the playbook variable that sets it).
    type: str
    default: output_root
  output_dir:
    description:
      - Directory, on the controller, for this cluster's files (created if missing); takes precedence over
        O(output_root). Neither set, nothing is written.
    type: path
  write_report:
    description: Also write C(report.md) and the SVG (O(svg_file), unless empty) beside C(values.yaml).
    type: bool
    default: true
  report_link:
    description:
      - The link to C(report.md) that the fleet report prints (RV(summary)). Default C(<cluster_name>/report.md)
        with O(output_root), the full path with O(output_dir).
    type: str
  mode:
    description: Permissions of the written files; values often carry credentials, hence owner-only by default.
    type: raw
    default: "0600"
  backup:
    description:
      - Keep a copy of a file before it is replaced, named C(<file>.<pid>.<date>@<time>~) as
        M(ansible.builtin.copy) names it.
    type: bool
    default: false
notes:
  - Requires the Python package C(jsonschema) on the controller (C(requirements.txt)).
seealso:
  - module: velero_ops.tuning.sizing
  - module: velero_ops.tuning.cluster_facts
  - name: Chart eras, keys and merge rules
    description: C(docs/helm-values.md) in the collection.
    link: https://example.invalid/velero_ops/tuning/-/tree/main/docs/helm-values.md
"""

EXAMPLES = r"""
- name: Render tuned values for a Velero 1.14 cluster on chart 7.2.2
  velero_ops.tuning.render_values:
    velero_version: "1.14.0"
    chart_version: "7.2.2"
    cluster: {namespaces: 120, objects: 45000, resource_types: 310, nodes: 24}
    data: {volume_bytes: 763GB, index_blobs: 2438, largest_repository_bytes: 700GB}
    overrides: overrides/prod.yaml
  register: rendered

- name: Render and write out/prod/values.yaml, report.md and api-time.svg (inventory host prod)
  velero_ops.tuning.render_values:
    velero_version: "1.14.0"
    chart_version: "7.2.2"
    cluster: {namespaces: 120, objects: 45000, resource_types: 310, nodes: 24}
    data: {volume_bytes: 763GB}
    output_root: out
    backup: true

- name: Keep my own QPS and server resources when they differ from the tuning
  velero_ops.tuning.render_values:
    velero_version: "1.16.2"
    chart_version: "10.1.3"
    cluster: {namespaces: 40, objects: 9000, resource_types: 180}
    data: {volume_bytes: 120Gi}
    overrides: {configuration: {clientQPS: 150}}
    user_wins: [configuration.clientQPS, resources]
  register: rendered
"""

RETURN = r"""
values:
  description: The merged, validated chart values.
  returned: success
  type: dict
values_yaml:
  description: RV(values) as YAML for C(helm upgrade -f); quantities and numbers from 1000000 up are quoted.
  returned: success
  type: str
report:
  description: Markdown report of the cluster (each tuned value with the default it replaces and where that default
    comes from, the chart's or Velero's, the recommendation, why, and the predicted effect; conflicts, warnings,
    notes, assumptions; drift from O(facts)).
  returned: success
  type: str
svg:
  description: SVG chart of the modeled backup API time against client QPS, default and recommended points marked.
  returned: success
  type: str
recommendation:
  description: The sizing recommendation (C(schemas/recommendation.schema.json)).
  returned: success
  type: dict
era:
  description: The chart era of O(chart_version) and its schema file.
  returned: success
  type: dict
  sample: {id: 7.1.3-7.2.2, first: 7.1.3, last: 7.2.2, schema: chart-7.1.3-7.2.2.schema.json,
           velero_versions: [1.14.0, 1.14.1], maintenance_route: chart-keys}
chart_version:
  description: O(chart_version), normalised.
  returned: success
  type: str
placements:
  description:
    - Each tuned value and where it went (values key, extraArgs flag or ConfigMap).
    - C(applied) is V(false) when a value of yours that you keep (O(user_wins)) overrides it; C(kept) lists yours.
  returned: success
  type: list
  elements: dict
  sample:
    - {item: server.client_qps, value: 300, location: configuration.clientQPS,
       paths: [configuration.clientQPS, "configuration.extraArgs --client-qps"], applied: true, kept: []}
conflicts:
  description: Tuning keys the user had set to another value; C(winner) says whose value the values carry
    (C(tuned), or C(user) when O(user_wins) names the key).
  returned: success
  type: list
  elements: dict
  sample:
    - {path: configuration.clientQPS, user: 50, tuned: 300, winner: tuned}
tuning_warnings:
  description:
    - Warnings of the sizing model and of the rendering (conflicts, settings this chart cannot express); they are
      in RV(report) too. Only tuning keys that replaced a value of O(overrides) are also shown as Ansible warnings.
  returned: success
  type: list
  elements: str
notes:
  description: Things to know when applying the values (for example restarting the node-agent).
  returned: success
  type: list
  elements: str
summary:
  description: The row of this cluster in the fleet report.
  returned: success
  type: dict
sensitive:
  description:
    - Whether O(overrides) hold credentials (a Vault-encrypted file, inline C(!vault) values, credential keys); then
      the task output is hidden and values.yaml gets no diff.
  returned: success
  type: bool
sensitive_paths:
  description: Dotted keys of the credentials found in the overrides (never their values).
  returned: when RV(sensitive) is true
  type: list
  elements: str
  sample: [credentials.secretContents, "configuration.backupStorageLocation[0].config.secretKey"]
path:
  description: The directory the files were written to (or would be, in check mode).
  returned: when writing
  type: str
files:
  description: Each written file's C(path), whether it C(changed), and C(backup_file) when one was kept.
  returned: when writing
  type: dict
  sample: {values.yaml: {path: out/prod/values.yaml, changed: true}}
"""
