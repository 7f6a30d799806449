//! `rr_runner_explain`: what a spawn would do, as JSON, without doing it.

use std::ffi::{c_char, OsStr};
use std::os::unix::ffi::OsStrExt;

use super::{env_pairs, guard, handle, json, owned_string, required, string_array};
use super::{rr_error, rr_runner, rr_spawn_attrs, rr_status};
use crate::error::Error;
use crate::runner::Command;
use crate::template::Params;

/// Describes what `rr_spawn` would do with the same arguments, without
/// starting anything or writing any file, as a JSON object of the same
/// shape for every runner:
/// `{"runner", "program", "argv", "working_folder", "profile", "landlock",
/// "namespaces", "mounts", "seccomp", "capabilities", "network", "limits",
/// "containment", "environment", "notes"}`. `argv` is the argv that would be
/// executed, element by element (firejail's or the engine CLI's for those
/// runners, the program's own otherwise); `profile` is the rendered
/// firejail or Seatbelt profile; `landlock` the rules; `environment` the
/// `KEY=VALUE` entries the command would get; `notes` what is decided only
/// at spawn time (temporary file and container names) and what would make
/// the spawn fail. A key a runner has no layer for holds `null`, `[]` or
/// `{}`.
///
/// The arguments are `rr_spawn`'s: `cmd` and the NULL-terminated `args`
/// (without `cmd`), `env` (NULL-terminated `KEY=VALUE` entries added to the
/// caller's, or NULL), `params_json` (or NULL) and `attrs` (or NULL). A bad
/// param, path or option is the error the spawn would give. The runner's
/// requirements are not checked; a `docker` runner with engine `auto` asks
/// the engines which one answers, as its spawn would.
///
/// On success `*json_out` receives a NUL-terminated UTF-8 string that the
/// caller frees with `rr_string_free` (never with `free()`); on failure it
/// is left untouched. Safe to call from many threads on one runner.
///
/// # Safety
/// `runner` is NULL or a live runner; `cmd` is NULL or a NUL-terminated
/// string; `args` and `env` are NULL or NULL-terminated arrays of such
/// strings; `params_json` is NULL or a NUL-terminated string; `attrs` is
/// NULL or live; `json_out` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_explain(
    runner: *const rr_runner,
    cmd: *const c_char,
    args: *const *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    attrs: *const rr_spawn_attrs,
    json_out: *mut *mut c_char,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let cmd = unsafe { required(cmd, "cmd") }?;
        if json_out.is_null() {
            return Err(Error::invalid_argument("json_out is NULL"));
        }
        // SAFETY: as above.
        let args = unsafe { string_array(args) };
        // SAFETY: as above.
        let env = env_pairs(&unsafe { string_array(env) })?;
        // SAFETY: as above.
        let params = Params::from_json(unsafe { json(params_json, "params_json") }?)?;
        let mut command = Command::new(OsStr::from_bytes(cmd))
            .args(args.iter().map(|a| OsStr::from_bytes(a)))
            .params(params);
        // SAFETY: NULL or live per the contract.
        if let Some(attrs) = unsafe { attrs.as_ref() } {
            command = command.attrs(attrs.inner.clone());
        }
        for (k, v) in env {
            command = command.env(k, v);
        }
        let text = runner.inner.explain(&command)?.to_json().to_string();
        let s = owned_string(text)?;
        // SAFETY: checked non-NULL above.
        unsafe { *json_out = s };
        Ok(())
    })
}
