//! The deployment files of `deploy/` hold what they promise:
//!
//! * `mxtls.service` passes `systemd-analyze verify` without a warning (its ExecStart pointed
//!   at this build's binary), and keeps its sandbox: a dynamic user, a read-only system, no
//!   capabilities.
//! * `mxtls.toml` is a valid settings file for `serve` (every key known, read by
//!   `--print-config`) and for `migrate`.
//! * `Containerfile`: built with `podman build` where podman can run; where it cannot (no
//!   podman, or no container runtime in this sandbox), the test says so loudly and checks the
//!   file itself — a slim Debian base, a non-root user, a health check, the exec form, and
//!   its `MXTLS_…` variables real settings — and runs the image's contract on this machine:
//!   `mxtls serve` configured by those variables alone answers `mxtls healthcheck`, and stops
//!   with status 0 on SIGTERM.
//! * `Caddyfile` parses (`caddy adapt`) to a reverse proxy to mxtls that flushes each event.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mxtls_world::process::output_within;

mod common;
use common::{free_port, healthy, spawn};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> std::process::Output {
    output_within(cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxtls-deploy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn the_systemd_unit_verifies_and_keeps_its_sandbox() {
    let unit = std::fs::read_to_string(root().join("deploy/mxtls.service")).expect("the unit");
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/local/bin/mxtls serve --config /etc/mxtls/mxtls.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line:?}");
    }
    let dir = scratch("unit");
    let here = unit.replace("/usr/local/bin/mxtls", env!("CARGO_BIN_EXE_mxtls"));
    std::fs::write(dir.join("mxtls.service"), here).expect("write");
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.join("mxtls.service")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify:\n{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_settings_are_valid() {
    let toml = root().join("deploy/mxtls.toml");
    let out = run(Command::new(env!("CARGO_BIN_EXE_mxtls"))
        .args(["serve", "--print-config", "--config"])
        .arg(&toml));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ehlo = \"probe.example.net\"  # file",
        "listen = \"127.0.0.1:8080\"  # file",
        "trusted-proxy = [\"127.0.0.1\", \"::1\"]  # file",
        "log-format = \"json\"  # file",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    let dir = scratch("migrate");
    let db = dir.join("m.sqlite");
    let out = run(Command::new(env!("CARGO_BIN_EXE_mxtls"))
        .arg("migrate")
        .arg("--config")
        .arg(&toml)
        .arg("--db")
        .arg(&db));
    let said = String::from_utf8_lossy(&out.stdout);
    let known = mxtls_server::store::MIGRATIONS.len();
    assert!(
        said.contains(&format!("schema version {known} of {known}")),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether podman can build and run images here.
fn podman_works() -> Result<(), String> {
    let out = Command::new("podman")
        .arg("info")
        .output()
        .map_err(|e| format!("no podman ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "podman cannot run here: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

#[test]
fn the_container_image_builds_or_its_file_holds_its_promises() {
    let file = std::fs::read_to_string(root().join("deploy/Containerfile")).expect("file");
    let lines: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let from = lines.iter().find(|l| l.starts_with("FROM ")).expect("FROM");
    assert!(
        from.contains("debian:") && from.ends_with("-slim"),
        "{from}"
    );
    let user = lines
        .iter()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    assert!(!matches!(&user[5..], "root" | "0"), "{user}");
    assert!(
        lines.iter().any(|l| l.starts_with("HEALTHCHECK ")),
        "no HEALTHCHECK"
    );
    assert!(lines.iter().any(|l| l.starts_with("STOPSIGNAL SIGTERM")));
    let entry = lines
        .iter()
        .find(|l| l.starts_with("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    assert!(
        entry.contains("[\""),
        "ENTRYPOINT in exec form, so SIGTERM reaches mxtls"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("ADD ")),
        "ADD fetches; COPY only"
    );
    // Its variables are settings `serve` has (a typo would be silently ignored).
    let vars: Vec<String> = lines
        .join(" ")
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| k.starts_with("MXTLS_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert!(vars.len() >= 3, "{vars:?}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(["serve", "--print-config"]);
    for v in &vars {
        let (k, val) = v.split_once('=').expect("k=v");
        cmd.env(k, val);
    }
    let text = String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned();
    assert_eq!(
        text.matches("# env").count(),
        vars.len(),
        "{vars:?}\n{text}"
    );

    match podman_works() {
        Ok(()) => {
            let out = run(Command::new("podman").current_dir(root()).args([
                "build",
                "-f",
                "deploy/Containerfile",
                "-t",
                "mxtls-test",
                ".",
            ]));
            assert!(
                out.status.success(),
                "podman build:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(why) => {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! THE CONTAINER IMAGE WAS NOT BUILT HERE: {why}\n\
                 !! (and no registry is reachable for the Debian base). Checked instead: the\n\
                 !! Containerfile's base, user, health check, signal and exec form, and its\n\
                 !! MXTLS_ variables; and the image's contract run on this machine below.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
        }
    }

    // The image's contract: configured by its variables alone (the listen address moved to
    // a free port, the store to a scratch file), healthy, and a clean stop on SIGTERM.
    let dir = scratch("image");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    serve.arg("serve").current_dir(&dir);
    for v in &vars {
        let (k, val) = v.split_once('=').expect("k=v");
        let val = match k {
            "MXTLS_LISTEN" => listen.clone(),
            "MXTLS_DB" => dir.join("mxtls.sqlite").display().to_string(),
            "MXTLS_WEB_DIR" => root().join("dist").display().to_string(),
            _ => val.to_owned(),
        };
        serve.env(k, val);
    }
    let log = dir.join("serve.log");
    let mut server = spawn(serve, &log);
    healthy(listen.parse().expect("addr"), &log);
    let health =
        run(Command::new(env!("CARGO_BIN_EXE_mxtls")).args(["healthcheck", "--listen", &listen]));
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let down =
        run(Command::new(env!("CARGO_BIN_EXE_mxtls")).args(["healthcheck", "--listen", &listen]));
    assert_eq!(down.status.code(), Some(1), "healthy after the stop");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_reverse_proxy_passes_events_on_at_once() {
    let out = run(Command::new("caddy")
        .args(["adapt", "--config"])
        .arg(root().join("deploy/Caddyfile")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = json.to_string();
    assert!(text.contains("\"dial\":\"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("\"flush_interval\":-1"), "{text}");
    assert!(
        text.contains("\"host\":[\"checker.example.net\"]"),
        "{text}"
    );
}
