# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real chart renders the tuned values: every chart release, a real `helm template`, assertions on manifests.

Inputs, found next to this checkout (the team's shared folder) or given explicitly:
- chart releases: ``../shared/velero-chart/charts/<version>/`` (85: 5.0.0 to 12.1.0), or ``VELERO_CHARTS_DIR``;
- helm: the path ``../shared/tools/get-helm.sh`` prints (helm v4.1.4 from a registry package, needs npm once),
  or ``HELM_BIN``.
With ``CI`` set, missing inputs fail the tests; elsewhere (a fresh clone without ``../shared``) they skip and say why.

Per chart release ONE helm process renders every value set at once: a throw-away parent chart lists the release
``alias``-ed once per value set (``c0``, ``c1``...), each alias gets one set of values (plus ``nameOverride:
velero``, so names come out as in a direct install) and the ``# Source: render-all/charts/cN/...`` comments say
which set a manifest belongs to. Helm validates each alias against the chart's values.schema.json and renders its
NOTES.txt, so schema errors and NOTES.txt failures surface exactly as in a direct render;
``test_an_alias_renders_what_a_direct_install_renders`` checks that equivalence on one release of every era.
The releases render in parallel (a thread per core, each waiting on its helm process).
"""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import dataclasses
import functools
import json
import os
import re
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_dump as values_dump
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_plan as values_plan
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
CHARTS = Path(os.environ.get("VELERO_CHARTS_DIR") or SHARED / "velero-chart" / "charts")
GET_HELM = SHARED / "tools" / "get-helm.sh"
EXAMPLES = REPO / "examples"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
SUPPORTED = {chart for era in eras.ERAS for chart in era.releases}
RELEASE = "velero"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Big enough for every route: per-repository maintenance, node-agent and backup-repository ConfigMaps, a
# non-default maintenance frequency, a page size of 1000 and QPS above the default.
INPUTS = {"cluster": {"namespaces": 300, "objects": 2_000_000, "resource_types": 300, "nodes": 20},
          "data": {"volume_bytes": "20Ti", "files": 300_000_000, "repositories": 50, "largest_repository_bytes": "10Ti",
                   "largest_repository_key": "big-default-kopia", "index_blobs": 5000, "backups_per_day": 4,
                   "backups_retained": 60}}
# Overrides a user might have: node-agent on, their own configMaps entry without labels (charts up to 8.6.0 fail
# on it in NOTES.txt unless the renderer adds labels: {}).
USER = {"deployNodeAgent": True, "configMaps": {"fs-restore-action-config": {"data": {"image": "velero/velero"}}}}
LEGACY = {"configuration": {"repositoryMaintenanceJob": {"limits": {"memory": "6Gi"}, "latestJobsCount": 1},
                            "extraArgs": ["--maintenance-job-mem-request=3Gi"]}}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _charts() -> list[str]:
    if not CHARTS.is_dir():
        return []
    return sorted((path.name for path in CHARTS.iterdir() if (path / "Chart.yaml").is_file()), key=_version_key)


def _missing(what: str) -> t.NoReturn:
    """No chart or helm: a failure in CI (the gate must render), a skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"CI is set but {what}: the real-chart render cannot be skipped in CI")
    pytest.skip(f"{what} (the real-chart render needs ../shared next to this checkout, or VELERO_CHARTS_DIR and "
                "HELM_BIN; it is never skipped with CI set)")


@functools.lru_cache(maxsize=1)
def _helm() -> tuple[str | None, str]:
    if os.environ.get("HELM_BIN"):
        return os.environ["HELM_BIN"], ""
    if not GET_HELM.is_file():
        return None, f"no helm: {GET_HELM} not found and HELM_BIN not set"
    done = subprocess.run([str(GET_HELM)], capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        return None, f"no helm: {GET_HELM} failed (rc={done.returncode}): {done.stderr.strip()[-500:]}"
    return done.stdout.strip().splitlines()[-1], ""


def helm_bin() -> str:
    if not _charts():
        _missing(f"no chart releases in {CHARTS}")
    helm, problem = _helm()
    if helm is None:
        _missing(problem)
    return helm


# ---------------------------------------------------------------------------------------------------------------
# Value sets: what a chart release is rendered with


@dataclasses.dataclass
class ValueSet:
    name: str
    recommendation: dict[str, t.Any]
    rendered: dict[str, t.Any]
    overrides: dict[str, t.Any]
    user_wins: list[str] | bool
    note: str = ""


def _example_hosts() -> list[tuple[str, dict[str, t.Any]]]:
    common = yaml.safe_load((EXAMPLES / "group_vars" / "all.yml").read_text()) or {}
    hosts = []
    for path in sorted((EXAMPLES / "host_vars").glob("*.yml")):
        hosts.append((path.stem, {**common, **(yaml.safe_load(path.read_text()) or {})}))
    return hosts


def _example_set(host: str, host_vars: dict[str, t.Any], chart: str) -> ValueSet:
    """The example cluster as if it ran this chart release (and the Velero the release ships)."""
    overrides = host_vars.get("velero_values_overrides") or {}
    if isinstance(overrides, str):
        overrides = yaml.safe_load((EXAMPLES / overrides).read_text()) or {}
    user_wins = host_vars.get("velero_values_user_wins", False)
    overrides, note = _fit_overrides(overrides, chart)
    rec = recommend({"velero_version": eras.shipped_velero(chart), "cluster": host_vars["velero_cluster"],
                     "data": host_vars["velero_data"], "policy": host_vars.get("velero_policy")})
    try:
        rendered = hv.render_values(rec, chart, overrides=copy.deepcopy(overrides), release_name=RELEASE,
                                    user_wins=user_wins, cluster_name=host)
    except ValueError as exc:
        # The example's extra server flag (--item-block-worker-count, Velero 1.16+) or the extraArgs key itself
        # (chart 6.2.0+) does not exist on older releases: refused by name, then mapped without it.
        assert "configuration.extraArgs" in str(exc), f"{host} on chart {chart}: {exc}"
        overrides = copy.deepcopy(overrides)
        del overrides["configuration"]["extraArgs"]
        note = f"{note}; without configuration.extraArgs ({exc})".lstrip("; ")
        rendered = hv.render_values(rec, chart, overrides=copy.deepcopy(overrides), release_name=RELEASE,
                                    user_wins=user_wins, cluster_name=host)
    return ValueSet(host, rec, rendered, overrides, user_wins, note)


def _chart_requires_location_config(chart: str) -> list[str]:
    """Lists whose items the chart's own values.schema.json requires a `config` in (charts 10.0.4 to 10.0.6)."""
    path = CHARTS / chart / "values.schema.json"
    if not path.is_file():
        return []
    properties = json.loads(path.read_text()).get("properties", {}).get("configuration", {}).get("properties", {})
    return [key for key in ("backupStorageLocation", "volumeSnapshotLocation")
            if "config" in (properties.get(key, {}).get("items", {}).get("required") or [])]


def _fit_overrides(overrides: dict[str, t.Any], chart: str) -> tuple[dict[str, t.Any], str]:
    """What a user of this release must write anyway: `config: {}` in locations where the chart requires it."""
    fitted = copy.deepcopy(overrides)
    added = []
    for key in _chart_requires_location_config(chart):
        for index, item in enumerate((fitted.get("configuration") or {}).get(key) or []):
            if isinstance(item, dict) and "config" not in item:
                item["config"] = {}
                added.append(f"configuration.{key}[{index}].config")
    return fitted, (f"added {', '.join(added)}: {{}} (required by chart {chart}'s schema)" if added else "")


def value_sets(chart: str) -> list[ValueSet]:
    """The examples' clusters mapped onto this release, the big cluster with overrides, and era specials."""
    velero = eras.shipped_velero(chart)
    era = eras.chart_era(chart, velero)
    sets = [_example_set(host, host_vars, chart) for host, host_vars in _example_hosts()]
    big = recommend({"velero_version": velero, **INPUTS})
    with_overrides = hv.render_values(big, chart, overrides=copy.deepcopy(USER), release_name=RELEASE)
    sets.append(ValueSet("big-with-overrides", big, with_overrides, USER, False))
    sets.append(ValueSet("big-chart-defaults", big, hv.render_values(big, chart, release_name=RELEASE), {}, False))
    if era.legacy_maintenance_keys_dropped:
        for wins in (False, True):
            sets.append(ValueSet(f"legacy-maintenance-keys-user-wins-{wins}", big,
                                 hv.render_values(big, chart, overrides=copy.deepcopy(LEGACY), user_wins=wins,
                                                  release_name=RELEASE), LEGACY, wins))
    return sets


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def helm_template(helm: str, chart: Path, values: str, release: str = RELEASE) -> tuple[int, str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(values)
    try:
        done = subprocess.run([helm, "template", release, str(chart), "--namespace", "velero", "-f", handle.name],
                              capture_output=True, text=True, check=False, timeout=300)
    finally:
        os.unlink(handle.name)
    return done.returncode, done.stdout, done.stderr


def _parent_chart(root: Path, chart: str, count: int) -> Path:
    parent = root / f"render-all-{chart}"
    (parent / "charts").mkdir(parents=True)
    # A copy rather than a symlink: helm logs every followed symlink on stderr.
    subprocess.run(["cp", "-r", str(CHARTS / chart), str(parent / "charts" / "velero")], check=True)
    dependencies = [{"name": "velero", "version": chart, "alias": f"c{index}"} for index in range(count)]
    chart_yaml = {"apiVersion": "v2", "name": "render-all", "version": "0.0.0", "dependencies": dependencies}
    (parent / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
    return parent


_SOURCE = re.compile(r"^# Source: render-all/charts/(c\d+)/", re.MULTILINE)


def split_by_alias(text: str) -> dict[str, list[dict[str, t.Any]]]:
    """The manifests of one multi-alias render, per alias (from helm's `# Source:` comments)."""
    docs: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        found = _SOURCE.search(chunk)
        if not found:
            continue
        doc = yaml.load(chunk, Loader=_LOADER)  # noqa: S506 - a safe loader (the C one when built)
        if doc:
            docs[found.group(1)].append(doc)
    return docs


@dataclasses.dataclass
class ChartRender:
    chart: str
    sets: list[ValueSet]
    docs: dict[str, list[dict[str, t.Any]]]  # value set name -> manifests
    error: str = ""
    exponent: bool = False


def render_release(helm: str, root: Path, chart: str) -> ChartRender:
    """Every value set of one chart release in one `helm template` of a parent chart with one alias per set."""
    sets = value_sets(chart)
    parent = _parent_chart(root, chart, len(sets))
    values = {f"c{index}": {**vs.rendered["values"], "nameOverride": "velero"} for index, vs in enumerate(sets)}
    rc, out, err = helm_template(helm, parent, values_dump.dump_values(values))
    if rc != 0:
        # Name the value set(s) that fail, from direct renders of each.
        failing = []
        for vs in sets:
            one_rc, _out, one_err = helm_template(helm, CHARTS / chart, vs.rendered["values_yaml"])
            if one_rc != 0:
                failing.append(f"value set {vs.name}:\n{one_err}\n--- values:\n{vs.rendered['values_yaml']}")
        return ChartRender(chart, sets, {}, "\n".join(failing) or err)
    by_alias = split_by_alias(out)
    return ChartRender(chart, sets, {vs.name: by_alias.get(f"c{index}", []) for index, vs in enumerate(sets)},
                       exponent="e+0" in out)


@pytest.fixture(scope="session")
def fleet_render(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ChartRender]:
    """Every supported chart release rendered once, in parallel (helm does the work, threads wait on it)."""
    helm = helm_bin()
    root = tmp_path_factory.mktemp("render-all")
    charts = [chart for chart in _charts() if chart in SUPPORTED]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        renders = list(pool.map(functools.partial(render_release, helm, root), charts))
    return {render.chart: render for render in renders}


# ---------------------------------------------------------------------------------------------------------------
# Reading the manifests


def _container_args(docs: list[dict[str, t.Any]], kind: str) -> list[str] | None:
    for doc in docs:
        if doc.get("kind") == kind:
            return [str(arg) for arg in doc["spec"]["template"]["spec"]["containers"][0].get("args") or []]
    return None


def _flags(args: list[str]) -> dict[str, str | None]:
    return {arg.split("=", 1)[0]: (arg.split("=", 1)[1] if "=" in arg else None) for arg in args
            if arg.startswith("--")}


def _config_maps(docs: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == "ConfigMap"}


def _user_value(overrides: t.Mapping[str, t.Any], dotted: str) -> t.Any:
    node: t.Any = overrides
    for part in dotted.split("."):
        if not isinstance(node, t.Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _user_wins(vs: ValueSet, dotted: str) -> bool:
    if _user_value(vs.overrides, dotted) is None:
        return False
    return vs.user_wins is True or (isinstance(vs.user_wins, list) and dotted in vs.user_wins)


def _number(value: t.Any) -> str:
    return str(int(value)) if float(value) == int(float(value)) else str(value)


def check_manifests(chart: str, vs: ValueSet, docs: list[dict[str, t.Any]]) -> None:
    """What the cluster gets, read from the rendered manifests and compared with the recommendation."""
    era = eras.chart_era(chart, eras.shipped_velero(chart))
    rec = vs.recommendation
    where = f"chart {chart}, value set {vs.name}"
    server = _container_args(docs, "Deployment")
    assert server is not None, f"{where}: no Deployment rendered"
    node = _container_args(docs, "DaemonSet")
    for args in (server, node or []):
        names = [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]
        twice = [name for name, count in collections.Counter(names).items() if count > 1]
        assert not twice, f"{where}: {twice} on the command line twice: {args}"
    flags = _flags(server)

    # Client rate limits: the recommendation, or the user's own value where they asked to keep it.
    for flag, key, field in (("--client-qps", eras.CLIENT_QPS, "client_qps"),
                             ("--client-burst", eras.CLIENT_BURST, "client_burst"),
                             ("--client-page-size", eras.CLIENT_PAGE_SIZE, "client_page_size")):
        want = _user_value(vs.overrides, key) if _user_wins(vs, key) else rec["server"][field]
        assert flags.get(flag) == _number(want), f"{where}: {flag}={flags.get(flag)}, expected {want}"
    assert flags["--uploader-type"] == vs.rendered["uploader"], where
    frequency = rec["maintenance"]["frequency"]
    tuned_frequency = frequency != (rec.get("velero_defaults") or {}).get("maintenance.frequency")
    if vs.rendered["uploader"] == "kopia" and tuned_frequency:
        assert flags.get("--default-repo-maintain-frequency") == frequency, where
    elif vs.rendered["uploader"] == "restic":
        assert "--default-repo-maintain-frequency" not in flags, f"{where}: a restic prune every {frequency}"

    config_maps = _config_maps(docs)
    for flag in ("--repo-maintenance-job-configmap", "--backup-repository-configmap"):
        if flag in flags:
            assert flags[flag] in config_maps, f"{where}: {flag}={flags[flag]} names no rendered ConfigMap"
    node_flags = _flags(node or [])
    if "--node-agent-configmap" in node_flags:
        assert node_flags["--node-agent-configmap"] in config_maps, where
    if vs.name.startswith("legacy-maintenance-keys"):
        _check_legacy_maintenance(where, vs, flags, config_maps)
    else:
        _check_maintenance(where, era, rec, flags, config_maps)
    _check_node_agent(where, era, rec, node is not None, node_flags, config_maps)
    _check_backup_repository(where, era, rec, flags, node is not None, node_flags, config_maps)
    if era.maintenance == "server-resources" and not _user_value(vs.overrides, "resources"):
        deployment = next(doc for doc in docs if doc.get("kind") == "Deployment")
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["limits"]["memory"] == rec["server"]["resources"]["limits"]["memory"], where


def _json_data(where: str, config_maps: dict[str, dict[str, t.Any]], name: str | None, key: str) -> dict[str, t.Any]:
    assert name in config_maps, f"{where}: ConfigMap {name} not rendered"
    data = config_maps[t.cast(str, name)].get("data") or {}
    assert key in data, f"{where}: ConfigMap {name} has no {key!r} (has {sorted(data)})"
    return t.cast(dict, json.loads(data[key]))


def _largest(pods: list[dict[str, str]]) -> dict[str, str]:
    return values_plan._max_pod_resources(pods)  # the same "largest of each field" the renderer documents


def _check_maintenance(where: str, era: eras.ChartEra, rec: dict[str, t.Any], flags: dict[str, str | None],
                       config_maps: dict[str, dict[str, t.Any]]) -> None:
    pod = rec["maintenance"]["pod_resources"]
    repositories = rec["maintenance"].get("repositories") or {}
    if era.per_repository == "none" and repositories:
        pod = _largest([pod] + [entry["pod_resources"] for entry in repositories.values()])
    keep = rec["maintenance"].get("keep_latest_jobs")
    if era.maintenance in ("server-flags", "chart-keys"):
        for flag, field in values_plan.MAINTENANCE_FLAG_FIELDS.items():
            assert flags.get(flag) == pod[field], f"{where}: {flag}={flags.get(flag)}, expected {pod[field]}"
        if era.keep_latest != "none" and keep is not None:
            assert flags.get("--keep-latest-maintenance-jobs") == str(keep), where
        if era.per_repository == "config-map" and repositories:
            name = flags.get("--repo-maintenance-job-configmap")
            for key, entry in repositories.items():
                assert _json_data(where, config_maps, name, key)["podResources"] == entry["pod_resources"], where
    elif era.maintenance == "config-data":
        name = flags.get("--repo-maintenance-job-configmap")
        global_ = _json_data(where, config_maps, name, "global")
        assert global_["podResources"] == pod, f"{where}: global podResources {global_['podResources']} != {pod}"
        if keep is not None and era.keep_latest == "key":
            assert global_.get("keepLatestMaintenanceJobs") == keep, where
        elif keep is not None and era.keep_latest == "flag":
            assert flags.get("--keep-latest-maintenance-jobs") == str(keep), where
        for key, entry in repositories.items():
            assert _json_data(where, config_maps, name, key)["podResources"] == entry["pod_resources"], where
        assert not any(flag.startswith("--maintenance-job-") for flag in flags), where
    else:  # Velero 1.12/1.13: maintenance runs inside the server; no maintenance flag or ConfigMap exists.
        assert not any(flag.startswith(("--maintenance-job-", "--repo-maintenance-job")) for flag in flags), where


def _check_legacy_maintenance(where: str, vs: ValueSet, flags: dict[str, str | None],
                              config_maps: dict[str, dict[str, t.Any]]) -> None:
    """Chart 10.1.x drops legacy repositoryMaintenanceJob keys: they are moved, never lost silently."""
    rec = vs.recommendation
    pod = _json_data(where, config_maps, flags.get("--repo-maintenance-job-configmap"), "global")["podResources"]
    if vs.user_wins:
        assert (pod["memoryRequest"], pod["memoryLimit"], pod["cpuRequest"], pod["cpuLimit"]) == (
            "3Gi", "6Gi", "0", "0"), where
        assert flags["--keep-latest-maintenance-jobs"] == "1", where
    else:
        assert pod == rec["maintenance"]["pod_resources"], where
        assert flags["--keep-latest-maintenance-jobs"] == str(rec["maintenance"]["keep_latest_jobs"]), where
    assert not any(flag.startswith("--maintenance-job-") for flag in flags), where


def _check_node_agent(where: str, era: eras.ChartEra, rec: dict[str, t.Any], deployed: bool,
                      node_flags: dict[str, str | None], config_maps: dict[str, dict[str, t.Any]]) -> None:
    node_agent = rec.get("node_agent") or {}
    defaults = rec.get("velero_defaults") or {}
    want: dict[str, t.Any] = {}
    concurrency = node_agent.get("load_concurrency")
    if concurrency is not None and concurrency != defaults.get("node_agent.load_concurrency"):
        want["loadConcurrency"] = {"globalConfig": concurrency}
    if node_agent.get("pod_resources") is not None:
        want["podResources"] = node_agent["pod_resources"]
    if not want or era.node_agent_config == "none":
        assert "--node-agent-configmap" not in node_flags, where
        return
    if era.node_agent_config == "extra-object":
        name: str | None = values_plan.FIXED_NODE_AGENT_CONFIG_NAME  # the fixed name Velero 1.13/1.14 read
        assert "--node-agent-configmap" not in node_flags, where
    else:
        if not deployed:
            return
        name = node_flags.get("--node-agent-configmap")
    assert _json_data(where, config_maps, name, values_plan.NODE_AGENT_CONFIG_DATA_KEY) == want, where


def _check_backup_repository(where: str, era: eras.ChartEra, rec: dict[str, t.Any], flags: dict[str, str | None],
                             deployed: bool, node_flags: dict[str, str | None],
                             config_maps: dict[str, dict[str, t.Any]]) -> None:
    repository = rec.get("repository") or {}
    defaults = rec.get("velero_defaults") or {}
    want: dict[str, t.Any] = {}
    if repository.get("cache_limit_mb") not in (None, defaults.get("repository.cache_limit_mb")):
        want["cacheLimitMB"] = repository["cache_limit_mb"]
    if repository.get("full_maintenance_interval") not in (None, defaults.get("repository.full_maintenance_interval")):
        want["fullMaintenanceInterval"] = repository["full_maintenance_interval"]
    if not want or not era.backup_repository_config:
        assert "--backup-repository-configmap" not in flags, where
        return
    name = flags.get("--backup-repository-configmap")
    assert _json_data(where, config_maps, name, "kopia") == want, where
    if era.node_agent_backup_repository_flag and deployed:
        assert node_flags.get("--backup-repository-configmap") == name, where


# ---------------------------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("chart", _charts() or ["no-charts"])
def test_every_chart_release_renders_the_tuned_values(chart: str, fleet_render: dict[str, ChartRender]) -> None:
    if chart not in SUPPORTED:
        # 5.0.x ship Velero 1.11, which the sizing does not cover: refused by name, nothing rendered.
        rec = recommend({"velero_version": "1.12.3", **INPUTS})
        with pytest.raises(ValueError, match=rf"chart {re.escape(chart)} ships Velero .* not supported"):
            hv.render_values(rec, chart)
        return
    render = fleet_render[chart]
    assert not render.error, f"helm template of chart {chart} failed:\n{render.error}"
    assert not render.exponent, f"chart {chart}: a number reached the manifests in exponent form"
    assert {vs.name for vs in render.sets} >= {example[0] for example in _example_hosts()} | {"big-with-overrides"}
    for vs in render.sets:
        check_manifests(chart, vs, render.docs[vs.name])


def _newest_of_each_era() -> list[str]:
    charts = set(_charts())
    return [max((c for c in era.releases if c in charts), key=_version_key) for era in eras.ERAS
            if any(c in charts for c in era.releases)] or ["no-charts"]


def _without_chart_label(doc: t.Any) -> t.Any:
    """helm.sh/chart is `<chart name>-<version>`, and an alias renames the chart: the one expected difference."""
    if isinstance(doc, dict):
        return {k: _without_chart_label(v) for k, v in doc.items() if k != "helm.sh/chart"}
    if isinstance(doc, list):
        return [_without_chart_label(v) for v in doc]
    return doc


@pytest.mark.parametrize("chart", _newest_of_each_era())
def test_an_alias_renders_what_a_direct_install_renders(chart: str, fleet_render: dict[str, ChartRender]) -> None:
    helm = helm_bin()
    render = fleet_render[chart]
    vs = next(vs for vs in render.sets if vs.name == "big-with-overrides")
    rc, out, err = helm_template(helm, CHARTS / chart, vs.rendered["values_yaml"])
    assert rc == 0, err
    direct = [doc for doc in yaml.load_all(out, Loader=_LOADER) if doc]  # noqa: S506 - safe loader

    def key(doc: dict[str, t.Any]) -> str:
        return f"{doc['kind']}/{doc['metadata']['name']}"

    assert sorted(map(key, direct)) == sorted(map(key, render.docs[vs.name]))
    by_key = {key(doc): _without_chart_label(doc) for doc in render.docs[vs.name]}
    for doc in direct:
        assert _without_chart_label(doc) == by_key[key(doc)], f"chart {chart}: {key(doc)} differs"


@pytest.mark.parametrize("chart", _newest_of_each_era())
def test_another_release_name_renders_consistent_names(chart: str) -> None:
    """The renderer computes ConfigMap names from the release name (<release>-velero-...): a direct render."""
    helm = helm_bin()
    rec = recommend({"velero_version": eras.shipped_velero(chart), **INPUTS})
    rendered = hv.render_values(rec, chart, overrides=copy.deepcopy(USER), release_name="myrel")
    rc, out, err = helm_template(helm, CHARTS / chart, rendered["values_yaml"], release="myrel")
    assert rc == 0, f"chart {chart}:\n{err}"
    docs = [doc for doc in yaml.load_all(out, Loader=_LOADER) if doc]  # noqa: S506 - safe loader
    check_manifests(chart, ValueSet("big-with-overrides-release-myrel", rec, rendered, USER, False), docs)


@pytest.mark.parametrize("chart", ["10.0.4", "10.0.6"])
def test_locations_without_config_are_refused_where_the_chart_requires_config(chart: str) -> None:
    rec = recommend({"velero_version": "1.16.0", **INPUTS})
    overrides = {"configuration": {"backupStorageLocation": [{"name": "default", "provider": "gcp", "bucket": "b"}]}}
    with pytest.raises(ValueError, match=r"backupStorageLocation\[0\]\.config is required by chart"):
        hv.render_values(rec, chart, overrides=overrides)
    # Charts around the range take the same values (their schemas do not require config).
    for other in ("10.0.3", "10.0.7"):
        hv.render_values(rec, other, overrides=copy.deepcopy(overrides))
