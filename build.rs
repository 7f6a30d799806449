//! Builds the helper program the library embeds (src/helper_program): a static,
//! C-library-free executable that the landrun runner runs as PID 1 of its
//! sandboxes. It is compiled with the same rustc, for the same target, and
//! needs nothing but the linker the library itself is linked with.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=src/helper_program");
    println!("cargo::rustc-check-cfg=cfg(rr_helper)");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let exe = out.join("restricted-runner-helper");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("TARGET");
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "restricted_runner_helper",
    ])
    .args(["--target", &target])
    .args([
        "-C",
        "panic=abort",
        "-C",
        "opt-level=s",
        "-C",
        "debuginfo=0",
    ])
    .args(["-C", "relocation-model=static", "-C", "strip=symbols"])
    .args([
        "-C",
        "link-arg=-nostartfiles",
        "-C",
        "link-arg=-nostdlib",
        "-C",
        "link-arg=-static",
    ])
    .args(["-C", "link-arg=-Wl,--build-id=none"]);
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut arg = std::ffi::OsString::from("linker=");
        arg.push(linker);
        cmd.arg("-C").arg(arg);
    }
    cmd.arg("-o").arg(&exe).arg("src/helper_program/main.rs");
    // The outer build's flags (a target CPU, a sanitizer) are not the
    // helper's concern.
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    let status = cmd.status().expect("running rustc for src/helper_program");
    assert!(status.success(), "building src/helper_program failed");
    println!("cargo::rustc-cfg=rr_helper");
}
