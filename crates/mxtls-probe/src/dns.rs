//! DNS with in-process DNSSEC validation: every question goes to the upstream resolver with
//! DO=1 and CD=1, so that the resolver hands over the data even where it would not validate,
//! and hickory's `DnssecDnsHandle` validates every signature and denial from our trust anchor.
//! The result is recorded as [`DnsAnswer`] evidence, state and all.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hickory_net::client::Client;
use hickory_net::dnssec::DnssecDnsHandle;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::{DnsError, DnsHandle, NetError};
use hickory_proto::dnssec::{Proof, TrustAnchors, Verifier};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record as HRecord, RecordType as HType};
use mxtls_core::evidence::{
    Bytes, CnameLink, DnsAnswer, DnsOutcome, DnssecState, Record, RrsigSupport,
};
use mxtls_core::names::{DnsName, RecordType};

use crate::identity::SourceAddrs;

/// The system resolver: the first `nameserver` line of /etc/resolv.conf.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
}

/// CNAMEs followed before giving up (the design's CNAME depth limit).
pub const MAX_CNAME_DEPTH: usize = 8;

/// Forces CD=1 on every request, so the upstream resolver never filters what it could not
/// validate: the validation that counts is ours.
///
/// It also waits out a busy connection: hickory's client refuses a request at once
/// (`NetError::Busy`) while 32 are in flight on it, and the validation of a whole chain of
/// trust asks more than that at once. Such a request is sent again after a short pause
/// (bounded by the caller's deadline for the question), so a busy moment never turns into a
/// lookup recorded as failed.
#[derive(Clone)]
struct CheckingDisabled<H>(H);

/// The first pause before a busy request is sent again; doubled up to [`BUSY_PAUSE_MAX`].
const BUSY_PAUSE: Duration = Duration::from_millis(5);
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(100);

impl<H: DnsHandle> DnsHandle for CheckingDisabled<H> {
    type Response = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<DnsResponse, NetError>> + Send + 'static>,
    >;
    type Runtime = H::Runtime;

    fn send(&self, mut request: DnsRequest) -> Self::Response {
        request.metadata.checking_disabled = true;
        let inner = self.0.clone();
        Box::pin(futures_util::stream::once(async move {
            let mut pause = BUSY_PAUSE;
            loop {
                match inner.send(request.clone()).next().await {
                    Some(Err(NetError::Busy)) => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(BUSY_PAUSE_MAX);
                    }
                    Some(answer) => return answer,
                    None => return Err(NetError::from("no response")),
                }
            }
        }))
    }
}

/// The TCP connection to the upstream resolver, made again when it closes. Resolvers close
/// idle TCP connections, and sooner under load (Unbound cuts its idle timeout to 1% once half
/// its TCP slots are taken): a check that spends seconds in SMTP sessions between two
/// rounds of questions must not find its DNS gone. A request that meets a closed connection
/// (the carrier task ended, a broken pipe, an end of stream) is sent again on a new one
/// (twice at most).
#[derive(Clone)]
struct Connection {
    upstream: SocketAddr,
    /// The probe's source address for the upstream's family (`--source-ipv4/6`).
    bind: Option<SocketAddr>,
    query_timeout: Duration,
    link: Arc<tokio::sync::Mutex<Link>>,
}

/// One connection: its client, the task that carries its messages (finished once the
/// connection has closed), and which connection of the resolver's this is.
struct Link {
    client: Client<TokioRuntimeProvider>,
    carrier: tokio::task::JoinHandle<()>,
    generation: u64,
}

impl Connection {
    async fn open(
        upstream: SocketAddr,
        bind: Option<SocketAddr>,
        query_timeout: Duration,
    ) -> Result<Connection, SetupError> {
        let link = tcp_client(upstream, bind, query_timeout, 0).await?;
        Ok(Connection {
            upstream,
            bind,
            query_timeout,
            link: Arc::new(tokio::sync::Mutex::new(link)),
        })
    }

    /// The client of an open connection, and its generation: the current one, or a new one
    /// if it has closed, or if `dead` names the current one.
    async fn client(
        &self,
        dead: Option<u64>,
    ) -> Result<(Client<TokioRuntimeProvider>, u64), NetError> {
        let mut link = self.link.lock().await;
        if link.carrier.is_finished() || dead == Some(link.generation) {
            link.carrier.abort();
            *link = tcp_client(
                self.upstream,
                self.bind,
                self.query_timeout,
                link.generation + 1,
            )
            .await
            .map_err(|e| NetError::from(e.0))?;
        }
        Ok((link.client.clone(), link.generation))
    }
}

/// Whether `e` may say that the connection is gone rather than that this question failed:
/// anything but an answer's own failure (a DNS error, a denial, a bogus proof), a timeout
/// and a busy connection. The connection is made again and the question asked once more;
/// a second failure of the same kind is the answer.
fn connection_lost(e: &NetError) -> bool {
    !matches!(e, NetError::Dns(_) | NetError::Timeout | NetError::Busy)
}

impl DnsHandle for Connection {
    type Response = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<DnsResponse, NetError>> + Send + 'static>,
    >;
    type Runtime = TokioRuntimeProvider;

    fn send(&self, request: DnsRequest) -> Self::Response {
        let this = self.clone();
        Box::pin(futures_util::stream::once(async move {
            let mut dead = None;
            let mut reconnects = 0;
            loop {
                let (client, generation) = this.client(dead).await?;
                match client.send(request.clone()).next().await {
                    Some(Err(e)) if reconnects < 2 && connection_lost(&e) => {
                        dead = Some(generation);
                        reconnects += 1;
                    }
                    // A closed channel reads as busy: the connection is gone.
                    Some(Err(NetError::Busy))
                        if reconnects < 2 && this.link.lock().await.carrier.is_finished() =>
                    {
                        reconnects += 1;
                    }
                    Some(answer) => return answer,
                    None => return Err(NetError::from("no response")),
                }
            }
        }))
    }
}

/// A validating view of one upstream resolver.
#[derive(Clone)]
pub struct Dns {
    validating: DnssecDnsHandle<CheckingDisabled<Connection>>,
    plain: Client<TokioRuntimeProvider>,
    pub upstream: SocketAddr,
    /// How long one question (with its validation chase) may take.
    query_timeout: Duration,
}

/// Why DNS could not be set up.
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

impl Dns {
    /// Connects to `upstream` over TCP (no truncation, whatever the DNSKEY sizes) and loads the
    /// trust anchor: hickory's built-in root keys, or `anchor_file` with DNSKEY or DS records
    /// for `.` in zone-file form (as unbound's `trust-anchor-file`).
    pub async fn connect(
        upstream: SocketAddr,
        anchor_file: Option<&Path>,
    ) -> Result<Dns, SetupError> {
        Dns::connect_with(upstream, anchor_file, crate::Deadlines::default().dns_query).await
    }

    /// [`Dns::connect`] with `query_timeout` for each question.
    pub async fn connect_with(
        upstream: SocketAddr,
        anchor_file: Option<&Path>,
        query_timeout: Duration,
    ) -> Result<Dns, SetupError> {
        Dns::connect_from(upstream, anchor_file, query_timeout, SourceAddrs::default()).await
    }

    /// [`Dns::connect_with`] from the probe's source address for the upstream's family.
    pub async fn connect_from(
        upstream: SocketAddr,
        anchor_file: Option<&Path>,
        query_timeout: Duration,
        source: SourceAddrs,
    ) -> Result<Dns, SetupError> {
        let bind = source.for_peer(upstream.ip());
        let plain = tcp_client(upstream, bind, query_timeout, 0).await?.client;
        let anchors = match anchor_file {
            None => TrustAnchors::default(),
            Some(path) => load_anchors(path, &plain, query_timeout).await?,
        };
        let validating = DnssecDnsHandle::with_trust_anchor(
            CheckingDisabled(Connection::open(upstream, bind, query_timeout).await?),
            Arc::new(anchors),
        );
        Ok(Dns {
            validating,
            plain,
            upstream,
            query_timeout,
        })
    }

    /// Whether the upstream passes RRSIGs at all: asks for the root DNSKEY with DO=1.
    pub async fn rrsig_support(&self) -> RrsigSupport {
        match raw(&self.plain, Name::root(), HType::DNSKEY, self.query_timeout).await {
            Some(resp) if resp.answers.iter().any(|r| r.record_type() == HType::RRSIG) => {
                RrsigSupport::Present
            }
            Some(resp)
                if resp
                    .answers
                    .iter()
                    .any(|r| r.record_type() == HType::DNSKEY) =>
            {
                RrsigSupport::Absent
            }
            _ => RrsigSupport::Unknown,
        }
    }

    /// Asks `name`/`rtype`, follows CNAMEs, validates, and records the answer.
    ///
    /// A denial at the end of a CNAME chain carries NSEC records for the alias target, which
    /// hickory checks against the original query name and calls bogus; such a denial is
    /// validated by asking the target itself, keeping the chain's own (validated) links.
    pub async fn lookup(&self, name: &DnsName, rtype: RecordType) -> DnsAnswer {
        let mut answer = self.lookup_once(name, rtype).await;
        if !answer.cname_chain.is_empty() && answer.outcome.is_denial() && answer.dnssec.is_failed()
        {
            let target = mxtls_core::dns::final_name(&answer).clone();
            let direct = self.lookup_once(&target, rtype).await;
            if direct.cname_chain.is_empty() {
                answer.outcome = direct.outcome;
                answer.dnssec = direct.dnssec;
                answer.validation_failed = direct.validation_failed;
            }
        }
        answer
    }

    async fn lookup_once(&self, name: &DnsName, rtype: RecordType) -> DnsAnswer {
        let started = Instant::now();
        let mut answer = unanswered(name, rtype);
        let Ok(qname) = Name::from_ascii(format!("{}.", name.as_str().trim_end_matches('.')))
        else {
            answer.outcome = DnsOutcome::Error {
                message: format!("{name} is not a valid name"),
            };
            return answer;
        };
        let result = tokio::time::timeout(
            self.query_timeout,
            first(&self.validating, qname.clone(), rtype.0),
        )
        .await;
        answer.elapsed_ms = Some(crate::clock::elapsed_ms(started));
        match result {
            Err(_) => {
                let why = format!("no answer within {:?}", self.query_timeout);
                answer = DnsAnswer {
                    elapsed_ms: answer.elapsed_ms,
                    ..timed_out(name, rtype, &why)
                };
            }
            Ok(Ok(resp)) => record_response(&mut answer, &qname, rtype.0, &resp, None),
            Ok(Err(NetError::Dns(DnsError::Nsec {
                response, proof, ..
            }))) => {
                record_response(&mut answer, &qname, rtype.0, &response, Some(proof));
            }
            Ok(Err(e)) => {
                answer.outcome = DnsOutcome::Error {
                    message: e.to_string(),
                };
                answer.dnssec = DnssecState::Indeterminate {
                    reason: e.to_string(),
                };
            }
        }
        answer
    }
}

/// An answer not (yet) received.
fn unanswered(name: &DnsName, rtype: RecordType) -> DnsAnswer {
    DnsAnswer {
        qname: name.clone(),
        qtype: rtype,
        outcome: DnsOutcome::Error {
            message: "not asked".into(),
        },
        rcode: None,
        records: Vec::new(),
        cname_chain: Vec::new(),
        dnssec: DnssecState::Indeterminate {
            reason: "no answer".into(),
        },
        validation_failed: false,
        wire: None,
        elapsed_ms: None,
    }
}

/// The answer to a question that got none in time: a failure (senders defer), its DNSSEC
/// state unknown.
pub fn timed_out(name: &DnsName, rtype: RecordType, why: &str) -> DnsAnswer {
    DnsAnswer {
        outcome: DnsOutcome::Timeout,
        dnssec: DnssecState::Indeterminate { reason: why.into() },
        ..unanswered(name, rtype)
    }
}

async fn tcp_client(
    upstream: SocketAddr,
    bind: Option<SocketAddr>,
    query_timeout: Duration,
    generation: u64,
) -> Result<Link, SetupError> {
    let (connect, handle) = TcpClientStream::new(
        upstream,
        bind,
        Some(query_timeout),
        TokioRuntimeProvider::default(),
    );
    let stream = tokio::time::timeout(query_timeout, connect)
        .await
        .map_err(|_| SetupError(format!("resolver {upstream} does not answer on TCP")))?
        .map_err(|e| SetupError(format!("cannot reach resolver {upstream}: {e}")))?;
    let (client, background) =
        Client::<TokioRuntimeProvider>::with_timeout(stream, handle, query_timeout);
    let carrier = tokio::spawn(async move {
        let _ = background.await;
    });
    Ok(Link {
        client,
        carrier,
        generation,
    })
}

fn options() -> DnsRequestOptions {
    let mut o = DnsRequestOptions::default();
    o.use_edns = true;
    o.edns_set_dnssec_ok = true;
    o.recursion_desired = true;
    o
}

async fn first<H: DnsHandle>(
    handle: &H,
    name: Name,
    rtype: HType,
) -> Result<DnsResponse, NetError> {
    let mut stream = handle.lookup(Query::query(name, rtype), options());
    match stream.next().await {
        Some(r) => r,
        None => Err(NetError::from("no response")),
    }
}

/// An unvalidated answer with CD=1 (for the trust anchor and the RRSIG check).
async fn raw(
    client: &Client<TokioRuntimeProvider>,
    name: Name,
    rtype: HType,
    query_timeout: Duration,
) -> Option<DnsResponse> {
    let cd = CheckingDisabled(client.clone());
    tokio::time::timeout(query_timeout, first(&cd, name, rtype))
        .await
        .ok()?
        .ok()
}

/// Reads DNSKEY or DS records for `.`; DS records are resolved to the root DNSKEYs they match.
async fn load_anchors(
    path: &Path,
    client: &Client<TokioRuntimeProvider>,
    query_timeout: Duration,
) -> Result<TrustAnchors, SetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError(format!("cannot read trust anchor {}: {e}", path.display())))?;
    let has_ds = text
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == "DS"));
    if !has_ds {
        return text.parse::<TrustAnchors>().map_err(|e| {
            SetupError(format!(
                "{}: not DNSKEY records for the root: {e}",
                path.display()
            ))
        });
    }
    let ds: Vec<hickory_proto::dnssec::rdata::DS> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == "DS")?;
            let (tag, alg, digest_type) = (
                f.get(i + 1)?.parse().ok()?,
                f.get(i + 2)?.parse::<u8>().ok()?,
                f.get(i + 3)?.parse::<u8>().ok()?,
            );
            let digest = hex_decode(&f[i + 4..].concat())?;
            Some(hickory_proto::dnssec::rdata::DS::new(
                tag,
                hickory_proto::dnssec::Algorithm::from_u8(alg),
                digest_type.into(),
                digest,
            ))
        })
        .collect();
    if ds.is_empty() {
        return Err(SetupError(format!(
            "{}: no DS record could be read",
            path.display()
        )));
    }
    let resp = raw(client, Name::root(), HType::DNSKEY, query_timeout)
        .await
        .ok_or_else(|| SetupError("the resolver did not return the root DNSKEY RRset".into()))?;
    let mut anchors = TrustAnchors::empty();
    for record in resp.answers.iter() {
        if let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(key)) = &record.data
            && ds
                .iter()
                .any(|d| d.covers(&Name::root(), key).unwrap_or(false))
            && let Ok(public) = key.key()
        {
            anchors.insert(public.as_ref());
        }
    }
    if anchors.is_empty() {
        return Err(SetupError(format!(
            "no root DNSKEY matches the DS record(s) in {}",
            path.display()
        )));
    }
    Ok(anchors)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

fn state(proof: Proof, what: &str) -> DnssecState {
    match proof {
        Proof::Secure => DnssecState::Secure,
        Proof::Insecure => DnssecState::Insecure,
        Proof::Bogus => DnssecState::Bogus {
            reason: format!(
                "the signatures of {what} do not validate (bad, expired or missing RRSIG, or no DNSKEY matching the DS)"
            ),
        },
        Proof::Indeterminate => DnssecState::Indeterminate {
            reason: format!("the DNSSEC chain for {what} could not be established"),
        },
    }
}

fn weakest(a: DnssecState, b: DnssecState) -> DnssecState {
    a.weakest(&b).clone()
}

pub(crate) fn to_record(r: &HRecord) -> Record {
    let name = DnsName::from_hickory(&r.name);
    mxtls_core::dns::encode(&name, r.ttl, &r.data)
}

/// Fills `answer` from a validated response. `denial_proof` is set when hickory refused the
/// denial of existence (`DnsError::Nsec`).
fn record_response(
    answer: &mut DnsAnswer,
    qname: &Name,
    rtype: HType,
    resp: &DnsResponse,
    denial_proof: Option<Proof>,
) {
    answer.rcode = Some(u16::from(resp.response_code));
    answer.wire = Some(Bytes(resp.as_buffer().to_vec()));

    // Follow the CNAME chain inside the answer section.
    let mut current = qname.clone();
    for _ in 0..MAX_CNAME_DEPTH {
        let Some(cname) = resp
            .answers
            .iter()
            .find(|r| r.name == current && r.record_type() == HType::CNAME)
        else {
            break;
        };
        let RData::CNAME(target) = &cname.data else {
            break;
        };
        answer.cname_chain.push(CnameLink {
            from: DnsName::from_hickory(&current),
            to: DnsName::from_hickory(&target.0),
            dnssec: state(cname.proof, &format!("the CNAME at {current}")),
        });
        current = target.0.clone();
    }
    let rrset: Vec<&HRecord> = resp
        .answers
        .iter()
        .filter(|r| r.name == current && r.record_type() == rtype)
        .collect();
    answer.records = rrset.iter().map(|r| to_record(r)).collect();
    let what = format!("{current} {rtype}");

    if !rrset.is_empty() {
        answer.outcome = DnsOutcome::Data;
        answer.dnssec = rrset
            .iter()
            .map(|r| state(r.proof, &what))
            .reduce(weakest)
            .unwrap_or(DnssecState::Insecure);
    } else {
        answer.outcome = match resp.response_code {
            ResponseCode::NoError => DnsOutcome::NoData,
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::ServFail => DnsOutcome::ServFail,
            ResponseCode::Refused => DnsOutcome::Refused,
            other => DnsOutcome::Error {
                message: format!("response code {other}"),
            },
        };
        answer.dnssec = match (denial_proof, answer.outcome.is_failure()) {
            (_, true) => DnssecState::Indeterminate {
                reason: format!("the resolver answered {}", resp.response_code),
            },
            (Some(p), _) => state(p, &format!("the denial of existence of {what}")),
            (None, _)
                if !resp.authorities.is_empty()
                    && resp.authorities.iter().all(|r| r.proof == Proof::Insecure) =>
            {
                DnssecState::Insecure
            }
            (None, _) if resp.authorities.iter().any(|r| r.proof == Proof::Secure) => {
                DnssecState::Secure
            }
            (None, _) => DnssecState::Insecure,
        };
    }
    answer.validation_failed = answer.dnssec.is_failed() && !answer.outcome.is_failure();
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::stream;
    use hickory_proto::op::{Message, MessageType, OpCode};

    use super::*;

    /// An upstream whose connection is busy for the first `busy` requests, then answers
    /// each with an empty response, counting what it was sent and with which CD bit.
    #[derive(Clone)]
    struct BusyThenAnswer {
        busy: Arc<AtomicUsize>,
        sent: Arc<AtomicUsize>,
        cd_clear: Arc<AtomicUsize>,
    }

    impl DnsHandle for BusyThenAnswer {
        type Response = std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<DnsResponse, NetError>> + Send>,
        >;
        type Runtime = TokioRuntimeProvider;

        fn send(&self, request: DnsRequest) -> Self::Response {
            self.sent.fetch_add(1, Ordering::SeqCst);
            if !request.metadata.checking_disabled {
                self.cd_clear.fetch_add(1, Ordering::SeqCst);
            }
            let busy = self
                .busy
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let answer = if busy {
                Err(NetError::Busy)
            } else {
                let mut message = Message::new(1, MessageType::Response, OpCode::Query);
                message.metadata.checking_disabled = request.metadata.checking_disabled;
                DnsResponse::from_message(message).map_err(NetError::from)
            };
            Box::pin(stream::once(async move { answer }))
        }
    }

    #[tokio::test]
    async fn a_busy_connection_is_waited_out_and_every_request_has_cd_set() {
        let upstream = BusyThenAnswer {
            busy: Arc::new(AtomicUsize::new(5)),
            sent: Arc::new(AtomicUsize::new(0)),
            cd_clear: Arc::new(AtomicUsize::new(0)),
        };
        let handle = CheckingDisabled(upstream.clone());
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            first(&handle, Name::root(), HType::DNSKEY),
        )
        .await
        .expect("within the deadline");
        assert!(answer.is_ok(), "answered after the busy spell: {answer:?}");
        assert_eq!(
            upstream.sent.load(Ordering::SeqCst),
            6,
            "five busy, one answered"
        );
        assert_eq!(
            upstream.cd_clear.load(Ordering::SeqCst),
            0,
            "CD=1 on every send"
        );
    }

    #[tokio::test]
    async fn a_connection_busy_for_ever_ends_at_the_callers_deadline() {
        let upstream = BusyThenAnswer {
            busy: Arc::new(AtomicUsize::new(usize::MAX)),
            sent: Arc::new(AtomicUsize::new(0)),
            cd_clear: Arc::new(AtomicUsize::new(0)),
        };
        let handle = CheckingDisabled(upstream.clone());
        let ended = tokio::time::timeout(
            Duration::from_millis(300),
            first(&handle, Name::root(), HType::DNSKEY),
        )
        .await;
        assert!(ended.is_err(), "still waiting when the deadline came");
        // Paused between tries, not spinning: at most a few dozen sends in 300 ms.
        let sent = upstream.sent.load(Ordering::SeqCst);
        assert!((1..=40).contains(&sent), "{sent} sends");
    }
}
