//! The scenario SMTP servers: just enough ESMTP (RFC 5321) and STARTTLS (RFC 3207) to show a
//! checker each behaviour of the scenario table. They never accept mail: `MAIL`, `RCPT` and
//! `DATA` are refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::pki::{Error, Leaf};
use crate::scenarios::Behaviour;

/// The longest command line accepted (RFC 5321 §4.5.3.1.4 says 512; a little slack).
const MAX_LINE: usize = 1024;
/// Idle timeout per command.
const IDLE: Duration = Duration::from_secs(30);

/// One server's configuration.
#[derive(Clone)]
pub struct Server {
    pub hostname: String,
    pub behaviour: Behaviour,
    pub banner_delay: Duration,
    pub tls: Option<Arc<ServerConfig>>,
    /// Where every session is recorded (shared by all the world's servers).
    pub log: Arc<SessionLog>,
}

/// Every SMTP session the world's servers saw: the address that took it, when it was
/// accepted and when it ended — what a tested server would count against a checker.
#[derive(Debug, Default)]
pub struct SessionLog {
    sessions: std::sync::Mutex<Vec<Seen>>,
}

/// One session as a server saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub ip: std::net::IpAddr,
    pub accepted: std::time::Instant,
    /// `None` while it runs.
    pub ended: Option<std::time::Instant>,
}

impl SessionLog {
    fn begin(&self, ip: std::net::IpAddr) -> usize {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.push(Seen {
            ip,
            accepted: std::time::Instant::now(),
            ended: None,
        });
        s.len() - 1
    }

    fn end(&self, i: usize) {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seen) = s.get_mut(i) {
            seen.ended = Some(std::time::Instant::now());
        }
    }

    /// The sessions taken at `ip`, in the order they were accepted.
    pub fn at(&self, ip: std::net::IpAddr) -> Vec<Seen> {
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.iter().filter(|x| x.ip == ip).copied().collect()
    }

    /// What each address that took a session since `from` saw, by address: how many, the
    /// most accepted within any `window` (what a per-address budget of N a window must keep
    /// to N), and the most open at once.
    pub fn load(&self, window: Duration, from: std::time::Instant) -> Vec<AddressLoad> {
        let all: Vec<Seen> = {
            let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            s.iter().filter(|x| x.accepted >= from).copied().collect()
        };
        let mut by_ip: std::collections::BTreeMap<std::net::IpAddr, Vec<Seen>> = Default::default();
        for seen in all {
            by_ip.entry(seen.ip).or_default().push(seen);
        }
        by_ip
            .into_iter()
            .map(|(ip, mut seen)| {
                seen.sort_by_key(|s| s.accepted);
                let mut most_in_window = 0;
                let mut first = 0;
                for (last, s) in seen.iter().enumerate() {
                    while s.accepted.duration_since(seen[first].accepted) >= window {
                        first += 1;
                    }
                    most_in_window = most_in_window.max(last - first + 1);
                }
                // Opened +1, closed -1, a close before an open at the same instant.
                let mut edges: Vec<(std::time::Instant, i32)> = seen
                    .iter()
                    .flat_map(|s| [Some((s.accepted, 1)), s.ended.map(|e| (e, -1))])
                    .flatten()
                    .collect();
                edges.sort();
                let (mut open, mut most_at_once) = (0i32, 0i32);
                for (_, d) in edges {
                    open += d;
                    most_at_once = most_at_once.max(open);
                }
                // How long a session was open beside an earlier one, at most.
                let mut longest_overlap = Duration::ZERO;
                let mut open_until: Option<std::time::Instant> = None;
                for s in &seen {
                    let end = s.ended.unwrap_or_else(std::time::Instant::now);
                    if let Some(until) = open_until {
                        longest_overlap = longest_overlap
                            .max(until.min(end).saturating_duration_since(s.accepted));
                    }
                    open_until = Some(open_until.map_or(end, |u| u.max(end)));
                }
                AddressLoad {
                    ip,
                    sessions: seen.len(),
                    most_in_window,
                    most_at_once: most_at_once as usize,
                    longest_overlap,
                }
            })
            .collect()
    }
}

/// What one address saw ([`SessionLog::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLoad {
    pub ip: std::net::IpAddr,
    pub sessions: usize,
    pub most_in_window: usize,
    pub most_at_once: usize,
    /// The longest a session was open beside another (as the server saw them: the end of
    /// one is when the server noticed the client had gone).
    pub longest_overlap: Duration,
}

/// Picks the ECDSA certificate when the client can verify ECDSA signatures, else RSA — what
/// a dual-certificate Postfix or Exim does.
#[derive(Debug)]
struct ByKeyType {
    ecdsa: Arc<CertifiedKey>,
    rsa: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ByKeyType {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        use rustls::SignatureScheme as S;
        let ecdsa_ok = hello.signature_schemes().iter().any(|s| {
            matches!(
                s,
                S::ECDSA_NISTP256_SHA256 | S::ECDSA_NISTP384_SHA384 | S::ECDSA_NISTP521_SHA512
            )
        });
        match (&self.rsa, ecdsa_ok) {
            (Some(rsa), false) => Some(rsa.clone()),
            _ => Some(self.ecdsa.clone()),
        }
    }
}

fn certified(leaf: &Leaf) -> Result<Arc<CertifiedKey>, Error> {
    let provider = rustls::crypto::ring::default_provider();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf.key_der.clone())
        .map_err(|e| format!("key: {e}"))?;
    let chain = leaf
        .chain
        .iter()
        .map(|c| rustls::pki_types::CertificateDer::from(c.clone()))
        .collect();
    Ok(Arc::new(CertifiedKey::from_der(chain, key, &provider)?))
}

/// A TLS configuration presenting `leaf` with X25519MLKEM768 first among its groups
/// (aws-lc-rs: ring has no ML-KEM).
pub fn post_quantum_config(leaf: &Leaf) -> Result<Arc<ServerConfig>, Error> {
    use rustls::crypto::aws_lc_rs::{self, kx_group};
    let provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
        ],
        ..aws_lc_rs::default_provider()
    };
    let resolver = ByKeyType {
        ecdsa: certified(leaf)?,
        rsa: None,
    };
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(config))
}

/// A TLS configuration presenting `ecdsa` (and `rsa`, for dual-key servers).
pub fn tls_config(ecdsa: &Leaf, rsa: Option<&Leaf>) -> Result<Arc<ServerConfig>, Error> {
    let resolver = ByKeyType {
        ecdsa: certified(ecdsa)?,
        rsa: rsa.map(certified).transpose()?,
    };
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(config))
}

/// Binds `addr` and serves until the task is aborted.
pub async fn listen(
    addr: SocketAddr,
    server: Server,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot bind SMTP {addr}: {e}"))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                let log = server.log.clone();
                let seen = log.begin(addr.ip());
                let _ =
                    tokio::time::timeout(Duration::from_secs(120), session(stream, server)).await;
                log.end(seen);
            });
        }
    }))
}

async fn session(stream: tokio::net::TcpStream, server: Server) -> std::io::Result<()> {
    match server.behaviour {
        Behaviour::SlowBanner => tokio::time::sleep(server.banner_delay).await,
        Behaviour::Delayed(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        _ => {}
    }
    let mut io = BufReader::new(stream);
    if server.behaviour == Behaviour::Busy421 {
        io.write_all(b"421 4.3.2 Service not available, too busy: try later\r\n")
            .await?;
        return Ok(());
    }
    io.write_all(format!("220 {} ESMTP mxtls test world\r\n", server.hostname).as_bytes())
        .await?;
    match converse(&mut io, &server, false).await? {
        Next::Quit => Ok(()),
        Next::StartTls => {
            if server.behaviour == Behaviour::BrokenHandshake {
                // A middlebox that answered 220 for the server, then speaks cleartext.
                io.write_all(b"250 mxtls test world: this is not TLS\r\n")
                    .await?;
                return Ok(());
            }
            if server.behaviour == Behaviour::Tls10Only {
                // An old server: its TLS stack can only choose TLS 1.0. The client refuses the
                // ServerHello; nothing after it matters.
                let mut hello = [0u8; 4096];
                let _ = io.read(&mut hello).await?;
                io.write_all(&tls10_server_hello()).await?;
                let _ = io.read(&mut hello).await; // the client's alert
                return Ok(());
            }
            let Some(tls) = &server.tls else {
                return Ok(());
            };
            let stream = io.into_inner();
            if server.behaviour == Behaviour::DropsLargeHello
                && first_record_len(&stream).await > 1024
            {
                // A path that cannot take a large hello: the connection just ends.
                return Ok(());
            }
            let tls_stream = TlsAcceptor::from(tls.clone()).accept(stream).await?;
            let mut io = BufReader::new(tls_stream);
            converse(&mut io, &server, true).await.map(|_| ())
        }
    }
}

enum Next {
    Quit,
    StartTls,
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    server: &Server,
    secure: bool,
) -> std::io::Result<Next> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            IDLE,
            (&mut *io)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line),
        )
        .await;
        match read {
            Ok(Ok(0)) | Err(_) => return Ok(Next::Quit),
            Ok(Ok(_)) if !line.ends_with(b"\n") => {
                io.write_all(b"500 5.5.2 line too long\r\n").await?;
                return Ok(Next::Quit);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        let text = String::from_utf8_lossy(&line);
        let verb = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => ehlo(server, secure),
            "HELO" => format!("250 {}\r\n", server.hostname),
            "STARTTLS" if secure => "503 5.5.1 TLS already active\r\n".into(),
            "STARTTLS" if offers_starttls(server.behaviour) => {
                if server.behaviour == Behaviour::Starttls454 {
                    "454 4.7.0 TLS not available due to local problem\r\n".into()
                } else {
                    io.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(Next::StartTls);
                }
            }
            "NOOP" | "RSET" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                io.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(Next::Quit);
            }
            "MAIL" | "RCPT" | "DATA" | "BDAT" => {
                "554 5.7.1 the mxtls test world accepts no mail\r\n".into()
            }
            _ => "502 5.5.2 command not recognized\r\n".into(),
        };
        io.write_all(reply.as_bytes()).await?;
    }
}

/// The length of the client's first TLS record, peeked (0 if it does not come in time).
async fn first_record_len(stream: &tokio::net::TcpStream) -> usize {
    let mut header = [0u8; 5];
    let peeked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.peek(&mut header).await {
                Ok(5) => return true,
                Ok(0) | Err(_) => return false,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    match peeked {
        Ok(true) => usize::from(u16::from_be_bytes([header[3], header[4]])),
        _ => 0,
    }
}

fn offers_starttls(b: Behaviour) -> bool {
    matches!(
        b,
        Behaviour::Normal
            | Behaviour::PostQuantum
            | Behaviour::DropsLargeHello
            | Behaviour::SlowBanner
            | Behaviour::Delayed(_)
            | Behaviour::Starttls454
            | Behaviour::BrokenHandshake
            | Behaviour::Tls10Only
    )
}

/// The ServerHello of a server that only speaks TLS 1.0: version 3.1,
/// TLS_RSA_WITH_AES_128_CBC_SHA, no extensions, in one TLS 1.0 handshake record.
fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend([0x5a; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x2f, 0x00]); // cipher suite, no compression
    let mut handshake = vec![2, 0, 0, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0, handshake.len() as u8];
    record.extend(handshake);
    record
}

fn ehlo(server: &Server, secure: bool) -> String {
    let mut keywords = vec!["PIPELINING", "SIZE 10240000", "8BITMIME"];
    if !secure {
        match server.behaviour {
            Behaviour::Mangled => keywords.push("XXXXXXXA"),
            b if offers_starttls(b) => keywords.push("STARTTLS"),
            _ => {}
        }
    }
    keywords.push("ENHANCEDSTATUSCODES");
    let mut out = format!("250-{}\r\n", server.hostname);
    for (i, k) in keywords.iter().enumerate() {
        let sep = if i + 1 == keywords.len() { ' ' } else { '-' };
        out.push_str(&format!("250{sep}{k}\r\n"));
    }
    out
}
