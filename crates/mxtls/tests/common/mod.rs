//! What the CLI's world tests (and the load benchmark) share: `mxtls …` pointed at a test
//! world, and `mxtls serve`/`worker` processes run beside it.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mxtls_world::World;

/// `mxtls ARGS…` (a subcommand and its arguments) with the world's resolver, trust anchor,
/// CA and ports, and a 30 s check deadline.
pub fn mxtls_at(world: &World, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(args)
        .args(["--timeout", "30"])
        .arg("--resolver")
        .arg(world.resolver.to_string())
        .arg("--trust-anchor")
        .arg(&world.trust_anchor)
        .arg("--pkix-roots")
        .arg(&world.root_ca)
        .arg("--smtp-port")
        .arg(world.smtp_port.to_string())
        .arg("--https-port")
        .arg(world.https_port.to_string());
    cmd
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `cmd` started with its output in `log`.
pub fn spawn(mut cmd: Command, log: &std::path::Path) -> Proc {
    let out = std::fs::File::create(log).expect("log");
    let err = out.try_clone().expect("log");
    Proc(
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("mxtls starts"),
    )
}

/// Waits for `/healthz`.
pub fn healthy(addr: SocketAddr, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{addr} did not come up: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// `GET path` from `addr` over HTTP/1.0 with `extra` header lines, read until the server
/// closes (the body of a check stream ends with the check); an error past `limit`.
pub fn get_within(
    addr: SocketAddr,
    path: &str,
    extra: &str,
    limit: Duration,
) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(limit))
        .map_err(|e| format!("read timeout: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").as_bytes())
        .map_err(|e| format!("request: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("GET {path}: no end within {limit:?}: {e}"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A check stream as read: its progress events and the evidence event's JSON.
pub struct CheckStream {
    pub progress: usize,
    pub evidence: serde_json::Value,
}

/// The events of a check stream (`event:`/`data:` lines); an `error` event, or no evidence,
/// is an error with the stream's text.
pub fn stream_events(stream: &str) -> Result<CheckStream, String> {
    let mut progress = 0;
    let mut evidence = None;
    let mut name = "";
    for line in stream.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.trim();
        } else if let Some(data) = line.strip_prefix("data: ") {
            match name {
                "progress" => progress += 1,
                "evidence" => evidence = serde_json::from_str(data).ok(),
                "error" => return Err(format!("the check failed: {data}")),
                _ => {}
            }
        }
    }
    match evidence {
        Some(evidence) => Ok(CheckStream { progress, evidence }),
        None => Err(format!("no evidence in the stream:\n{stream}")),
    }
}
