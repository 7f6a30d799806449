//! The checked-in C header must equal a fresh cbindgen generation, and its
//! version macros must match Cargo.toml.
//! Regenerate with `RR_BLESS=1 cargo test --test header`.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generation")
        .write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

#[test]
fn header_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/restricted_runner.h");
    let fresh = generate();
    if std::env::var_os("RR_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/restricted_runner.h differs from the code; run `RR_BLESS=1 cargo test --test header`"
    );
}

#[test]
fn version_macros_match_cargo() {
    let header = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("include/restricted_runner.h"),
    )
    .unwrap();
    for (name, value) in [
        ("RR_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("RR_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("RR_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(header.contains(&line), "header lacks `{}`", line.trim());
    }
    // SAFETY: rr_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(restricted_runner::ffi::rr_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_exported_function_is_prefixed() {
    let header = generate();
    for line in header.lines() {
        if let Some(open) = line.find('(') {
            let before = &line[..open];
            if !line.starts_with(' ')
                && !line.starts_with('#')
                && !line.starts_with("//")
                && !before.contains('=')
            {
                let name = before.rsplit([' ', '*']).next().unwrap();
                assert!(
                    name.starts_with("rr_"),
                    "exported function {name} lacks the rr_ prefix"
                );
            }
        }
    }
}
