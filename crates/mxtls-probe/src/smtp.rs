//! One SMTP session: connect → banner → EHLO → STARTTLS → TLS handshake → EHLO → QUIT,
//! recorded as [`SmtpSession`] evidence. Never MAIL, RCPT or DATA: mxtls sends no mail.
//!
//! Every read is bounded (line length, lines per reply, bytes per reply) and every step has a
//! deadline, also bounded by the whole check's deadline. The TLS verifier accepts any chain
//! (the core judges it) but still checks the handshake signatures, so the chain recorded is the
//! one whose key the server proved it holds.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mxtls_core::evidence::{
    Bytes, HelloOffer, KeyTypeOffer, Party, PostureSession, Question, Reply, SessionError,
    SessionStop, SmtpSession, Step, StepTiming, TlsEvidence, TranscriptLine,
};
use mxtls_core::names::DnsName;
use rustls::pki_types::ServerName;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;

use crate::client_hello::{self, HelloSpec};
use crate::deadlines::Deadlines;
use crate::posture;
use crate::tls::{Tap, client_config, tls_evidence};

/// Size limits on what a server may send us.
pub const MAX_LINE: usize = 2048;
pub const MAX_REPLY_LINES: usize = 100;
pub const MAX_REPLY_BYTES: usize = 32 * 1024;
pub use crate::tls::{MAX_CHAIN_BYTES, MAX_CHAIN_CERTS};

/// Called as each step of a session begins (progress events).
pub type StepHook = Arc<dyn Fn(Step) + Send + Sync>;

/// What to do in one session.
#[derive(Clone)]
pub struct SessionPlan {
    pub ip: IpAddr,
    pub port: u16,
    /// SNI: the TLSA base domain.
    pub sni: DnsName,
    pub offer: KeyTypeOffer,
    /// Our EHLO name.
    pub helo: String,
    /// Where the connection leaves from.
    pub source: crate::identity::SourceAddrs,
    /// The whole check's deadline.
    pub deadline: Instant,
    /// Each step's own limit.
    pub deadlines: Deadlines,
    /// Told about each step as it begins.
    pub on_step: Option<StepHook>,
}

impl SessionPlan {
    fn enter(&self, step: Step) {
        if let Some(hook) = &self.on_step {
            hook(step);
        }
    }
}

struct Recorder {
    session: SmtpSession,
    started: Instant,
    deadline: Instant,
}

impl Recorder {
    fn ms(&self) -> u64 {
        crate::clock::elapsed_ms(self.started)
    }

    fn line(&mut self, from: Party, text: &str) {
        let at_ms = self.ms();
        self.session.transcript.push(TranscriptLine {
            at_ms,
            from,
            text: text.to_owned(),
        });
    }

    fn timing(&mut self, step: Step, since: Instant) {
        let elapsed_ms = crate::clock::elapsed_ms(since);
        self.session.timings.push(StepTiming { step, elapsed_ms });
    }

    fn stop(&mut self, step: Step, error: SessionError) {
        let at_ms = Some(self.ms());
        self.session.stopped = Some(SessionStop { step, error, at_ms });
    }

    /// The step's own limit, cut short by the check's deadline.
    fn budget(&self, step_limit: Duration) -> Duration {
        step_limit.min(self.deadline.saturating_duration_since(Instant::now()))
    }
}

/// Runs one session and records everything that happened.
pub async fn session(plan: &SessionPlan) -> SmtpSession {
    let mut rec = Recorder {
        session: SmtpSession::new(plan.port, plan.offer),
        started: Instant::now(),
        deadline: plan.deadline,
    };
    run(plan, &mut rec).await;
    rec.session
}

/// One posture session: up to STARTTLS like any session, then the crafted hello for
/// `question` and the server's first flight; the connection is closed without a
/// handshake. The plan's key-type offer is not used.
pub async fn posture_session(
    plan: &SessionPlan,
    question: Question,
    offer: HelloOffer,
) -> PostureSession {
    let mut rec = Recorder {
        session: SmtpSession::new(plan.port, plan.offer),
        started: Instant::now(),
        deadline: plan.deadline,
    };
    let mut result = PostureSession {
        question,
        offer,
        flight: Bytes::default(),
        end: None,
        stopped: None,
    };
    // `end` and `stopped` both `None`: STARTTLS was not offered this time.
    let Some(mut stream) = until_starttls(plan, &mut rec).await else {
        result.stopped = rec.session.stopped;
        return result;
    };
    plan.enter(Step::Handshake);
    let spec = HelloSpec {
        max_version: result.offer.max_version,
        suites: result.offer.suites.clone(),
        groups: result.offer.groups.clone(),
        key_shares: result.offer.key_shares.clone(),
        sni: Some(plan.sni.clone()),
    };
    let hello = match client_hello::encode(&spec) {
        Ok(hello) => hello,
        Err(e) => {
            let message = e.to_string();
            rec.stop(Step::Handshake, SessionError::Tls { message });
            result.stopped = rec.session.stopped;
            return result;
        }
    };
    let deadline = Instant::now() + rec.budget(plan.deadlines.handshake);
    match posture::first_flight(&mut stream, &hello, deadline).await {
        Ok((bytes, end)) => {
            result.flight = Bytes(bytes);
            result.end = Some(end);
        }
        Err(e) => {
            let message = e.to_string();
            rec.stop(Step::Handshake, SessionError::Io { message });
            result.stopped = rec.session.stopped;
        }
    }
    result
}

async fn run(plan: &SessionPlan, rec: &mut Recorder) {
    let Some(io) = until_starttls(plan, rec).await else {
        return;
    };
    handshake(plan, rec, io).await;
}

/// Connect, greeting, EHLO and STARTTLS: the stream, ready for a ClientHello, or `None`
/// when the session ended before (recorded in `rec`).
async fn until_starttls(plan: &SessionPlan, rec: &mut Recorder) -> Option<TcpStream> {
    plan.enter(Step::Connect);
    let t = Instant::now();
    let addr = SocketAddr::new(plan.ip, plan.port);
    let stream = match tokio::time::timeout(
        rec.budget(plan.deadlines.connect),
        plan.source.connect(addr),
    )
    .await
    {
        Err(_) => {
            rec.stop(Step::Connect, SessionError::ConnectTimeout);
            return None;
        }
        Ok(Err(e)) => {
            rec.stop(Step::Connect, connect_error(&e));
            return None;
        }
        Ok(Ok(s)) => s,
    };
    rec.timing(Step::Connect, t);
    // Every write is a whole command or TLS flight that its answer waits for: none may wait
    // for the acknowledgement of the one before (Nagle), which a server delays by up to 40
    // ms. rustls writes ChangeCipherSpec and Finished apart, then our EHLO.
    let _ = stream.set_nodelay(true);
    let mut io = BufReader::new(stream);

    // Never speak before the greeting.
    plan.enter(Step::Banner);
    let t = Instant::now();
    let banner = read_step(&mut io, rec, Step::Banner, plan.deadlines.banner).await?;
    rec.timing(Step::Banner, t);
    let ok = banner.code == 220;
    rec.session.banner = Some(banner.clone());
    if !ok {
        rec.stop(Step::Banner, SessionError::Rejected { code: banner.code });
        return None;
    }

    plan.enter(Step::Ehlo);

    let ehlo = command(
        &mut io,
        rec,
        plan,
        Step::Ehlo,
        &format!("EHLO {}", plan.helo),
    )
    .await?;
    rec.session.ehlo = Some(ehlo.clone());
    if ehlo.code != 250 {
        rec.stop(Step::Ehlo, SessionError::Rejected { code: ehlo.code });
        return None;
    }
    if !mxtls_core::starttls::offers_starttls(&ehlo) {
        quit(&mut io, rec).await;
        return None;
    }

    plan.enter(Step::Starttls);

    let reply = command(&mut io, rec, plan, Step::Starttls, "STARTTLS").await?;
    rec.session.starttls = Some(reply.clone());
    if reply.code != 220 {
        quit(&mut io, rec).await;
        rec.stop(Step::Starttls, SessionError::Rejected { code: reply.code });
        return None;
    }
    // Anything already buffered after the 220 was sent before our ClientHello: cleartext.
    if !io.buffer().is_empty() {
        let text = cleartext(io.buffer());
        rec.stop(
            Step::Handshake,
            SessionError::CleartextAfterStarttls { text },
        );
        return None;
    }
    Some(io.into_inner())
}

/// The TLS handshake on a stream after STARTTLS, then EHLO and QUIT inside TLS.
async fn handshake(plan: &SessionPlan, rec: &mut Recorder, stream: TcpStream) {
    plan.enter(Step::Handshake);
    let t = Instant::now();
    // The first bytes the server sends are kept, so that its ServerHello can be read even
    // where rustls refuses it (a version below TLS 1.2).
    let tap = Tap::new(stream);
    let server_bytes = tap.seen.clone();
    let config = match client_config(plan.offer) {
        Ok(c) => c,
        Err(e) => {
            return rec.stop(
                Step::Handshake,
                SessionError::Tls {
                    message: e.to_string(),
                },
            );
        }
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let Ok(server_name) = ServerName::try_from(plan.sni.as_str().to_owned()) else {
        return rec.stop(
            Step::Handshake,
            SessionError::Tls {
                message: format!("{} is not a valid SNI name", plan.sni),
            },
        );
    };
    let tls = match tokio::time::timeout(
        rec.budget(plan.deadlines.handshake),
        connector.connect(server_name, tap),
    )
    .await
    {
        Err(_) => return rec.stop(Step::Handshake, SessionError::Timeout),
        Ok(Err(e)) => {
            let seen = server_bytes.lock().map(|b| b.clone()).unwrap_or_default();
            if let Some(hello) = mxtls_core::tls::parse_server_hello(&seen)
                && hello.version.is_deprecated()
            {
                // Evidence of what the server chose, though no chain was received.
                rec.session.tls = Some(TlsEvidence {
                    sni: plan.sni.clone(),
                    version: Some(hello.version),
                    cipher_suite: Some(hello.cipher_suite),
                    kx_group: None,
                    chain: Vec::new(),
                });
            }
            let error = match tls_error(&e) {
                // What the server sent is the evidence, however it was split in arriving
                // (before our ClientHello, above, or after it, here).
                SessionError::CleartextAfterStarttls { .. } if !seen.is_empty() => {
                    SessionError::CleartextAfterStarttls {
                        text: cleartext(&seen),
                    }
                }
                other => other,
            };
            return rec.stop(Step::Handshake, error);
        }
        Ok(Ok(tls)) => tls,
    };
    rec.timing(Step::Handshake, t);
    rec.session.tls = Some(tls_evidence(tls.get_ref().1, &plan.sni));

    let mut io = BufReader::new(tls);
    plan.enter(Step::EhloTls);
    let Some(ehlo) = command(
        &mut io,
        rec,
        plan,
        Step::EhloTls,
        &format!("EHLO {}", plan.helo),
    )
    .await
    else {
        return;
    };
    rec.session.ehlo_tls = Some(ehlo);
    quit(&mut io, rec).await;
}

/// The TCP socket under a session's stream, cleartext or TLS.
trait Socket {
    fn socket(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Socket for tokio_rustls::client::TlsStream<Tap<TcpStream>> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0.get_ref()
    }
}

/// Asks the kernel to acknowledge at once what arrives while we wait for a reply, instead of
/// holding the ACK up to 40 ms for a write of ours to carry it (Linux does so on a connection
/// that looks interactive). A TLS 1.3 server writes its session tickets after our Finished,
/// then the EHLO reply; a server that leaves Nagle on (Postfix's smtpd) holds the reply until
/// the tickets are acknowledged. Said after each command is written: writing re-enters the
/// interactive mode, and Linux forgets the setting as it goes.
fn acknowledge_promptly(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket.set_quickack(true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}

async fn quit<S: AsyncRead + AsyncWrite + Socket + Unpin>(
    io: &mut BufReader<S>,
    rec: &mut Recorder,
) {
    // QUIT is a courtesy: its failure is not evidence of anything.
    let budget = rec.budget(Duration::from_secs(5));
    rec.line(Party::Client, "QUIT");
    let _ = tokio::time::timeout(budget, async {
        io.get_mut().write_all(b"QUIT\r\n").await?;
        acknowledge_promptly(io.get_ref().socket());
        let mut line = Vec::new();
        io.take(MAX_LINE as u64).read_until(b'\n', &mut line).await
    })
    .await;
}

async fn command<S: AsyncRead + AsyncWrite + Socket + Unpin>(
    io: &mut BufReader<S>,
    rec: &mut Recorder,
    plan: &SessionPlan,
    step: Step,
    line: &str,
) -> Option<Reply> {
    let t = Instant::now();
    // One limit for the command and its reply together.
    let until = t + rec.budget(plan.deadlines.command);
    rec.line(Party::Client, line);
    let write = tokio::time::timeout_at(until.into(), async {
        io.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        io.get_mut().flush().await
    })
    .await;
    match write {
        Err(_) => {
            rec.stop(step, SessionError::Timeout);
            return None;
        }
        Ok(Err(e)) => {
            rec.stop(step, io_error(&e));
            return None;
        }
        Ok(Ok(())) => {}
    }
    acknowledge_promptly(io.get_ref().socket());
    let reply = read_step(
        io,
        rec,
        step,
        until.saturating_duration_since(Instant::now()),
    )
    .await;
    if reply.is_some() {
        rec.timing(step, t);
    }
    reply
}

/// Reads one reply within the step's budget; records a stop on failure.
async fn read_step<R: AsyncBufRead + Unpin>(
    io: &mut R,
    rec: &mut Recorder,
    step: Step,
    limit: Duration,
) -> Option<Reply> {
    match tokio::time::timeout(rec.budget(limit), read_reply(io, rec)).await {
        Err(_) => {
            rec.stop(step, SessionError::Timeout);
            None
        }
        Ok(Err(e)) => {
            rec.stop(step, e);
            None
        }
        Ok(Ok(r)) => Some(r),
    }
}

/// One (possibly multiline) reply from the server, within the step's caps.
async fn read_reply<R: AsyncBufRead + Unpin>(
    io: &mut R,
    rec: &mut Recorder,
) -> Result<Reply, SessionError> {
    let mut reader = ReplyReader::default();
    loop {
        let mut raw = Vec::new();
        let n = (&mut *io)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| io_error(&e))?;
        if n == 0 {
            return Err(reader.closed());
        }
        let outcome = reader.line(&raw);
        if !matches!(outcome, Err(SessionError::Limit { .. })) {
            rec.line(Party::Server, &line_text(&raw));
        }
        if let Some(reply) = outcome? {
            return Ok(reply);
        }
    }
}

/// A reply line as the transcript shows it: lossy UTF-8, without its line ending.
pub fn line_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

/// The reply grammar of RFC 5321 §4.2 without I/O, so it is tested and fuzzed with bytes:
/// fed the lines of a reply as read (with their line endings, each at most [`MAX_LINE`] + 1
/// bytes as the reader takes them), it returns the reply with its last line. Bounded in
/// every dimension: line length, line count, total bytes.
#[derive(Debug, Default)]
pub struct ReplyReader {
    lines: Vec<String>,
    code: Option<u16>,
    total: usize,
}

impl ReplyReader {
    /// The next line: `Ok(Some(reply))` when it ends the reply, `Ok(None)` when more follow.
    pub fn line(&mut self, raw: &[u8]) -> Result<Option<Reply>, SessionError> {
        if raw.len() > MAX_LINE {
            return Err(SessionError::Limit {
                what: format!("reply line longer than {MAX_LINE} bytes"),
            });
        }
        self.total += raw.len();
        if self.total > MAX_REPLY_BYTES || self.lines.len() >= MAX_REPLY_LINES {
            return Err(SessionError::Limit {
                what: format!(
                    "reply longer than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes"
                ),
            });
        }
        let text = line_text(raw);
        let b = text.as_bytes();
        let this_code = (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit))
            .then(|| text[..3].parse::<u16>().ok())
            .flatten()
            .filter(|c| (200..600).contains(c));
        let Some(this_code) = this_code else {
            return Err(SessionError::Garbage {
                detail: format!(
                    "not an SMTP reply: {:?}",
                    text.chars().take(80).collect::<String>()
                ),
            });
        };
        if *self.code.get_or_insert(this_code) != this_code {
            return Err(SessionError::Garbage {
                detail: "reply codes differ inside a multiline reply".into(),
            });
        }
        let sep = b.get(3).copied();
        match sep {
            Some(b'-') => {
                self.lines.push(text.get(4..).unwrap_or("").to_owned());
                Ok(None)
            }
            None | Some(b' ') => {
                self.lines.push(text.get(4..).unwrap_or("").to_owned());
                Ok(Some(Reply {
                    code: this_code,
                    lines: std::mem::take(&mut self.lines),
                }))
            }
            Some(_) => Err(SessionError::Garbage {
                detail: format!("bad separator in {text:?}"),
            }),
        }
    }

    /// Why the reply ended when the connection closed before its last line.
    pub fn closed(&self) -> SessionError {
        if self.lines.is_empty() {
            SessionError::Closed
        } else {
            SessionError::Garbage {
                detail: "connection closed inside a multiline reply".into(),
            }
        }
    }
}

/// The first 200 bytes of cleartext a server sent where a TLS handshake belonged.
fn cleartext(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        .trim_end()
        .to_owned()
}

fn connect_error(e: &std::io::Error) -> SessionError {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => SessionError::ConnectRefused,
        std::io::ErrorKind::TimedOut => SessionError::ConnectTimeout,
        _ => SessionError::Io {
            message: e.to_string(),
        },
    }
}

fn io_error(e: &std::io::Error) -> SessionError {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => SessionError::Reset,
        std::io::ErrorKind::UnexpectedEof => SessionError::Closed,
        _ => SessionError::Io {
            message: e.to_string(),
        },
    }
}

fn tls_error(e: &std::io::Error) -> SessionError {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::AlertReceived(alert) => SessionError::TlsAlert {
                description: format!("{alert:?}"),
            },
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                SessionError::CleartextAfterStarttls {
                    text: "the server answered the ClientHello with non-TLS bytes".into(),
                }
            }
            other => SessionError::Tls {
                message: other.to_string(),
            },
        };
    }
    io_error(e)
}

#[cfg(test)]
mod reply_tests {
    use super::*;

    fn read(lines: &[&[u8]]) -> Result<Option<Reply>, SessionError> {
        let mut r = ReplyReader::default();
        let mut last = Ok(None);
        for l in lines {
            last = r.line(l);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn multiline_replies_end_at_their_last_line() {
        let reply = read(&[
            b"250-mx.example\r\n",
            b"250-PIPELINING\r\n",
            b"250 STARTTLS\r\n",
        ])
        .expect("valid")
        .expect("complete");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx.example", "PIPELINING", "STARTTLS"]);
        assert_eq!(
            read(&[b"220\r\n"]).expect("valid").expect("complete").lines,
            [""]
        );
        assert!(matches!(read(&[b"250-a\r\n"]), Ok(None)), "more to come");
    }

    #[test]
    fn garbage_and_oversized_replies_are_errors() {
        for bad in [
            &b"hello\r\n"[..],
            b"25\r\n",
            b"199 low\r\n",
            b"250_x\r\n",
            b"\xff\xfe1 x\r\n",
        ] {
            assert!(
                matches!(read(&[bad]), Err(SessionError::Garbage { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            read(&[b"250-a\r\n", b"251 b\r\n"]),
            Err(SessionError::Garbage { .. })
        ));
        let long = vec![b'2'; MAX_LINE + 1];
        assert!(matches!(read(&[&long]), Err(SessionError::Limit { .. })));
        let many: Vec<&[u8]> =
            std::iter::repeat_n(&b"250-x\r\n"[..], MAX_REPLY_LINES + 1).collect();
        assert!(matches!(read(&many), Err(SessionError::Limit { .. })));
        assert!(matches!(
            ReplyReader::default().closed(),
            SessionError::Closed
        ));
    }
}
