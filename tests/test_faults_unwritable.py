"""An output folder that cannot be written (issue 17): a read-only file system (EROFS) or a folder
without write permission (EACCES) ends steps 1, 2 and 3 in one line naming the folder and the
option that chooses another, exit 1, never a traceback; the atomic writes' clean-up never hides
the error that stopped the write. The tests run as root, whom chmod does not stop, so the folder
is made unwritable by tests/readonly_fs.py; one test uses a real chmod where it can."""

import errno
import os
from pathlib import Path

import pytest
from readonly_fs import UnwritableFolder

from deepfake_pipeline.common import atomic

# --- the atomic writes' clean-up -----------------------------------------------------------------

def test_a_failed_clean_up_does_not_replace_the_error_that_stopped_the_write(tmp_path, monkeypatch):
    def unlink_refused(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    target = tmp_path / "out.txt"
    with pytest.raises(OSError) as raised:
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            monkeypatch.setattr(os, "unlink", unlink_refused)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert raised.value.errno == errno.ENOSPC, "the clean-up's error replaced the write's"
    assert raised.value.pipeline_path == str(target)
    assert any(str(atomic.temporary_path(target)) in note for note in raised.value.__notes__)


def test_a_write_on_a_read_only_folder_raises_its_own_error_once(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    UnwritableFolder(monkeypatch, folder)
    with pytest.raises(OSError) as raised:
        atomic.write_text(folder / "a.json", "{}")
    assert raised.value.errno == errno.EROFS and raised.value.pipeline_path == str(folder / "a.json")
    assert raised.value.__context__ is None, "a second error was raised over the first"
