# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounded reads and writes for repository maintenance: one deadline, one boundary.

``Deadline`` is the point in time by which every API request, client retry, ``Retry-After`` wait, 409
re-read and poll of the current step must be done (one attempt: the module's ``timeout``). The module
hands ``Deadline.sleep`` to the Kubernetes client as its sleep, so the client's retry waits end at the
deadline too, and ``MaintenanceAPI`` lowers the client's per-request timeout to what is left.

``MaintenanceAPI`` is the one place where what the cluster returns enters the runner: every object is
checked by ``_maintenance_shapes`` (kind, name and field in the error), and every list is paged with a
guard against a server that repeats its continue token, a page cap derived from the object bound, and a
deadline check between pages.

No Ansible imports.
"""

from __future__ import annotations

import contextlib
import math
import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube_errors
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_errors import KubeAPIError, KubeNotFound
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_shapes import (
    check_list_page,
    check_object,
)
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import format_seconds

PAGE_SIZE = 500
# The most objects of one kind the runner reads in one list (Jobs of one repository, Backups of the Velero
# namespace, ...); a list that goes on past it is a broken server, not a real namespace.
MAX_LIST_OBJECTS = 200_000
MAX_PAGES = math.ceil(MAX_LIST_OBJECTS / PAGE_SIZE)
# A request never waits longer than this for its answer, and never past the deadline.
REQUEST_TIMEOUT_SECONDS = 30.0
MIN_REQUEST_TIMEOUT_SECONDS = 1.0
# 409 re-reads: immediate first, then doubling pauses, all within the deadline.
CONFLICT_RETRIES = 6
CONFLICT_BACKOFF_SECONDS = 0.1
CONFLICT_BACKOFF_MAX_SECONDS = 2.0


class DeadlineExceeded(KubeAPIError):
    """The current step's time ran out while waiting for the API (a request, a retry wait, a re-read)."""


class EndlessList(KubeAPIError):
    """A list that does not end: the same continue token again, or more pages than any real list has."""


# A step that ran out of time, whether noticed here or by a client that keeps its own deadline (set_deadline).
# The runner's own deadline and the client's (its retries and Retry-After waits) end an attempt alike.
DEADLINE_ERRORS: tuple[type[BaseException], ...] = (DeadlineExceeded, _kube_errors.KubeDeadlineExceeded)


class Deadline:
    """The deadline of the current step; ``limit`` opens a step, ``sleep`` waits within it."""

    def __init__(self, clock: t.Callable[[], float], sleep: t.Callable[[float], t.Any]) -> None:
        self.clock = clock
        self._sleep = sleep
        self.at: float | None = None
        self.what = ""
        self.seconds = 0.0

    @contextlib.contextmanager
    def limit(self, seconds: float, what: str, *, independent: bool = False) -> t.Iterator["Deadline"]:
        """Within the block, everything must end ``seconds`` from now (and by the enclosing deadline, unless
        ``independent``: putting temporary changes back gets its own time even after a step ran out)."""
        saved = (self.at, self.what, self.seconds)
        at = self.clock() + seconds
        if not independent and self.at is not None and self.at < at:
            at, seconds, what = self.at, self.seconds, self.what
        self.at, self.what, self.seconds = at, what, seconds
        try:
            yield self
        finally:
            self.at, self.what, self.seconds = saved

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - self.clock()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def error(self, doing: str) -> DeadlineExceeded:
        return DeadlineExceeded(f"{self.what}: the time allowed ({format_seconds(self.seconds)}) ran out while "
                                f"{doing}", reason="Timeout")

    def check(self, doing: str) -> None:
        if self.expired():
            raise self.error(doing)

    def sleep(self, seconds: float, doing: str = "waiting to retry a request the API server did not answer") -> None:
        """Sleep, but never past the deadline: when the wait would end after it, sleep until the deadline
        and raise ``DeadlineExceeded`` (a ``Retry-After: 60`` near the end does not add a minute)."""
        left = self.remaining()
        if left is None or seconds < left:
            if seconds > 0:
                self._sleep(seconds)
            return
        if left > 0:
            self._sleep(left)
        raise self.error(doing)

    def pause(self, seconds: float) -> None:
        """A poll pause: at most until the deadline, never raising (the caller's loop reports the timeout)."""
        left = self.remaining()
        if left is not None:
            seconds = min(seconds, max(left, 0.0))
        if seconds > 0:
            self._sleep(seconds)


class MaintenanceAPI:
    """What the runner reads and writes, checked and bounded (see the module docstring)."""

    def __init__(self, client: t.Any, deadline: Deadline, namespace: str) -> None:
        self.client = client
        self.deadline = deadline
        self.namespace = namespace

    def _bound(self, doing: str) -> None:
        self.deadline.check(doing)
        left = self.deadline.remaining()
        if callable(getattr(self.client, "set_deadline", None)):
            self.client.set_deadline(left)  # a client with its own deadline bounds its retries and waits by it too
        if hasattr(self.client, "request_timeout"):
            self.client.request_timeout = REQUEST_TIMEOUT_SECONDS if left is None else max(
                MIN_REQUEST_TIMEOUT_SECONDS, min(REQUEST_TIMEOUT_SECONDS, left))

    def get(self, kind: str, path: str) -> dict[str, t.Any]:
        self._bound(f"reading {kind} {path.rsplit('/', 1)[-1]}")
        return check_object(kind, self.client.get(path), self.namespace)

    def get_optional(self, kind: str, path: str) -> dict[str, t.Any] | None:
        try:
            return self.get(kind, path)
        except KubeNotFound:
            return None

    def list(self, kind: str, path: str, *, label_selector: str | None = None) -> list[dict[str, t.Any]]:
        """All objects of a list, page by page (``limit``/``continue``), each checked as ``kind``."""
        items: list[dict[str, t.Any]] = []
        seen: set[str] = set()
        token: str | None = None
        for page_number in range(1, MAX_PAGES + 1):
            self._bound(f"listing {kind}s (page {page_number})")
            query = {"limit": PAGE_SIZE, "continue": token, "labelSelector": label_selector}
            page_items, token = check_list_page(kind, self.client.get(path, query), self.namespace)
            items.extend(page_items)
            if not token:
                return items
            if token in seen:
                raise EndlessList(f"listing {kind}s at {path}: the API server answered page {page_number} with a "
                                  f"continue token it had already given; stopped instead of reading the same pages "
                                  f"forever", method="GET", path=path)
            seen.add(token)
        raise EndlessList(f"listing {kind}s at {path}: still more pages after {MAX_PAGES} pages of {PAGE_SIZE} "
                          f"({MAX_LIST_OBJECTS} objects, far more than a Velero namespace holds); stopped",
                          method="GET", path=path)

    def merge_patch(self, kind: str, path: str, patch: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        self._bound(f"patching {kind} {path.rsplit('/', 1)[-1]}")
        return check_object(kind, self.client.merge_patch(path, patch), self.namespace)

    def create(self, kind: str, path: str, body: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        self._bound(f"creating {kind}")
        return check_object(kind, self.client.create(path, body), self.namespace)

    def pod_log(self, pod: str, tail_lines: int) -> str:
        self._bound(f"reading the log of pod {pod}")
        return str(self.client.pod_log(self.namespace, pod, tail_lines=tail_lines))

    def conflict_pause(self, attempt: int) -> None:
        """Before re-read number ``attempt`` after a 409: none for the first, then doubling, within the deadline."""
        if attempt > 0:
            self.deadline.sleep(min(CONFLICT_BACKOFF_SECONDS * 2 ** (attempt - 1), CONFLICT_BACKOFF_MAX_SECONDS),
                                "waiting to re-read after a 409 Conflict")
