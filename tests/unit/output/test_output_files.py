# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side file writing (module_utils._output_files): copy's guarantees, host names as folders."""

from __future__ import annotations

import os
import re
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _output_files as files


@pytest.mark.parametrize("name", ["cluster-0001", "prod.eu-1", "10.0.0.1", "a_b", "host:6443", ".hidden", "é"])
def test_one_path_component_is_accepted(name):
    assert files.safe_component(name) == name


@pytest.mark.parametrize("name, says", [
    ("../escape", "'/'"), ("sub/dir", "'/'"), ("..", "not a directory name of its own"),
    (".", "not a directory name of its own"), ("a\\b", "'\\\\\\\\'"), ("a\0b", "'\\\\x00'"),
    ("line\nbreak", "'\\\\n'"), ("", "non-empty string"), (None, "non-empty string"),
])
def test_unsafe_names_are_refused_saying_why(name, says):
    with pytest.raises(ValueError, match="cannot name an output directory") as raised:
        files.safe_component(name)
    assert says.replace("\\\\", "\\") in str(raised.value)


@given(st.text(min_size=1, max_size=20))
def test_an_accepted_name_always_stays_one_level_below_the_root(name):
    try:
        files.safe_component(name)
    except ValueError:
        return
    joined = os.path.normpath(os.path.join("/root", name))
    assert os.path.dirname(joined) == "/root" and os.path.basename(joined) == name


def test_a_symlinked_host_directory_pointing_outside_is_refused(tmp_path):
    root, outside = tmp_path / "out", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the output directory"):
        files.host_directory(str(root), "evil")
    (root / "itself").symlink_to(root)
    with pytest.raises(ValueError, match="outside the output directory"):
        files.host_directory(str(root), "itself")
    (root / "real").mkdir()
    (root / "inside").symlink_to(root / "real")
    assert files.host_directory(str(root), "inside") == str(root / "inside")


def test_write_then_nothing_to_do_then_mode_only(tmp_path):
    path = str(tmp_path / "values.yaml")
    first = files.plan(path, b"a: 1\n", 0o600)
    assert first.changed and first.before is None
    assert files.apply(first) is None
    assert open(path, "rb").read() == b"a: 1\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not files.plan(path, b"a: 1\n", 0o600).changed
    os.chmod(path, 0o644)
    only_mode = files.plan(path, b"a: 1\n", 0o600)
    assert only_mode.mode_changed and not only_mode.content_changed
    files.apply(only_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["values.yaml"]  # no temporary file left behind


def test_backup_is_named_as_copy_names_it_and_keeps_the_old_content(tmp_path):
    path = str(tmp_path / "values.yaml")
    files.apply(files.plan(path, b"old\n", 0o600))
    backup = files.apply(files.plan(path, b"new\n", 0o600), keep_backup=True)
    assert backup and re.fullmatch(re.escape(path) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", backup)
    assert open(backup, "rb").read() == b"old\n" and open(path, "rb").read() == b"new\n"
    # A new file has nothing to back up.
    assert files.apply(files.plan(str(tmp_path / "report.md"), b"x", 0o600), keep_backup=True) is None


def test_a_symlinked_file_is_replaced_not_followed(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep me\n")
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    files.apply(files.plan(str(link), b"a: 1\n", 0o600))
    assert target.read_text() == "keep me\n" and not link.is_symlink() and link.read_bytes() == b"a: 1\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "values.yaml"
    path.write_bytes(b"old\n")

    def broken_replace(_source, _target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(ValueError, match="No space left on device"):
        files.apply(files.plan(str(path), b"new\n", 0o600))
    assert path.read_bytes() == b"old\n" and os.listdir(tmp_path) == ["values.yaml"]


def test_directories(tmp_path):
    assert files.ensure_directory(str(tmp_path / "a" / "b"), create=False) is True
    assert not (tmp_path / "a").exists()
    assert files.ensure_directory(str(tmp_path / "a" / "b")) is True
    assert files.ensure_directory(str(tmp_path / "a" / "b")) is False
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for create in (True, False):
        with pytest.raises(ValueError, match="Not a directory"):
            files.ensure_directory(str(blocker / "out"), create=create)


@pytest.mark.parametrize("mode, expected", [("0600", 0o600), ("644", 0o644), (0o640, 0o640), (384, 0o600)])
def test_modes(mode, expected):
    assert files.parse_mode(mode) == expected


@pytest.mark.parametrize("mode", ["u=rw", "0800", True, None, "", 0o17777])
def test_bad_modes(mode):
    with pytest.raises(ValueError, match="mode"):
        files.parse_mode(mode)


def test_a_directory_another_fork_creates_meanwhile_is_fine(tmp_path, monkeypatch):
    path = tmp_path / "out"
    real_isdir = os.path.isdir
    calls = []

    def racing_isdir(candidate):
        calls.append(candidate)
        if len(calls) == 1:  # another fork creates it right after this process looked
            path.mkdir()
            return False
        return real_isdir(candidate)

    monkeypatch.setattr(files.os.path, "isdir", racing_isdir)
    files.ensure_directory(str(path))
    assert path.is_dir()
