//! Running it in public: who the probe says it is, who it leaves alone, and how it stops.
//!
//! * `--ehlo` and `--source-ipv4`: the world's real Postfix logs the connection from the
//!   source address and the EHLO name (`check_helo_access … INFO`), and nothing else; the
//!   evidence records both.
//! * `--never-probe`: a listed host is never connected to (Postfix logs nothing), the report
//!   says the operator was asked not to test it, and the exit status is "not tested".
//! * `mxtls serve`: `/about/probe` names the address, the EHLO name, the budget and the
//!   opt-out; SIGTERM during a check lets it finish (its listener gets the evidence), takes
//!   no new connection, leaves the SQLite file whole (no write-ahead log left) and exits 0.
//! * Settings: each of a flag, an `MXTLS_…` variable and the `--config` file reaches the
//!   command, and the precedence is flag > variable > file (`serve --print-config`).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use mxtls_world::process::output_within;
use mxtls_world::{Options, World};

mod common;
use common::{free_port, get_within, healthy, spawn};

const NET: u8 = 110;
const SOURCE: &str = "127.110.250.9";
const EHLO: &str = "probe.mxtls.test";

fn maillog(world: &World) -> String {
    std::fs::read_to_string(world.dir.join("postfix/maillog")).unwrap_or_default()
}

/// The lines Postfix's smtpd logged about clients connecting and saying EHLO, after `from`.
fn postfix_clients(world: &World, from: usize) -> Vec<String> {
    maillog(world)
        .get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("connect from") || l.contains("helo=<"))
        .map(str::to_owned)
        .collect()
}

fn check(world: &World, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = common::mxtls_at(world, &["check", "postfix.test", "--json"]);
    cmd.arg("--allow-private-targets").args(extra);
    let out = output_within(&mut cmd, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_is_who_it_says_and_leaves_opted_out_hosts_alone() {
    let world = World::start(Options {
        net: NET,
        smtp_port: 2610,
        ..Options::default()
    })
    .await
    .expect("the test world starts");
    let ip = world
        .scenarios
        .iter()
        .find(|s| s.domain == "postfix.test")
        .and_then(|s| s.hosts.first())
        .map(|(_, ips)| ips[0].to_string())
        .expect("postfix.test's address");
    tokio::task::block_in_place(|| {
        // The world's own readiness connection (from 127.0.0.1, no command) is logged a
        // moment after the world starts: wait for it, so that it is not counted as ours.
        let settled = Instant::now() + Duration::from_secs(10);
        while !maillog(&world).contains("disconnect from unknown[127.0.0.1]")
            && Instant::now() < settled
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Who the probe is, as Postfix saw it.
        let before = maillog(&world).len();
        let (code, json, err) = check(&world, &["--ehlo", EHLO, "--source-ipv4", SOURCE]);
        assert_eq!(code, Some(0), "{err}\n{json}");
        let probe = &json["evidence"]["probe"];
        assert_eq!(probe["ehlo"], EHLO, "{probe}");
        assert_eq!(probe["source"], serde_json::json!([SOURCE]), "{probe}");
        let seen = postfix_clients(&world, before);
        let connects: Vec<&String> = seen
            .iter()
            .filter(|l| l.contains(" connect from "))
            .collect();
        let helos: Vec<&String> = seen.iter().filter(|l| l.contains("helo=<")).collect();
        assert!(
            !connects.is_empty(),
            "Postfix saw no connection:\n{}",
            maillog(&world)
        );
        for line in &connects {
            assert!(
                line.contains(&format!("unknown[{SOURCE}]")),
                "not from {SOURCE}: {line}"
            );
        }
        assert!(
            !helos.is_empty(),
            "Postfix logged no EHLO:\n{}",
            seen.join("\n")
        );
        for line in &helos {
            assert!(
                line.contains(&format!("helo=<{EHLO}>")),
                "another EHLO name: {line}"
            );
            assert!(
                line.contains(&format!("[{SOURCE}]")),
                "from elsewhere: {line}"
            );
        }

        // The same host on the opt-out list: never connected to, and the report says why.
        for entry in ["mx.postfix.test", &format!("{ip}/32"), "*.postfix.test"] {
            let list = world.dir.join("never-probe");
            std::fs::write(&list, format!("# asked by its postmaster\n{entry}\n")).expect("write");
            let before = maillog(&world).len();
            let (code, json, err) = check(&world, &["--never-probe", list.to_str().expect("path")]);
            let seen = postfix_clients(&world, before);
            assert!(
                seen.is_empty(),
                "{entry}: the opted-out host was connected to:\n{}",
                seen.join("\n")
            );
            assert_eq!(
                code,
                Some(3),
                "{entry}: not tested is exit 3\n{err}\n{json}"
            );
            let address = &json["mx"][0]["addresses"][0];
            assert_eq!(address["tls"], "opted-out", "{entry}: {address}");
            let findings: Vec<&serde_json::Value> = json["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["code"] == "address-opted-out")
                .collect();
            assert_eq!(findings.len(), 1, "{entry}: {}", json["findings"]);
            let title = findings[0]["title"].as_str().unwrap_or("");
            assert!(
                title.contains("the operator of this checker was asked not to test this host"),
                "{title}"
            );
            assert!(
                findings[0]["explanation"]
                    .as_str()
                    .unwrap_or("")
                    .contains(entry),
                "{entry}: the entry is named: {}",
                findings[0]
            );
            assert_eq!(
                json["evidence"]["hosts"][0]["addresses"][0]["target"]["entry"],
                entry
            );
        }

        // Two MX hosts on one server: opting out the second keeps the probe away from the
        // address the first shares with it.
        let shared = world
            .scenarios
            .iter()
            .find(|s| s.domain == "shared-address.test")
            .and_then(|s| s.hosts.first())
            .map(|(_, ips)| ips[0])
            .expect("shared-address.test's address");
        let list = world.dir.join("never-probe");
        std::fs::write(&list, "mx2.shared-address.test\n").expect("write");
        let seen = world.sessions.at(shared).len();
        let mut cmd = common::mxtls_at(&world, &["check", "shared-address.test", "--json"]);
        cmd.arg("--allow-private-targets")
            .arg("--never-probe")
            .arg(&list);
        let out =
            output_within(&mut cmd, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert_eq!(
            world.sessions.at(shared).len(),
            seen,
            "the shared server was connected to"
        );
        let verdicts: Vec<&serde_json::Value> = json["mx"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["addresses"].as_array().into_iter().flatten())
            .map(|a| &a["tls"])
            .collect();
        assert_eq!(verdicts, ["opted-out", "opted-out"], "{}", json["mx"]);
    });
    world.stop().await;
}

/// Reads a check stream line by line: the first progress event, then the rest to the end.
struct Stream(BufReader<TcpStream>);

impl Stream {
    fn open(addr: SocketAddr, domain: &str) -> Stream {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        s.write_all(format!("GET /api/check/{domain} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .expect("request");
        Stream(BufReader::new(s))
    }

    /// Reads until a line starting with `prefix`; everything read.
    fn until(&mut self, prefix: &str) -> String {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            match self.0.read_line(&mut line) {
                Ok(0) | Err(_) => return seen,
                Ok(_) => {
                    seen.push_str(&line);
                    if line.starts_with(prefix) {
                        return seen;
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_postmasters_who_it_is_and_stops_gracefully() {
    let world = World::start(Options {
        net: NET + 1,
        smtp_port: 2611,
        banner_delay: Duration::from_millis(3000),
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("the test world starts");
    let dir = world.dir.clone();
    let list = dir.join("never-probe");
    std::fs::write(&list, "mx.opted-out.example\n").expect("write");
    let db = dir.join("serve.sqlite");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let source = format!("127.{}.250.9", NET + 1);
    let mut cmd = common::mxtls_at(&world, &["serve"]);
    cmd.arg("--listen")
        .arg(listen.to_string())
        .arg("--db")
        .arg(&db)
        .args(["--allow-private-targets", "--posture=false", "--ehlo", EHLO])
        .args([
            "--source-ipv4",
            &source,
            "--operator-contact",
            "postmaster@mxtls.test",
        ])
        .arg("--never-probe")
        .arg(&list)
        .args(["--log-format", "json"]);
    let log = dir.join("serve.log");
    let mut server = spawn(cmd, &log);
    tokio::task::block_in_place(|| {
        healthy(listen, &log);
        let page = get_within(listen, "/about/probe", "", Duration::from_secs(10)).expect("page");
        for part in [
            "200 OK",
            &format!("<code id=\"ehlo\">{EHLO}</code>"),
            &format!("<code>{source}</code>"),
            "mailto:postmaster@mxtls.test",
            "never sends MAIL FROM, RCPT TO or DATA",
            "more than 6 sessions with one address in 60",
            "The list holds 1 entry today.",
            "the operator of this checker was asked not to test this",
        ] {
            assert!(page.contains(part), "/about/probe lacks {part:?}:\n{page}");
        }
        let _ = std::fs::create_dir_all("../../target/screenshots");
        let body = page.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let _ = std::fs::write("../../target/screenshots/about-probe.html", body);

        // SIGTERM while a check runs (the greeting comes after 3 s).
        let mut stream = Stream::open(listen, "slow-banner.test");
        let head = stream.until("event: progress");
        assert!(
            head.contains("event: progress"),
            "the check did not start:\n{head}"
        );
        let pid = server.0.id().to_string();
        let term = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(term.success());
        // No new connection is taken while the check finishes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(listen).is_ok() {
            assert!(Instant::now() < deadline, "still accepting after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        let rest = stream.until("data: {\"snapshot\"");
        assert!(
            rest.contains("event: evidence"),
            "the running check did not finish:\n{rest}"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = server.0.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(0), "{logged}");
        let wal = dir.join("serve.sqlite-wal");
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(wal_len, 0, "the store was not flushed");
        // The log: JSON lines, one of them the check's end.
        let done = logged
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["msg"] == "check done")
            .unwrap_or_else(|| panic!("no JSON line for the check:\n{logged}"));
        assert_eq!(done["domain"], "slow-banner.test", "{done}");
        assert_eq!(done["outcome"], "evidence", "{done}");
        assert_eq!(done["client"], "127.0.0.1", "{done}");
        assert!(
            done["check"].as_str().is_some_and(|c| c.len() == 32),
            "{done}"
        );
    });
    drop(server);
    world.stop().await;
}

/// `serve --print-config` with `args`, `env` and the file `toml`.
fn print_config(dir: &std::path::Path, toml: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let file = dir.join("mxtls.toml");
    std::fs::write(&file, toml).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&file)
        .args(args)
        .arg("--print-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output_within(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn settings_come_from_flags_then_variables_then_the_file() {
    let dir = std::env::temp_dir().join(format!("mxtls-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let toml = "ehlo = \"file.example\"\ntarget-sessions = 5\ntimeout = 20\n\
                [serve]\nlisten = \"127.0.0.1:9001\"\ndb = \"postgres://mxtls:hunter2@db/mxtls\"\n\
                trusted-proxy = [\"127.0.0.1\", \"::1\"]\n[worker]\njobs = 3\n";
    let text = print_config(
        &dir,
        toml,
        &[("MXTLS_TARGET_SESSIONS", "7"), ("MXTLS_TIMEOUT", "25")],
        &["--timeout", "30"],
    );
    for line in [
        "ehlo = \"file.example\"  # file",
        "listen = \"127.0.0.1:9001\"  # file",
        "trusted-proxy = [\"127.0.0.1\", \"::1\"]  # file",
        "target-sessions = 7  # env",
        "timeout = 30  # flag",
        "db = \"postgres://mxtls:***@db/mxtls\"  # file",
        "watch-interval = 21600  # default",
        "jobs = 8  # default",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    assert!(!text.contains("hunter2"), "a secret is shown:\n{text}");

    // A typo in the file is an error that names it, not a default left in force.
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[serve]\nlisen = \"x\"\n").expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&file)
        .arg("--print-config");
    let out = output_within(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lisen"), "{err}");
    // And a variable's bad value is refused like a flag's.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(["serve", "--print-config"])
        .env("MXTLS_TARGET_SESSIONS", "many");
    let out = output_within(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
