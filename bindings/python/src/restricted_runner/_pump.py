"""Moving bytes between pipes with poll(2) in the calling thread:
`communicate`'s loop. (Streams given to the child as the caller's own, an
fd or a file are the library's to connect: nothing copies them.)"""

from __future__ import annotations

import errno
import os
import select
import time
from typing import Callable, List, Optional

CHUNK = 1 << 20

Sink = Callable[[bytes], None]


class Channel:
    """One fd in the loop; `ready` handles an event and returns False once
    the channel is done."""

    fd: int
    events: int
    #: Set to end the channel at the next turn of the loop.
    cancelled = False

    def ready(self, revents: int) -> bool:
        raise NotImplementedError

    def done(self) -> None:
        """Called once, when `ready` returned False."""


class Reader(Channel):
    """Reads a pipe until EOF into `sink`."""

    events = select.POLLIN

    def __init__(self, fd: int, sink: Sink) -> None:
        self.fd = fd
        self.sink = sink

    def ready(self, revents: int) -> bool:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        self.sink(data)
        return True


class Writer(Channel):
    """Writes `data` to a non-blocking pipe, then calls `finished` (which
    closes it). A reader that went away ends the channel quietly."""

    events = select.POLLOUT

    def __init__(self, fd: int, data: bytes, finished: Callable[[], None]) -> None:
        self.fd = fd
        self.view = memoryview(data)
        self.offset = 0
        self.finished = finished

    def ready(self, revents: int) -> bool:
        if self.offset >= len(self.view):
            return False
        try:
            self.offset += os.write(self.fd, self.view[self.offset : self.offset + CHUNK])
        except BlockingIOError:
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False
        return self.offset < len(self.view)

    def done(self) -> None:
        self.finished()


def pump(channels: List[Channel], deadline: Optional[float] = None, stop_fd: Optional[int] = None) -> bool:
    """Runs the channels until all are done (True), `deadline` (a
    `time.monotonic()` value) passes, or `stop_fd` becomes readable (False).
    Channels still running stay in `channels`, so a later call resumes."""
    poller = select.poll()
    by_fd = {}
    for ch in channels:
        poller.register(ch.fd, ch.events)
        by_fd[ch.fd] = ch
    if stop_fd is not None:
        poller.register(stop_fd, select.POLLIN)
    while channels:
        if deadline is None:
            timeout = None
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            timeout = int(left * 1000 + 0.999)
        for fd, revents in poller.poll(timeout):
            if fd == stop_fd:
                return False
            event_ch = by_fd.get(fd)
            if event_ch is not None and not event_ch.ready(revents):
                event_ch.cancelled = True
        for ch in [ch for ch in channels if ch.cancelled]:
            poller.unregister(ch.fd)
            del by_fd[ch.fd]
            channels.remove(ch)
            ch.done()
    return True
