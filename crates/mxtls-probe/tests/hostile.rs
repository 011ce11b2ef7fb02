//! Hostile SMTP servers: each session ends within its deadline, never panics, never buffers
//! without bound, and records the right step and error as evidence. A server that stalls at
//! any step (greeting, EHLO, STARTTLS, handshake) is given up on at that step's own limit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mxtls_core::evidence::{KeyTypeOffer, SessionError, SmtpSession, Step};
use mxtls_core::names::DnsName;
use mxtls_probe::Deadlines;
use mxtls_probe::smtp::{self, SessionPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a one-connection server on loopback running `behave`.
async fn serve<F, Fut>(behave: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            behave(stream).await;
        }
    });
    addr
}

/// Runs a session against `addr` with a `deadline` for the whole check, and makes sure it ends
/// well within a bound (a hang fails the test instead of stalling it).
async fn session(addr: SocketAddr, deadline: Duration) -> SmtpSession {
    session_with(addr, deadline, Deadlines::default()).await
}

/// [`session`] with these step limits.
async fn session_with(addr: SocketAddr, deadline: Duration, deadlines: Deadlines) -> SmtpSession {
    let plan = SessionPlan {
        ip: addr.ip(),
        port: addr.port(),
        sni: DnsName::parse("mx.hostile.test").expect("name"),
        offer: KeyTypeOffer::Any,
        helo: "probe.mxtls.test".into(),
        source: Default::default(),
        deadline: Instant::now() + deadline,
        deadlines,
        on_step: None,
    };
    tokio::time::timeout(deadline + Duration::from_secs(10), smtp::session(&plan))
        .await
        .expect("the session must end by its deadline")
}

fn stop(s: &SmtpSession) -> (Step, SessionError) {
    let stop = s
        .stopped
        .clone()
        .expect("the session records where it stopped");
    (stop.step, stop.error)
}

async fn greet_then<F, Fut>(then: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    serve(|mut s| async move {
        let _ = s.write_all(b"220 hostile ESMTP\r\n").await;
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await; // EHLO
        let _ = s.write_all(b"250-hostile\r\n250 STARTTLS\r\n").await;
        let _ = s.read(&mut buf).await; // STARTTLS
        let _ = s.write_all(b"220 go ahead\r\n").await;
        then(s).await;
    })
    .await
}

#[tokio::test]
async fn a_banner_that_never_comes_times_out_at_the_banner() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let s = session(addr, Duration::from_secs(2)).await;
    assert_eq!(stop(&s), (Step::Banner, SessionError::Timeout));
    assert!(
        s.banner.is_none() && s.transcript.is_empty(),
        "nothing was said before the greeting"
    );
}

#[tokio::test]
async fn an_endless_multiline_reply_hits_the_line_limit() {
    let addr = serve(|mut s| async move {
        for _ in 0..100_000 {
            if s.write_all(b"220-still greeting you\r\n").await.is_err() {
                return;
            }
        }
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Banner);
    assert!(matches!(error, SessionError::Limit { .. }), "{error:?}");
    assert!(
        s.transcript.len() <= smtp::MAX_REPLY_LINES + 1,
        "the transcript is bounded too"
    );
}

#[tokio::test]
async fn a_one_megabyte_line_hits_the_line_limit() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"220 ").await;
        let _ = s.write_all(&vec![b'a'; 1 << 20]).await;
        let _ = s.write_all(b"\r\n").await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Banner);
    assert!(matches!(error, SessionError::Limit { .. }), "{error:?}");
}

#[tokio::test]
async fn garbage_bytes_are_not_smtp() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"\x16\x03\x01\x02\x00\x01\xff\xfe garbage\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Banner);
    assert!(matches!(error, SessionError::Garbage { .. }), "{error:?}");
}

#[tokio::test]
async fn a_421_greeting_is_recorded_as_a_rejection() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(b"421 4.7.0 too many connections, try later\r\n")
            .await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    assert_eq!(
        stop(&s),
        (Step::Banner, SessionError::Rejected { code: 421 })
    );
    assert_eq!(s.banner.as_ref().map(|b| b.code), Some(421));
}

#[tokio::test]
async fn a_tls_alert_is_recorded_at_the_handshake() {
    let addr = greet_then(|mut s| async move {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await; // ClientHello
        // TLS 1.2 record: alert, fatal, handshake_failure.
        let _ = s
            .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Handshake);
    assert!(matches!(error, SessionError::TlsAlert { .. }), "{error:?}");
    assert_eq!(s.starttls.as_ref().map(|r| r.code), Some(220));
}

#[tokio::test]
async fn a_reset_mid_handshake_is_recorded_at_the_handshake() {
    let addr = greet_then(|s| async move {
        let mut s = s;
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await; // ClientHello
        let _ = s.set_zero_linger(); // close with RST
        drop(s);
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Handshake);
    assert!(
        matches!(
            error,
            SessionError::Reset | SessionError::Closed | SessionError::Tls { .. }
        ),
        "{error:?}"
    );
    assert!(s.tls.is_none());
}

#[tokio::test]
async fn cleartext_after_starttls_is_recognised() {
    let addr = greet_then(|mut s| async move {
        let _ = s.write_all(b"250 I am not TLS\r\n").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Handshake);
    assert_eq!(
        error,
        SessionError::CleartextAfterStarttls {
            text: "250 I am not TLS".into()
        }
    );
}

/// The same cleartext sent only once the ClientHello came (so rustls meets it, not the
/// SMTP reader) is the same evidence: what the server sent, not how it arrived.
#[tokio::test]
async fn cleartext_answering_the_client_hello_is_recorded_as_sent() {
    let addr = greet_then(|mut s| async move {
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello).await;
        let _ = s.write_all(b"250 I am not TLS\r\n").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    let (step, error) = stop(&s);
    assert_eq!(step, Step::Handshake);
    assert_eq!(
        error,
        SessionError::CleartextAfterStarttls {
            text: "250 I am not TLS".into()
        }
    );
}

#[tokio::test]
async fn a_refused_connection_is_recorded_at_connect() {
    // Bind and drop to find a port with nothing listening.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let s = session(addr, Duration::from_secs(5)).await;
    assert_eq!(stop(&s), (Step::Connect, SessionError::ConnectRefused));
}

/// Step limits of a second each, against a check deadline of a minute: a stall must end at
/// the step's own limit, not at the check's.
const SHORT: Deadlines = Deadlines {
    connect: Duration::from_secs(1),
    banner: Duration::from_secs(1),
    command: Duration::from_secs(1),
    handshake: Duration::from_secs(1),
    dns_query: Duration::from_secs(1),
    policy_fetch: Duration::from_secs(1),
};
const CHECK: Duration = Duration::from_secs(60);

/// Runs a session whose server stalls; returns where it stopped and how long it took.
async fn stalled(addr: SocketAddr) -> (Step, SessionError, Duration) {
    let started = Instant::now();
    let s = session_with(addr, CHECK, SHORT).await;
    let (step, error) = stop(&s);
    (step, error, started.elapsed())
}

/// Ended by the one-second step limit: not before it, and well before the check's deadline.
fn at_step_limit(took: Duration) -> bool {
    took >= Duration::from_millis(950) && took < Duration::from_secs(5)
}

#[tokio::test]
async fn a_silent_greeting_ends_at_the_banner_limit() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let (step, error, took) = stalled(addr).await;
    assert_eq!((step, error), (Step::Banner, SessionError::Timeout));
    assert!(at_step_limit(took), "{took:?}");
}

#[tokio::test]
async fn an_ehlo_that_is_never_answered_ends_at_the_command_limit() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"220 stalls ESMTP\r\n").await;
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await; // EHLO, never answered
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let (step, error, took) = stalled(addr).await;
    assert_eq!((step, error), (Step::Ehlo, SessionError::Timeout));
    assert!(at_step_limit(took), "{took:?}");
}

#[tokio::test]
async fn an_ehlo_reply_that_never_ends_ends_at_the_command_limit() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"220 stalls ESMTP\r\n").await;
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        // A multiline reply whose last line never comes, one line a little at a time.
        for _ in 0..600 {
            if s.write_all(b"250-still thinking\r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (step, error, took) = stalled(addr).await;
    assert_eq!((step, error), (Step::Ehlo, SessionError::Timeout));
    assert!(
        at_step_limit(took),
        "the limit is for the whole reply: {took:?}"
    );
}

#[tokio::test]
async fn a_starttls_that_is_never_answered_ends_at_the_command_limit() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"220 stalls ESMTP\r\n").await;
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await; // EHLO
        let _ = s.write_all(b"250-stalls\r\n250 STARTTLS\r\n").await;
        let _ = s.read(&mut buf).await; // STARTTLS, never answered
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let (step, error, took) = stalled(addr).await;
    assert_eq!((step, error), (Step::Starttls, SessionError::Timeout));
    assert!(at_step_limit(took), "{took:?}");
}

#[tokio::test]
async fn a_handshake_that_is_never_answered_ends_at_the_handshake_limit() {
    let addr = greet_then(|mut s| async move {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await; // ClientHello, never answered
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let (step, error, took) = stalled(addr).await;
    assert_eq!((step, error), (Step::Handshake, SessionError::Timeout));
    assert!(at_step_limit(took), "{took:?}");
}

/// A server whose TLS stack only speaks TLS 1.0: the probe refuses its ServerHello, but
/// records what it chose, so the core can say why the handshake fails (`tls-old-version`
/// fires on real evidence, not only on a hand-made report).
#[tokio::test]
async fn a_tls_1_0_server_hello_is_recorded_though_refused() {
    let addr = greet_then(|mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await; // ClientHello
        let mut body = vec![0x03, 0x01];
        body.extend([0x5a; 32]);
        body.push(0);
        body.extend([0x00, 0x2f, 0x00]);
        let mut hs = vec![2, 0, 0, body.len() as u8];
        hs.extend(body);
        let mut record = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
        record.extend(hs);
        let _ = s.write_all(&record).await;
        let _ = s.read(&mut buf).await;
    })
    .await;
    let s = session(addr, Duration::from_secs(10)).await;
    assert_eq!(stop(&s).0, Step::Handshake);
    let tls = s.tls.as_ref().expect("the ServerHello is evidence");
    assert_eq!(tls.version, Some(mxtls_core::tls::TlsVersion::TLS10));
    assert_eq!(tls.cipher_suite, Some(mxtls_core::tls::CipherSuite(0x002f)));
    assert!(tls.chain.is_empty(), "no certificate was accepted");
}
