//! The outbox across processes: a relay that was down, a restart, two instances.

use super::*;

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
/// report, by mail or webhook, and delivers the one the ended instance still owed.
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
    // A receiver that is down until after the restart: its first report is owed by the
    // instance that ends, and delivered by the next.
    let later_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let later_watch = first
        .watch("rollover.test", &hook(later_port, "/hook"))
        .await;
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

    assert!(
        until(WITHIN, async || first
            .notices(&later_watch)
            .await
            .first()
            .is_some_and(|n| n.3 >= 1))
        .await,
        "the first report to the receiver that is down is tried"
    );

    // Restart: this instance ends, another starts on the same store and re-checks both
    // domains at least twice; the receiver that was down listens now.
    first.stop();
    let later = Receiver::start(
        TcpListener::bind(later_port).await.expect("the port again"),
        Arc::new(|_: &str, _| Some((204, None))),
    );
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
    assert!(
        until(WITHIN, async || !later.hits().is_empty()).await,
        "the owed report is delivered after the restart: {:?}",
        second.notices(&later_watch).await
    );
    // The receiver counts the post before the outbox has recorded its answer: wait for it.
    assert!(
        until(WITHIN, async || second
            .notices(&later_watch)
            .await
            .first()
            .is_some_and(|n| n.2 == "delivered"))
        .await,
        "the owed report is recorded as delivered: {:?}",
        second.notices(&later_watch).await
    );
    let later_hits = later.hits();
    let later_notices = second.notices(&later_watch).await;
    println!(
        "owed across the restart: {} posts, notices {later_notices:?}",
        later_hits.len()
    );
    assert_eq!(later_hits.len(), 1, "{later_hits:?}");
    assert_eq!(later_hits[0].body["first"], true);
    assert_eq!(later_hits[0].key, format!("{later_watch}-first"));
    assert_eq!(later_notices.len(), 1);
    assert_eq!(later_notices[0].2, "delivered");
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
