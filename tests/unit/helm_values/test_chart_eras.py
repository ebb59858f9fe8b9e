# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The chart-era table: coverage, change points (reference/helm-chart.md sections 1 and 3), errors."""

from __future__ import annotations

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras


def _v(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_every_supported_release_has_exactly_one_era():
    supported = [chart for chart, app in eras.CHART_RELEASES if _v(app)[:2] >= (1, 12)]
    for chart in supported:
        matching = [era for era in eras.ERAS if _v(era.first) <= _v(chart) <= _v(era.last)]
        assert len(matching) == 1, chart


def test_eras_are_ordered_contiguous_and_start_and_end_at_known_releases():
    releases = [chart for chart, _app in eras.CHART_RELEASES]
    for era in eras.ERAS:
        assert era.first in releases and era.last in releases
    for previous, current in zip(eras.ERAS, eras.ERAS[1:]):
        assert releases.index(current.first) == releases.index(previous.last) + 1


def test_each_era_ships_one_velero_minor():
    for era in eras.ERAS:
        minors = {_v(app)[1] for chart, app in eras.CHART_RELEASES if chart in era.releases}
        assert minors == {era.velero_minor}, era.id


@pytest.mark.parametrize("chart, app", [
    ("5.1.0", "1.12.0"), ("5.2.1", "1.12.3"), ("5.3.0", "1.13.0"), ("6.3.0", "1.13.2"), ("7.0.0", "1.14.0"),
    ("7.2.0", "1.14.1"), ("8.0.0", "1.15.0"), ("8.2.0", "1.15.1"), ("8.3.0", "1.15.2"), ("9.0.0", "1.16.0"),
    ("10.0.5", "1.16.1"), ("10.0.13", "1.16.2"), ("11.0.0", "1.17.0"), ("11.2.0", "1.17.1"), ("12.0.0", "1.18.0"),
    ("12.0.2", "1.18.1"), ("12.1.0", "1.18.1"),
])
def test_app_version_change_points(chart, app):
    # reference/helm-chart.md section 1, "First chart release shipping each Velero version".
    assert eras.shipped_velero(chart) == app


@pytest.mark.parametrize("chart, maintenance, keep, server_args, node_agent_args, node_agent_config", [
    ("5.2.2", "server-resources", "none", None, None, "none"),
    ("6.1.0", "server-resources", "none", None, None, "extra-object"),
    ("6.2.0", "server-resources", "none", "configuration.extraArgs", None, "extra-object"),
    ("7.0.0", "server-flags", "flag", "configuration.extraArgs", None, "extra-object"),
    ("7.1.0", "server-flags", "flag", "configuration.extraArgs", "nodeAgent.extraArgs", "extra-object"),
    # 7.1.2/7.1.3 have the keys, but requests.cpu/memory break the render there (fixed in 7.1.4).
    ("7.1.2", "server-flags", "flag", "configuration.extraArgs", "nodeAgent.extraArgs", "extra-object"),
    # 7.1.3's latestJobsCount works (default 3, always rendered): keep-latest goes through the key there.
    ("7.1.3", "server-flags", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "extra-object"),
    ("7.1.4", "chart-keys", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "extra-object"),
    ("8.7.2", "chart-keys", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "config-map"),
    ("10.0.13", "chart-keys", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "config-map"),
    ("10.1.0", "config-data", "flag", "configuration.extraArgs", "nodeAgent.extraArgs", "config-map"),
    ("11.0.0", "config-data", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "config-map"),
    ("12.1.0", "config-data", "key", "configuration.extraArgs", "nodeAgent.extraArgs", "config-map"),
])
def test_key_change_points(chart, maintenance, keep, server_args, node_agent_args, node_agent_config):
    # reference/helm-chart.md section 3: extraArgs 6.2.0, nodeAgent.extraArgs 7.1.0, requests/limits 7.1.2,
    # latestJobsCount 7.1.3, requests usable from 7.1.4, repositoryConfigData 10.1.0, legacy keys removed 11.0.0.
    era = eras.chart_era(chart)
    assert (era.maintenance, era.keep_latest, era.server_extra_args, era.node_agent_extra_args,
            era.node_agent_config) == (maintenance, keep, server_args, node_agent_args, node_agent_config)


def test_legacy_keys_fail_from_11_and_resources_merge_until_6_6():
    expected = [_v(era.first) >= (11, 0, 0) for era in eras.ERAS]
    assert [era.legacy_maintenance_keys_fail for era in eras.ERAS] == expected
    assert [era.resource_defaults_merge for era in eras.ERAS] == [_v(era.last) <= (6, 6, 0) for era in eras.ERAS]


def test_chart_12_with_velero_1_14_names_the_charts_that_ship_it():
    with pytest.raises(ValueError) as error:
        eras.chart_era("12.1.0", "1.14.0")
    message = str(error.value)
    assert "velero_chart_version" in message and "ships Velero 1.18.1" in message
    assert "Velero 1.14 ships with chart 7.0.0 to 7.2.2" in message


@pytest.mark.parametrize("chart, expected", [
    ("12.0.9", "chart 12.x releases are 12.0.0, 12.0.1, 12.0.2, 12.0.3, 12.1.0"),  # between known releases
    ("7.3.0", "chart 7.x releases are"),
    ("4.4.1", "known chart releases are 5.0.0 to 12.1.0"),
    ("11.3.0", "11.3.1"),  # 11.3.0 was never released
])
def test_unknown_chart_versions(chart, expected):
    with pytest.raises(ValueError, match="not a known release") as error:
        eras.chart_era(chart)
    assert expected in str(error.value)


def test_newer_chart_in_the_newest_major_gets_the_newest_era_with_a_warning():
    """Chart 12.2.0 (ships Velero 1.18.2) is newer than the newest known 12.1.0: newest era, assumption named."""
    assert eras.chart_era("12.2.0", "1.18.2") is eras.ERAS[-1]
    assert eras.chart_era("v12.10.3") is eras.ERAS[-1]
    warning = eras.chart_assumption("12.2.0")
    assert warning is not None
    assert "chart 12.2.0 is newer than the newest chart release this collection knows (12.1.0)" in warning
    assert "rules and strict schema of chart 12.0.0-12.1.0 (Velero 1.18)" in warning
    assert "velero_chart_strict: true" in warning
    assert eras.chart_assumption("12.1.0") is None and eras.chart_assumption("11.4.0") is None
    assert eras.velero_patch_note("12.2.0", "1.18.2") is None  # what it ships is not known here


def test_newer_chart_with_strict_is_refused():
    with pytest.raises(ValueError) as error:
        eras.chart_era("12.2.0", "1.18.2", strict=True)
    message = str(error.value)
    assert message.startswith("velero_chart_version: chart 12.2.0 is newer than the newest chart release")
    assert "velero_chart_strict is true, so it is refused" in message
    assert eras.chart_era("12.1.0", "1.18.1", strict=True) is eras.ERAS[-1]  # known charts are unaffected


def test_newer_chart_still_needs_the_eras_velero_minor():
    with pytest.raises(ValueError, match=r"chart 12\.2\.0 ships Velero 1\.18\.x \(assumed like chart 12\.1\.0.*"
                                         r"not Velero 1\.17\.1"):
        eras.chart_era("12.2.0", "1.17.1")


def test_new_major_chart_is_refused():
    with pytest.raises(ValueError) as error:
        eras.chart_era("13.0.0", "1.18.2")
    assert "chart 13.0.0 is a new major release this collection does not know (newest known: 12.1.0)" in \
        str(error.value)


@pytest.mark.parametrize("value", ["12", "v12.1", "latest", 12.1, None, "12.1.0-rc1"])
def test_malformed_chart_versions(value):
    with pytest.raises(ValueError, match="velero_chart_version: expected a released Velero Helm chart version"):
        eras.chart_era(value)


def test_chart_shipping_velero_1_11_is_unsupported():
    with pytest.raises(ValueError, match="ships Velero 1.11.1, which is not supported"):
        eras.chart_era("5.0.2")


def test_unsupported_velero_version_is_reported_by_field():
    with pytest.raises(ValueError, match="velero_version"):
        eras.chart_era("7.2.2", "1.11.0")


def test_same_minor_other_patch_is_accepted_with_a_note():
    assert eras.chart_era("7.0.0", "1.14.1").id == "7.0.0"
    assert "image.tag is overridden to v1.14.1" in eras.velero_patch_note("7.0.0", "1.14.1")
    assert eras.velero_patch_note("7.2.2", "1.14.1") is None


def test_charts_shipping_each_minor():
    assert eras.describe_charts_for(16) == "Velero 1.16 ships with chart 9.0.0 to 10.1.3"
    assert "no chart release" in eras.describe_charts_for(19)


def test_era_lookup_by_id():
    assert eras.era_by_id("7.1.4-7.2.2").last == "7.2.2"
    with pytest.raises(ValueError, match="unknown era"):
        eras.era_by_id("1.0.0")
