# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writing the per-cluster files on the controller, with ansible.builtin.copy's guarantees.

Pure Python, no Ansible imports; raises ``ValueError`` with a message naming the path. What it keeps from
``copy``: a temporary file in the target directory renamed over the old one (readers never see half a file),
the requested mode on every file (also when only the mode differs), ``backup`` as ``<file>.<pid>.<date>@<time>~``
(``AnsibleModule.backup_local``), and no change when content and mode already match. The caller decides check
mode (``plan`` only) and builds the diff from ``before``/``after``.

Host names become directory names only through ``host_directory``: one safe path component, and a per-host
directory that is a symlink must stay inside the output directory.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
import time
import typing as t

# Characters that make a path component unsafe or ambiguous on a POSIX controller (separators, NUL, control
# characters); "." and ".." are refused on their own.
_UNSAFE = frozenset("/\\\0") | frozenset(chr(code) for code in range(32)) | {"\x7f"}


def safe_component(name: t.Any, field: str = "inventory host name") -> str:
    """``name`` when it is one path component that stays where it is put; else ValueError saying why."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field} {name!r} cannot name an output directory: expected a non-empty string")
    if name in (".", ".."):
        raise ValueError(f"{field} {name!r} cannot name an output directory: it is not a directory name of its "
                         "own; rename the host (for example prod-eu-1)")
    bad = sorted({char for char in name if char in _UNSAFE})
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        raise ValueError(f"{field} {name!r} cannot name an output directory: it contains {shown}, so the files "
                         "would land outside their own folder; rename the host to one path component (letters, "
                         "digits, '.', '-', '_')")
    return name


def host_directory(root: str, name: str) -> str:
    """``root/name`` after checking ``name`` (``safe_component``) and, if it exists, that it is a directory
    inside ``root`` (a symlink to somewhere else is refused, not followed)."""
    component = safe_component(name)
    path = os.path.join(root, component)
    if os.path.islink(path):
        real_root = os.path.realpath(root)
        target = os.path.realpath(path)
        if os.path.commonpath([real_root, target]) != real_root or target == real_root:
            raise ValueError(f"{path} is a symlink to {target}, outside the output directory {real_root}; "
                             "refusing to follow it (remove the link or point it inside the output directory)")
    return path


@dataclasses.dataclass
class FilePlan:
    """What writing ``content`` to ``path`` with ``mode`` would change."""

    path: str
    content: bytes
    mode: int
    before: bytes | None  # current content; None when the file does not exist (or is not a regular file)
    content_changed: bool
    mode_changed: bool

    @property
    def changed(self) -> bool:
        return self.content_changed or self.mode_changed


def parse_mode(mode: t.Any) -> int:
    """An octal mode as Ansible users write it ("0600", "600", 0o600, 384); ValueError otherwise."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and mode.strip() and all(c in "01234567" for c in mode.strip()):
        value = int(mode.strip(), 8)
    else:
        raise ValueError(f"mode: expected an octal file mode such as '0600', got {mode!r}")
    if not 0 <= value <= 0o7777:
        raise ValueError(f"mode: {mode!r} is not a file mode (0000 to 7777)")
    return value


def plan(path: str, content: bytes, mode: int) -> FilePlan:
    """Compare ``path`` on disk with the wanted content and mode; reads, never writes."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return FilePlan(path, content, mode, None, True, False)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{path} is a directory; cannot write a file there")
        # A symlink or special file is replaced by a regular file (copy's default, follow: false).
        return FilePlan(path, content, mode, None, True, False)
    try:
        with open(path, "rb") as handle:
            before = handle.read()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return FilePlan(path, content, mode, before, before != content, stat.S_IMODE(info.st_mode) != mode)


def backup(path: str) -> str:
    """Copy ``path`` next to itself as ``AnsibleModule.backup_local`` names it; returns the backup's path."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime(time.time()))
    destination = f"{path}.{os.getpid()}.{stamp}"
    try:
        shutil.copy2(path, destination)
    except OSError as exc:
        raise ValueError(f"cannot back up {path} to {destination}: {exc.strerror or exc}") from None
    return destination


def apply(file_plan: FilePlan, keep_backup: bool = False) -> str | None:
    """Carry out a plan: content through a temporary file in the same directory then rename (atomic on
    POSIX), or only the mode. Returns the backup's path when one was made."""
    backup_path = None
    if file_plan.content_changed:
        if keep_backup and file_plan.before is not None:
            backup_path = backup(file_plan.path)
        directory, base = os.path.split(file_plan.path)
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory or ".")
        except OSError as exc:
            raise ValueError(f"cannot write in {directory}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(file_plan.content)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, file_plan.mode)
            os.replace(temporary, file_plan.path)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise ValueError(f"cannot write {file_plan.path}: {exc.strerror or exc}") from None
    elif file_plan.mode_changed:
        try:
            os.chmod(file_plan.path, file_plan.mode)
        except OSError as exc:
            raise ValueError(f"cannot set the mode of {file_plan.path}: {exc.strerror or exc}") from None
    return backup_path


def ensure_directory(path: str, mode: int = 0o755, create: bool = True) -> bool:
    """True when ``path`` had to be created (or would be, with ``create`` false); ValueError when it cannot be
    a directory. Parents are created like ``mkdir -p``."""
    if os.path.isdir(path):
        return False
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} exists and is not a directory: [Errno 20] Not a directory")
    if not create:
        # Check mode: only say whether creating could work at all (an existing file on the way cannot).
        parent = path
        while parent and not os.path.lexists(parent):
            parent = os.path.dirname(parent.rstrip(os.sep)) if parent != os.sep else ""
        if parent and not os.path.isdir(parent):
            raise ValueError(f"{parent} is not a directory: [Errno 20] Not a directory")
        return True
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create {path}: [Errno {exc.errno}] {exc.strerror or exc}") from None
    # Forks create the shared output directory concurrently: whoever made it, it is there now.
    return True
