"""One trainer per run directory: an advisory lock on RUN_DIR/.lock that holds the owner's pid.

The lock is ``flock`` on an open file, so the kernel drops it when the process ends in any way (kill -9
included): a stale ``.lock`` file left by a killed run never blocks the next one.

Example:
    >>> lock = RunLock("runs/demo")
    >>> lock.acquire()          # GankitError naming the pid when another process trains runs/demo
    >>> lock.release()
"""
from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Optional, Union

from ..errors import GankitError
from ..rundir import RunDir

try:
    import fcntl
except ImportError:  # Windows: no flock; training goes on unlocked
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """Held from before the checkpoint is read until training ends; a second trainer is refused at once."""

    def __init__(self, run_dir: Union[str, Path]):
        self.run_dir = Path(run_dir)
        self.path = RunDir(self.run_dir).lock
        self.fd: Optional[int] = None
        self.made_dir = False

    def acquire(self) -> None:
        if fcntl is None or self.fd is not None:
            return
        if not self.run_dir.is_dir():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.made_dir = True
        for _ in range(5):  # the holder may delete the file between our open and our flock: open it again
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise GankitError(f"{self.run_dir} is in use by another gankit process ({_describe(holder)}); "
                                      "wait for it to finish or stop it, or train into another --out") from None
                return  # a filesystem without locks (some network mounts): go on unlocked
            if _same_file(fd, self.path):
                try:  # who holds it, for the message a second trainer gets; a full disk only loses the pid
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
                except OSError:
                    pass
                self.fd = fd
                return
            os.close(fd)
        raise GankitError(f"could not lock {self.path}: it keeps being replaced; is another program "
                          "deleting files in the run directory?")

    def release(self) -> None:
        """Unlock and delete the lock file (and the run directory, if we made it and it is still empty)."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: a waiting opener re-checks the inode
        finally:
            os.close(self.fd)
            self.fd = None
        if self.made_dir:
            try:
                self.run_dir.rmdir()  # only succeeds when nothing was written
            except OSError:
                pass

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _describe(holder: list) -> str:
    if not holder:
        return "it is starting"
    pid = holder[0]
    host = holder[1] if len(holder) > 1 else ""
    return f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
