//! The receivers: one SMTP listener per test domain, each behaving as its case says
//! (`mxtls_core::sender_test::dialogue` decides every reply; this moves the bytes and does
//! TLS). Bounded like the HTTP server: connections overall and per client
//! ([`crate::connections::ConnectionLimits`]), a deadline for every command line that is
//! not reset by each byte, a deadline for the whole session and for the TLS handshake, and
//! the dialogue's own bounds on lines, commands and the message. A message is read to its
//! end and dropped: only that it arrived is kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxtls_core::evidence::UnixTime;
use mxtls_core::sender_test::dialogue::{self, Dialogue, Step};
use mxtls_core::sender_test::{Case, Connection, Receiver, TlsSeen};
use mxtls_core::tls::{CipherSuite, NamedGroup, TlsVersion};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};

use super::SenderTests;
use crate::clients::ClientKey;
use crate::clock::now_ms;
use crate::connections::ConnectionLimits;

/// A whole session, greeting to close: a sender that takes longer is cut off.
pub const SESSION: Duration = Duration::from_secs(300);
/// One command line, or the TLS handshake, must arrive within this (RFC 5321 §4.5.3.2 asks
/// senders for far longer waits; a receiver may be stricter, and a test sender is prompt).
pub const LINE: Duration = Duration::from_secs(60);
/// What is read of a message beyond the dialogue's bound before the connection is closed.
const MAX_DISCARD: usize = 16 * dialogue::MAX_MESSAGE;
/// How often tests past their keeping time are forgotten while the receivers run.
const PRUNE: Duration = Duration::from_secs(600);

/// Binds every receiver's listener (before anything is spawned, so that a port that is
/// taken is an error at start-up, not a silent gap).
pub async fn bind(settings: &super::Settings) -> std::io::Result<Vec<(Case, TcpListener)>> {
    let mut listeners = Vec::new();
    for &(case, addr) in &settings.listen {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("sender test: {} cannot listen on {addr}: {e}", case.label()),
            )
        })?;
        listeners.push((case, listener));
    }
    Ok(listeners)
}

/// The receivers' TLS: TLS 1.2 and 1.3 with the chain for `*.ZONE`.
pub fn tls_config(settings: &super::Settings) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(settings.chain.clone(), settings.key.clone_key())
        .map_err(|e| format!("the receivers' certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// Accepts on every listener until the task is aborted.
pub async fn serve(
    tests: Arc<SenderTests>,
    listeners: Vec<(Case, TcpListener)>,
    tls: Arc<rustls::ServerConfig>,
    limits: ConnectionLimits,
) {
    // A quarter of the HTTP server's connection budget (at least 16): the receivers share
    // the process's descriptors with it and the probe.
    let cap = (limits.max_connections / 4).max(16);
    let shared = Arc::new(Shared {
        tests,
        tls,
        open: Arc::new(Semaphore::new(cap)),
        per_client: Mutex::new(HashMap::new()),
        limits,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (case, listener) in listeners {
        tasks.spawn(accept(shared.clone(), case, listener));
    }
    let prune = shared.tests.clone();
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(PRUNE).await;
            if let Err(e) = prune.forget_old(now_ms() / 1000).await {
                crate::say!("sender test: old tests not forgotten: {e}");
            }
        }
    });
    while tasks.join_next().await.is_some() {}
}

struct Shared {
    tests: Arc<SenderTests>,
    tls: Arc<rustls::ServerConfig>,
    open: Arc<Semaphore>,
    per_client: Mutex<HashMap<ClientKey, usize>>,
    limits: ConnectionLimits,
}

/// A client's place among the open connections, given back when dropped.
struct Slot {
    shared: Arc<Shared>,
    key: ClientKey,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.shared.per_client.lock()
            && let Some(n) = map.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

async fn accept(shared: Arc<Shared>, case: Case, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors or a reset before accept: wait a moment, go on.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = admit(&shared, peer.ip()) else {
            // Over a cap: say so in SMTP, as a busy server does (421), if the socket takes it
            // at once, and close — no task, no wait.
            let _ = stream.try_write(b"421 4.7.0 too many connections, try later\r\n");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut seen = Seen::new(case, peer.ip());
            // Past the session's limit, what was seen until then is still kept.
            let _ = timeout(SESSION, session(&shared, case, stream, &mut seen)).await;
            for record in seen.records() {
                shared.tests.record(&record).await;
            }
            drop(slot);
        });
    }
}

fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<Slot> {
    let permit = shared.open.clone().try_acquire_owned().ok()?;
    let key = ClientKey::of(ip);
    let mut map = shared.per_client.lock().ok()?;
    let n = map.entry(key).or_insert(0);
    if *n >= shared.limits.per_client_connections {
        return None;
    }
    *n += 1;
    Some(Slot {
        shared: shared.clone(),
        key,
        _permit: permit,
    })
}

/// What a session showed so far: its record, the tokens of the messages it delivered, and
/// whether the sender said anything at all.
struct Seen {
    connection: Connection,
    tokens: Vec<String>,
    said: bool,
}

impl Seen {
    fn new(case: Case, source: IpAddr) -> Seen {
        Seen {
            connection: Connection {
                case,
                at: UnixTime(now_ms() / 1000),
                source: canonical(source),
                ehlo: None,
                starttls: false,
                tls: None,
                alert: None,
                delivered: false,
                mail: false,
                token: None,
            },
            tokens: Vec::new(),
            said: false,
        }
    }

    /// What to keep: one record per test it delivered for (a sender that reuses its
    /// connection for two tests' messages), or one without a token; nothing for a sender
    /// that said nothing (a port scan is not a connection worth keeping).
    fn records(self) -> Vec<Connection> {
        if !self.said {
            return Vec::new();
        }
        if self.tokens.is_empty() {
            return vec![self.connection];
        }
        let mut tokens = self.tokens;
        tokens.sort();
        tokens.dedup();
        tokens
            .into_iter()
            .map(|t| Connection {
                token: Some(t),
                ..self.connection.clone()
            })
            .collect()
    }
}

/// How a stretch of dialogue ended.
enum End {
    Closed,
    StartTls,
}

/// One SMTP session, what it shows written into `seen` as it happens.
async fn session(shared: &Shared, case: Case, stream: TcpStream, seen: &mut Seen) {
    let zone = &shared.tests.settings.zone;
    let host = case.mx_host(zone);
    let mode = case.receiver();
    let (mut talk, greeting) = Dialogue::new(host.as_str(), mode);
    let mut plain = BufReader::new(stream);
    if send(&mut plain, &greeting).await.is_err() {
        return;
    }
    match converse(shared, case, &mut plain, &mut talk, seen).await {
        End::Closed => return,
        End::StartTls => {}
    }
    seen.connection.starttls = true;
    // Whatever the sender pipelined after STARTTLS is dropped with the buffer: nothing
    // sent in cleartext may count as said inside TLS (the STARTTLS injection flaw).
    let mut tcp = plain.into_inner();
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), &mut tcp);
    let start = match timeout(LINE, acceptor).await {
        Ok(Ok(start)) => start,
        _ => return,
    };
    let hello = start.client_hello();
    let sni = hello.server_name().map(|s| bounded(s, 255));
    let offered: Vec<String> = hello
        .named_groups()
        .unwrap_or_default()
        .iter()
        .take(64)
        .map(|g| NamedGroup(u16::from(*g)).name())
        .collect();
    if mode == Receiver::FailAfterStarttls {
        // The broken STARTTLS: the handshake is refused as a server without a usable
        // certificate does (a fatal handshake_failure alert), then the connection closes.
        drop(start);
        let _ = timeout(
            Duration::from_secs(5),
            tcp.write_all(&[21, 3, 3, 0, 2, 2, 40]),
        )
        .await;
        return;
    }
    let tls = match timeout(LINE, start.into_stream(shared.tls.clone())).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            seen.connection.alert = alert_of(&e);
            return;
        }
        Err(_) => return,
    };
    let (_, conn) = tls.get_ref();
    seen.connection.tls = Some(TlsSeen {
        version: conn
            .protocol_version()
            .map(|v| TlsVersion(u16::from(v)).name())
            .unwrap_or_default(),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|s| CipherSuite(u16::from(s.suite())).name())
            .unwrap_or_default(),
        group: conn
            .negotiated_key_exchange_group()
            .map(|g| NamedGroup(u16::from(g.name())).name())
            .unwrap_or_default(),
        sni,
        offered_groups: offered,
    });
    talk.tls_started();
    // What counts is what the sender does inside TLS.
    seen.connection.mail = false;
    let mut secure = BufReader::new(tls);
    let _ = converse(shared, case, &mut secure, &mut talk, seen).await;
    // close_notify, as a TLS server closes: without it a sender sees a truncated session.
    let _ = timeout(Duration::from_secs(2), secure.get_mut().shutdown()).await;
}

/// Commands and replies until the sender leaves, the receiver closes, or STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    case: Case,
    stream: &mut BufReader<S>,
    talk: &mut Dialogue,
    seen: &mut Seen,
) -> End {
    loop {
        let line = match read_line(stream, dialogue::MAX_LINE * 2).await {
            Line::Text(l) => l,
            Line::TooLong => {
                let _ = send(stream, "500 5.5.2 line too long").await;
                return End::Closed;
            }
            Line::End => return End::Closed,
        };
        seen.said = true;
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if verb == "EHLO" || verb == "HELO" {
            seen.connection.ehlo = line.split_whitespace().nth(1).map(|n| bounded(n, 255));
        }
        let live = match dialogue::recipient_of(&line) {
            Some(address) => match shared.tests.live(&address, case).await {
                Ok(live) => live,
                Err(_) => {
                    // The store does not answer: a temporary failure, so the sender retries
                    // rather than bouncing a message its test is waiting for.
                    if send(stream, "451 4.3.0 try again later").await.is_err() {
                        return End::Closed;
                    }
                    continue;
                }
            },
            None => false,
        };
        match talk.command(&line, |_| live) {
            Step::Reply(r) => {
                if verb == "MAIL" && r.starts_with("250") {
                    seen.connection.mail = true;
                }
                if send(stream, &r).await.is_err() {
                    return End::Closed;
                }
            }
            Step::Close(r) => {
                let _ = send(stream, &r).await;
                return End::Closed;
            }
            Step::StartTls(r) => {
                return match send(stream, &r).await {
                    Ok(()) => End::StartTls,
                    Err(_) => End::Closed,
                };
            }
            Step::Data(r) => {
                if send(stream, &r).await.is_err() {
                    return End::Closed;
                }
                let Some(size) = read_message(stream).await else {
                    return End::Closed;
                };
                let recipient = talk.recipient().map(str::to_owned);
                let reply = match talk.message_end(size) {
                    Step::Reply(r) | Step::Close(r) | Step::Data(r) | Step::StartTls(r) => r,
                };
                if reply.starts_with("250") {
                    seen.connection.delivered = true;
                    if let Some((token, _)) = recipient.as_deref().and_then(|r| r.split_once('@')) {
                        seen.tokens.push(token.to_owned());
                    }
                }
                if send(stream, &reply).await.is_err() {
                    return End::Closed;
                }
            }
        }
    }
}

enum Line {
    Text(String),
    TooLong,
    End,
}

/// One line (without CRLF), whole within [`LINE`] — not reset by each byte.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>, max: usize) -> Line {
    let deadline = Instant::now() + LINE;
    let mut buf = Vec::new();
    loop {
        let chunk = match timeout_at(deadline, stream.fill_buf()).await {
            Ok(Ok(c)) if !c.is_empty() => c,
            _ => return Line::End,
        };
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() <= max {
            buf.extend_from_slice(&chunk[..take]);
        }
        stream.consume(take);
        // A line too long is read to its end (within the deadline) and dropped, so that its
        // tail is not taken for a line of its own.
        if done && buf.len() > max {
            return Line::TooLong;
        }
        if done {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return Line::Text(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

/// Reads a message to its `.` line and drops it; its size, or `None` if the sender went
/// away or sent far more than any test message.
async fn read_message<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> Option<usize> {
    let mut size = 0usize;
    loop {
        match read_line(stream, dialogue::MAX_LINE * 4).await {
            Line::Text(l) if l == "." => return Some(size),
            Line::Text(l) => size += l.len() + 2,
            // A long body line (base64 is 76 wide; some senders wrap at 998): counted as long.
            Line::TooLong => size += dialogue::MAX_LINE * 4,
            Line::End => return None,
        }
        if size > MAX_DISCARD {
            return None;
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, reply: &str) -> std::io::Result<()> {
    let mut bytes = reply
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes();
    bytes.extend_from_slice(b"\r\n");
    timeout(LINE, async {
        stream.write_all(&bytes).await?;
        stream.flush().await
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// The alert a sender broke the handshake off with, in IANA's words.
fn alert_of(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::AlertReceived(alert) => Some(alert_name(*alert)),
        _ => None,
    }
}

fn alert_name(alert: rustls::AlertDescription) -> String {
    let debug = format!("{alert:?}");
    // rustls names them in CamelCase (`BadCertificate`); IANA in snake_case.
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An IPv4 sender seen through a dual-stack socket is recorded as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// At most `max` bytes of `s`, printable ASCII only.
fn bounded(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect()
}
