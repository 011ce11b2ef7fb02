//! The watch pages without JavaScript, against real parts (the test world on net 97, a real
//! Postfix as the mailbox, a webhook receiver on loopback): the form page at
//! `/d/{domain}/watch`; a webhook watch and an e-mail watch made through its form (as a
//! browser posts it: same-origin, urlencoded), a cross-site post refused, refused input shown
//! again; the confirmation and unsubscribe pages (`GET` shows a button and changes nothing,
//! `POST` acts); and every notice, webhook or mail, carries an unsubscribe link that works.

use std::net::SocketAddr;
use std::time::Duration;

use mxtls_server::Config;
use mxtls_server::watches::WatchLimits;
use mxtls_world::{Options, World};

mod common;
#[allow(dead_code)] // the outbox tests' receiver, of which this test needs less
#[path = "outbox/receiver.rs"]
mod receiver;

const RELAY_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 97, 9, 1);
const BASE: &str = "http://checker.test";
/// What a browser sends with a form posted from our own page.
const SAME_ORIGIN: &str = "Origin: http://localhost\r\nSec-Fetch-Site: same-origin\r\n";
const FORM: &str = "application/x-www-form-urlencoded";

fn config(world: &World, db: &common::TestDb, relay: SocketAddr) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        web_dir: world.dir.join("no-web-app"),
        db: db.url.clone(),
        probe: common::world_probe(world),
        public_url: Some(BASE.into()),
        watch: WatchLimits {
            interval: Duration::from_secs(3),
            retry_first: Duration::from_millis(200),
            ..WatchLimits::default()
        },
        delivery: mxtls_server::notify::Delivery {
            allow_private_targets: true,
            smtp_relay: Some(relay),
            mail_from: "mxtls@checker.test".into(),
        },
        ..Config::default()
    }
}

/// The text between `start` and the next `end` in `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = page.split_once(start)?;
    rest.split_once(end).map(|(inside, _)| inside)
}

/// A mail's body as written, quoted-printable soft line breaks joined.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

/// The link in `text` that starts with `prefix`, as a path on our server.
fn link_path(text: &str, prefix: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("a link {prefix}… in\n{text}"))
        .trim_start_matches(BASE)
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_made_confirmed_and_ended_from_plain_pages() {
    let world = World::start(Options {
        net: 97,
        smtp_port: 2597,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let port = std::net::TcpListener::bind((RELAY_IP, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (_postfix, maildir) = mxtls_world::daemons::mailbox_postfix(
        &world.dir.join("mailbox"),
        RELAY_IP,
        port,
        "watch.test",
    )
    .expect("the mailbox Postfix starts");
    let relay = SocketAddr::from((RELAY_IP, port));
    common::until(
        Duration::from_secs(30),
        "the mailbox Postfix listens",
        || async { tokio::net::TcpStream::connect(relay).await.is_ok() },
    )
    .await;
    let db = common::TestDb::new(&world.dir.join("pages.sqlite"));
    let (addr, app) = common::start(config(&world, &db, relay)).await;
    let watches = || async { common::count(&app.store, "SELECT COUNT(*) FROM watches").await };

    // The form page: a plain form posting to itself, the domain's report, history and feed.
    let page = common::get(addr, "/d/dane-ee.test/watch", "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.head.contains("content-type: text/html"),
        "{}",
        page.head
    );
    for part in [
        "<form method=\"post\" action=\"/d/dane-ee.test/watch\"",
        "name=\"email\"",
        "name=\"webhook\"",
        "<button type=\"submit\">",
        "href=\"/d/dane-ee.test/feed.atom\"",
        "href=\"/check/dane-ee.test\"",
        "href=\"/d/dane-ee.test\"",
        "name=\"viewport\"",
    ] {
        assert!(page.body.contains(part), "{part}: {}", page.body);
    }
    assert!(!page.body.contains("<script"), "no script: {}", page.body);
    assert!(
        !page.body.contains("style="),
        "no inline style: {}",
        page.body
    );
    let csp = page
        .head
        .lines()
        .find(|l| l.starts_with("content-security-policy:"))
        .expect("a CSP");
    assert!(
        csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let bad = common::get(addr, "/d/not%20a%20domain/watch", "").await;
    assert_eq!(bad.status, 404, "{}", bad.body);

    // Receivers first: a webhook that answers 204.
    let (hook_addr, listener) = receiver::Receiver::bind().await;
    let hook = receiver::Receiver::start(listener, std::sync::Arc::new(|_, _| Some((204, None))));
    let hook_url = format!("http://{hook_addr}/hook");
    let form = format!(
        "email=&webhook={}",
        hook_url.replace(':', "%3A").replace('/', "%2F")
    );

    // Another site's form is refused, and nothing is stored.
    let a = common::post_with(
        addr,
        "/d/dane-ee.test/watch",
        FORM,
        form.as_bytes(),
        "Origin: http://elsewhere.test\r\nSec-Fetch-Site: cross-site\r\n",
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("own pages"), "{}", a.body);
    assert_eq!(watches().await, 0, "a cross-site post makes no watch");

    // Refused input is shown again with the reason, in the form.
    let a = common::post_with(
        addr,
        "/d/dane-ee.test/watch",
        FORM,
        b"email=&webhook=ftp%3A%2F%2Fx.test%2F",
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("id=\"watch-error\""), "{}", a.body);
    assert!(
        a.body.contains("value=\"ftp://x.test/\""),
        "input kept: {}",
        a.body
    );
    assert!(a.body.contains("<form method=\"post\""), "{}", a.body);
    let a = common::post_with(
        addr,
        "/d/dane-ee.test/watch",
        FORM,
        b"email=&webhook=",
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("one of them"), "{}", a.body);
    assert_eq!(watches().await, 0);

    // A webhook watch from the form: its id and how to end it.
    let a = common::post_with(
        addr,
        "/d/dane-ee.test/watch",
        FORM,
        form.as_bytes(),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = between(&a.body, "<code id=\"watch-id\">", "</code>")
        .expect("the id is shown")
        .to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let end = format!("/api/watches/{id}/unsubscribe");
    assert!(a.body.contains(&format!("href=\"{end}\"")), "{}", a.body);
    assert!(app.store.watch(&id).await.expect("store").is_some());

    // Its first notice carries the unsubscribe link.
    common::until(
        Duration::from_secs(60),
        "the first notice is posted",
        || async { !hook.delivered().is_empty() },
    )
    .await;
    let first = &hook.delivered()[0].body;
    assert_eq!(first["watch"], id.as_str(), "{first}");
    assert_eq!(first["first"], true, "{first}");
    assert_eq!(first["unsubscribe"], format!("{BASE}{end}"), "{first}");

    // Following the link shows a button and changes nothing; pressing it ends the watch.
    let page = common::get(addr, &end, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<form method=\"post\" action=\"{end}\">")),
        "{}",
        page.body
    );
    assert!(page.body.contains("dane-ee.test"), "{}", page.body);
    assert!(
        app.store.watch(&id).await.expect("store").is_some(),
        "GET ends nothing"
    );
    let ended = common::post_with(addr, &end, FORM, b"", SAME_ORIGIN).await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(ended.body.contains("id=\"ended\""), "{}", ended.body);
    assert!(
        app.store.watch(&id).await.expect("store").is_none(),
        "the watch is gone"
    );
    assert_eq!(
        common::post_with(addr, &end, FORM, b"", SAME_ORIGIN)
            .await
            .status,
        404
    );
    assert_eq!(common::get(addr, &end, "").await.status, 404);
    let posted = hook.hits().len();

    // An e-mail watch from the form: "check your mail", then the confirmation mail.
    let a = common::post_with(
        addr,
        "/d/dane-ta.test/watch",
        FORM,
        b"email=owner%40watch.test&webhook=",
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.contains("Check your mail"), "{}", a.body);
    assert!(a.body.contains("owner@watch.test"), "{}", a.body);
    let got = common::wait_for_mails(&maildir, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "the confirmation mail arrives");
    let confirmation = unfolded(&got[0]);
    let confirm = link_path(&confirmation, &format!("{BASE}/api/watches/"));
    assert!(confirm.contains("/confirm?token="), "{confirmation}");
    let refuse = link_path(
        &confirmation
            .lines()
            .filter(|l| l.contains("/unsubscribe"))
            .collect::<Vec<_>>()
            .join("\n"),
        BASE,
    );
    let mail_id = refuse
        .trim_start_matches("/api/watches/")
        .trim_end_matches("/unsubscribe")
        .to_owned();
    assert_eq!(mail_id.len(), 32, "{confirmation}");

    // The confirmation page: a button; following the link confirms nothing.
    let page = common::get(addr, &confirm, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    let pending = app
        .store
        .watch(&mail_id)
        .await
        .expect("store")
        .expect("the watch");
    assert!(pending.token.is_some(), "GET confirms nothing");
    let confirmed = common::post_with(addr, &confirm, FORM, b"", SAME_ORIGIN).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body.contains("Confirmed"), "{}", confirmed.body);

    // The first report's mail carries the unsubscribe link, and it works.
    let got = common::wait_for_mails(&maildir, 2, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 2, "the first report follows the confirmation");
    let report = unfolded(&got[1]);
    assert!(report.contains("Subject: mxtls: dane-ta.test"), "{report}");
    let stop = link_path(
        &report,
        &format!("{BASE}/api/watches/{mail_id}/unsubscribe"),
    );
    assert_eq!(stop, format!("/api/watches/{mail_id}/unsubscribe"));
    let page = common::get(addr, &stop, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("stop the mail about dane-ta.test"),
        "{}",
        page.body
    );
    assert!(
        app.store.watch(&mail_id).await.expect("store").is_some(),
        "GET ends nothing"
    );
    let ended = common::post_with(addr, &stop, FORM, b"", SAME_ORIGIN).await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(
        app.store.watch(&mail_id).await.expect("store").is_none(),
        "the watch is gone"
    );
    assert_eq!(watches().await, 0);

    // Nothing more is sent to either: a few re-check intervals pass in silence.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(hook.hits().len(), posted, "no webhook notice after the end");
    assert_eq!(common::mails(&maildir).len(), 2, "no mail after the end");
}
