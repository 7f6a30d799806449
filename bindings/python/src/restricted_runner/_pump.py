"""Moving bytes between pipes with poll(2) in one thread: `communicate`'s
loop, and the relay that stands in for a stream inherited from the caller
(the C library hands out pipes; the package copies them to the caller's fd).
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import Callable, List, Optional

CHUNK = 1 << 20

Sink = Callable[[bytes], None]


def fd_sink(fd: int) -> Sink:
    """Writes everything to `fd`, waiting when it is non-blocking and full."""

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [])
                continue
            view = view[n:]

    return write


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

    def __init__(self, fd: int, sink: Sink, close: bool = False) -> None:
        self.fd = fd
        self.sink = sink
        self.close = close

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

    def done(self) -> None:
        if self.close:
            os.close(self.fd)


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


class Forwarder(Channel):
    """Copies the caller's `src` fd to the child's stdin pipe `dst` until
    `src` ends or the child stops reading; then closes `dst`."""

    events = select.POLLIN

    def __init__(self, src: int, dst: int) -> None:
        self.fd = src
        self.dst = dst
        self.sink = fd_sink(dst)

    def ready(self, revents: int) -> bool:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        try:
            self.sink(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def done(self) -> None:
        os.close(self.dst)


class ExitWatch(Channel):
    """Watches a process's exit fd; at exit, ends the `Forwarder`s among
    `channels` (the caller's stdin is not the child's to drain)."""

    events = select.POLLIN

    def __init__(self, fd: int, channels: List[Channel]) -> None:
        self.fd = fd
        self.channels = channels

    def ready(self, revents: int) -> bool:
        for ch in self.channels:
            if isinstance(ch, Forwarder):
                ch.cancelled = True
        return False


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


class Relay:
    """A thread running `pump` over the channels of the streams a process
    inherits from the caller, until they end or `finish` is called."""

    def __init__(self, channels: List[Channel]) -> None:
        self.channels = channels
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="restricted-runner relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        left = self.channels
        try:
            if not pump(left, stop_fd=self._stop_r):
                # Stopped after the reap: what the tree wrote is in the
                # pipes, whose writers are gone; copy it, then end.
                outputs: List[Channel] = [ch for ch in left if isinstance(ch, Reader)]
                others = [ch for ch in left if not isinstance(ch, Reader)]
                left = others
                pump(outputs, deadline=time.monotonic() + 5.0)
                left = others + outputs
        finally:
            for ch in left:
                ch.done()

    def finish(self) -> None:
        """Copies what is left of the outputs, stops copying input, and
        joins the thread. Call once the process was reaped."""
        os.write(self._stop_w, b"x")
        self._thread.join()
        os.close(self._stop_r)
        os.close(self._stop_w)
