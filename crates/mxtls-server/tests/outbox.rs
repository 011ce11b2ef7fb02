//! The watches' outbox against real parts: webhook receivers on loopback that fail, are down,
//! redirect, refuse or never answer; the world's real Postfix stopped and started again; a
//! restart of the server; two instances on one PostgreSQL. Every notice is delivered once
//! (by its idempotency key), in order per watch, late rather than never; a refused one is
//! given up and shown in the history and `/metrics`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxtls_server::watches::WatchLimits;
use mxtls_server::{App, Config, Limits};
use mxtls_world::{Options, World};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod common;

const INTERVAL: Duration = Duration::from_secs(3);
const WITHIN: Duration = Duration::from_secs(90);

/// One request a receiver got: its path, `Idempotency-Key`, JSON body and the status it
/// answered (0: none, the receiver is silent).
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    key: String,
    body: Value,
    answered: u16,
}

/// How a receiver answers the `nth` request (from 0) with a given key on a path: a status and
/// a `Location`, or `None` to stay silent.
type Answers = Arc<dyn Fn(&str, usize) -> Option<(u16, Option<&'static str>)> + Send + Sync>;

/// A webhook receiver on `listener`: what it got, and how many connections it holds open.
#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    open: Arc<AtomicUsize>,
}

impl Receiver {
    async fn bind() -> (SocketAddr, TcpListener) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        (l.local_addr().expect("addr"), l)
    }

    fn start(listener: TcpListener, answers: Answers) -> Receiver {
        let r = Receiver {
            hits: Arc::default(),
            open: Arc::default(),
        };
        let seen: Arc<Mutex<HashMap<(String, String), usize>>> = Arc::default();
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (me, answers, seen) = (me.clone(), answers.clone(), seen.clone());
                tokio::spawn(async move {
                    me.open.fetch_add(1, Ordering::SeqCst);
                    me.serve(s, answers, seen).await;
                    me.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        r
    }

    async fn serve(
        &self,
        mut s: tokio::net::TcpStream,
        answers: Answers,
        seen: Arc<Mutex<HashMap<(String, String), usize>>>,
    ) {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let (head, body) = loop {
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await
            else {
                return;
            };
            if n == 0 {
                return;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = header(head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        assert!(head.starts_with("POST "), "{head}");
        let key = header(&head, "idempotency-key").unwrap_or_default();
        let nth = {
            let mut seen = seen.lock().expect("lock");
            let n = seen.entry((path.clone(), key.clone())).or_insert(0);
            *n += 1;
            *n - 1
        };
        let answer = answers(&path, nth);
        self.hits.lock().expect("lock").push(Hit {
            path,
            key,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
            answered: answer.map_or(0, |a| a.0),
        });
        match answer {
            Some((status, location)) => {
                let location = location.map(|l| format!("Location: {l}\r\n"));
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\n{}Content-Length: 0\r\nConnection: close\r\n\r\n",
                            location.unwrap_or_default()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
            // Silent: hold the connection until the sender gives up (or a minute passes).
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf)).await;
            }
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// The requests answered with a 2xx: the deliveries.
    fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .collect()
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Waits until `cond` holds, up to `within`; whether it did.
async fn until(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn limits() -> WatchLimits {
    WatchLimits {
        interval: INTERVAL,
        per_client: 20,
        deliveries: 8,
        retry_first: Duration::from_millis(200),
        give_up_after: Duration::from_secs(600),
        ..WatchLimits::default()
    }
}

fn config(world: &World, db: &common::TestDb, relay: SocketAddr) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        web_dir: world.dir.clone(),
        db: db.url.clone(),
        probe: common::world_probe(world),
        examples: Vec::new(),
        trusted_proxies: Default::default(),
        public_url: Some("http://checker.test".into()),
        watch: limits(),
        delivery: mxtls_server::notify::Delivery {
            allow_private_targets: true,
            smtp_relay: Some(relay),
            mail_from: "mxtls@checker.test".into(),
        },
        accept_tls_rpt_for_all: false,
        metrics_from: Vec::new(),
        cluster: Default::default(),
    }
}

/// An instance: the server on a loopback port with its watcher and delivery running.
struct Instance {
    addr: SocketAddr,
    app: Arc<App>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Instance {
    async fn start(world: &World, db: &common::TestDb, relay: SocketAddr) -> Instance {
        let config = config(world, db, relay);
        let mut app = App::new(
            db.open().await,
            config.probe.clone(),
            Limits {
                per_client_per_minute: 100,
                ..Limits::default()
            },
        );
        app.watch = config.watch.clone();
        app.delivery = config.delivery.clone();
        app.public_url = config.public_url.clone().unwrap_or_default();
        let app = Arc::new(app);
        let mut tasks = mxtls_server::start_watcher(&app).to_vec();
        let (addr, server) = common::serve(config, app.clone()).await;
        tasks.push(server.abort_handle());
        Instance { addr, app, tasks }
    }

    /// Ends the server, its watcher and its delivery loop (a deliberate crash: nothing is
    /// flushed).
    fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    async fn watch(&self, domain: &str, target: &str) -> String {
        let body = format!(r#"{{"domain":"{domain}",{target}}}"#);
        let a = common::request(self.addr, "POST", "/api/watches", &body).await;
        assert_eq!(a.status, 201, "{body}: {}", a.body);
        let v: Value = serde_json::from_str(&a.body).expect("json");
        v["id"].as_str().expect("id").to_owned()
    }

    /// (key, kind, state, attempts) of each notice of watch `id`, oldest first.
    async fn notices(&self, id: &str) -> Vec<(String, String, String, i64)> {
        self.app.store.watch_notices(id).await.expect("the outbox")
    }

    async fn metric(&self, line: &str) -> Option<u64> {
        let m = common::get(self.addr, "/metrics", "").await.body;
        m.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
    }
}

fn hook(addr: SocketAddr, path: &str) -> String {
    format!(r#""webhook":"http://{addr}{path}""#)
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Keys delivered more than once.
fn duplicates(hits: &[Hit]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        *count.entry(h.key.as_str()).or_default() += 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k.to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_notices_are_retried_redirected_given_up_and_never_doubled() {
    let world = World::start(Options {
        net: 82,
        smtp_port: 2582,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(&world.dir.join("outbox.sqlite"));
    let no_relay: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let server = Instance::start(&world, &db, no_relay).await;

    // (e) A silent receiver (takes the connection, never answers) for four watches: their
    // deliveries hang, each in its own delivery slot.
    let (silent_addr, l) = Receiver::bind().await;
    let silent = Receiver::start(l, Arc::new(|_: &str, _| None));
    let mut silent_watches = Vec::new();
    for _ in 0..4 {
        silent_watches.push(
            server
                .watch("tlsa-mismatch.test", &hook(silent_addr, "/hook"))
                .await,
        );
    }
    assert!(
        until(WITHIN, async || silent.open.load(Ordering::SeqCst) >= 4).await,
        "the four notices reach the silent receiver: {:?}",
        silent.hits()
    );

    // (a) Answers 500 to the first three tries of each notice, then 204.
    let (flaky_addr, l) = Receiver::bind().await;
    let flaky = Receiver::start(
        l,
        Arc::new(|_: &str, nth| Some((if nth < 3 { 500 } else { 204 }, None))),
    );
    // (b) Down: nothing listens on its port until later.
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    // (c) Redirects /hook to /moved.
    let (moving_addr, l) = Receiver::bind().await;
    let moving = Receiver::start(
        l,
        Arc::new(|path: &str, _| match path {
            "/hook" => Some((302, Some("/moved"))),
            _ => Some((204, None)),
        }),
    );
    // Refuses for good: 404 is given up at once.
    let (refusing_addr, l) = Receiver::bind().await;
    let refusing = Receiver::start(l, Arc::new(|_: &str, _| Some((404, None))));

    let flaky_watch = server
        .watch("dane-ee.test", &hook(flaky_addr, "/hook"))
        .await;
    let down_watch = server
        .watch("dane-ta.test", &hook(down_port, "/hook"))
        .await;
    let moving_watch = server
        .watch("rollover.test", &hook(moving_addr, "/hook"))
        .await;
    let refused_watch = server
        .watch("pkix-usages.test", &hook(refusing_addr, "/hook"))
        .await;

    // As soon as the first notice of dane-ee.test has failed once, its mail server stops:
    // the change is judged while the first notice is still being retried.
    assert!(
        until(WITHIN, async || !flaky.hits().is_empty()).await,
        "the first try reaches the flaky receiver"
    );
    assert!(world.stop_smtp("dane-ee.test"));

    // (b) The down receiver's notice is tried, fails, and is delivered once it listens.
    assert!(
        until(WITHIN, async || server
            .notices(&down_watch)
            .await
            .first()
            .is_some_and(|n| n.3 >= 2))
        .await,
        "tried at least twice while the receiver is down: {:?}",
        server.notices(&down_watch).await
    );
    let back = Receiver::start(
        TcpListener::bind(down_port).await.expect("the port again"),
        Arc::new(|_: &str, _| Some((200, None))),
    );

    assert!(
        until(WITHIN, async || flaky.delivered().len() >= 2
            && !back.delivered().is_empty()
            && moving.delivered().len() == 1
            && server
                .notices(&refused_watch)
                .await
                .first()
                .is_some_and(|n| n.2 == "given_up"))
        .await,
        "flaky {:?}\nback {:?}\nmoving {:?}\nrefused {:?}",
        flaky.hits(),
        back.hits(),
        moving.hits(),
        server.notices(&refused_watch).await
    );
    // Another round of checks: nothing more is sent (no change, nothing owed).
    let settled = Instant::now();
    assert!(until(WITHIN, async || settled.elapsed() > INTERVAL * 2).await);

    // (a) Each notice: three 500s then one 204, in order (first, then the change).
    let flaky_hits = flaky.hits();
    let delivered = flaky.delivered();
    println!(
        "flaky receiver: {} requests, {} delivered",
        flaky_hits.len(),
        delivered.len()
    );
    assert_eq!(delivered.len(), 2, "{flaky_hits:?}");
    assert_eq!(delivered[0].body["first"], true);
    assert_eq!(delivered[1].body["first"], false);
    assert!(codes(&delivered[1].body["added"]).contains(&"smtp-unreachable".to_owned()));
    for d in &delivered {
        assert_eq!(
            d.body["idempotency_key"],
            d.key.as_str(),
            "header and body agree"
        );
        let tries: Vec<u16> = flaky_hits
            .iter()
            .filter(|h| h.key == d.key)
            .map(|h| h.answered)
            .collect();
        assert_eq!(tries, [500, 500, 500, 204], "{}", d.key);
    }
    assert_eq!(delivered[0].key, format!("{flaky_watch}-first"));
    assert!(duplicates(&delivered).is_empty());
    let flaky_notices = server.notices(&flaky_watch).await;
    assert_eq!(
        flaky_notices
            .iter()
            .map(|n| (n.1.as_str(), n.2.as_str(), n.3))
            .collect::<Vec<_>>(),
        [("first", "delivered", 4), ("change", "delivered", 4)]
    );

    // (b) Delivered once, late.
    let back_hits = back.hits();
    let down_notices = server.notices(&down_watch).await;
    println!(
        "down receiver: delivered {} after {} attempts",
        back_hits.len(),
        down_notices[0].3
    );
    assert_eq!(back_hits.len(), 1, "{back_hits:?}");
    assert_eq!(back_hits[0].body["first"], true);
    assert_eq!(back_hits[0].key, format!("{down_watch}-first"));
    assert_eq!(down_notices.len(), 1);
    assert_eq!(down_notices[0].2, "delivered");
    assert!(down_notices[0].3 >= 3, "{down_notices:?}");

    // (c) One 302 on /hook, one delivery on /moved, the same notice.
    let moving_hits = moving.hits();
    println!(
        "redirecting receiver: {:?}",
        moving_hits
            .iter()
            .map(|h| (&h.path, h.answered, &h.key))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        moving_hits
            .iter()
            .map(|h| (h.path.as_str(), h.answered))
            .collect::<Vec<_>>(),
        [("/hook", 302), ("/moved", 204)]
    );
    assert_eq!(moving_hits[0].key, moving_hits[1].key);
    assert_eq!(moving_hits[1].key, format!("{moving_watch}-first"));

    // Given up at once, shown in the history.
    assert_eq!(refusing.hits().len(), 1, "a 404 is not retried");
    let history: Value = serde_json::from_str(
        &common::get(server.addr, "/api/domains/pkix-usages.test/history", "")
            .await
            .body,
    )
    .expect("history");
    let undelivered = history["undelivered"].as_array().expect("undelivered");
    assert_eq!(undelivered.len(), 1, "{history}");
    assert_eq!(undelivered[0]["kind"], "first");
    assert_eq!(undelivered[0]["attempts"], 1);
    assert!(
        undelivered[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("404"),
        "{history}"
    );
    let clean: Value = serde_json::from_str(
        &common::get(server.addr, "/api/domains/dane-ee.test/history", "")
            .await
            .body,
    )
    .expect("history");
    assert_eq!(clean["undelivered"], serde_json::json!([]));

    // (e) Everything above happened while the silent receiver held its notices: they are
    // still pending, the other watches were checked and told.
    for id in &silent_watches {
        let n = server.notices(id).await;
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].2, "pending", "{n:?}");
    }
    println!(
        "silent receiver: {} requests, none answered",
        silent.hits().len()
    );
    assert!(silent.hits().iter().all(|h| h.answered == 0));

    // /metrics: 2 + 1 + 1 delivered, one given up, the silent four pending, and retries.
    let delivered = server
        .metric("mxtls_notifications_total{result=\"delivered\"}")
        .await;
    let given_up = server
        .metric("mxtls_notifications_total{result=\"given_up\"}")
        .await;
    let retried = server
        .metric("mxtls_notifications_total{result=\"retried\"}")
        .await;
    let pending = server.metric("mxtls_notifications_pending").await;
    println!(
        "metrics: delivered {delivered:?}, retried {retried:?}, given up {given_up:?}, pending {pending:?}"
    );
    assert_eq!(delivered, Some(4));
    assert_eq!(given_up, Some(1));
    assert!(retried.is_some_and(|r| r >= 8), "{retried:?}");
    assert_eq!(pending, Some(4));
    server.stop();
    world.stop().await;
}

/// The messages in a Maildir (`new/`), oldest first.
fn mails(maildir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// Snapshots of `domain` in the store.
async fn snapshots(app: &App, domain: &str) -> usize {
    app.store
        .history(domain, 1000)
        .await
        .map(|h| h.len())
        .unwrap_or(0)
}

/// (d) The relay (the world's real Postfix) is down when the first report of an email watch
/// is due: it is tried again until Postfix is back, and arrives once, with its stable
/// Message-ID. (f) A restart of the server on the same store then sends no second first
/// report, by mail or webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_for_the_relay_and_a_restart_sends_no_second_first() {
    let world = World::start(Options {
        net: 83,
        smtp_port: 2583,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let relay_ip = std::net::Ipv4Addr::new(127, 83, 9, 1);
    let port = std::net::TcpListener::bind((relay_ip, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let relay = SocketAddr::from((relay_ip, port));
    let mailbox_dir = world.dir.join("mailbox");
    let (postfix, maildir) =
        mxtls_world::daemons::mailbox_postfix(&mailbox_dir, relay_ip, port, "watch.test")
            .expect("the mailbox Postfix starts");
    let listening = async || tokio::net::TcpStream::connect(relay).await.is_ok();
    assert!(until(WITHIN, listening).await, "Postfix listens");
    let db = common::TestDb::new(&world.dir.join("outbox-mail.sqlite"));
    let first = Instance::start(&world, &db, relay).await;
    let (hook_addr, l) = Receiver::bind().await;
    let hooked = Receiver::start(l, Arc::new(|_: &str, _| Some((204, None))));
    let hook_watch = first.watch("dane-ee.test", &hook(hook_addr, "/hook")).await;
    let mail_watch = first
        .watch("dane-ta.test", r#""email":"owner@watch.test""#)
        .await;
    assert!(
        until(WITHIN, async || mails(&maildir).len() == 1).await,
        "the confirmation mail arrives"
    );
    let confirmation = mails(&maildir).remove(0);
    let link = confirmation
        .split_whitespace()
        .find(|w| w.starts_with("http://checker.test/api/watches/") && w.contains("/confirm?"))
        .expect("the link")
        .trim_start_matches("http://checker.test")
        .to_owned();

    // The relay stops; the watch is confirmed, so its first report is due.
    postfix.stop().await;
    let confirmed = common::request(first.addr, "POST", &link, "").await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(
        until(WITHIN, async || first
            .notices(&mail_watch)
            .await
            .first()
            .is_some_and(|n| n.3 >= 2 && n.2 == "pending"))
        .await,
        "tried while the relay is down: {:?}",
        first.notices(&mail_watch).await
    );
    let (postfix, maildir) =
        mxtls_world::daemons::mailbox_postfix(&mailbox_dir, relay_ip, port, "watch.test")
            .expect("the mailbox Postfix starts again");
    assert!(
        until(WITHIN, async || mails(&maildir).len() >= 2).await,
        "the report arrives once the relay is back: {:?}",
        first.notices(&mail_watch).await
    );
    let notices = first.notices(&mail_watch).await;
    println!("mail notice: {notices:?}");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].1, "first");
    assert_eq!(notices[0].2, "delivered");
    assert!(notices[0].3 >= 3, "{notices:?}");
    let report = mails(&maildir).remove(1);
    assert!(
        report.contains("Findings (first check of this watch)"),
        "{report}"
    );
    let message_id = format!("<{mail_watch}-first@checker.test>");
    assert!(
        report
            .lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("Message-ID: {message_id}"))),
        "{report}"
    );
    assert!(
        until(WITHIN, async || hooked.delivered().len() == 1).await,
        "the webhook's first report"
    );

    // Restart: this instance ends, another starts on the same store and re-checks both
    // domains at least twice.
    first.stop();
    let before = (
        snapshots(&first.app, "dane-ee.test").await,
        snapshots(&first.app, "dane-ta.test").await,
    );
    let second = Instance::start(&world, &db, relay).await;
    assert!(
        until(WITHIN, async || snapshots(&second.app, "dane-ee.test")
            .await
            >= before.0 + 2
            && snapshots(&second.app, "dane-ta.test").await
                >= before.1 + 2)
        .await,
        "re-checked after the restart"
    );
    let after = mails(&maildir);
    let hits = hooked.hits();
    println!(
        "after the restart: {} mails, {} webhook posts",
        after.len(),
        hits.len()
    );
    assert_eq!(after.len(), 2, "no second first report by mail");
    assert_eq!(
        after.iter().filter(|m| m.contains(&message_id)).count(),
        1,
        "the report once"
    );
    assert_eq!(hits.len(), 1, "no second first report by webhook: {hits:?}");
    assert_eq!(hits[0].body["first"], true);
    assert_eq!(
        second.notices(&hook_watch).await,
        [(
            format!("{hook_watch}-first"),
            "first".into(),
            "delivered".into(),
            1
        )]
    );
    assert_eq!(second.notices(&mail_watch).await.len(), 1);
    second.stop();
    postfix.stop().await;
    world.stop().await;
}

/// (g) Two instances with watchers on one PostgreSQL: every watch's first report and every
/// change are sent once, whichever instance checked. (On SQLite there is one process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_send_one_notice_per_change() {
    if std::env::var("MXTLS_TEST_STORE").as_deref() != Ok("postgres") {
        println!("two instances share a store only on PostgreSQL (MXTLS_TEST_STORE=postgres)");
        return;
    }
    let world = World::start(Options {
        net: 84,
        smtp_port: 2584,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(&world.dir.join("unused.sqlite"));
    let no_relay: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let one = Instance::start(&world, &db, no_relay).await;
    let two = Instance::start(&world, &db, no_relay).await;
    let (addr, l) = Receiver::bind().await;
    let receiver = Receiver::start(l, Arc::new(|_: &str, _| Some((204, None))));
    let domains = ["dane-ee.test", "dane-ta.test", "rollover.test"];
    let mut watches = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let at = if i % 2 == 0 { &one } else { &two };
        watches.push(at.watch(d, &hook(addr, "/hook")).await);
    }
    assert!(
        until(WITHIN, async || receiver.delivered().len() >= 3).await,
        "three first reports: {:?}",
        receiver.hits()
    );
    assert!(world.stop_smtp("dane-ee.test"));
    assert!(
        until(WITHIN, async || receiver.delivered().len() >= 4).await,
        "the change: {:?}",
        receiver.hits()
    );
    // Both instances go on re-checking; nothing more is owed.
    let before = snapshots(&one.app, "dane-ee.test").await;
    assert!(
        until(WITHIN, async || snapshots(&one.app, "dane-ee.test").await
            >= before + 3)
        .await,
        "re-checked"
    );
    let hits = receiver.hits();
    let firsts = hits.iter().filter(|h| h.body["first"] == true).count();
    println!(
        "two instances: {} posts, {firsts} first, duplicates {:?}",
        hits.len(),
        duplicates(&hits)
    );
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert_eq!(firsts, 3);
    assert!(duplicates(&hits).is_empty());
    let change = hits
        .iter()
        .find(|h| h.body["first"] == false)
        .expect("the change");
    assert_eq!(change.body["domain"], "dane-ee.test");
    assert!(codes(&change.body["added"]).contains(&"smtp-unreachable".to_owned()));
    for w in &watches {
        let n = one.notices(w).await;
        assert!(n.iter().all(|n| n.2 == "delivered" && n.3 == 1), "{n:?}");
    }
    one.stop();
    two.stop();
    world.stop().await;
}
