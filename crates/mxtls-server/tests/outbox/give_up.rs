//! Giving up after a while: a receiver that answers 429, 408 and then 503 for good is
//! tried again and again (none of these is final) until `give_up_after` has passed; the
//! notice is then given up, shown in the domain's history and counted in `/metrics`. No
//! world is needed: the notice is written straight into the outbox and only the delivery
//! loop runs (no watcher, so nothing is probed).

use super::*;
use mxtls_server::watches::outbox::{self, Notice};
use mxtls_server::watches::{Target, Watch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_that_keeps_failing_is_given_up_after_its_time() {
    let (addr, l) = Receiver::bind().await;
    let receiver = Receiver::start(
        l,
        Arc::new(|_: &str, nth| {
            Some((
                match nth {
                    0 => 429,
                    1 => 408,
                    _ => 503,
                },
                None,
            ))
        }),
    );
    let db = common::TestDb::memory();
    let mut app = App::new(
        db.open().await,
        mxtls_probe::Config::default(),
        Limits::default(),
    );
    app.watch = WatchLimits {
        retry_first: Duration::from_millis(100),
        give_up_after: Duration::from_secs(3),
        ..limits()
    };
    app.delivery.allow_private_targets = true;
    let app = Arc::new(app);
    let watch = Watch {
        id: "a".repeat(32),
        domain: "example.org".into(),
        target: Target::Webhook(format!("http://{addr}/hook")),
        token: None,
        // Not due for a day: no check runs (and none could: no watcher is started).
        next_check: i64::MAX / 2,
        last_snapshot: None,
    };
    app.store.add_watch(&watch, "test", 0).await.expect("add");
    let notice = Notice::new(
        &watch,
        "change",
        outbox::change_key(&watch.id, Some(&"b".repeat(32))),
        "subject",
        &serde_json::json!({"domain": "example.org", "first": false}),
        String::new,
    )
    .expect("a notice");
    assert!(
        app.store
            .enqueue(&notice, outbox::now_ms())
            .await
            .expect("written")
    );
    assert!(
        !app.store
            .enqueue(&notice, outbox::now_ms())
            .await
            .expect("written"),
        "the same key is written once"
    );
    let delivery = tokio::spawn(outbox::deliver_forever(app.clone()));
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        // No web app (a directory that is not there): the test reads the API only.
        web_dir: std::env::temp_dir().join("mxtls-outbox-no-web-app"),
        db: db.url.clone(),
        probe: mxtls_probe::Config::default(),
        watch: app.watch.clone(),
        delivery: app.delivery.clone(),
        ..Config::default()
    };
    let (server, task) = common::serve(config, app.clone()).await;

    let state = async || app.store.watch_notices(&watch.id).await.expect("outbox");
    assert!(
        until(WITHIN, async || state().await[0].2 == "given_up").await,
        "{:?}",
        state().await
    );
    let hits = receiver.hits();
    let notices = state().await;
    println!(
        "given up: {notices:?} after {:?}",
        hits.iter().map(|h| h.answered).collect::<Vec<_>>()
    );
    // Tried at about 0, 0.1, 0.4, 1.6 and 7.6 s: 429 and 408 were not final, and the
    // attempt that failed past the three seconds gave up.
    let statuses: Vec<u16> = hits.iter().map(|h| h.answered).collect();
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert_eq!(statuses[..2], [429, 408]);
    assert!(statuses[2..].iter().all(|s| *s == 503), "{statuses:?}");
    assert!(
        hits.iter()
            .all(|h| h.key == notice.key && h.path == "/hook")
    );
    assert_eq!(hits[0].body["idempotency_key"], notice.key.as_str());
    let attempts = hits.len() as i64;
    assert_eq!(
        notices,
        [(
            notice.key.clone(),
            "change".into(),
            "given_up".into(),
            attempts
        )]
    );
    let history: Value = serde_json::from_str(
        &common::get(server, "/api/domains/example.org/history", "")
            .await
            .body,
    )
    .expect("history");
    assert_eq!(
        history["undelivered"],
        serde_json::json!([{
            "kind": "change",
            "created_at": history["undelivered"][0]["created_at"],
            "given_up_at": history["undelivered"][0]["given_up_at"],
            "attempts": attempts,
            "error": "the webhook answered 503",
        }]),
        "{history}"
    );
    let m = common::get(server, "/metrics", "").await.body;
    for line in [
        "mxtls_notifications_total{result=\"delivered\"} 0".to_owned(),
        format!(
            "mxtls_notifications_total{{result=\"retried\"}} {}",
            attempts - 1
        ),
        "mxtls_notifications_total{result=\"given_up\"} 1".to_owned(),
    ] {
        assert!(m.contains(&line), "{line}\n{m}");
    }
    assert!(
        until(WITHIN, async || common::get(server, "/metrics", "")
            .await
            .body
            .contains("mxtls_notifications_pending 0"))
        .await
    );
    delivery.abort();
    task.abort();
}
