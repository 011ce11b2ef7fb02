//! Where settings come from: a flag, an environment variable, a TOML file — in that order of
//! precedence. Every long flag of every command has its variable: `MXTLS_` and the flag's
//! name in capitals with `_` for `-` (`--target-sessions` → `MXTLS_TARGET_SESSIONS`; a list
//! is comma-separated, a switch `true` or `false`). The file (`--config FILE`, or
//! `MXTLS_CONFIG`) holds the same names as keys: at the top for every command that takes
//! them, under `[serve]`, `[worker]`, `[check]`… for one command only:
//!
//! ```toml
//! db = "postgres://mxtls@db/mxtls"   # serve and worker
//! ehlo = "probe.example.net"
//! [serve]
//! listen = "127.0.0.1:8080"
//! trusted-proxy = ["127.0.0.1", "::1"]
//! ```
//!
//! A key no command knows, or one a section's command does not take, is an error that names
//! it: a typo must not silently leave a default in force. The file's values become flags
//! before clap parses (only where neither a flag nor a variable gave one), so every value is
//! checked by the same parsers whatever its source.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// The variable of a long flag.
pub fn env_name(long: &str) -> String {
    format!("MXTLS_{}", long.replace('-', "_").to_ascii_uppercase())
}

/// `cmd` with every long flag of every subcommand readable from its variable (`--config`
/// keeps `MXTLS_CONFIG`; `--help`, `--version` and `--print-config` have none).
pub fn with_env(cmd: Command) -> Command {
    cmd.mut_subcommands(|sub| {
        sub.mut_args(|arg| match arg.get_long() {
            Some(long)
                if !matches!(long, "help" | "version" | "print-config" | "config")
                    && !arg.is_positional() =>
            {
                // Built once per process, for its few dozen flags: clap keeps names 'static.
                let name: &'static str = Box::leak(env_name(long).into_boxed_str());
                arg.env(name)
            }
            _ => arg,
        })
    })
}

/// What the file added: the command line to parse, and the ids of the settings it gave.
pub struct FromFile {
    pub args: Vec<OsString>,
    pub given: BTreeSet<String>,
}

/// `args` with the file's settings appended as flags, where neither a flag nor a variable
/// gives them. `cmd` is the whole command (with its subcommands).
pub fn apply_file(cmd: &Command, args: Vec<OsString>) -> Result<FromFile, String> {
    let text_args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let path = config_path(&text_args).or_else(|| std::env::var_os("MXTLS_CONFIG").map(Into::into));
    let Some(path) = path else {
        return Ok(FromFile {
            args,
            given: BTreeSet::new(),
        });
    };
    let Some(sub_name) = text_args
        .iter()
        .skip(1)
        .find(|a| cmd.find_subcommand(a.as_str()).is_some())
    else {
        return Ok(FromFile {
            args,
            given: BTreeSet::new(),
        });
    };
    let sub = cmd
        .find_subcommand(sub_name)
        .ok_or_else(|| format!("no command {sub_name}"))?;
    let table = read(&path)?;
    // A section's value wins over the top's for its command: it is applied first.
    let mut sectioned: Vec<(String, toml::Value)> = Vec::new();
    let mut top: Vec<(String, toml::Value)> = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(section) => {
                let Some(of) = cmd.find_subcommand(key) else {
                    return Err(format!("{}: no command [{key}]", path.display()));
                };
                for (k, v) in section {
                    if long_arg(of, k).is_none() {
                        return Err(format!(
                            "{}: [{key}] {k}: `mxtls {key}` has no --{}",
                            path.display(),
                            k.replace('_', "-")
                        ));
                    }
                    if of.get_name() == sub.get_name() {
                        sectioned.push((k.clone(), v.clone()));
                    }
                }
            }
            _ => {
                if !cmd.get_subcommands().any(|c| long_arg(c, key).is_some()) {
                    return Err(format!(
                        "{}: {key}: no command has --{}",
                        path.display(),
                        key.replace('_', "-")
                    ));
                }
                if long_arg(sub, key).is_some() {
                    top.push((key.clone(), value.clone()));
                }
            }
        }
    }
    let mut args = args;
    let mut given = BTreeSet::new();
    for (key, value) in sectioned.into_iter().chain(top) {
        let Some(arg) = long_arg(sub, &key) else {
            continue;
        };
        let long = arg.get_long().unwrap_or_default().to_owned();
        let id = arg.get_id().to_string();
        let on_line = text_args
            .iter()
            .any(|a| *a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
        let in_env = std::env::var_os(env_name(&long)).is_some();
        if on_line || in_env || !given.insert(id) {
            continue;
        }
        let values: Vec<String> = match &value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Result<_, _>>(),
            v => scalar(v).map(|s| vec![s]),
        }
        .map_err(|e| format!("{}: {key}: {e}", path.display()))?;
        let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        for v in values {
            if switch {
                match v.as_str() {
                    "true" => args.push(format!("--{long}").into()),
                    "false" => {}
                    _ => return Err(format!("{}: {key}: true or false", path.display())),
                }
            } else {
                args.push(format!("--{long}={v}").into());
            }
        }
    }
    Ok(FromFile { args, given })
}

fn config_path(args: &[String]) -> Option<std::path::PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().map(Into::into);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.into());
        }
    }
    None
}

fn read(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--config: cannot read {}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("--config: {}: {e}", path.display()))
}

fn long_arg<'a>(cmd: &'a Command, key: &str) -> Option<&'a clap::Arg> {
    let long = key.replace('_', "-");
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(long.as_str())
            && !matches!(long.as_str(), "help" | "config" | "print-config")
    })
}

fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        _ => Err("a string, a number, a boolean or a list of them".into()),
    }
}

/// `mxtls serve --print-config`: every setting of `sub` with its value and where it came
/// from (`flag`, `env`, `file`, `default`), secrets masked — what the server would run with.
pub fn print(sub: &Command, matches: &ArgMatches, from_file: &BTreeSet<String>) -> String {
    let mut out =
        String::from("# mxtls serve: the effective settings (flag > env > file > default)\n");
    for arg in sub.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "print-config") {
            continue;
        }
        let id = arg.get_id().as_str();
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) if from_file.contains(id) => "file",
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "env",
            Some(ValueSource::DefaultValue) => "default",
            _ => "unset",
        };
        let shown: Vec<String> = values.iter().map(|v| mask(long, v)).collect();
        if shown.is_empty() {
            out.push_str(&format!("# {long}: not set\n"));
            continue;
        }
        let value = match (shown.len(), arg.get_action()) {
            (_, ArgAction::Append) => format!(
                "[{}]",
                shown
                    .iter()
                    .map(|v| quote(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => quote(&shown.join(",")),
        };
        let value = if shown.is_empty() {
            value
        } else {
            format!("{value}  # {source}")
        };
        out.push_str(&format!("{long} = {value}\n"));
    }
    out
}

fn quote(v: &str) -> String {
    if v.parse::<i64>().is_ok() || v == "true" || v == "false" {
        v.to_owned()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A value with its secret hidden: a URL's password (as the server's logs hide it), anything
/// named like a secret.
fn mask(long: &str, value: &str) -> String {
    if ["secret", "token", "password", "key"]
        .iter()
        .any(|w| long.contains(w))
    {
        return "***".into();
    }
    mxtls_server::redact(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask("db", "postgres://mxtls:hunter2@db.example/mxtls"),
            "postgres://mxtls:***@db.example/mxtls"
        );
        assert_eq!(mask("db", "mxtls.sqlite"), "mxtls.sqlite");
        assert_eq!(
            mask("db", "postgres://u@db/x?sslmode=require&password=hunter2"),
            "postgres://u@db/x?sslmode=require&password=***"
        );
        assert_eq!(mask("api-token", "abc"), "***");
        assert_eq!(env_name("target-sessions"), "MXTLS_TARGET_SESSIONS");
    }
}
