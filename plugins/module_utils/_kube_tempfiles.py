# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key material the ``kubernetes`` client writes to temporary files, removed on every exit path.

A kubeconfig with ``client-key-data`` (or ``client-certificate-data``, ``certificate-authority-data``) makes
``kubernetes.config.kube_config`` write the decoded data to ``tempfile.mkstemp`` files, because urllib3 loads
certificates from paths. The library removes them only from an ``atexit`` hook, which does not run when the
process dies from SIGTERM (what Ansible sends on a timeout or Ctrl-C of the controller). Here the files a
client caused are removed when the client closes, and by a handler for SIGTERM, SIGINT and SIGHUP that then
hands the signal on to whatever handler was installed before (or the default action).

No Ansible imports.
"""

from __future__ import annotations

import os
import signal
import threading
import typing as t

_LOCK = threading.RLock()
_FILES: set[str] = set()
_PREVIOUS: dict[int, t.Any] = {}
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def _loader_cache() -> dict[str, str]:
    try:
        from kubernetes.config import kube_config
    except ImportError:  # pragma: no cover - the client is required wherever this runs
        return {}
    cache = getattr(kube_config, "_temp_files", None)
    return cache if isinstance(cache, dict) else {}


def loader_files() -> set[str]:
    """Paths of the temporary files the kubernetes config loader has written so far in this process."""
    return {str(path) for path in _loader_cache().values()}


def track(paths: t.Iterable[str]) -> set[str]:
    """Remember ``paths`` for removal (and install the signal handlers); returns what was added."""
    added = {str(p) for p in paths if p}
    if added:
        with _LOCK:
            _FILES.update(added)
        install_signal_handlers()
    return added


def remove(paths: t.Iterable[str] | None = None) -> None:
    """Delete ``paths`` (default: every tracked file), and forget them in the loader's cache too, so a later
    client loading the same kubeconfig writes a fresh file instead of reusing a deleted path."""
    with _LOCK:
        doomed = set(_FILES) if paths is None else {str(p) for p in paths}
        _FILES.difference_update(doomed)
        cache = _loader_cache()
        for key in [k for k, v in cache.items() if v in doomed]:
            cache.pop(key, None)
    for path in doomed:
        try:
            os.remove(path)
        except OSError:
            pass  # already gone


def tracked() -> set[str]:
    with _LOCK:
        return set(_FILES)


def _on_signal(signum: int, frame: t.Any) -> None:
    remove()
    previous = _PREVIOUS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # Default action (terminate): restore it and deliver the signal again.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_signal_handlers() -> bool:
    """Install the removing handler once, chaining to the handler found. Only the main thread may install
    signal handlers; elsewhere this does nothing and returns False (close() still removes the files)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    with _LOCK:
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current is _on_signal:
                continue
            _PREVIOUS[signum] = current
            signal.signal(signum, _on_signal)
    return True
