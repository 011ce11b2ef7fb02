//! The JSON API over real HTTP against the test world: a check streamed as server-sent events
//! ends with evidence and its snapshot id; the snapshot is served immutable, survives a
//! restart, and the same evidence always gets the same id.

use std::net::SocketAddr;
use std::sync::Arc;

use mxtls_core::api::CheckAnswer;
use mxtls_core::report::Verdict;
use mxtls_core::{Evidence, analyse};
mod common;

use mxtls_server::{App, Config, Limits};
use mxtls_world::{Options, World};

async fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    let a = common::get(addr, path, extra).await;
    (a.status, a.head, a.body)
}

/// The `data:` of every SSE event named `name`.
fn events(body: &str, name: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|block| block.lines().any(|l| l == format!("event: {name}")))
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_streams_progress_and_stores_a_snapshot() {
    let world = World::start(Options {
        net: 58,
        smtp_port: 2558,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(
        &std::env::temp_dir().join(format!("mxtls-api-{}.sqlite", std::process::id())),
    );
    let probe = common::world_probe(&world);
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: world.dir.clone(),
        db: db.url.clone(),
        probe: probe.clone(),
        ..Config::default()
    };
    // One probing check per client per minute: the second domain below is refused.
    let limits = Limits {
        per_client_per_minute: 1,
        ..Limits::default()
    };
    let app = Arc::new(App::new(db.open().await, probe, limits));
    let (addr, server) = common::serve(config, app).await;

    let (status, head, body) = get(addr, "/api/check/dane-ee.test", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let progress = events(&body, "progress");
    assert!(
        progress.iter().any(|p| p.contains("\"session-done\"")),
        "progress shows the sessions: {progress:?}"
    );
    for step in ["connect", "banner", "starttls", "handshake"] {
        let tag = format!("\"step\":\"{step}\"");
        assert!(
            progress.iter().any(|p| p.contains(&tag)),
            "no {step} step in {progress:?}"
        );
    }
    let done = events(&body, "evidence");
    assert_eq!(done.len(), 1, "one final evidence event: {body}");
    let done = CheckAnswer::from_json(&done[0]).expect("the typed answer");
    assert!(!done.reused);
    let id = done.snapshot.clone();
    let evidence = done.evidence;
    // The server sends evidence; the verdict is the client's to compute.
    assert_eq!(
        analyse(&evidence, evidence.probe.finished_at).mx[0].addresses[0].tls,
        Verdict::Verified
    );

    // A second check within a minute is the same snapshot, without probing again.
    let (status, _, body) = get(addr, "/api/check/dane-ee.test", "").await;
    assert_eq!(status, 200);
    assert!(
        events(&body, "progress").is_empty(),
        "a reused check probes nothing"
    );
    let again = CheckAnswer::from_json(&events(&body, "evidence")[0]).expect("JSON");
    assert_eq!((again.snapshot.as_str(), again.reused), (id.as_str(), true));

    // Another domain from the same client in the same minute is refused, with Retry-After.
    // The body is the reason as a clause the page completes with the wait ("…; this one
    // can start in 23 seconds"), in a neutral box: nothing is wrong with the domain.
    let (status, head, body) = get(addr, "/api/check/dane-ta.test", "").await;
    assert_eq!(status, 429);
    assert_eq!(
        mxtls_core::api::from_json::<mxtls_core::api::ApiError>(&body),
        Ok(mxtls_core::api::ApiError {
            error: "you have started many checks".into()
        }),
        "{body}"
    );
    let wait: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("retry-after");
    assert!((1..=60).contains(&wait), "{wait}");

    let (status, head, body) = get(addr, &format!("/api/snapshots/{id}"), "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("cache-control: public, max-age=31536000, immutable"),
        "{head}"
    );
    assert!(head.contains(&format!("etag: \"{id}\"")), "{head}");
    assert_eq!(
        Evidence::from_json(&body).expect("stored evidence"),
        evidence
    );
    let (status, _, _) = get(
        addr,
        &format!("/api/snapshots/{id}"),
        &format!("If-None-Match: \"{id}\"\r\n"),
    )
    .await;
    assert_eq!(status, 304);

    let (status, head, svg) = get(addr, "/badge/dane-ee.test.svg", "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: image/svg+xml") && svg.contains("DANE verified"),
        "{head}\n{svg}"
    );
    let (_, _, svg) = get(addr, "/badge/never-checked.test.svg", "").await;
    assert!(svg.contains("not checked"), "{svg}");

    assert_eq!(get(addr, "/api/snapshots/not-an-id", "").await.0, 400);
    assert_eq!(
        get(addr, &format!("/api/snapshots/{}", "0".repeat(32)), "")
            .await
            .0,
        404
    );
    let (status, _, body) = get(addr, "/api/check/not%20a%20domain", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("error"));

    server.abort();

    // A restart loses nothing, and the same evidence has the same id.
    let reopened = db.open().await;
    let id = mxtls_server::snapshots::SnapshotId::parse(&id).expect("id");
    assert!(
        reopened.get(&id).await.expect("read").is_some(),
        "the snapshot survives a restart"
    );
    assert_eq!(reopened.put(&evidence).await.expect("put"), id);
    assert_eq!(
        reopened
            .latest("dane-ee.test")
            .await
            .expect("latest")
            .map(|s| s.id),
        Some(id)
    );

    world.stop().await;
}
