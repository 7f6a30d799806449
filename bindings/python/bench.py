"""Benchmarks against the standard library, measured in the same run with
the two sides interleaved (machines are noisy): prints the median time per
operation of each and their ratio (ours / standard library; below 1.0 is
faster) with its 90% interval.

- `runner.run(["true"])` against `subprocess.run(["true"])`;
- `create_subprocess_exec("true")` with three pipes and `communicate()`,
  against `asyncio.create_subprocess_exec`;
- an interactive round trip: 1,000 lines through `cat`, one at a time.

The two sides run in pairs of small batches (one run each for the round
trip), back to back and in turns first, so that load from other programs
weighs on both of a pair alike; the ratio is the geometric mean of the
pairs' ratios, and the interval is bootstrapped from them.

Each under the exec runner and under landrun; then landrun against exec,
interleaved the same way: that ratio is to stay within the C-ABI crate's
landrun / posix_spawn ratio (`cargo bench --bench landrun`, the same
policy).

Run: bindings/python/test.sh --bench, or python bench.py [ROUNDS].
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, List

import restricted_runner as rr

PIPE = subprocess.PIPE


def landrun(write_folder: str) -> rr.Runner:
    """The policy of the C-ABI crate's landrun benchmark (`cargo bench
    --bench landrun`), whose landrun / posix_spawn ratio this one's
    landrun / exec is held to: read and execute the system folders, read
    /etc, write one folder, no network."""
    system = [d for d in ("/usr", "/bin", "/lib", "/lib64") if os.path.isdir(d)]
    return rr.Runner(
        "landrun",
        {
            "allow_read_exec_folders": system,
            "allow_read_folders": ["/etc"],
            "allow_write_folders": [write_folder],
        },
    )


def run_true(r: rr.Runner) -> Callable[[], None]:
    return lambda: r.run(["true"]).check_returncode()


def stdlib_run_true() -> None:
    subprocess.run(["true"]).check_returncode()


def async_true(spawn: Callable[..., Any]) -> Callable[[], None]:
    async def many(n: int) -> None:
        for _ in range(n):
            p = await spawn("true", stdin=PIPE, stdout=PIPE, stderr=PIPE)
            await p.communicate()
            assert p.returncode == 0

    def once() -> None:
        asyncio.run(many(1))

    once.many = many  # type: ignore[attr-defined]
    return once


def round_trip(popen: Callable[[], Any]) -> Callable[[], None]:
    def go() -> None:
        p = popen()
        for i in range(1000):
            line = b"line %d\n" % i
            p.stdin.write(line)
            p.stdin.flush()
            assert p.stdout.readline() == line
        p.stdin.close()
        p.stdout.read()
        p.stdout.close()
        p.stderr.close()
        p.wait()

    return go


def cat_in(r: rr.Runner) -> Callable[[], Any]:
    return lambda: r.popen(["cat"])


def timed(fn: Callable[[], None], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def timed_async(fn: Callable[[], None], n: int) -> float:
    many = fn.many  # type: ignore[attr-defined]

    async def go() -> float:
        t = time.perf_counter()
        await many(n)
        return (time.perf_counter() - t) / n

    return asyncio.run(go())


def compare(
    name: str,
    ours: Callable[[], None],
    base: Callable[[], None],
    n: int,
    rounds: int,
    asynchronous: bool = False,
    batch: int = 10,
) -> None:
    measure = timed_async if asynchronous else timed
    measure(ours, max(1, n // 10))
    measure(base, max(1, n // 10))
    # Pairs of small batches, one of each side back to back, in turns
    # first: a noisy machine slows both of a pair alike. The ratio is the
    # geometric mean of the pairs' ratios, with a 90% interval drawn from
    # them (bootstrap), so that a figure near 1.0 says whether it is noise.
    batch = max(1, min(n, batch))
    a: List[float] = []
    b: List[float] = []
    for i in range(rounds * max(1, n // batch)):
        if i % 2:
            a.append(measure(ours, batch))
            b.append(measure(base, batch))
        else:
            b.append(measure(base, batch))
            a.append(measure(ours, batch))
    logs = [math.log(x / y) for x, y in zip(a, b)]
    draw = random.Random(0)
    means = sorted(statistics.mean(draw.choices(logs, k=len(logs))) for _ in range(1000))
    low, high = math.exp(means[50]), math.exp(means[949])
    ours_t, base_t = statistics.median(a), statistics.median(b)
    ratio = math.exp(statistics.mean(logs))
    print(
        f"{name:<58} {ours_t * 1e6:10.0f} us {base_t * 1e6:10.0f} us {ratio:7.2f}x  [{low:.2f}-{high:.2f}]",
        flush=True,
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory(prefix="rr-bench-") as write_folder:
        report(rounds, rr.Runner("exec"), landrun(write_folder))


def report(rounds: int, exec_runner: rr.Runner, land: rr.Runner) -> None:
    print(f"restricted_runner {rr.version()}, Python {sys.version.split()[0]}, {rounds} rounds")
    print(f"{'':<58} {'ours':>13} {'stdlib':>13} {'ratio':>8}  90% interval")
    for label, r in (("exec", exec_runner), ("landrun", land)):
        compare(f"run(['true']) [{label}] vs subprocess.run", run_true(r), stdlib_run_true, 200, rounds)
        compare(
            f"create_subprocess_exec('true') [{label}] vs asyncio",
            async_true(r.create_subprocess_exec),
            async_true(asyncio.create_subprocess_exec),
            200,
            rounds,
            asynchronous=True,
        )
        compare(
            f"1,000-line round trip through cat [{label}] vs Popen",
            round_trip(cat_in(r)),
            round_trip(lambda: subprocess.Popen(["cat"], stdin=PIPE, stdout=PIPE, stderr=PIPE)),
            # Run against run: where the scheduler places cat against this
            # process (one CPU, or two that wake each other) settles in the
            # first exchanges and changes a run's time severalfold on small
            # machines.
            20,
            rounds,
            batch=1,
        )
    # landrun against exec directly, interleaved like the rest: the ratio
    # of the two rows above would divide times taken at different moments.
    print(f"landrun on top of exec, interleaved {'landrun':>27} {'exec':>13} {'ratio':>8}")
    compare("  run(['true'])", run_true(land), run_true(exec_runner), 200, rounds)
    compare(
        "  create_subprocess_exec('true')",
        async_true(land.create_subprocess_exec),
        async_true(exec_runner.create_subprocess_exec),
        200,
        rounds,
        asynchronous=True,
    )
    compare(
        "  1,000-line round trip through cat",
        round_trip(cat_in(land)),
        round_trip(cat_in(exec_runner)),
        20,
        rounds,
        batch=1,
    )


if __name__ == "__main__":
    main()
