"""Builds the C library with cargo and bundles it in the package.

In a checkout the crate is two folders up; an sdist carries a copy of it
under `rust/`, so a wheel can be built from the sdist alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
LIB = "librestricted_runner.dylib" if sys.platform == "darwin" else "librestricted_runner.so"
# What cargo needs to build the library (benches: Cargo.toml names them).
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "cbindgen.toml", "README.md", "LICENSE"]
CRATE_DIRS = ["src", "include", "benches"]


def crate_root() -> Path:
    for root in (HERE / "rust", HERE.parent.parent):
        if (root / "Cargo.toml").is_file() and (root / "src" / "ffi").is_dir():
            return root
    raise SystemExit("restricted-runner: the Rust crate was not found (neither ./rust nor ../..)")


class BuildWithCargo(build_py):
    """Runs `cargo build --release --lib` and copies the shared library in."""

    def run(self) -> None:
        super().run()
        root = crate_root()
        cargo = os.environ.get("CARGO", "cargo")
        target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
        try:
            subprocess.run([cargo, "build", "--release", "--lib", "--quiet"], cwd=root, check=True)
        except FileNotFoundError:
            raise SystemExit("restricted-runner: building it needs cargo (https://rustup.rs)") from None
        dest = Path(self.build_lib) / "restricted_runner" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target / "release" / LIB, dest / LIB)


class NativeDistribution(Distribution):
    """Holds a native library: installed to platlib, in a platform wheel."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """The wheel holds a native library but no extension module: it fits any
    Python 3 on this platform."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class SdistWithCrate(sdist):
    """Puts a copy of the crate under rust/ in the sdist."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = crate_root()
        dest = Path(base_dir) / "rust"
        dest.mkdir(exist_ok=True)
        for name in CRATE_FILES:
            if (root / name).exists():
                shutil.copy2(root / name, dest / name)
        for name in CRATE_DIRS:
            shutil.copytree(root / name, dest / name, dirs_exist_ok=True)


setup(
    distclass=NativeDistribution,
    cmdclass={"build_py": BuildWithCargo, "bdist_wheel": PlatformWheel, "sdist": SdistWithCrate},
)
