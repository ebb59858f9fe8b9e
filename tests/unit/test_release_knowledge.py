# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Release knowledge lives in _releases.py and _chart_eras.py; everything that restates it must agree.

These are the staleness tests: each fails when a release or chart era is added to the tables and a file that
restates the range was not regenerated (tools/schema_gen.py --write) or updated by hand (documentation).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import schema_gen  # noqa: E402  (tools/, put on sys.path by tests/conftest.py)
from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _releases as releases

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST, NEWEST = releases.FIRST_MINOR, releases.NEWEST_MINOR


def test_release_schema_values_are_generated():
    """The version patterns and range text in the two hand-written schemas come from the release table."""
    for path, pointer, value in schema_gen.release_schema_values():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert schema_gen._json_at(data, pointer) == value, (
            f"{path.relative_to(REPO_ROOT)} {'/'.join(pointer)} is stale: run python tools/schema_gen.py --write")


def test_molecule_eras_are_generated():
    text = schema_gen.MOLECULE_ERAS.read_text(encoding="utf-8")
    assert schema_gen.molecule_eras_text(text) == text, "run python tools/schema_gen.py --write"
    rows = yaml.safe_load(text)["molecule_helm_eras"]
    assert [row["era"] for row in rows] == [era.id for era in eras.ERAS]


def test_set_json_string_keeps_the_rest_of_the_file():
    text = '{\n  "a": {"pattern": "^x$",   "other": "^x$"},\n  "b": 1\n}\n'
    updated = schema_gen.set_json_string(text, ("a", "pattern"), "^1\\.1[2-9]$")
    assert updated == '{\n  "a": {"pattern": "^1\\\\.1[2-9]$",   "other": "^x$"},\n  "b": 1\n}\n'
    assert schema_gen.set_json_string(updated, ("a", "pattern"), "^1\\.1[2-9]$") == updated
    with pytest.raises(ValueError, match="exactly once"):
        schema_gen.set_json_string('{"a": {"p": "x"}, "b": {"p": "x"}}', ("a", "p"), "y")


@pytest.mark.parametrize(("minors", "expected"), [
    (range(12, 19), "1[2-8]"), (range(12, 20), "1[2-9]"), (range(12, 21), "(1[2-9]|20)"), ([9], "9"),
    ([12, 14], "1[24]"),
])
def test_minor_alternatives_match_exactly_the_minors(minors, expected):
    text = releases._minor_alternatives(minors)
    assert text == expected
    pattern = re.compile(rf"^{text}$")
    assert [n for n in range(0, 40) if pattern.match(str(n))] == list(minors)


def test_patterns_and_range_follow_the_table():
    assert releases.SUPPORTED_RANGE == f"1.{FIRST}.0 to 1.{NEWEST}.x"
    for version in releases.known_versions():
        assert re.match(releases.VERSION_PATTERN, version)
        assert re.match(releases.VERSION_PATTERN, "v" + version)
        assert re.match(releases.RECOMMENDATION_VERSION_PATTERN, version)
    for outside in (f"1.{FIRST - 1}.0", f"1.{NEWEST + 1}.0", f"2.{FIRST}.0"):
        assert not re.match(releases.VERSION_PATTERN, outside)
        assert not re.match(releases.RECOMMENDATION_VERSION_PATTERN, outside)
        with pytest.raises(ValueError, match=re.escape(f"supported versions are {releases.SUPPORTED_RANGE}")):
            releases.release(outside)


def test_chart_eras_cover_exactly_the_supported_minors():
    assert sorted({era.velero_minor for era in eras.ERAS}) == releases.supported_minors()
    for era in eras.ERAS:
        for version in era.velero_versions:
            assert releases.parse_version(version)[1] == era.velero_minor, (era.id, version)


def test_distinct_versions_cover_every_patch_fact():
    """Tests that walk distinct_versions() see every combination of facts the table holds."""
    seen = {releases.release(version).facts for version in releases.distinct_versions()}
    assert seen == {releases.release(version).facts for version in releases.known_versions()}


def test_one_defaults_table_for_recommendation_and_cluster_facts():
    from ansible_collections.velero_ops.tuning.plugins.module_utils import _cluster_facts as facts
    from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

    for version in releases.distinct_versions():
        rel = releases.release(version)
        rec = recommend({"velero_version": version, "cluster": {"namespaces": 10, "objects": 1000, "resource_types": 80},
                         "data": {"volume_bytes": "10Gi"}})
        assert rec["velero_defaults"] == rel.defaults()
        current = facts.current_settings(release=rel, server_flags={}, server_container={"resources": {}},
                                         maintenance_cm={}, backup_repository_cm=None,
                                         node_agent_container={"resources": {}}, node_agent_config=None)
        defaults = rel.defaults()
        for path, entry in current.items():
            if entry["source"].startswith("Velero default") and not isinstance(entry["value"], dict):
                assert entry["value"] == defaults[path], (version, path)


# --- documentation states the table's range --------------------------------------------------------------------

# "1.12.0 to 1.18.x", "C(1.12.0) to C(1.18.x)", "1.12 to 1.18", "1.12–1.18": a range that starts at the first
# supported minor is a statement of the supported range.
_VELERO_RANGE = re.compile(rf"\b1\.{FIRST}(?:\.0)?\)?\s*(?:to|–|-|through)\s*(?:[CV]\()?1\.(\d+)(\.x)?")
# "C(5.1.0) to C(12.1.0)", "chart 5.x–12.x": a range that starts at the first supported chart release or major.
_FIRST_CHART = eras.ERAS[0].first
_FIRST_CHART_MAJOR = _FIRST_CHART.split(".", 1)[0]
_CHART_RANGE = re.compile(rf"(?<![\d.])(?:{re.escape(_FIRST_CHART)}|{_FIRST_CHART_MAJOR}\.x)\)?\s*(?:to|–|-)\s*"
                          rf"(?:[CV]\()?(\d+\.(?:x|\d+\.\d+))")


def _documentation_files() -> list[Path]:
    """Where modules and roles state what they support: module docs, role argument specs, README, user docs.

    docs/helm-values.md is left out: its era tables are made of chart ranges that start at 5.1.0 on purpose."""
    files = sorted((REPO_ROOT / "plugins" / "modules").glob("*.py"))
    files += sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml"))
    files += [REPO_ROOT / "README.md", REPO_ROOT / "docs" / "tune-playbook.md", REPO_ROOT / "docs" / "cluster-facts.md",
              REPO_ROOT / "docs" / "runbooks" / "repo-maintenance.md"]
    return files


def _stated_ranges(text: str) -> list[tuple[str, str]]:
    found = []
    for match in _VELERO_RANGE.finditer(text):
        found.append(("velero", match.group(0)))
    for match in _CHART_RANGE.finditer(text):
        found.append(("chart", match.group(0)))
    return found


def _range_is_current(kind: str, stated: str) -> bool:
    if kind == "velero":
        match = _VELERO_RANGE.search(stated)
        assert match is not None
        return int(match.group(1)) == NEWEST
    end = _CHART_RANGE.search(stated).group(1)  # type: ignore[union-attr]
    last = eras.ERAS[-1].last
    return end in (last, last.split(".", 1)[0] + ".x")


def test_documentation_states_the_tables_range():
    stale = []
    for path in _documentation_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for kind, stated in _stated_ranges(line):
                if not _range_is_current(kind, stated):
                    stale.append(f"{path.relative_to(REPO_ROOT)}:{number}: {stated!r}")
    assert not stale, (f"documentation states a range that is not the table's (Velero {releases.SUPPORTED_RANGE}, "
                       f"chart {_FIRST_CHART} to {eras.ERAS[-1].last}):\n" + "\n".join(stale))


def test_documentation_check_finds_stale_ranges():
    """The check itself: it reads the forms the docs use and rejects an old end."""
    old = NEWEST - 1
    for text in (f"C(1.{FIRST}.0) to C(1.{old}.x)", f"1.{FIRST}.0 to 1.{old}.x", f"Velero 1.{FIRST}–1.{old}",
                 f"from 1.{FIRST} to 1.{old})"):
        ranges = _stated_ranges(text)
        assert ranges and not _range_is_current(*ranges[0]), text
    assert _range_is_current(*_stated_ranges(f"C(1.{FIRST}.0) to C(1.{NEWEST}.x)")[0])
    assert not _range_is_current(*_stated_ranges(f"C({_FIRST_CHART}) to C(11.4.0)")[0])
    assert _range_is_current(*_stated_ranges(f"chart {_FIRST_CHART_MAJOR}.x–{eras.ERAS[-1].last.split('.')[0]}.x")[0])


# --- maintenance ConfigMap fields each release reads (JobConfigs at each tag) ------------------------------------

@pytest.mark.parametrize(("version", "global_fields", "repository_fields", "ephemeral", "first_affinity_only"), [
    ("1.14.1", (), (), False, False),
    ("1.15.0", ("podResources", "loadAffinity"), ("podResources", "loadAffinity"), False, False),
    ("1.16.2", ("podResources", "loadAffinity"), ("podResources", "loadAffinity"), False, False),
    ("1.17.0", ("podResources", "loadAffinity", "keepLatestMaintenanceJobs", "priorityClassName"),
     ("podResources", "loadAffinity", "keepLatestMaintenanceJobs"), False, False),
    ("1.18.0", ("podResources", "loadAffinity", "keepLatestMaintenanceJobs", "priorityClassName", "podLabels",
                "podAnnotations"), ("podResources", "loadAffinity", "keepLatestMaintenanceJobs"), False, True),
    ("1.18.1", ("podResources", "loadAffinity", "keepLatestMaintenanceJobs", "priorityClassName", "podLabels",
                "podAnnotations"), ("podResources", "loadAffinity", "keepLatestMaintenanceJobs"), True, True),
])
def test_maintenance_config_fields_by_version(version, global_fields, repository_fields, ephemeral,
                                              first_affinity_only):
    rel = releases.release(version)
    assert rel.maintenance_config_fields("global") == global_fields
    assert rel.maintenance_config_fields("repository") == repository_fields
    assert ("ephemeralStorageRequest" in rel.maintenance_pod_resource_fields()) is ephemeral
    assert rel.load_affinity_first_only is first_affinity_only


def test_generator_knows_every_maintenance_field():
    assert [name for name, _minor, _global in releases.MAINTENANCE_CONFIG_FIELDS] == list(
        schema_gen.MAINTENANCE_FIELD_SCHEMAS)


def test_chart_advice_ranges_come_from_the_era_table():
    assert eras.describe_chart_ranges(lambda era: era.velero_minor == 14 and era.maintenance == "chart-keys") \
        == "7.1.4 to 7.2.2"
    assert eras.describe_chart_ranges(lambda era: era.velero_minor == 14 and era.maintenance == "server-flags") \
        == "7.0.0 to 7.1.3"
    assert eras.describe_chart_ranges(lambda era: era.maintenance == "config-data") == "10.1.0 and later"
    assert eras.describe_chart_ranges(lambda era: era.deployment_named_velero) == "11.0.0 and later"
    assert eras.describe_chart_ranges(lambda era: False) == ""


def test_per_namespace_listing_advice_comes_from_the_table():
    for version in releases.known_versions():
        rel = releases.release(version)
        if not rel.per_namespace_listing:
            continue
        advice = releases.per_namespace_listing_advice(rel)
        across = releases.known_patches_where(rel.version[1], "per_namespace_listing", False)
        later = [v for v in across if releases.parse_version(v) > rel.version]
        assert (f"Velero {later[0]} lists each kind once across namespaces again" in advice) if later else \
            all(v in advice for v in across), (version, advice)


def test_repo_maintenance_chart_advice_comes_from_the_era_table():
    from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
    from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_schema as values_schema

    assert m.server_flags_chart_advice(releases.release("1.14.1")) == (
        "Helm chart 7.1.4 to 7.2.2: the keys below; chart 7.0.0 to 7.1.3: configuration.extraArgs")
    first_config_data = next(era for era in eras.ERAS if era.maintenance == "config-data")
    assert m.configmap_chart_advice() == f"Helm chart {first_config_data.first} and later"
    problem = m.deployment_name_problem("prod-velero", releases.release("1.16.2"))
    assert "Helm charts 5.1.0 to 10.1.3 name the Deployment" in problem and "chart 11.0.0 and later" in problem
    # The keys the advice names exist in every chart-keys era's strict schema.
    for era in eras.ERAS:
        if era.maintenance == "chart-keys":
            paths = values_schema.known_paths(values_schema.load_schema(era))
            assert set(m.HELM_KEY_FOR_FIELD.values()) <= set(paths), era.id
