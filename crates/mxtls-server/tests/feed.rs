//! The Atom feed of a domain's changes (`/d/{domain}/feed.atom`), read by a real Atom parser
//! (`atom_syndication`): an entry for the first snapshot and for each one whose report
//! differs from the one before, and — with more snapshots than the feed shows — none for the
//! oldest shown merely because the window ends there.

use mxtls_core::Evidence;
use mxtls_core::evidence::UnixTime;
use mxtls_server::history::MAX_HISTORY;

mod common;

const EVIDENCE: &str = include_str!("../../mxtls-core/tests/fixtures/evidence-v1.json");
const T0: i64 = 1_795_824_000;

/// The fixture's evidence at `T0 + minute`; `one_mx` drops its second MX host (a change the
/// report diff names).
fn evidence(minute: i64, one_mx: bool) -> Evidence {
    let mut v: serde_json::Value = serde_json::from_str(EVIDENCE).expect("fixture");
    if one_mx {
        v["mx"]["records"]
            .as_array_mut()
            .expect("records")
            .truncate(1);
        v["hosts"].as_array_mut().expect("hosts").truncate(1);
    }
    let mut e = Evidence::from_json(&v.to_string()).expect("evidence");
    e.probe.finished_at = UnixTime(T0 + 60 * minute);
    e
}

/// `T0 + minute` as the Atom parser gives dates back.
fn time(minute: i64) -> String {
    let s = UnixTime(T0 + 60 * minute).to_string();
    format!("{}T{}+00:00", &s[..10], &s[11..19])
}

async fn feed(addr: std::net::SocketAddr) -> atom_syndication::Feed {
    let a = common::get(addr, "/d/example.org/feed.atom", "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.head.contains("content-type: application/atom+xml"),
        "{}",
        a.head
    );
    a.body
        .parse::<atom_syndication::Feed>()
        .unwrap_or_else(|e| panic!("not an Atom feed ({e}): {}", a.body))
}

/// `(snapshot id of the entry's link, updated)` of each entry, in feed order.
fn entries(f: &atom_syndication::Feed) -> Vec<(String, String)> {
    f.entries()
        .iter()
        .map(|e| {
            let link = e
                .links()
                .first()
                .map(|l| l.href().to_owned())
                .unwrap_or_default();
            assert_eq!(e.id(), link, "an entry's id is its snapshot's link");
            (
                link.rsplit('/').next().unwrap_or_default().to_owned(),
                e.updated().to_rfc3339(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_names_exactly_the_real_changes() {
    let db = common::TestDb::memory();
    let (addr, app) = common::start(common::api_only(&db)).await;

    // The precondition: the variant is a change the diff names.
    let judge = |e: &Evidence| mxtls_core::analyse(e, e.probe.finished_at);
    let change = mxtls_core::analysis::diff(
        Some(&judge(&evidence(0, false))),
        &judge(&evidence(1, true)),
    );
    assert!(!change.is_empty());
    assert!(
        mxtls_core::analysis::diff(
            Some(&judge(&evidence(0, false))),
            &judge(&evidence(1, false))
        )
        .is_empty()
    );

    // Three unchanged snapshots: the domain's first is the only entry.
    let mut ids = Vec::new();
    for minute in 0..3 {
        ids.push(app.store.put(&evidence(minute, false)).await.expect("put"));
    }
    let f = feed(addr).await;
    assert_eq!(f.title().as_str(), "mxtls: mail security of example.org");
    assert_eq!(entries(&f), [(ids[0].as_str().to_owned(), time(0))]);

    // 70 snapshots: the second MX host goes at minute 20 and is back at 46. The feed shows
    // the newest 60 (minutes 10–69), and of them exactly those two changes.
    let snapshots = 70;
    assert!(snapshots > MAX_HISTORY as i64 + 1);
    for minute in 3..snapshots {
        ids.push(
            app.store
                .put(&evidence(minute, (20..46).contains(&minute)))
                .await
                .expect("put"),
        );
    }
    let f = feed(addr).await;
    let at = |minute: i64| (ids[minute as usize].as_str().to_owned(), time(minute));
    println!("{:?}", entries(&f));
    assert_eq!(entries(&f), [at(46), at(20)]);
    assert_eq!(
        f.updated().to_rfc3339(),
        at(snapshots - 1).1,
        "the feed is as new as the newest snapshot"
    );
    let content = |i: usize| {
        f.entries()[i]
            .content()
            .and_then(|c| c.value())
            .unwrap_or_default()
            .to_owned()
    };
    let (back, gone) = (content(0), content(1));
    println!("back:\n{back}\ngone:\n{gone}");
    assert!(gone.contains("mx2.example.org"), "{gone}");
    assert!(back.contains("mx2.example.org"), "{back}");
}
