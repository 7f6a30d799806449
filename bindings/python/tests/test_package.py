"""The package as users get it: `python -m build` makes an sdist and, from
it alone, a wheel bundling the library; installed into a fresh venv, it
works with the checkout out of sight."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

PKG = ROOT / "bindings" / "python"


def test_wheel_from_the_sdist_works_without_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    env = dict(os.environ)
    env.pop("RESTRICTED_RUNNER_LIB", None)
    env.pop("PYTHONPATH", None)
    # The wheel is built from the unpacked sdist, elsewhere: its own target
    # folder keeps the compiled dependencies between runs.
    env["CARGO_TARGET_DIR"] = str(ROOT / "target" / "python-sdist-build")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(PKG)], check=True, env=env, timeout=1800)
    wheels = list(dist.glob("restricted_runner-*-py3-none-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    assert list(dist.glob("restricted_runner-*.tar.gz"))
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
    assert "restricted_runner/_lib/librestricted_runner.so" in names
    assert "restricted_runner/py.typed" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheels[0])], check=True, env=env
    )
    check = (
        "import restricted_runner as rr, os, sys; "
        "assert rr.__file__.startswith(sys.prefix), rr.__file__; "
        "done = rr.Runner('exec').run(['echo', 'works'], capture_output=True, check=True); "
        "print(done.stdout.decode().strip(), rr.version())"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [str(py), "-c", check]
    if os.geteuid() == 0 and shutil.which("unshare"):
        # The checkout hidden under an empty tmpfs, in a mount namespace of
        # this command only.
        command = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{ROOT}" && exec "$@"', "sh", *command]
    else:
        pytest.skip("hiding the checkout needs root and unshare")
    out = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "works 0.1.0"
