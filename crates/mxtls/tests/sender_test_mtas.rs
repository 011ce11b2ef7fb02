//! Real mail servers as senders: Debian's Postfix (`dane` and `may`), Exim (DANE on),
//! Sendmail and OpenSMTPD each send one message to every test domain of the world's
//! `sender.test` through the world's validating resolver, to mxtls's receivers (`mxtls serve
//! --sender-test`), and every verdict each gets is pinned: what each really does, where the
//! lore says otherwise too (ARCHITECTURE.md, "the sender test").
//!
//! Real senders only speak to port 25, which the suite's neighbours hold on every address
//! (`scripts/test.sh`): the test runs itself again inside a network and mount namespace of
//! its own (`unshare --net --mount`), whose loopback is its own and whose /etc/resolv.conf
//! names the world's resolver; the machine's are never touched.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::senders::{Sender, SenderKind, use_resolver};
use mxtls_world::{Options, World};

mod common;
use common::{free_port, healthy, spawn};

const NET: u8 = 114;
const INSIDE: &str = "MXTLS_SENDER_TEST_INSIDE";
/// How long the receivers listen for each test: long enough for every deferring sender here
/// to come back at least once (Postfix, Exim and Sendmail retry within seconds as configured;
/// OpenSMTPD is told to run its queue every 5 s).
const WINDOW: u64 = 60;

#[test]
fn real_senders_get_the_verdicts_they_earn() {
    if std::env::var_os(INSIDE).is_none() {
        // Again, inside namespaces of its own.
        let exe = std::env::current_exe().expect("the test binary");
        let out = output_within(
            Command::new("unshare")
                .args(["--net", "--mount", "--"])
                .arg(exe)
                .args([
                    "--exact",
                    "real_senders_get_the_verdicts_they_earn",
                    "--nocapture",
                ])
                .env(INSIDE, "1"),
            Duration::from_secs(600),
        )
        .expect("unshare runs (util-linux; the suite runs as root)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "inside the namespace:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("1 passed"),
            "the test ran inside:\n{stdout}"
        );
        return;
    }
    inside();
}

fn inside() {
    let up = output_within(
        Command::new("ip").args(["link", "set", "lo", "up"]),
        Duration::from_secs(10),
    )
    .expect("ip runs");
    assert!(
        up.status.success(),
        "loopback up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: NET,
            smtp_port: 25,
            https_port: 443,
            postfix: false,
            sender_test: true,
            ..Options::default()
        }))
        .unwrap_or_else(|e| panic!("world: {e}"));
    let st = world.sender_test.clone().expect("the sender test's zone");
    let std::net::IpAddr::V4(resolver) = world.resolver.ip() else {
        panic!("an IPv4 resolver");
    };
    use_resolver(resolver, &world.dir.join("resolver")).unwrap_or_else(|e| panic!("{e}"));

    let port = free_port();
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let url = format!("http://{server}");
    let mut cmd = common::mxtls_at(&world, &["serve"]);
    cmd.arg("--listen")
        .arg(server.to_string())
        .arg("--db")
        .arg(world.dir.join("senders.sqlite"))
        .args(["--web-dir", "/nonexistent", "--allow-private-targets"])
        .args(["--sender-test", "sender.test"])
        .args(["--sender-test-window", &WINDOW.to_string()])
        .arg("--sender-test-listen")
        .arg(st.listen_flag())
        .arg("--sender-test-cert")
        .arg(&st.cert)
        .arg("--sender-test-key")
        .arg(&st.key);
    let log = world.dir.join("serve.log");
    let _serve = spawn(cmd, &log);
    healthy(server, &log);

    let watch = |args: &[&str]| -> serde_json::Value {
        let out = output_within(
            Command::new(env!("CARGO_BIN_EXE_mxtls"))
                .args(["sender-test", "watch", "--server", &url, "--json"])
                .args(args),
            Duration::from_secs(WINDOW + 60),
        )
        .expect("mxtls runs");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)))
    };

    // Each sender in a network of its own (the receivers match its unnamed connections by
    // it), with a test of its own.
    let mut running = Vec::new();
    for (n, kind) in SenderKind::ALL.into_iter().enumerate() {
        let started = watch(&["--start", "--once"]);
        let token = started["test"]["token"].as_str().expect("token").to_owned();
        assert_eq!(
            started["test"]["published"],
            serde_json::json!([]),
            "{started:#}"
        );
        let source = Ipv4Addr::new(127, NET, 20 + n as u8, 1);
        let dir = world.dir.join(format!("sender-{}", kind.label()));
        let sender = Sender::start(kind, &dir, source, 25)
            .unwrap_or_else(|e| panic!("{}: {e}", kind.label()));
        let to: Vec<String> = mxtls_world::sender_zone::CASES
            .iter()
            .map(|c| format!("{token}@{c}.sender.test"))
            .collect();
        sender
            .send("postmaster@sender.test", &to)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", kind.label(), sender.log()));
        running.push((kind, token, sender));
    }

    // Each test followed until its receivers stop listening; the verdicts as they stand.
    let follows: Vec<_> = running
        .iter()
        .map(|(kind, token, _)| {
            let (url, token, kind) = (url.clone(), token.clone(), *kind);
            std::thread::spawn(move || {
                let out = output_within(
                    Command::new(env!("CARGO_BIN_EXE_mxtls")).args([
                        "sender-test",
                        "watch",
                        "--server",
                        &url,
                        "--json",
                        &token,
                    ]),
                    Duration::from_secs(WINDOW + 120),
                )
                .expect("mxtls runs");
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                (kind, text)
            })
        })
        .collect();
    let mut seen: BTreeMap<&'static str, Vec<(String, String, String)>> = BTreeMap::new();
    let mut tests = BTreeMap::new();
    for follow in follows {
        let (kind, text) = follow.join().expect("a follower");
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", kind.label()));
        let verdicts = json["verdicts"]
            .as_array()
            .expect("verdicts")
            .iter()
            .map(|v| {
                (
                    v["case"].as_str().unwrap_or("").to_owned(),
                    v["outcome"].as_str().unwrap_or("").to_owned(),
                    v["verdict"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        seen.insert(kind.label(), verdicts);
        tests.insert(kind.label(), json);
    }
    let logs: String = running
        .iter()
        .map(|(k, _, s)| format!("==== {}\n{}\n", k.label(), s.log()))
        .collect();
    for (_, _, sender) in running {
        sender.stop();
    }
    // The table the closing note and ARCHITECTURE.md give.
    println!(
        "sender            | {}",
        mxtls_world::sender_zone::CASES.join(" | ")
    );
    for (label, verdicts) in &seen {
        let row: Vec<&str> = verdicts.iter().map(|(_, o, _)| o.as_str()).collect();
        println!("{label:<17} | {}", row.join(" | "));
        for (case, outcome, words) in verdicts {
            println!("    {case:<18} {outcome:<8} {words}");
        }
    }

    let expected = expected();
    let mut wrong = Vec::new();
    for (label, verdicts) in &seen {
        for (case, outcome, words) in verdicts {
            let Some((want, phrase)) = expected.get(&(*label, case.as_str())) else {
                wrong.push(format!("{label} {case}: no expectation"));
                continue;
            };
            if outcome != want || !words.contains(phrase) {
                wrong.push(format!(
                    "{label} {case}: {outcome} {words:?}, expected {want} {phrase:?}"
                ));
            }
        }
    }
    runtime.block_on(world.stop());
    assert!(
        wrong.is_empty(),
        "{}\n\n{}\n{logs}",
        wrong.join("\n"),
        serde_json::to_string_pretty(&tests).unwrap_or_default()
    );
}

/// What each real sender does at each test domain, as observed (and explained in
/// ARCHITECTURE.md): (outcome, a phrase of the verdict).
fn expected() -> BTreeMap<(&'static str, &'static str), (&'static str, &'static str)> {
    let mut e = BTreeMap::new();
    let mut row = |sender: &'static str, cells: [(&'static str, &'static str); 8]| {
        for (case, cell) in mxtls_world::sender_zone::CASES.iter().zip(cells) {
            e.insert((sender, *case), cell);
        }
    };
    const TLS_OK: (&str, &str) = ("good", "delivered with TLS to a correct DANE server");
    const NO_TLSA: (&str, &str) = ("neutral", "uses TLS when offered");
    const STS_OK: (&str, &str) = ("good", "delivered with TLS to a valid MTA-STS server");
    const NO_STS: (&str, &str) = ("bad", "does not enforce MTA-STS");
    const CLEAR: (&str, &str) = ("neutral", "delivers in cleartext where no TLS is offered");
    row(
        "postfix-dane",
        [
            TLS_OK,
            ("good", "validates DANE"),
            NO_TLSA,
            STS_OK,
            NO_STS,
            ("good", "defers when STARTTLS breaks"),
            ("good", "refuses cleartext where DANE requires TLS"),
            CLEAR,
        ],
    );
    row(
        "postfix-may",
        [
            TLS_OK,
            ("bad", "does not validate DANE"),
            NO_TLSA,
            STS_OK,
            NO_STS,
            ("bad", "falls back to cleartext when STARTTLS breaks"),
            ("bad", "sends in cleartext when STARTTLS is stripped"),
            CLEAR,
        ],
    );
    row(
        "exim",
        [
            TLS_OK,
            ("good", "validates DANE"),
            NO_TLSA,
            STS_OK,
            NO_STS,
            ("good", "defers when STARTTLS breaks"),
            ("good", "refuses cleartext where DANE requires TLS"),
            CLEAR,
        ],
    );
    row(
        "sendmail",
        [
            TLS_OK,
            ("bad", "does not validate DANE"),
            NO_TLSA,
            STS_OK,
            NO_STS,
            ("good", "defers when STARTTLS breaks"),
            ("bad", "sends in cleartext when STARTTLS is stripped"),
            CLEAR,
        ],
    );
    row(
        "opensmtpd",
        [
            TLS_OK,
            ("bad", "does not validate DANE"),
            NO_TLSA,
            STS_OK,
            NO_STS,
            ("bad", "falls back to cleartext when STARTTLS breaks"),
            ("bad", "sends in cleartext when STARTTLS is stripped"),
            CLEAR,
        ],
    );
    e
}
