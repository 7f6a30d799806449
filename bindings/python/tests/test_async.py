"""The asyncio-shaped API against the real runners."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Callable, List, Optional, Tuple

import anyio
import pytest
from conftest import fd_count, thread_count, unique_seconds, wait_for_pids, wait_gone

import restricted_runner as rr

Factory = Callable[[str], rr.Runner]


def test_echo_round_trip(any_runner: rr.Runner) -> None:
    async def main() -> None:
        p = await any_runner.create_subprocess_exec("cat", stdin=rr.PIPE, stdout=rr.PIPE, stderr=rr.PIPE)
        assert p.stdin is not None and p.stdout is not None and p.pid > 0
        for i in range(50):
            p.stdin.write(f"line {i}\n".encode())
            await p.stdin.drain()
            assert await p.stdout.readline() == f"line {i}\n".encode()
        p.stdin.close()
        await p.stdin.wait_closed()
        assert await p.stdout.read() == b""
        assert await p.wait() == 0 and p.returncode == 0

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["exec", "landrun", "firejail"])
def test_communicate_64_mib_both_ways(runner_factory: Factory, kind: str) -> None:
    size = 64 << 20
    data = bytes(range(256)) * (size // 256)

    async def main() -> Tuple[Optional[bytes], Optional[bytes], int]:
        r = runner_factory(kind)
        p = await r.create_subprocess_exec(
            "sh", "-c", "cat; echo done >&2", stdin=rr.PIPE, stdout=rr.PIPE, stderr=rr.PIPE
        )
        out, err = await asyncio.wait_for(p.communicate(data), 300)
        return out, err, p.returncode or 0

    out, err, code = asyncio.run(main())
    assert code == 0 and err == b"done\n"
    assert out is not None and len(out) == size and out == data


def test_kill_reaches_the_whole_tree(any_runner: rr.Runner) -> None:
    mark = unique_seconds()

    async def main() -> int:
        p = await any_runner.create_subprocess_exec("sh", "-c", f"sleep {mark} & sleep 100", stdin=rr.DEVNULL)
        assert await asyncio.to_thread(wait_for_pids, mark), "the background sleep never started"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p.wait(), 0.2)
        p.kill()
        return await asyncio.wait_for(p.wait(), 60)

    grandchildren: List[int] = []
    code = asyncio.run(main())
    assert code in (-signal.SIGKILL, 128 + signal.SIGKILL)
    grandchildren = wait_for_pids(mark, within=0.1)
    assert not grandchildren or all(wait_gone(pid) for pid in grandchildren)


def test_errors(runner_factory: Factory) -> None:
    r = runner_factory("exec")

    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await r.create_subprocess_exec("rr-no-such-command-xyz")
        with pytest.raises(rr.SpawnError, match="no-such-folder"):
            await r.create_subprocess_exec("true", cwd="/rr-no-such-folder")

    asyncio.run(main())


def test_200_concurrent_processes_without_threads_or_leaks(runner_factory: Factory) -> None:
    r = runner_factory("exec")

    async def one(i: int) -> bytes:
        p = await r.create_subprocess_exec(
            "sh", "-c", f"read x; sleep 0.2; echo $x-{i}", stdin=rr.PIPE, stdout=rr.PIPE, stderr=rr.DEVNULL
        )
        out, _ = await p.communicate(b"hi\n")
        assert p.returncode == 0
        return out or b""

    async def main() -> Tuple[List[bytes], int]:
        threads_before = thread_count()
        results = asyncio.gather(*(one(i) for i in range(200)))
        await asyncio.sleep(0.1)
        peak = thread_count() - threads_before
        return list(await results), peak

    # Warm up whatever the loop creates once.
    asyncio.run(main())
    gc.collect()
    fds_before, threads_before = fd_count(), thread_count()
    results, extra_threads = asyncio.run(main())
    gc.collect()
    assert results == [f"hi-{i}\n".encode() for i in range(200)]
    assert extra_threads == 0, f"{extra_threads} threads while 200 processes ran"
    assert thread_count() == threads_before
    assert fd_count() == fds_before


def test_under_anyio(runner_factory: Factory) -> None:
    r = runner_factory("landrun")

    async def main() -> None:
        p = await r.create_subprocess_exec("cat", stdin=rr.PIPE, stdout=rr.PIPE)
        out, _ = await p.communicate(b"through anyio")
        assert out == b"through anyio"
        with anyio.move_on_after(0.2):
            q = await r.create_subprocess_exec("sleep", "30", stdin=rr.DEVNULL)
            try:
                await q.wait()
            finally:
                q.terminate()
                with anyio.CancelScope(shield=True):
                    assert await q.wait() == -signal.SIGTERM

    anyio.run(main, backend="asyncio")


def test_inherited_and_text_sink_streams(runner_factory: Factory, capfd: pytest.CaptureFixture[str]) -> None:
    import io

    r = runner_factory("exec")
    log = io.StringIO()

    async def main() -> None:
        p = await r.create_subprocess_exec("sh", "-c", "echo to-out; echo to-log >&2", stdin=rr.DEVNULL, stderr=log)
        assert await p.wait() == 0

    asyncio.run(main())
    assert capfd.readouterr().out == "to-out\n"
    assert log.getvalue() == "to-log\n"


def test_without_an_exit_fd_the_loop_polls(runner_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    from restricted_runner import _handle

    monkeypatch.setattr(_handle.Handle, "exit_fd", lambda self: None)
    r = runner_factory("exec")

    async def main() -> Tuple[Optional[bytes], int]:
        p = await r.create_subprocess_exec("sh", "-c", "sleep 0.2; echo late", stdout=rr.PIPE)
        out, _ = await p.communicate()
        return out, p.returncode or 0

    assert asyncio.run(main()) == (b"late\n", 0)


def test_mcp_shutdown_escalates_to_sigkill(runner_factory: Factory) -> None:
    pytest.importorskip("mcp")
    from restricted_runner.mcp import _stop

    r = runner_factory("exec")

    async def main() -> int:
        p = await r.create_subprocess_exec(
            "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", stdin=rr.PIPE, stdout=rr.DEVNULL
        )
        await _stop(p)
        return p.returncode or 0

    assert anyio.run(main, backend="asyncio") == -signal.SIGKILL
