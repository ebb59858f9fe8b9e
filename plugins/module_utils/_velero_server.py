# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What Velero's own objects say, read the way Velero reads them.

Shared by ``cluster_facts`` (``_cluster_facts``/``_facts_gather``) and ``repo_maintenance``
(``_maintenance``/``_maintenance_run``) so both modules agree on: which Deployment is the Velero
server, its version from the image tag, its command-line flags, Kubernetes timestamps, and the
maintenance ConfigMap key of a BackupRepository. Facts: velero.md sections 3.3-3.5 and 5.

Pure Python, no Ansible imports.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import time
import typing as t

# Velero's maintenance Job builder reads the Deployment named literally "velero" (1.14-1.18, issue #7987).
SERVER_DEPLOYMENT_NAME = "velero"

_TAG_VERSION = re.compile(r"^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$")
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})?$")


# --------------------------------------------------------------------------------------------- containers

def workload_containers(workload: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """Containers of a Deployment/DaemonSet/Job pod template (not init containers)."""
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def command_words(container: t.Mapping[str, t.Any]) -> list[str]:
    """``command`` + ``args``, as Kubernetes runs them."""
    return [str(w) for w in list(container.get("command") or []) + list(container.get("args") or [])]


def container_runs(container: t.Mapping[str, t.Any], subcommand: str) -> bool:
    """Whether the container runs ``velero <subcommand>``.

    ``velero install`` and the Helm chart render ``command: [/velero]`` and ``args: [server, ...]``
    (``[node-agent, server, ...]`` for the node-agent); the binary name is skipped, the first
    positional word is the subcommand.
    """
    positional = [w for w in command_words(container)
                  if not w.startswith("-") and not w.endswith("/velero") and w != "velero"]
    return bool(positional) and positional[0] == subcommand


# --------------------------------------------------------------------------------------------- flags

def parse_flags(words: t.Sequence[t.Any]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` flags of a command line, keyed without the dashes.

    A flag followed by a word that does not start with ``-`` takes it as its value; a flag followed by
    another flag (or nothing) is a boolean ``"true"``. The last occurrence wins, as with Go's pflag.
    Everything after a lone ``--`` is positional.
    """
    flags: dict[str, str] = {}
    items = [str(w) for w in words or []]
    index = 0
    while index < len(items):
        word = items[index]
        if word == "--":
            break
        if word.startswith("--") and len(word) > 2:
            name, equals, value = word[2:].partition("=")
            if equals:
                flags[name] = value
            elif index + 1 < len(items) and not items[index + 1].startswith("-"):
                flags[name] = items[index + 1]
                index += 1
            else:
                flags[name] = "true"
        index += 1
    return flags


# Velero 1.14-1.16 server flags that size the maintenance Job, per podResources field (pkg/cmd/server/server.go
# v1.14.0; removed in 1.17).
MAINTENANCE_JOB_FLAGS = {
    "cpuRequest": "--maintenance-job-cpu-request",
    "memoryRequest": "--maintenance-job-mem-request",
    "cpuLimit": "--maintenance-job-cpu-limit",
    "memoryLimit": "--maintenance-job-mem-limit",
}


def maintenance_job_resources(flags: t.Mapping[str, str]) -> dict[str, str] | None:
    """podResources the ``--maintenance-job-*`` flags give (``parse_flags`` names), None when none is set.

    An unset or empty flag is "0": Velero's default, no request or limit.
    """
    if not any(flag[2:] in flags for flag in MAINTENANCE_JOB_FLAGS.values()):
        return None
    return {field: flags.get(flag[2:]) or "0" for field, flag in MAINTENANCE_JOB_FLAGS.items()}


# --------------------------------------------------------------------------------------------- server Deployment

@dataclasses.dataclass(frozen=True)
class ServerDeployment:
    """The Deployment running ``velero server`` and its server container."""

    deployment: dict[str, t.Any]
    container: dict[str, t.Any]

    @property
    def name(self) -> str:
        return str((self.deployment.get("metadata") or {}).get("name", ""))

    @property
    def named_velero(self) -> bool:
        """Velero 1.14+ can build maintenance Jobs only from a Deployment with this exact name."""
        return self.name == SERVER_DEPLOYMENT_NAME

    @property
    def image(self) -> str | None:
        image = self.container.get("image")
        return str(image) if image else None

    @property
    def version(self) -> str | None:
        return image_version(self.image)

    @property
    def flags(self) -> dict[str, str]:
        return parse_flags(command_words(self.container))


def find_server_deployment(deployments: t.Iterable[t.Mapping[str, t.Any]]) -> ServerDeployment | None:
    """The Deployment running ``velero server``: the one named ``velero`` when there is one (chart 11+ and
    ``velero install``), else the first by name (charts <= 10.x name it ``<release>-velero``)."""
    candidates = []
    for deployment in deployments:
        for container in workload_containers(deployment):
            if container_runs(container, "server"):
                candidates.append(ServerDeployment(dict(deployment), dict(container)))
                break
    if not candidates:
        return None
    candidates.sort(key=lambda found: (not found.named_velero, found.name))
    return candidates[0]


def image_version(image: t.Any) -> str | None:
    """Version in the image tag: ``velero/velero:v1.16.2`` -> ``1.16.2``, ``...:v1.16.2-rc.1`` -> ``1.16.2-rc.1``.

    Registry ports and ``@sha256:`` digests are allowed; None when the tag is missing or no version
    (``latest``, digest-only references).
    """
    if not isinstance(image, str) or not image:
        return None
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if ":" not in name:
        return None
    match = _TAG_VERSION.match(name.rsplit(":", 1)[1])
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------- time

def parse_timestamp(value: t.Any) -> float | None:
    """RFC 3339 as Kubernetes writes it (``2024-05-01T10:00:00Z``; fractions and offsets allowed) ->
    epoch seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.match(value.strip())
    if not match:
        return None
    try:
        base = calendar.timegm(time.strptime(f"{match.group(1)}T{match.group(2)}", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    fraction = float(match.group(3)) if match.group(3) else 0.0
    offset = 0
    zone = match.group(4)
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return base + fraction - offset


def format_timestamp(epoch_seconds: float) -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with whole seconds."""
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------- maintenance ConfigMap

def config_key(volume_namespace: t.Any, backup_storage_location: t.Any, repository_type: t.Any) -> str:
    """Per-repository key of the maintenance ConfigMap, ``<volumeNamespace>-<bsl>-<repositoryType>``, built
    exactly as Velero's ``getJobConfig`` does: the fields verbatim, so an empty ``repositoryType`` gives
    ``<ns>-<bsl>-`` (the CRD allows ``""``)."""
    return "%s-%s-%s" % tuple("" if part is None else str(part)
                              for part in (volume_namespace, backup_storage_location, repository_type))


def repository_config_key(repository: t.Mapping[str, t.Any]) -> str:
    """``config_key`` of a BackupRepository object."""
    spec = repository.get("spec") or {}
    return config_key(spec.get("volumeNamespace"), spec.get("backupStorageLocation"), spec.get("repositoryType"))
