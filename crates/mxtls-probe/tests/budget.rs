//! The per-address session budget against the test world, counted by the world's own SMTP
//! server: many checks of one domain at once never open more than the budget allows to its
//! address in any window, never two at a time, each waiting check says why it waits — and
//! every check still gets its whole evidence.

use std::time::Duration;

use mxtls_core::evidence::TargetDecision;
use mxtls_core::progress::Event;
use mxtls_probe::budget::LocalBudget;
use mxtls_world::{Options, World};

const CHECKS: usize = 6;
const PER_WINDOW: usize = 3;
const WINDOW: Duration = Duration::from_secs(2);

/// The probe pointed at `world`, with `budget` and the check deadline `timeout`.
fn probe(
    world: &World,
    budget: std::sync::Arc<LocalBudget>,
    timeout: Duration,
) -> mxtls_probe::Config {
    mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        timeout,
        budget: Some(std::sync::Arc::new(budget)),
        ..mxtls_probe::Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_keep_to_the_address_budget() {
    let world = World::start(Options {
        net: 73,
        smtp_port: 2573,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let config = probe(
        &world,
        LocalBudget::new(PER_WINDOW, WINDOW),
        Duration::from_secs(90),
    );
    let domain = mxtls_core::names::parse_user_domain("dane-ee.test").expect("name");
    let ip = world.first_address("dane-ee.test").expect("address");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let checks = futures_util::future::join_all(
        (0..CHECKS).map(|_| mxtls_probe::check(&domain, &config, Some(tx.clone()))),
    )
    .await;
    drop(tx);
    let mut waits = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Waiting { ip: at, reason, .. } = e {
            assert_eq!(at, ip);
            waits.push(reason);
        }
    }

    // Every check got its evidence: each session reached the server (dane-ee.test holds only
    // an ECDSA key, so the RSA-only offer ends in a handshake failure, as without a budget);
    // none was given up for the budget.
    let mut sessions_expected = 0;
    for evidence in &checks {
        let evidence = evidence.as_ref().expect("a check");
        let address = &evidence.hosts[0].addresses[0];
        assert_eq!(address.target, TargetDecision::Allowed);
        assert!(!address.sessions.is_empty());
        for s in &address.sessions {
            assert!(
                s.banner.is_some(),
                "the server greeted every session: {:?}",
                s.stopped
            );
        }
        sessions_expected += address.sessions.len();
    }

    // What the world's server saw at that address.
    let seen = world.sessions.at(ip);
    assert_eq!(
        seen.len(),
        sessions_expected,
        "one server session per recorded session"
    );
    for (i, s) in seen.iter().enumerate() {
        let in_window = seen[i..]
            .iter()
            .filter(|t| t.accepted.duration_since(s.accepted) < WINDOW)
            .count();
        assert!(
            in_window <= PER_WINDOW,
            "{in_window} sessions began within {WINDOW:?} of session {i}: over the budget of {PER_WINDOW}"
        );
        let ended = s.ended.expect("ended");
        let overlapping = seen
            .iter()
            .filter(|t| t.accepted > s.accepted && t.accepted < ended)
            .count();
        assert_eq!(
            overlapping, 0,
            "session {i} overlapped another: one at a time"
        );
    }
    assert!(
        waits.iter().any(|r| r.contains("one at a time"))
            && waits
                .iter()
                .any(|r| r.contains(&format!("sessions with {ip} in the last 2 s"))),
        "the waiting checks said why: {waits:?}"
    );
    let span = seen.last().expect("sessions").accepted - seen[0].accepted;
    println!(
        "{} sessions for {CHECKS} checks at {ip} over {:.1} s (budget {PER_WINDOW} per {WINDOW:?}, one at a time); {} waiting events",
        seen.len(),
        span.as_secs_f64(),
        waits.len()
    );
    world.stop().await;
}

/// A server that greets with `421` is backed off: the check's other session (the RSA-only
/// offer, waiting for its turn) does not connect and the check ends at once, not at its
/// deadline; a second check within the back-off does not connect at all and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_greeting_backs_the_address_off() {
    let world = World::start(Options {
        net: 78,
        smtp_port: 2578,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let config = probe(
        &world,
        LocalBudget::new(6, Duration::from_secs(60)),
        Duration::from_secs(30),
    );
    let domain = mxtls_core::names::parse_user_domain("busy-421.test").expect("name");
    let ip = world.first_address("busy-421.test").expect("address");
    let started = std::time::Instant::now();
    let first = mxtls_probe::check(&domain, &config, None)
        .await
        .expect("check");
    let took = started.elapsed();
    let again = mxtls_probe::check(&domain, &config, None)
        .await
        .expect("check");
    let stops = |e: &mxtls_core::Evidence| -> Vec<String> {
        e.hosts[0].addresses[0]
            .sessions
            .iter()
            .map(|s| format!("{:?}", s.stopped.as_ref().map(|x| &x.error)))
            .collect()
    };
    let first_stops = stops(&first);
    assert_eq!(
        first_stops.len(),
        1,
        "a greeting with no key recorded: one session: {first_stops:?}"
    );
    assert!(
        first_stops[0].contains("Rejected { code: 421 }"),
        "it met the 421: {first_stops:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the check ended at once, not at its deadline: {took:?}"
    );
    assert!(
        stops(&again)
            .iter()
            .all(|s| s.contains("refused or limited us 1 time")),
        "within the back-off nothing connects: {:?}",
        stops(&again)
    );
    assert_eq!(
        world.sessions.at(ip).len(),
        1,
        "the server was contacted once"
    );
    world.stop().await;
}
