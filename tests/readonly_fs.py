"""A folder that cannot be written, for the fault tests: the tests run as root, for whom chmod
stops no write, and mounting a read-only file system needs privileges a test does not have. So
the calls every write in the pipeline ends in are made to fail under that folder as the kernel
fails them: Python's `open` for writing (`builtins.open`, `io.open`, which pathlib, pandas,
numpy, joblib and matplotlib write through), `os.open`, and the calls that create, rename or
remove a name in a folder (`os.mkdir` and thus `os.makedirs`, `os.link`, `os.symlink`,
`os.replace`, `os.rename`, `os.unlink`, `os.rmdir`). Reading stays possible.

EROFS (a read-only file system) fails every such call, removing a name that does not exist
included, as Linux does (it checks the mount before it looks the name up); EACCES (a folder
without write permission) fails only where the name exists, a missing one being ENOENT first."""

import builtins
import errno
import io
import os
from pathlib import Path

WRITE_MODES = set("wax+")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class UnwritableFolder:
    """While installed (monkeypatch undoes it), nothing under `root` can be written; `refused`
    lists the paths whose writes failed."""

    def __init__(self, monkeypatch, root, code: int = errno.EROFS):
        self.root = Path(root).absolute()
        self.code = code
        self.refused = []
        real = {
            name: getattr(os, name)
            for name in ("open", "mkdir", "link", "symlink", "replace", "rename", "unlink", "rmdir")
        }
        real_open = builtins.open

        def fail(path):
            self.refused.append(path)
            raise OSError(self.code, os.strerror(self.code), str(path))

        def checked(name, *path_args):
            def call(*args, **kwargs):
                for position in path_args:
                    if position < len(args):
                        path = self._target(
                            args[position],
                            kwargs.get("dir_fd") if position == 0 else kwargs.get("dst_dir_fd", kwargs.get("dir_fd")),
                        )
                        if path is not None and self.inside(path):
                            if name == "mkdir" and path.exists():
                                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
                            if name in ("unlink", "rmdir") and self.code != errno.EROFS and not path.exists():
                                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
                            fail(path)
                return real[name](*args, **kwargs)

            return call

        def os_open(path, flags, *args, **kwargs):
            target = self._target(path, kwargs.get("dir_fd"))
            if flags & WRITE_FLAGS and target is not None and self.inside(target):
                fail(target)
            return real["open"](path, flags, *args, **kwargs)

        def py_open(file, mode="r", *args, **kwargs):
            target = self._target(file, None)
            if WRITE_MODES & set(mode) and target is not None and self.inside(target):
                fail(target)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        for name, positions in (
            ("mkdir", (0,)),
            ("link", (1,)),
            ("symlink", (1,)),
            ("replace", (0, 1)),
            ("rename", (0, 1)),
            ("unlink", (0,)),
            ("rmdir", (0,)),
        ):
            monkeypatch.setattr(os, name, checked(name, *positions))
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(io, "open", py_open)

    @staticmethod
    def _target(path, dir_fd):
        if isinstance(path, int):
            return None  # an open file descriptor: its file was checked when it was opened
        path = Path(os.fsdecode(path))
        if dir_fd is not None and not path.is_absolute():
            path = Path(os.readlink(f"/proc/self/fd/{dir_fd}")) / path
        return path.absolute()

    def inside(self, path: Path) -> bool:
        return path == self.root or path.is_relative_to(self.root)
