//! The `docker` runner's options and the engine argv they become. Pure:
//! nothing here touches the engine or the file system, and every option has
//! a golden test below.

use std::ffi::{OsStr, OsString};

use crate::env::EnvPolicy;
use crate::error::{Error, Result};
use crate::options::{Options, TemplatedValue};
use crate::template::Params;

/// Option keys of the `docker` runner: go-restricted-runner's, then the new ones.
pub(crate) const KEYS: &[&str] = &[
    "image",
    "docker_run_opts",
    "mounts",
    "allow_networking",
    "network",
    "user",
    "workdir",
    "prepare_command",
    "memory",
    "memory_reservation",
    "memory_swap",
    "memory_swappiness",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_search",
    "platform",
    "engine",
    "pull",
    "pids_limit",
    "cpus",
    "read_only",
    "no_new_privileges",
    "inherit_env",
    "pass_env",
];

/// The label every container carries; its value names the owning process.
pub(crate) const OWNER_LABEL: &str = "io.restricted-runner.owner";

/// The shell that runs `Run` commands and `prepare_command` in the container.
pub(crate) const CONTAINER_SHELL: &str = "/bin/sh";

/// A container engine, driven through its CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// The `docker` CLI (talking to whatever DOCKER_HOST / its context names).
    Docker,
    /// The `podman` CLI.
    Podman,
}

impl Engine {
    /// The CLI's name, looked up in PATH.
    pub(crate) fn cli(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

/// The `engine` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineChoice {
    /// This engine only.
    Only(Engine),
    /// docker if its engine answers, else podman.
    Auto,
}

/// The `pull` option; absent means the engine's default (`missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pull {
    Missing,
    Never,
    Always,
}

impl Pull {
    fn as_str(self) -> &'static str {
        match self {
            Pull::Missing => "missing",
            Pull::Never => "never",
            Pull::Always => "always",
        }
    }
}

/// One `mounts` entry, `host:container[:mode]`, split when the options are
/// read so that a param value can never add a field (it may not hold `:`).
#[derive(Debug, Clone)]
struct Mount {
    host: TemplatedValue,
    container: TemplatedValue,
    mode: Option<String>,
}

/// A mount rendered for one spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RenderedMount {
    /// An absolute host path or a named volume.
    pub(crate) host: String,
    /// An absolute path in the container.
    pub(crate) container: String,
    /// `ro`, `rw` or other engine mount flags.
    pub(crate) mode: Option<String>,
}

/// The parsed options.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The image; `None` only where no container is started (orphan removal).
    pub(crate) image: Option<String>,
    pub(crate) engine: EngineChoice,
    pub(crate) pull: Option<Pull>,
    /// `docker_run_opts`, split with shell-word rules.
    run_opts: Vec<String>,
    mounts: Vec<Mount>,
    allow_networking: bool,
    network: Option<String>,
    user: Option<String>,
    workdir: Option<TemplatedValue>,
    prepare_command: Option<String>,
    memory: Option<String>,
    memory_reservation: Option<String>,
    memory_swap: Option<String>,
    memory_swappiness: Option<u8>,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    dns: Vec<String>,
    dns_search: Vec<String>,
    platform: Option<String>,
    pids_limit: Option<u64>,
    cpus: Option<f64>,
    read_only: bool,
    no_new_privileges: bool,
    /// Which of the caller's variables the container gets (`pass_env`).
    pub(crate) env: EnvPolicy,
}

fn invalid(key: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid_options(format!("option {key:?} of the docker runner: {msg}"))
}

/// An optional string where `""` means "not set", as in go-restricted-runner.
fn non_empty(o: &mut Options, key: &str) -> Result<Option<String>> {
    Ok(o.string(key)?.filter(|s| !s.is_empty()))
}

fn flag_values(o: &mut Options, key: &str) -> Result<Vec<String>> {
    let items = o.string_list(key)?;
    if let Some(i) = items.iter().position(|s| s.is_empty()) {
        return Err(invalid(key, format!("item {i} is empty")));
    }
    Ok(items)
}

/// Flags in `docker_run_opts` that would break the one attached, removed
/// container per spawn this runner relies on.
fn forbidden_run_opt(token: &str) -> Option<&'static str> {
    let long = token
        .strip_prefix("--")
        .map(|t| t.split_once('=').map_or(t, |(name, _)| name));
    match long {
        Some("detach") => Some("--detach would leave the container running unattended"),
        Some("tty") => Some("--tty would merge stdout and stderr into a terminal"),
        Some("name") => Some("--name is set by the runner (rr-<unique>)"),
        Some("rm") => Some("removal is managed by the runner"),
        Some("attach") | Some("interactive") => Some("attaching is managed by the runner"),
        Some(_) => None,
        None => {
            let short = token.strip_prefix('-')?;
            if !short.is_empty()
                && short.bytes().all(|b| b.is_ascii_alphabetic())
                && short.bytes().any(|b| matches!(b, b'd' | b't' | b'a'))
            {
                Some("-d, -t and -a (detach, tty, attach) are managed by the runner")
            } else {
                None
            }
        }
    }
}

fn parse_run_opts(s: &str) -> Result<Vec<String>> {
    let words = shell_words::split(s).map_err(|e| {
        invalid(
            "docker_run_opts",
            format!("{s:?} cannot be split into words: {e}"),
        )
    })?;
    for w in &words {
        if let Some(why) = forbidden_run_opt(w) {
            return Err(invalid(
                "docker_run_opts",
                format!("{w:?} is not allowed: {why}"),
            ));
        }
    }
    Ok(words)
}

/// Docker's reference grammar is stricter; this excludes what could be read
/// as a flag or hide a second word.
fn check_image(image: &str) -> Result<()> {
    let ok = !image.is_empty()
        && !image.starts_with('-')
        && image.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "image",
            format!("{image:?} is not an image reference (letters, digits and . _ - / : @, not starting with -)"),
        ))
    }
}

fn parse_mount(source: String) -> Result<Mount> {
    let parts: Vec<&str> = source.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, None),
        [h, c, m] => (*h, *c, Some(*m)),
        _ => {
            return Err(invalid(
                "mounts",
                format!("{source:?} is not of the form host:container[:ro]"),
            ))
        }
    };
    if host.is_empty() || container.is_empty() {
        return Err(invalid(
            "mounts",
            format!("{source:?} has an empty host or container part"),
        ));
    }
    if let Some(m) = mode {
        let valid = m
            .split(',')
            .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphabetic()));
        if !valid {
            return Err(invalid(
                "mounts",
                format!("{source:?}: mode {m:?} is not a list of mount flags such as ro or rw"),
            ));
        }
    }
    Ok(Mount {
        host: TemplatedValue::parse("mounts", host.to_string())?,
        container: TemplatedValue::parse("mounts", container.to_string())?,
        mode: mode.map(str::to_string),
    })
}

/// The working directory must be absolute: the engines would resolve a
/// relative one against the image's.
fn check_workdir(dir: &str, w: &TemplatedValue) -> Result<()> {
    if dir.starts_with('/') {
        return Ok(());
    }
    let from = if w.is_literal() {
        String::new()
    } else {
        format!(" (from {:?}{})", w.source(), w.params_named())
    };
    Err(invalid(
        "workdir",
        format!("{dir:?}{from} is not an absolute path"),
    ))
}

impl Config {
    /// Reads the options; `require_image` is false only for calls that
    /// start no container.
    pub(crate) fn parse(json: Option<&str>, require_image: bool) -> Result<Config> {
        let mut o = Options::parse("docker", json, KEYS)?;
        let image = non_empty(&mut o, "image")?;
        match &image {
            Some(i) => check_image(i)?,
            None if require_image => {
                return Err(Error::invalid_options(
                    "the docker runner requires the \"image\" option",
                ))
            }
            None => {}
        }
        let engine = match o.string("engine")?.as_deref() {
            None | Some("") | Some("docker") => EngineChoice::Only(Engine::Docker),
            Some("podman") => EngineChoice::Only(Engine::Podman),
            Some("auto") => EngineChoice::Auto,
            Some(other) => {
                return Err(invalid(
                    "engine",
                    format!("{other:?} is not one of docker, podman, auto"),
                ))
            }
        };
        let pull = match o.string("pull")?.as_deref() {
            None | Some("") => None,
            Some("missing") => Some(Pull::Missing),
            Some("never") => Some(Pull::Never),
            Some("always") => Some(Pull::Always),
            Some(other) => {
                return Err(invalid(
                    "pull",
                    format!("{other:?} is not one of missing, never, always"),
                ))
            }
        };
        let run_opts = match o.string("docker_run_opts")? {
            Some(s) => parse_run_opts(&s)?,
            None => Vec::new(),
        };
        let mounts = o
            .string_list("mounts")?
            .into_iter()
            .map(parse_mount)
            .collect::<Result<_>>()?;
        let allow_networking = o.bool("allow_networking")?.unwrap_or(true);
        let network = non_empty(&mut o, "network")?;
        if let (false, Some(n)) = (allow_networking, &network) {
            if n != "none" {
                return Err(invalid(
                    "network",
                    format!("{n:?} contradicts \"allow_networking\": false"),
                ));
            }
        }
        let user = non_empty(&mut o, "user")?;
        // `""` means unset, as in go-restricted-runner's configs.
        let workdir = non_empty(&mut o, "workdir")?
            .map(|w| TemplatedValue::parse("workdir", w))
            .transpose()?;
        if let Some(w) = workdir.as_ref().filter(|w| w.is_literal()) {
            check_workdir(&w.render(&Params::new())?, w)?;
        }
        let prepare_command = non_empty(&mut o, "prepare_command")?;
        let memory = non_empty(&mut o, "memory")?;
        let memory_reservation = non_empty(&mut o, "memory_reservation")?;
        let memory_swap = non_empty(&mut o, "memory_swap")?;
        let memory_swappiness = match o.i64("memory_swappiness")? {
            None | Some(-1) => None,
            Some(v @ 0..=100) => Some(v as u8),
            Some(v) => {
                return Err(invalid(
                    "memory_swappiness",
                    format!("{v} is not from 0 to 100 (or -1 for the engine's default)"),
                ))
            }
        };
        let cap_add = flag_values(&mut o, "cap_add")?;
        let cap_drop = flag_values(&mut o, "cap_drop")?;
        let dns = flag_values(&mut o, "dns")?;
        let dns_search = flag_values(&mut o, "dns_search")?;
        let platform = non_empty(&mut o, "platform")?;
        let pids_limit = match o.u64("pids_limit")? {
            Some(0) => return Err(invalid("pids_limit", "must be at least 1")),
            v => v,
        };
        let cpus = match o.f64("cpus")? {
            Some(c) if c <= 0.0 => {
                return Err(invalid("cpus", format!("{c} is not a positive number")))
            }
            c => c,
        };
        let read_only = o.bool("read_only")?.unwrap_or(false);
        let no_new_privileges = o.bool("no_new_privileges")?.unwrap_or(true);
        let env = EnvPolicy::parse_for_container(&mut o)?;
        Ok(Config {
            image,
            engine,
            pull,
            run_opts,
            mounts,
            allow_networking,
            network,
            user,
            workdir,
            prepare_command,
            memory,
            memory_reservation,
            memory_swap,
            memory_swappiness,
            cap_add,
            cap_drop,
            dns,
            dns_search,
            platform,
            pids_limit,
            cpus,
            read_only,
            no_new_privileges,
            env,
        })
    }

    /// Whether the container has a memory limit (the engine may then kill
    /// the command for memory).
    pub(crate) fn limits_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The mounts with this spawn's params filled in.
    pub(crate) fn render_mounts(&self, params: &Params) -> Result<Vec<RenderedMount>> {
        self.mounts
            .iter()
            .map(|m| {
                let host = m.host.render(params)?;
                let container = m.container.render(params)?;
                let whole = || {
                    format!(
                        "{}:{}{}",
                        m.host.source(),
                        m.container.source(),
                        m.mode.as_deref().map(|x| format!(":{x}")).unwrap_or_default()
                    )
                };
                if host.contains(':') || container.contains(':') {
                    return Err(invalid(
                        "mounts",
                        format!("{:?}: a param value holds ':' (host {host:?}, container {container:?})", whole()),
                    ));
                }
                let volume_name = !host.contains('/')
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                    && !host.starts_with(['.', '-', '_']);
                if !(host.starts_with('/') || volume_name) {
                    return Err(invalid(
                        "mounts",
                        format!("{:?}: host part {host:?} is neither an absolute path nor a volume name", whole()),
                    ));
                }
                if !container.starts_with('/') {
                    return Err(invalid(
                        "mounts",
                        format!("{:?}: container path {container:?} is not absolute", whole()),
                    ));
                }
                Ok(RenderedMount {
                    host,
                    container,
                    mode: m.mode.clone(),
                })
            })
            .collect()
    }

    /// The working directory with this spawn's params filled in.
    pub(crate) fn render_workdir(&self, params: &Params) -> Result<Option<String>> {
        let Some(w) = &self.workdir else {
            return Ok(None);
        };
        let dir = w.render(params)?;
        check_workdir(&dir, w)?;
        Ok(Some(dir))
    }

    /// The flags that follow from the options alone, the same for every spawn.
    fn option_flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.no_new_privileges {
            f.push("--security-opt=no-new-privileges".into());
        }
        if let Some(p) = self.pull {
            f.push(format!("--pull={}", p.as_str()));
        }
        if !self.allow_networking {
            f.push("--network=none".into());
        } else if let Some(n) = &self.network {
            f.push(format!("--network={n}"));
        }
        let mut opt = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                f.push(format!("--{flag}={v}"));
            }
        };
        opt("user", &self.user);
        opt("memory", &self.memory);
        opt("memory-reservation", &self.memory_reservation);
        opt("memory-swap", &self.memory_swap);
        if let Some(s) = self.memory_swappiness {
            f.push(format!("--memory-swappiness={s}"));
        }
        if let Some(p) = self.pids_limit {
            f.push(format!("--pids-limit={p}"));
        }
        if let Some(c) = self.cpus {
            f.push(format!("--cpus={c}"));
        }
        if self.read_only {
            f.push("--read-only".into());
        }
        for (flag, values) in [
            ("cap-add", &self.cap_add),
            ("cap-drop", &self.cap_drop),
            ("dns", &self.dns),
            ("dns-search", &self.dns_search),
        ] {
            f.extend(values.iter().map(|v| format!("--{flag}={v}")));
        }
        if let Some(p) = &self.platform {
            f.push(format!("--platform={p}"));
        }
        f
    }
}

/// What differs from one spawn to the next.
#[derive(Debug)]
pub(crate) struct Spawn<'a> {
    /// The container name, `rr-<unique>`.
    pub(crate) name: &'a str,
    /// The owner label's value.
    pub(crate) owner: &'a str,
    pub(crate) mounts: &'a [RenderedMount],
    pub(crate) workdir: Option<&'a str>,
    /// Names of the caller's variables the container gets: the CLI passes
    /// their values from its own environment, so they are never in an argv.
    pub(crate) passed: &'a [OsString],
    /// The spawn's own variables, in order; a later key wins, over a
    /// passed variable too.
    pub(crate) env: &'a [(OsString, OsString)],
    pub(crate) program: &'a OsStr,
    pub(crate) args: &'a [OsString],
}

fn concat(parts: &[&OsStr]) -> OsString {
    let mut s = OsString::new();
    for p in parts {
        s.push(p);
    }
    s
}

/// The argv after the CLI name: `run -i ... image [prepare wrapper] program args`.
///
/// podman removes the container itself (`--rm`) before its CLI returns. The
/// docker CLI gets no `--rm`: through podman's Docker-compatible API it then
/// reports exit code 0 whatever the command returned, so the runner removes
/// the container after the CLI exited.
pub(crate) fn run_argv(cfg: &Config, engine: Engine, s: &Spawn<'_>) -> Result<Vec<OsString>> {
    let image = cfg
        .image
        .as_deref()
        .ok_or_else(|| Error::internal("docker spawn without an image"))?;
    if s.program.is_empty() {
        return Err(Error::new(
            crate::error::ErrorKind::CommandNotFound,
            "the command is empty",
        ));
    }
    let mut argv: Vec<OsString> = vec!["run".into(), "-i".into(), "--init".into()];
    // With a memory limit the runner removes the container itself, after
    // asking the engine whether it killed the command for memory.
    if engine == Engine::Podman && !cfg.limits_memory() {
        argv.push("--rm".into());
    }
    argv.push(format!("--name={}", s.name).into());
    argv.push(format!("--label={OWNER_LABEL}={}", s.owner).into());
    argv.extend(cfg.option_flags().into_iter().map(OsString::from));
    for m in s.mounts {
        let mode = m
            .mode
            .as_deref()
            .map(|x| format!(":{x}"))
            .unwrap_or_default();
        argv.push(format!("--volume={}:{}{mode}", m.host, m.container).into());
    }
    if let Some(w) = s.workdir {
        argv.push(format!("--workdir={w}").into());
    }
    let mut env: Vec<(&OsStr, Option<&OsStr>)> =
        s.passed.iter().map(|k| (k.as_os_str(), None)).collect();
    for (k, v) in s.env {
        if k.is_empty() || k.as_encoded_bytes().contains(&b'=') {
            return Err(Error::invalid_argument(format!(
                "environment key {k:?} is empty or contains '='"
            )));
        }
        match env.iter_mut().find(|(key, _)| *key == k.as_os_str()) {
            Some(slot) => slot.1 = Some(v),
            None => env.push((k, Some(v))),
        }
    }
    for (k, v) in env {
        argv.push(match v {
            Some(v) => concat(&[OsStr::new("--env="), k, OsStr::new("="), v]),
            None => concat(&[OsStr::new("--env="), k]),
        });
    }
    argv.extend(cfg.run_opts.iter().map(OsString::from));
    argv.push(image.into());
    if let Some(prep) = &cfg.prepare_command {
        // A failing prepare_command stops the spawn with its status; its
        // `cd` and `export` carry over to the command.
        argv.push(CONTAINER_SHELL.into());
        argv.push("-c".into());
        argv.push(format!("{{ {prep}\n}} && exec \"$@\"").into());
        argv.push("sh".into());
    }
    argv.push(s.program.into());
    argv.extend(s.args.iter().cloned());
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn cfg(json: &str) -> Config {
        Config::parse(Some(json), true).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn err(json: &str) -> Error {
        Config::parse(Some(json), true).unwrap_err()
    }

    fn argv_with(
        c: &Config,
        engine: Engine,
        params: &Params,
        env: &[(&str, &str)],
        program: &str,
        args: &[&str],
    ) -> Vec<String> {
        let mounts = c.render_mounts(params).unwrap();
        let workdir = c.render_workdir(params).unwrap();
        let env: Vec<(OsString, OsString)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let s = Spawn {
            name: "rr-test",
            owner: "m:b:1:2",
            mounts: &mounts,
            workdir: workdir.as_deref(),
            passed: &[],
            env: &env,
            program: OsStr::new(program),
            args: &args,
        };
        run_argv(c, engine, &s)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    fn argv(json: &str) -> Vec<String> {
        argv_with(&cfg(json), Engine::Podman, &Params::new(), &[], "true", &[])
    }

    const PODMAN_PREFIX: [&str; 7] = [
        "run",
        "-i",
        "--init",
        "--rm",
        "--name=rr-test",
        "--label=io.restricted-runner.owner=m:b:1:2",
        "--security-opt=no-new-privileges",
    ];

    /// As [`golden`], for options with a memory limit: podman gets no
    /// `--rm` (the runner removes the container after checking for an OOM
    /// kill).
    fn golden_without_rm(json: &str, flags: &[&str]) {
        let mut want: Vec<String> = PODMAN_PREFIX
            .iter()
            .filter(|s| **s != "--rm")
            .map(|s| s.to_string())
            .collect();
        want.extend(flags.iter().map(|s| s.to_string()));
        want.push("img".into());
        want.push("true".into());
        assert_eq!(argv(json), want, "options {json}");
    }

    /// The argv for `json` is the fixed prefix, `flags`, the image, `true`.
    fn golden(json: &str, flags: &[&str]) {
        let mut want: Vec<String> = PODMAN_PREFIX.iter().map(|s| s.to_string()).collect();
        want.extend(flags.iter().map(|s| s.to_string()));
        want.push("img".into());
        want.push("true".into());
        assert_eq!(argv(json), want, "options {json}");
    }

    #[test]
    fn minimal_options() {
        golden(r#"{"image": "img"}"#, &[]);
    }

    #[test]
    fn docker_cli_gets_no_rm() {
        let c = cfg(r#"{"image": "img"}"#);
        let a = argv_with(&c, Engine::Docker, &Params::new(), &[], "true", &[]);
        assert_eq!(
            a,
            [
                "run",
                "-i",
                "--init",
                "--name=rr-test",
                "--label=io.restricted-runner.owner=m:b:1:2",
                "--security-opt=no-new-privileges",
                "img",
                "true"
            ]
        );
    }

    #[test]
    fn no_new_privileges_can_be_turned_off() {
        let mut want: Vec<String> = PODMAN_PREFIX[..6].iter().map(|s| s.to_string()).collect();
        want.extend(["img".to_string(), "true".to_string()]);
        assert_eq!(
            argv(r#"{"image": "img", "no_new_privileges": false}"#),
            want
        );
        golden(r#"{"image": "img", "no_new_privileges": true}"#, &[]);
    }

    #[test]
    fn passed_variables_are_named_never_valued_and_spawn_entries_win() {
        let c = cfg(r#"{"image": "img", "pass_env": ["API_*", "LANG"]}"#);
        let passed: Vec<OsString> = vec!["API_KEY".into(), "LANG".into()];
        let env = [(OsString::from("LANG"), OsString::from("C"))];
        let s = Spawn {
            name: "rr-test",
            owner: "m:b:1:2",
            mounts: &[],
            workdir: None,
            passed: &passed,
            env: &env,
            program: OsStr::new("true"),
            args: &[],
        };
        let a: Vec<String> = run_argv(&c, Engine::Podman, &s)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            a[PODMAN_PREFIX.len()..],
            ["--env=API_KEY", "--env=LANG=C", "img", "true"]
        );
    }

    #[test]
    fn every_option_has_its_flag() {
        golden(r#"{"image": "img", "pull": "never"}"#, &["--pull=never"]);
        golden(r#"{"image": "img", "pull": "always"}"#, &["--pull=always"]);
        golden(
            r#"{"image": "img", "pull": "missing"}"#,
            &["--pull=missing"],
        );
        golden(
            r#"{"image": "img", "allow_networking": false}"#,
            &["--network=none"],
        );
        golden(r#"{"image": "img", "allow_networking": true}"#, &[]);
        golden(
            r#"{"image": "img", "network": "host"}"#,
            &["--network=host"],
        );
        golden(
            r#"{"image": "img", "allow_networking": false, "network": "none"}"#,
            &["--network=none"],
        );
        golden(
            r#"{"image": "img", "user": "1000:1000"}"#,
            &["--user=1000:1000"],
        );
        golden(
            r#"{"image": "img", "workdir": "/app"}"#,
            &["--workdir=/app"],
        );
        golden_without_rm(r#"{"image": "img", "memory": "512m"}"#, &["--memory=512m"]);
        golden(
            r#"{"image": "img", "memory_reservation": "256m"}"#,
            &["--memory-reservation=256m"],
        );
        golden(
            r#"{"image": "img", "memory_swap": "-1"}"#,
            &["--memory-swap=-1"],
        );
        golden(
            r#"{"image": "img", "memory_swappiness": 10}"#,
            &["--memory-swappiness=10"],
        );
        golden(r#"{"image": "img", "memory_swappiness": -1}"#, &[]);
        golden(
            r#"{"image": "img", "pids_limit": 64}"#,
            &["--pids-limit=64"],
        );
        golden(r#"{"image": "img", "cpus": 1.5}"#, &["--cpus=1.5"]);
        golden(r#"{"image": "img", "cpus": 2}"#, &["--cpus=2"]);
        golden(r#"{"image": "img", "read_only": true}"#, &["--read-only"]);
        golden(r#"{"image": "img", "read_only": false}"#, &[]);
        golden(
            r#"{"image": "img", "cap_add": ["NET_ADMIN", "SYS_TIME"]}"#,
            &["--cap-add=NET_ADMIN", "--cap-add=SYS_TIME"],
        );
        golden(
            r#"{"image": "img", "cap_drop": ["ALL"]}"#,
            &["--cap-drop=ALL"],
        );
        golden(
            r#"{"image": "img", "dns": ["8.8.8.8", "1.1.1.1"]}"#,
            &["--dns=8.8.8.8", "--dns=1.1.1.1"],
        );
        golden(
            r#"{"image": "img", "dns_search": ["example.com"]}"#,
            &["--dns-search=example.com"],
        );
        golden(
            r#"{"image": "img", "platform": "linux/amd64"}"#,
            &["--platform=linux/amd64"],
        );
        golden(
            r#"{"image": "img", "mounts": ["/srv/data:/data:ro", "/tmp:/work", "cache:/cache:rw,z"]}"#,
            &[
                "--volume=/srv/data:/data:ro",
                "--volume=/tmp:/work",
                "--volume=cache:/cache:rw,z",
            ],
        );
        golden(
            r#"{"image": "img", "docker_run_opts": "--label 'a b=c d' --shm-size=1g -e X=\"y z\""}"#,
            &["--label", "a b=c d", "--shm-size=1g", "-e", "X=y z"],
        );
        // Engine and unset strings add nothing.
        golden(
            r#"{"image": "img", "engine": "podman", "user": "", "network": "", "platform": null}"#,
            &[],
        );
        // go-restricted-runner's configs write every string field, "" when unset.
        golden(
            r#"{"image": "img", "workdir": "", "prepare_command": "", "memory": "", "dns": []}"#,
            &[],
        );
        assert_eq!(
            cfg(r#"{"image": "img", "workdir": ""}"#)
                .render_workdir(&Params::new())
                .unwrap(),
            None
        );
    }

    #[test]
    fn all_options_together_in_order() {
        golden_without_rm(
            r#"{"image": "img", "engine": "auto", "pull": "never", "allow_networking": false,
                "user": "nobody", "workdir": "/w", "memory": "64m", "memory_reservation": "32m",
                "memory_swap": "128m", "memory_swappiness": 0, "pids_limit": 10, "cpus": 0.5,
                "read_only": true, "cap_add": ["A"], "cap_drop": ["B"], "dns": ["1.2.3.4"],
                "dns_search": ["s"], "platform": "linux/arm64", "mounts": ["/h:/c:ro"],
                "docker_run_opts": "--ipc=none"}"#,
            &[
                "--pull=never",
                "--network=none",
                "--user=nobody",
                "--memory=64m",
                "--memory-reservation=32m",
                "--memory-swap=128m",
                "--memory-swappiness=0",
                "--pids-limit=10",
                "--cpus=0.5",
                "--read-only",
                "--cap-add=A",
                "--cap-drop=B",
                "--dns=1.2.3.4",
                "--dns-search=s",
                "--platform=linux/arm64",
                "--volume=/h:/c:ro",
                "--workdir=/w",
                "--ipc=none",
            ],
        );
    }

    #[test]
    fn env_is_one_element_per_variable_later_wins() {
        let c = cfg(r#"{"image": "img"}"#);
        let a = argv_with(
            &c,
            Engine::Podman,
            &Params::new(),
            &[("A", "1"), ("B", "x y; $(z)"), ("A", "2=3")],
            "sh",
            &["-c", "echo $A"],
        );
        assert_eq!(
            a[PODMAN_PREFIX.len()..],
            [
                "--env=A=2=3",
                "--env=B=x y; $(z)",
                "img",
                "sh",
                "-c",
                "echo $A"
            ]
        );
    }

    #[test]
    fn prepare_command_wraps_the_command() {
        let c = cfg(r#"{"image": "img", "prepare_command": "cd /tmp\nexport X=1"}"#);
        let a = argv_with(&c, Engine::Podman, &Params::new(), &[], "cat", &["a b"]);
        assert_eq!(
            a[PODMAN_PREFIX.len()..],
            [
                "img",
                "/bin/sh",
                "-c",
                "{ cd /tmp\nexport X=1\n} && exec \"$@\"",
                "sh",
                "cat",
                "a b"
            ]
        );
    }

    #[test]
    fn params_fill_mounts_and_workdir() {
        let c = cfg(
            r#"{"image": "img", "mounts": ["{{ .src }}:/data:ro", "/fixed:/{{.name}}"], "workdir": "/data/{{ .sub }}"}"#,
        );
        let mut p = Params::new();
        p.insert("src", "/home/u/project");
        p.insert("name", "out");
        p.insert("sub", "x y");
        let a = argv_with(&c, Engine::Podman, &p, &[], "true", &[]);
        assert_eq!(
            a[PODMAN_PREFIX.len()..],
            [
                "--volume=/home/u/project:/data:ro",
                "--volume=/fixed:/out",
                "--workdir=/data/x y",
                "img",
                "true"
            ]
        );
        let e = c.render_mounts(&Params::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("\"src\""), "{e}");
    }

    #[test]
    fn a_param_cannot_add_a_mount_field() {
        let c = cfg(r#"{"image": "img", "mounts": ["{{ .src }}:/data:ro"]}"#);
        let mut p = Params::new();
        p.insert("src", "/etc:/data:rw");
        let e = c.render_mounts(&p).unwrap_err();
        assert!(e.message().contains("holds ':'"), "{e}");
        p.insert("src", "relative/dir");
        let e = c.render_mounts(&p).unwrap_err();
        assert!(e.message().contains("neither an absolute path"), "{e}");
        let c = cfg(r#"{"image": "img", "workdir": "{{ .w }}"}"#);
        p.insert("w", "rel");
        let e = c.render_workdir(&p).unwrap_err();
        assert!(e.message().contains("not an absolute path"), "{e}");
        assert!(e.message().contains("param \"w\""), "{e}");
    }

    #[test]
    fn a_param_cannot_leave_the_folder_the_template_names() {
        let c = cfg(
            r#"{"image": "img", "mounts": ["/srv/jobs/{{ .job }}:/job"], "workdir": "/w/{{ .job }}"}"#,
        );
        let mut p = Params::new();
        p.insert("job", "../../../root/x");
        for e in [
            c.render_mounts(&p).unwrap_err(),
            c.render_workdir(&p).unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::InvalidOptions);
            assert!(e.message().contains("param \"job\""), "{e}");
            assert!(e.message().contains("\"..\" segment"), "{e}");
        }
        p.insert("job", "a//b/./");
        assert_eq!(c.render_workdir(&p).unwrap().as_deref(), Some("/w/a/b"));
    }

    #[test]
    fn bad_options_name_the_key() {
        for (json, key, text) in [
            (r#"{}"#, "image", "requires the \"image\" option"),
            (r#"{"image": ""}"#, "image", "requires the \"image\" option"),
            (
                r#"{"image": "alpine; touch /tmp/x"}"#,
                "image",
                "not an image reference",
            ),
            (
                r#"{"image": "--privileged"}"#,
                "image",
                "not an image reference",
            ),
            (
                r#"{"image": "i", "engine": "lxc"}"#,
                "engine",
                "not one of docker, podman, auto",
            ),
            (
                r#"{"image": "i", "pull": "sometimes"}"#,
                "pull",
                "not one of missing",
            ),
            (
                r#"{"image": "i", "docker_run_opts": "--label 'x"}"#,
                "docker_run_opts",
                "cannot be split",
            ),
            (
                r#"{"image": "i", "docker_run_opts": "-d"}"#,
                "docker_run_opts",
                "not allowed",
            ),
            (
                r#"{"image": "i", "docker_run_opts": "-it"}"#,
                "docker_run_opts",
                "not allowed",
            ),
            (
                r#"{"image": "i", "docker_run_opts": "--name=x"}"#,
                "docker_run_opts",
                "not allowed",
            ),
            (
                r#"{"image": "i", "docker_run_opts": "--rm=false"}"#,
                "docker_run_opts",
                "not allowed",
            ),
            (
                r#"{"image": "i", "mounts": ["/a"]}"#,
                "mounts",
                "host:container",
            ),
            (
                r#"{"image": "i", "mounts": ["/a:/b:ro:x"]}"#,
                "mounts",
                "host:container",
            ),
            (r#"{"image": "i", "mounts": [":/b"]}"#, "mounts", "empty"),
            (
                r#"{"image": "i", "mounts": ["/a:/b:r o"]}"#,
                "mounts",
                "mount flags",
            ),
            (
                r#"{"image": "i", "allow_networking": false, "network": "host"}"#,
                "network",
                "contradicts",
            ),
            (
                r#"{"image": "i", "memory_swappiness": 101}"#,
                "memory_swappiness",
                "from 0 to 100",
            ),
            (
                r#"{"image": "i", "memory_swappiness": -2}"#,
                "memory_swappiness",
                "from 0 to 100",
            ),
            (
                r#"{"image": "i", "pids_limit": 0}"#,
                "pids_limit",
                "at least 1",
            ),
            (
                r#"{"image": "i", "cpus": 0}"#,
                "cpus",
                "not a positive number",
            ),
            (
                r#"{"image": "i", "cap_add": ["A", ""]}"#,
                "cap_add",
                "item 1 is empty",
            ),
            (
                r#"{"image": "i", "read_only": "yes"}"#,
                "read_only",
                "expected a boolean",
            ),
            (
                r#"{"image": "i", "shell": "/bin/bash"}"#,
                "shell",
                "unknown option",
            ),
            (
                r#"{"image": "i", "workdir": "app"}"#,
                "workdir",
                "not an absolute path",
            ),
            (
                r#"{"image": "i", "workdir": "/app/../etc"}"#,
                "workdir",
                "\"..\" segment",
            ),
            (
                r#"{"image": "i", "mounts": ["/srv/../etc:/data"]}"#,
                "mounts",
                "\"..\" segment",
            ),
            (
                r#"{"image": "i", "inherit_env": true}"#,
                "inherit_env",
                "cannot be true",
            ),
            (r#"{"image": "i", "pass_env": ["A=1"]}"#, "pass_env", "'='"),
            (
                r#"{"image": "i", "no_new_privileges": "no"}"#,
                "no_new_privileges",
                "expected a boolean",
            ),
            (r#"{"image": "i", "image": "j"}"#, "image", "given twice"),
        ] {
            let e = err(json);
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{json}");
            assert!(e.message().contains(key), "{json}: {e}");
            assert!(e.message().contains(text), "{json}: {e}");
        }
    }

    #[test]
    fn image_is_optional_only_where_asked() {
        let c = Config::parse(Some(r#"{"engine": "podman"}"#), false).unwrap();
        assert_eq!(c.engine, EngineChoice::Only(Engine::Podman));
        assert!(c.image.is_none());
        let c = cfg(r#"{"image": "i"}"#);
        assert_eq!(c.engine, EngineChoice::Only(Engine::Docker));
        assert_eq!(
            cfg(r#"{"image": "i", "engine": "auto"}"#).engine,
            EngineChoice::Auto
        );
    }

    #[test]
    fn bad_env_keys_are_rejected() {
        let c = cfg(r#"{"image": "img"}"#);
        let env = [(OsString::from("A=B"), OsString::from("c"))];
        let s = Spawn {
            name: "n",
            owner: "o",
            mounts: &[],
            workdir: None,
            passed: &[],
            env: &env,
            program: OsStr::new("true"),
            args: &[],
        };
        let e = run_argv(&c, Engine::Podman, &s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
