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
    Bytes, KeyTypeOffer, Party, Reply, SessionError, SessionStop, SmtpSession, Step, StepTiming,
    TlsEvidence, TranscriptLine,
};
use mxtls_core::names::DnsName;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;

use crate::deadlines::Deadlines;

/// Size limits on what a server may send us.
pub const MAX_LINE: usize = 2048;
pub const MAX_REPLY_LINES: usize = 100;
pub const MAX_REPLY_BYTES: usize = 32 * 1024;
pub const MAX_CHAIN_CERTS: usize = 10;
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

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
        self.session.stopped = Some(SessionStop { step, error });
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

async fn run(plan: &SessionPlan, rec: &mut Recorder) {
    plan.enter(Step::Connect);
    let t = Instant::now();
    let addr = SocketAddr::new(plan.ip, plan.port);
    let stream =
        match tokio::time::timeout(rec.budget(plan.deadlines.connect), TcpStream::connect(addr))
            .await
        {
            Err(_) => return rec.stop(Step::Connect, SessionError::ConnectTimeout),
            Ok(Err(e)) => return rec.stop(Step::Connect, connect_error(&e)),
            Ok(Ok(s)) => s,
        };
    rec.timing(Step::Connect, t);
    let mut io = BufReader::new(stream);

    // Never speak before the greeting.
    plan.enter(Step::Banner);
    let t = Instant::now();
    let Some(banner) = read_step(&mut io, rec, Step::Banner, plan.deadlines.banner).await else {
        return;
    };
    rec.timing(Step::Banner, t);
    let ok = banner.code == 220;
    rec.session.banner = Some(banner.clone());
    if !ok {
        return rec.stop(Step::Banner, SessionError::Rejected { code: banner.code });
    }

    plan.enter(Step::Ehlo);

    let Some(ehlo) = command(
        &mut io,
        rec,
        plan,
        Step::Ehlo,
        &format!("EHLO {}", plan.helo),
    )
    .await
    else {
        return;
    };
    rec.session.ehlo = Some(ehlo.clone());
    if ehlo.code != 250 {
        return rec.stop(Step::Ehlo, SessionError::Rejected { code: ehlo.code });
    }
    if !mxtls_core::starttls::offers_starttls(&ehlo) {
        quit(&mut io, rec).await;
        return;
    }

    plan.enter(Step::Starttls);

    let Some(reply) = command(&mut io, rec, plan, Step::Starttls, "STARTTLS").await else {
        return;
    };
    rec.session.starttls = Some(reply.clone());
    if reply.code != 220 {
        quit(&mut io, rec).await;
        return rec.stop(Step::Starttls, SessionError::Rejected { code: reply.code });
    }
    // Anything already buffered after the 220 was sent before our ClientHello: cleartext.
    if !io.buffer().is_empty() {
        let text = String::from_utf8_lossy(&io.buffer()[..io.buffer().len().min(200)])
            .trim_end()
            .to_owned();
        return rec.stop(
            Step::Handshake,
            SessionError::CleartextAfterStarttls { text },
        );
    }

    plan.enter(Step::Handshake);
    let t = Instant::now();
    // The first bytes the server sends are kept, so that its ServerHello can be read even
    // where rustls refuses it (a version below TLS 1.2).
    let tap = Tap::new(io.into_inner());
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
            return rec.stop(Step::Handshake, tls_error(&e));
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

async fn quit<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, rec: &mut Recorder) {
    // QUIT is a courtesy: its failure is not evidence of anything.
    let budget = rec.budget(Duration::from_secs(5));
    rec.line(Party::Client, "QUIT");
    let _ = tokio::time::timeout(budget, async {
        io.get_mut().write_all(b"QUIT\r\n").await?;
        let mut line = Vec::new();
        io.take(MAX_LINE as u64).read_until(b'\n', &mut line).await
    })
    .await;
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
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

/// One (possibly multiline) reply, RFC 5321 §4.2, bounded in every dimension.
async fn read_reply<R: AsyncBufRead + Unpin>(
    io: &mut R,
    rec: &mut Recorder,
) -> Result<Reply, SessionError> {
    let mut lines = Vec::new();
    let mut code = None;
    let mut total = 0usize;
    loop {
        let mut raw = Vec::new();
        let n = (&mut *io)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| io_error(&e))?;
        if n == 0 {
            return Err(if lines.is_empty() {
                SessionError::Closed
            } else {
                SessionError::Garbage {
                    detail: "connection closed inside a multiline reply".into(),
                }
            });
        }
        if raw.len() > MAX_LINE {
            return Err(SessionError::Limit {
                what: format!("reply line longer than {MAX_LINE} bytes"),
            });
        }
        total += raw.len();
        if total > MAX_REPLY_BYTES || lines.len() >= MAX_REPLY_LINES {
            return Err(SessionError::Limit {
                what: format!(
                    "reply longer than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes"
                ),
            });
        }
        let text = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        rec.line(Party::Server, &text);
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
        if *code.get_or_insert(this_code) != this_code {
            return Err(SessionError::Garbage {
                detail: "reply codes differ inside a multiline reply".into(),
            });
        }
        let sep = b.get(3).copied();
        lines.push(text.get(4..).unwrap_or("").to_owned());
        match sep {
            Some(b'-') => continue,
            None | Some(b' ') => {
                return Ok(Reply {
                    code: this_code,
                    lines,
                });
            }
            Some(_) => {
                return Err(SessionError::Garbage {
                    detail: format!("bad separator in {text:?}"),
                });
            }
        }
    }
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

/// Signature schemes for a key-type offer: restricting them makes a dual-certificate server
/// present its other chain. A scheme's key type is the public key algorithm of the
/// verifiers rustls maps it to (its own key-type mapping), not a guess from its name.
fn schemes(offer: KeyTypeOffer, algs: &WebPkiSupportedAlgorithms) -> Vec<SignatureScheme> {
    use rustls::pki_types::alg_id;
    let key_type = |verifiers: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm]| {
        let ids: Vec<_> = verifiers.iter().map(|v| v.public_key_alg_id()).collect();
        if ids.iter().all(|id| *id == alg_id::RSA_ENCRYPTION) {
            Some(KeyTypeOffer::Rsa)
        } else if ids
            .iter()
            .all(|id| [alg_id::ECDSA_P256, alg_id::ECDSA_P384, alg_id::ECDSA_P521].contains(id))
        {
            Some(KeyTypeOffer::Ecdsa)
        } else if ids.iter().all(|id| *id == alg_id::ED25519) {
            Some(KeyTypeOffer::Ed25519)
        } else {
            None
        }
    };
    algs.mapping
        .iter()
        .filter(|(_, verifiers)| offer == KeyTypeOffer::Any || key_type(verifiers) == Some(offer))
        .map(|(scheme, _)| *scheme)
        .collect()
}

/// A stream that keeps the first [`TAP_BYTES`] bytes read from it.
struct Tap<S> {
    inner: S,
    seen: Arc<std::sync::Mutex<Vec<u8>>>,
}

/// Enough for any ServerHello (the certificates that follow are not needed).
const TAP_BYTES: usize = 4096;

impl<S> Tap<S> {
    fn new(inner: S) -> Tap<S> {
        Tap {
            inner,
            seen: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &poll
            && let Ok(mut seen) = self.seen.lock()
        {
            let room = TAP_BYTES.saturating_sub(seen.len());
            let new = &buf.filled()[before..];
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a finished handshake shows: version, suite, group and the chain (bounded).
pub(crate) fn tls_evidence(conn: &rustls::ClientConnection, sni: &DnsName) -> TlsEvidence {
    let chain = conn.peer_certificates().unwrap_or_default();
    let mut total = 0usize;
    let chain: Vec<Bytes> = chain
        .iter()
        .take(MAX_CHAIN_CERTS)
        .take_while(|c| {
            total += c.len();
            total <= MAX_CHAIN_BYTES
        })
        .map(|c| Bytes(c.to_vec()))
        .collect();
    TlsEvidence {
        sni: sni.clone(),
        version: conn
            .protocol_version()
            .map(|v| mxtls_core::tls::TlsVersion(u16::from(v))),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| mxtls_core::tls::CipherSuite(u16::from(s.suite()))),
        kx_group: conn
            .negotiated_key_exchange_group()
            .map(|g| mxtls_core::tls::NamedGroup(u16::from(g.name()))),
        chain,
    }
}

/// A client that offers the signature schemes of `offer` and accepts any chain (the core
/// judges it), still checking the handshake signature. Shared with the world's tests, which
/// speak their own SMTP but need the same TLS client.
pub fn client_config(offer: KeyTypeOffer) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let verifier = RecordingVerifier {
        schemes: schemes(offer, &algs),
        algs,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts every chain (the core judges it) but verifies the handshake signature with the
/// presented key.
#[derive(Debug)]
struct RecordingVerifier {
    schemes: Vec<SignatureScheme>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schemes offered for a key type are those rustls verifies with that key type.
    #[test]
    fn schemes_follow_rustls_key_types() {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let names = |offer| -> Vec<String> {
            schemes(offer, &algs)
                .iter()
                .map(|s| format!("{s:?}"))
                .collect()
        };
        let rsa = names(KeyTypeOffer::Rsa);
        let ecdsa = names(KeyTypeOffer::Ecdsa);
        assert!(
            !rsa.is_empty() && rsa.iter().all(|n| n.starts_with("RSA_")),
            "{rsa:?}"
        );
        assert!(
            !ecdsa.is_empty() && ecdsa.iter().all(|n| n.starts_with("ECDSA_")),
            "{ecdsa:?}"
        );
        assert!(
            rsa.iter().any(|n| n.starts_with("RSA_PSS")),
            "PSS is RSA too"
        );
        assert_eq!(names(KeyTypeOffer::Ed25519), ["ED25519"]);
        assert_eq!(
            names(KeyTypeOffer::Any).len(),
            algs.mapping.len(),
            "everything when any key type will do"
        );
    }
}
