//! The public server under attack, over real HTTP on loopback: abandoned checks, identical
//! checks at once, slow-loris clients, a crowd from one address, rotating IPv6 addresses of
//! one /64, forged forwarding headers, cross-site requests, over-long request targets.
//!
//! Checks here run against a resolver that accepts TCP and never answers (a real failure
//! mode), so a check lasts as long as the test needs; client addresses are distinct
//! loopback sources (127.0.0.N), bound by the test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mxtls_server::snapshots::Store;
use mxtls_server::{App, Config, ConnectionLimits, Limits, TrustedProxies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

mod common;

/// A resolver that accepts connections and never answers; counts the connections open.
struct SilentResolver {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

async fn silent_resolver() -> SilentResolver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (open, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (o, a) = (open.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            o.fetch_add(1, Ordering::SeqCst);
            a.fetch_add(1, Ordering::SeqCst);
            let o = o.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    SilentResolver {
        addr,
        open,
        accepted,
    }
}

/// A server whose checks use `resolver`, with `limits`; returns its address, its app and
/// its store (the store lives as long as that is held).
async fn server(
    resolver: SocketAddr,
    limits: Limits,
    proxies: TrustedProxies,
    timeout: Duration,
) -> (SocketAddr, Arc<App>, common::TestDb) {
    let probe = mxtls_probe::Config {
        resolver: Some(resolver),
        timeout,
        ..mxtls_probe::Config::default()
    };
    let db = common::TestDb::memory();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: std::env::temp_dir().join("mxtls-no-web-app"),
        db: db.url.clone(),
        probe: probe.clone(),
        trusted_proxies: proxies.clone(),
        ..Config::default()
    };
    let mut app = App::new(db.open().await, probe, limits);
    app.proxies = proxies;
    let app = Arc::new(app);
    let (addr, _server) = common::serve(config, app.clone()).await;
    (addr, app, db)
}

/// A connection from the loopback source 127.0.0.`n`.
async fn connect_from(n: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0))
        .expect("bind the source address");
    socket.connect(to).await.expect("connect")
}

/// Sends `GET path` (HTTP/1.1) with `extra` header lines from 127.0.0.`n`; returns the
/// status and the open stream (the body, for an event stream, keeps coming).
async fn start(n: u8, to: SocketAddr, path: &str, extra: &str) -> (u16, String, TcpStream) {
    let mut s = connect_from(n, to).await;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {to}\r\n{extra}\r\n").as_bytes())
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
    })
    .await
    .expect("an answer head within 10 s");
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, s)
}

/// Reads from `s` until `needle` appears or the stream ends; false after 30 s.
async fn read_until(s: &mut TcpStream, needle: &str) -> (bool, String) {
    read_until_seen(s, |seen| seen.contains(needle)).await
}

/// The snapshot id of the evidence event in an event stream read so far.
fn snapshot_id(seen: &str) -> Option<String> {
    let (_, after) = seen.split_once("event: evidence")?;
    let (_, rest) = after.split_once("\"snapshot\":\"")?;
    let (id, _) = rest.split_once('"')?;
    Some(id.to_owned())
}

/// Reads from `s` until `done` holds for what was read, or the stream ends; false after 30 s.
async fn read_until_seen(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> (bool, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    seen.extend_from_slice(&buf[..n]);
                    if done(&String::from_utf8_lossy(&seen)) {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    (found, String::from_utf8_lossy(&seen).into_owned())
}

async fn until(limit: Duration, what: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if what() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn limits() -> Limits {
    Limits {
        per_client_per_minute: 100,
        ..Limits::default()
    }
}

/// Eight checks of eight slow domains, from eight addresses, closed by their clients after a
/// second: their probes are cancelled (the resolver sees their connections close) and every
/// slot is free again, so a ninth client gets its check. A ninth client while all eight run
/// gets 503, and that refusal spent none of its quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_checks_free_their_slots_and_close_their_sockets() {
    let resolver = silent_resolver().await;
    let (addr, app, _db) = server(
        resolver.addr,
        Limits {
            per_client_per_minute: 1,
            ..Limits::default()
        },
        TrustedProxies::default(),
        Duration::from_secs(60),
    )
    .await;
    let mut streams = Vec::new();
    for n in 1..=8u8 {
        let (status, head, s) =
            start(10 + n, addr, &format!("/api/check/slow{n}.example"), "").await;
        assert_eq!(status, 200, "{head}");
        streams.push(s);
    }
    assert_eq!(app.checks.running(), 8);
    assert_eq!(app.checks.free_slots(), 0);
    let (status, _, _) = start(30, addr, "/api/check/late.example", "").await;
    assert_eq!(status, 503, "every slot is busy");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let probe_sockets = resolver.open.load(Ordering::SeqCst);
    drop(streams);
    let freed = until(Duration::from_secs(20), || app.checks.free_slots() == 8).await;
    let freed = freed.expect("every slot is freed after the clients leave");
    let closed = until(Duration::from_secs(10), || {
        resolver.open.load(Ordering::SeqCst) == 0
    })
    .await;
    println!(
        "abandoned 8 checks: 8 of 8 slots free {:.1} s after the clients closed; the probes' {probe_sockets} resolver connections closed {}",
        freed.as_secs_f64(),
        if closed.is_some() { "too" } else { "NOT" }
    );
    assert!(
        closed.is_some(),
        "the cancelled probes closed their sockets"
    );
    assert_eq!(app.checks.running(), 0);

    // The client that got 503 has its one check a minute: the refusal spent nothing.
    let (status, head, mut s) = start(30, addr, "/api/check/late.example", "").await;
    assert_eq!(status, 200, "{head}");
    let (found, seen) = read_until(&mut s, "event: progress").await;
    assert!(found, "the new check runs: {seen}");
}

/// Eight people asking for the same domain at once share one probe: one check runs, the
/// resolver sees one check's connections, and all eight get the same snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_checks_share_one_probe() {
    let resolver = silent_resolver().await;
    let (addr, app, _db) = server(
        resolver.addr,
        limits(),
        TrustedProxies::default(),
        Duration::from_secs(3),
    )
    .await;
    let mut streams = Vec::new();
    for n in 1..=8u8 {
        let (status, _, s) = start(40 + n, addr, "/api/check/same.example", "").await;
        assert_eq!(status, 200);
        streams.push(s);
    }
    assert_eq!(app.checks.running(), 1, "one probe");
    let mut snapshots = Vec::new();
    for s in &mut streams {
        let (_, seen) = read_until_seen(s, |seen| snapshot_id(seen).is_some()).await;
        snapshots.push(snapshot_id(&seen).unwrap_or_else(|| panic!("no evidence: {seen}")));
    }
    snapshots.dedup();
    assert_eq!(snapshots.len(), 1, "one snapshot for all: {snapshots:?}");
    // One check opens two resolver connections (plain and validating); eight would open 16.
    let accepted = resolver.accepted.load(Ordering::SeqCst);
    println!("8 identical checks at once: 1 probe, {accepted} resolver connections");
    assert!(accepted <= 2, "{accepted} resolver connections");
}

/// Slow-loris: thirty connections trickling a request head a byte every 300 ms are all
/// closed at the head deadline (it is not reset by each byte); an idle keep-alive
/// connection is closed after it too; and one address cannot hold more than its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off() {
    let resolver = silent_resolver().await;
    let head_timeout = Duration::from_secs(3);
    let (addr, _app, _db) = server(
        resolver.addr,
        Limits {
            connections: ConnectionLimits {
                head_timeout,
                per_client_connections: 40,
                ..ConnectionLimits::default()
            },
            ..limits()
        },
        TrustedProxies::default(),
        Duration::from_secs(60),
    )
    .await;
    let started = Instant::now();
    let open = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let open = open.clone();
        let mut s = connect_from(60, addr).await;
        open.fetch_add(1, Ordering::SeqCst);
        tasks.push(tokio::spawn(async move {
            let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: "
                .iter()
                .chain(&[b'a'; 200]);
            for b in head {
                if s.write_all(&[*b]).await.is_err() {
                    break;
                }
                let mut buf = [0u8; 64];
                match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    _ => {}
                }
            }
            open.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    let cut = until(Duration::from_secs(20), || open.load(Ordering::SeqCst) == 0)
        .await
        .expect("every slow client is cut off");
    let total = started.elapsed();
    println!(
        "slow-loris: 30 connections, 0 open {:.1} s after they started (head deadline {} s)",
        total.as_secs_f64(),
        head_timeout.as_secs()
    );
    assert!(
        total >= head_timeout,
        "cut at the deadline, not before ({cut:?})"
    );

    // Idle keep-alive: one answer, then silence; the server closes.
    let (status, _, mut s) = start(61, addr, "/healthz", "").await;
    assert_eq!(status, 200);
    let idle = Instant::now();
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf).await; // the body
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(end.is_ok(), "an idle keep-alive connection is closed");
    println!(
        "idle keep-alive closed after {:.1} s",
        idle.elapsed().as_secs_f64()
    );
}

/// One address may hold `per_client_connections`; more are closed before a byte is read,
/// while another address still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let resolver = silent_resolver().await;
    let (addr, _app, _db) = server(
        resolver.addr,
        Limits {
            connections: ConnectionLimits {
                per_client_connections: 16,
                ..ConnectionLimits::default()
            },
            ..limits()
        },
        TrustedProxies::default(),
        Duration::from_secs(60),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from(70, addr).await);
    }
    let mut closed = 0;
    for s in &mut held {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    println!(
        "20 connections from one address: {} held, {closed} closed at once",
        20 - closed
    );
    assert_eq!(closed, 4);
    let (status, _, _) = start(71, addr, "/healthz", "").await;
    assert_eq!(status, 200, "another address still gets in");
}

/// Quotas per /64 behind a trusted proxy: rotating addresses of one /64 share one quota; a
/// different /64 has its own; the same headers from an untrusted peer are ignored (its own
/// address is the client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_follow_the_64_and_only_trusted_proxies_forward() {
    // A resolver port with nothing listening: each check ends at once, but was started.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    let proxies = TrustedProxies(vec!["127.0.0.80".parse().unwrap()]);
    let (addr, _app, _db) = server(
        nowhere,
        Limits {
            per_client_per_minute: 2,
            ..Limits::default()
        },
        proxies,
        Duration::from_secs(10),
    )
    .await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let xff = format!("X-Forwarded-For: 2001:db8:64:1::{i:x}\r\n");
        let (status, _, mut s) = start(80, addr, &format!("/api/check/rot{i}.example"), &xff).await;
        if status == 200 {
            read_until(&mut s, "event: error").await;
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429], "one /64, one quota");
    let other = "Forwarded: for=\"[2001:db8:64:2::1]\"\r\n";
    let (status, _, _) = start(80, addr, "/api/check/rot4.example", other).await;
    assert_eq!(status, 200, "another /64 has its own quota");

    // An untrusted peer rotating forged headers: counted under its own address.
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let xff = format!("X-Forwarded-For: 198.51.100.{i}\r\n");
        let (status, _, mut s) =
            start(81, addr, &format!("/api/check/forged{i}.example"), &xff).await;
        if status == 200 {
            read_until(&mut s, "event: error").await;
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "forged headers from an untrusted peer are ignored"
    );
}

/// Browsers may start checks only from our pages; scripts without the headers still can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_cannot_start_checks() {
    let resolver = silent_resolver().await;
    let (addr, app, _db) = server(
        resolver.addr,
        limits(),
        TrustedProxies::default(),
        Duration::from_secs(60),
    )
    .await;
    for (n, extra) in [
        (
            90,
            "Sec-Fetch-Site: cross-site\r\nOrigin: https://attacker.example\r\n",
        ),
        (91, "Sec-Fetch-Site: same-site\r\n"),
        (92, "Origin: https://attacker.example\r\n"),
        (93, "Origin: null\r\n"),
    ] {
        let (status, head, _) = start(n, addr, "/api/check/victim.example", extra).await;
        assert_eq!(status, 403, "{extra}: {head}");
    }
    assert_eq!(app.checks.running(), 0, "no probe was started");
    let own = format!("Sec-Fetch-Site: same-origin\r\nOrigin: http://{addr}\r\n");
    let (status, _, _s1) = start(94, addr, "/api/check/mine.example", &own).await;
    assert_eq!(status, 200, "our own page");
    let (status, _, _s2) = start(95, addr, "/api/check/script.example", "").await;
    assert_eq!(status, 200, "a script without browser headers");
}

/// Request targets: 9 KB is refused with 414 (not 500), a head over the cap with 431; the
/// widget's frameable policy is chosen by the parsed route, so `/widget/../r/x` is not
/// frameable; every answer carries the isolation headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_targets_and_dot_segments_are_refused_or_contained() {
    let resolver = silent_resolver().await;
    let (addr, _app, _db) = server(
        resolver.addr,
        limits(),
        TrustedProxies::default(),
        Duration::from_secs(60),
    )
    .await;
    let long = format!("/check/{}", "a".repeat(9 * 1024));
    assert_eq!(common::get(addr, &long, "").await.status, 414);
    let huge = format!("X-Big: {}\r\n", "b".repeat(20 * 1024));
    assert_eq!(common::get(addr, "/healthz", &huge).await.status, 431);

    let sneaky = common::get(addr, "/widget/../r/x", "").await;
    assert!(
        sneaky.head.contains("frame-ancestors 'none'"),
        "{}",
        sneaky.head
    );
    assert!(
        sneaky.head.contains("x-frame-options: deny"),
        "{}",
        sneaky.head
    );
    let widget = common::get(addr, "/widget/example.org", "").await;
    assert!(widget.head.contains("frame-ancestors *"), "{}", widget.head);
    assert!(!widget.head.contains("x-frame-options"), "{}", widget.head);
    for answer in [&sneaky, &widget] {
        for header in [
            "permissions-policy: ",
            "cross-origin-opener-policy: same-origin",
            "cross-origin-resource-policy: ",
            "x-content-type-options: nosniff",
        ] {
            assert!(
                answer.head.contains(header),
                "{header} missing: {}",
                answer.head
            );
        }
    }
    assert!(
        sneaky
            .head
            .contains("cross-origin-resource-policy: same-origin")
    );
    assert!(
        widget
            .head
            .contains("cross-origin-resource-policy: cross-origin")
    );
}

/// The network namespace this test creates for itself (and deletes when dropped), with a
/// few IPv6 addresses on its loopback: real peers of one /64 and of another.
struct Namespace(String);

impl Namespace {
    fn create(addresses: &[&str]) -> Namespace {
        let name = format!("mxtls-test-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .expect("iproute2's ip (scripts/setup.sh installs it)");
            assert!(
                out.status.success(),
                "ip {args:?}: {} (the test needs root, as CI has)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .output();
        ip(&["netns", "add", &name]);
        let ns = Namespace(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        for a in addresses {
            ip(&[
                "-n",
                &ns.0,
                "addr",
                "add",
                &format!("{a}/128"),
                "dev",
                "lo",
                "nodad",
            ]);
        }
        ns
    }

    /// Moves the calling thread into the namespace.
    fn enter(&self) {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(format!("/var/run/netns/{}", self.0)).expect("netns");
        // SAFETY: setns with a valid namespace file descriptor; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

/// IPv6 clients rotating through their /64 share one quota — seen from real peers, not
/// headers: the server and its clients run in a namespace of their own whose loopback holds
/// three addresses of 2001:db8:64:1::/64 and one of 2001:db8:64:2::/64.
#[test]
fn rotating_ipv6_addresses_of_one_64_share_one_quota() {
    let ns = Namespace::create(&[
        "2001:db8:64:1::1",
        "2001:db8:64:1::2",
        "2001:db8:64:1::3",
        "2001:db8:64:2::1",
    ]);
    let ns_name = ns.0.clone();
    let statuses = std::thread::spawn(move || {
        let ns = Namespace(ns_name);
        ns.enter();
        std::mem::forget(ns); // the outer guard deletes it
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            // A resolver port with nothing listening: each check ends at once, but started.
            let closed = TcpListener::bind("[::1]:0").await.expect("bind ::1");
            let nowhere = closed.local_addr().unwrap();
            drop(closed);
            let probe = mxtls_probe::Config {
                resolver: Some(nowhere),
                ..mxtls_probe::Config::default()
            };
            // SQLite in memory on either back-end: this runs inside the test's own network
            // namespace, which has no route to a PostgreSQL on the host's loopback (and the
            // quota it proves is the clients' module, not the store's).
            let config = Config {
                listen: "[::1]:0".parse().unwrap(),
                web_dir: std::env::temp_dir().join("mxtls-no-web-app"),
                db: ":memory:".into(),
                probe: probe.clone(),
                trusted_proxies: TrustedProxies::default(),
                ..Config::default()
            };
            let limits = Limits {
                per_client_per_minute: 2,
                ..Limits::default()
            };
            let app = Arc::new(App::new(Store::open(&config.db).unwrap(), probe, limits));
            let listener = TcpListener::bind(config.listen).await.expect("bind");
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                mxtls_server::Server::with_app(&config, app)
                    .run(listener, std::future::pending())
                    .await
            });
            let mut statuses = Vec::new();
            for (i, from) in [
                "2001:db8:64:1::1",
                "2001:db8:64:1::2",
                "2001:db8:64:1::3",
                "2001:db8:64:2::1",
            ]
            .iter()
            .enumerate()
            {
                let socket = TcpSocket::new_v6().expect("socket");
                socket
                    .bind(SocketAddr::new(from.parse().unwrap(), 0))
                    .expect("bind the source");
                let mut s = socket.connect(addr).await.expect("connect");
                s.write_all(
                    format!("GET /api/check/v6-{i}.example HTTP/1.0\r\nHost: [::1]\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
                let mut answer = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
                let text = String::from_utf8_lossy(&answer).into_owned();
                let status: u16 = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                statuses.push(status);
            }
            // `/metrics` names the watched domains: loopback may read it, a client may not.
            for from in ["2001:db8:64:2::1", "::1"] {
                let socket = TcpSocket::new_v6().expect("socket");
                socket
                    .bind(SocketAddr::new(from.parse().unwrap(), 0))
                    .expect("bind the source");
                let mut s = socket.connect(addr).await.expect("connect");
                s.write_all(b"GET /metrics HTTP/1.0\r\nHost: [::1]\r\n\r\n")
                    .await
                    .unwrap();
                let mut answer = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
                let text = String::from_utf8_lossy(&answer).into_owned();
                statuses.push(
                    text.split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0),
                );
            }
            statuses
        })
    })
    .join()
    .expect("the namespace thread");
    drop(ns);
    assert_eq!(
        statuses,
        [200, 200, 429, 200, 403, 200],
        "three addresses of one /64 share its quota of 2; another /64 has its own; /metrics only to loopback"
    );
}
