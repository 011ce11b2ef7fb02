//! A whole check: the MX set, every host's addresses and TLSA records, and an SMTP session
//! with every address (a second one per other key type), gathered concurrently into one
//! [`Evidence`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use mxtls_core::cert::ParsedCert;
use mxtls_core::dns as core_dns;
use mxtls_core::evidence::{
    AddressEvidence, Bytes, DnsAnswer, DnsOutcome, Evidence, HostEvidence, HostOrigin,
    KeyTypeOffer, LimitHit, MtaStsEvidence, ProbeInfo, ProbeSettings, ResolverEvidence,
    SCHEMA_VERSION, SessionError, SessionStop, SmtpSession, Step, TargetDecision,
};
use mxtls_core::names::{DnsName, RecordType};
use mxtls_core::report::KeyKind;
use tokio::sync::Semaphore;

use crate::budget::{self, Outcome, TargetBudget};
use crate::deadlines::Deadlines;
use crate::dns::{Dns, SetupError};
use crate::progress::{Event, Sink, emit};
use crate::smtp::{self, SessionPlan};

mod nameservers;
mod policy;
mod posture;
mod reused;
pub use posture::PostureConfig;

/// Caps that keep one check bounded whatever DNS says.
pub const MAX_MX_HOSTS: usize = 10;
pub const MAX_ADDRESSES_PER_HOST: usize = 8;
/// Connections open at once, across the whole process (every check of a server shares
/// them), so the probe's sockets have a budget of their own beside the server's clients.
pub const MAX_CONNECTIONS: usize = 256;
/// At most this many zones' DNSKEY and DS RRsets are fetched for the chain of trust (a
/// chain is rarely deeper than four; the cap bounds what a hostile signer name can cost).
pub const MAX_CHAIN_ZONES: usize = 16;
/// The longest a check may be given: a bound on `Config::timeout` (a larger value is cut to
/// this), so no deadline arithmetic can overflow and no client can hold a slot for hours.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The process-wide connection budget ([`MAX_CONNECTIONS`]).
static CONNECTIONS: Semaphore = Semaphore::const_new(MAX_CONNECTIONS);

/// How to run a check.
#[derive(Debug, Clone)]
pub struct Config {
    /// Upstream resolver; `None`: the first `nameserver` of /etc/resolv.conf.
    pub resolver: Option<SocketAddr>,
    /// Root trust anchor file (DNSKEY or DS); `None`: hickory's built-in root keys.
    pub trust_anchor: Option<PathBuf>,
    /// Connect to non-public addresses (tests only).
    pub allow_private_targets: bool,
    pub smtp_port: u16,
    /// Where the MTA-STS policy host listens (443; tests use others).
    pub https_port: u16,
    /// Deadline for the whole check (at most [`MAX_TIMEOUT`]).
    pub timeout: Duration,
    /// Extra PKIX roots (DER), recorded in the evidence for the core.
    pub extra_pkix_roots: Vec<Vec<u8>>,
    /// Our EHLO name (`--ehlo`; [`crate::identity::machine_name`] by default).
    pub helo: String,
    /// Where every SMTP, HTTPS and DNS connection leaves from (`--source-ipv4/6`).
    pub source: crate::identity::SourceAddrs,
    /// The hosts and addresses never connected to (`--never-probe`).
    pub never_probe: Option<Arc<dyn crate::never_probe::OptOut>>,
    /// Each step's own limit.
    pub deadlines: Deadlines,
    /// When a session to an address may start (`None`: at once). `mxtls serve` shares one
    /// among all its checks, so that no tested server sees more than it allows.
    pub budget: Option<Arc<dyn TargetBudget>>,
    /// The name of where this probe runs, recorded in the evidence (`--vantage`).
    pub vantage: Option<String>,
    /// With a budget: where a check whose budget for an address is spent finds that
    /// address's recent sessions, instead of waiting (`None`: it waits).
    pub reuse: Option<Arc<dyn budget::RecentEvidence>>,
    /// How old reused sessions may be (`--target-reuse`; zero: never reused). The server,
    /// which has the store, turns it into `reuse`.
    pub reuse_max_age: Duration,
    /// Use an address's sessions younger than the budget's window (from `reuse`) before
    /// asking the budget, not only when it is spent: a batch's checks, so that a portfolio on
    /// a few shared mail servers opens about one check's worth of sessions per address and
    /// window, not the budget's worth.
    pub reuse_first: bool,
    /// Whether posture is asked (after the verdict-bearing sessions, at most
    /// `mxtls_core::posture::MAX_SESSIONS` more per address) and how long one is reused.
    pub posture: posture::PostureConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resolver: None,
            trust_anchor: None,
            allow_private_targets: false,
            smtp_port: 25,
            https_port: 443,
            timeout: Duration::from_secs(60),
            extra_pkix_roots: Vec::new(),
            helo: crate::identity::machine_name().unwrap_or_else(|| "mxtls.invalid".into()),
            source: crate::identity::SourceAddrs::default(),
            never_probe: None,
            deadlines: Deadlines::default(),
            budget: None,
            vantage: None,
            reuse: None,
            reuse_max_age: Duration::ZERO,
            reuse_first: false,
            posture: posture::PostureConfig::default(),
        }
    }
}

/// A host after its lookups: the addresses to probe, and the SNI its sessions send.
struct HostPlan {
    evidence: HostEvidence,
    sni: DnsName,
    ips: Vec<IpAddr>,
    limits: Vec<LimitHit>,
}

struct Run {
    dns: Dns,
    config: Config,
    deadline: Instant,
    sink: Sink,
}

/// Runs a check of `domain` and returns its evidence. Fails only when DNS cannot be set up at
/// all (no resolver, unreadable trust anchor); everything else is evidence.
pub async fn check(domain: &DnsName, config: &Config, sink: Sink) -> Result<Evidence, SetupError> {
    let started_at = crate::clock::unix_now();
    let timeout = config.timeout.min(MAX_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let upstream = config
        .resolver
        .or_else(crate::dns::system_resolver)
        .ok_or_else(|| SetupError("no resolver: give --resolver".into()))?;
    let dns = Dns::connect_from(
        upstream,
        config.trust_anchor.as_deref(),
        config.deadlines.dns_query,
        config.source,
    )
    .await?;
    let run = Arc::new(Run {
        dns,
        config: config.clone(),
        deadline,
        sink,
    });

    let (rrsigs, mx) = tokio::join!(run.dns.rrsig_support(), run.lookup(domain, RecordType::MX));
    let mut limits = Vec::new();
    let targets: Vec<(DnsName, HostOrigin)> = match mx.outcome {
        // Validating senders cannot use an MX answer that fails validation, so they never
        // reach the hosts it names; neither does the probe (it would judge servers no such
        // sender meets, and invite a false diagnosis of their keys).
        DnsOutcome::Data if mx.fails_validation() => Vec::new(),
        DnsOutcome::Data => {
            let mut t: Vec<(DnsName, HostOrigin)> = core_dns::mx_targets(&mx)
                .into_iter()
                .flatten()
                .filter(|t| !t.exchange.is_root() && t.exchange.as_str().parse::<IpAddr>().is_err())
                .map(|t| {
                    (
                        t.exchange,
                        HostOrigin::Mx {
                            preference: t.preference,
                        },
                    )
                })
                .collect();
            t.sort_by_key(|(n, o)| {
                (
                    match o {
                        HostOrigin::Mx { preference } => *preference,
                        HostOrigin::Implicit => 0,
                    },
                    n.clone(),
                )
            });
            // A host listed at several preferences is one host, tried at its best one.
            let mut seen = std::collections::HashSet::new();
            t.retain(|(name, _)| seen.insert(name.clone()));
            if t.len() > MAX_MX_HOSTS {
                limits.push(LimitHit {
                    limit: "mx-hosts".into(),
                    subject: domain.to_string(),
                    detail: format!(
                        "{} MX hosts; only the first {MAX_MX_HOSTS} were checked",
                        t.len()
                    ),
                });
                t.truncate(MAX_MX_HOSTS);
            }
            t
        }
        DnsOutcome::NoData => vec![(domain.clone(), HostOrigin::Implicit)],
        _ => Vec::new(),
    };

    let (sts_name, rpt_name) = (
        prefixed("_mta-sts", domain)?,
        prefixed("_smtp._tls", domain)?,
    );
    let policy_host = mxtls_core::names::policy_host(domain);
    // MTA-STS and TLS-RPT run beside the SMTP sessions, not after them.
    let policy = async {
        let (txt, rpt) = tokio::join!(
            run.lookup(&sts_name, RecordType::TXT),
            run.lookup(&rpt_name, RecordType::TXT)
        );
        // Senders fetch the policy only when a `v=STSv1` record exists; so do we.
        let wanted = core_dns::txt_strings(&txt)
            .iter()
            .any(|t| t.starts_with(b"v=STSv1"));
        let fetch = if wanted {
            let (a, aaaa) = tokio::join!(
                run.lookup(&policy_host, RecordType::A),
                run.lookup(&policy_host, RecordType::AAAA)
            );
            let plan = crate::mta_sts::Plan {
                host: policy_host.clone(),
                port: config.https_port,
                allow_private_targets: config.allow_private_targets,
                source: config.source,
                deadline,
                limit: config.deadlines.policy_fetch,
            };
            Some(crate::mta_sts::fetch(&plan, vec![a, aaaa]).await)
        } else {
            None
        };
        (txt, rpt, fetch)
    };
    // Every authoritative server of the zones on the path, beside the sessions.
    let host_names: Vec<DnsName> = targets.iter().map(|(n, _)| n.clone()).collect();
    let authoritative = run.nameservers(domain, &host_names);
    let sessions = async {
        let plans = join_all(targets.into_iter().map(|(name, origin)| {
            let run = run.clone();
            async move { run.host(name, origin).await }
        }))
        .await;
        run.clone().sessions(plans).await
    };
    let (hosts, (mta_sts_txt, tls_rpt, policy), authoritative) =
        tokio::join!(sessions, policy, authoritative);
    let mut host_evidence = Vec::new();
    for (h, mut l) in hosts {
        host_evidence.push(h);
        limits.append(&mut l);
    }
    if Instant::now() >= deadline {
        limits.push(LimitHit {
            limit: "deadline".into(),
            subject: domain.to_string(),
            detail: format!("the check's {:?} deadline passed", timeout),
        });
    }

    // The keys of every zone that signed what senders depend on, up to the root: why what
    // fails validation fails, and when each link of the chain stops validating.
    let depended: Vec<&DnsAnswer> = std::iter::once(&mx)
        .chain(host_evidence.iter().flat_map(|h| {
            h.a.iter()
                .chain(h.aaaa.iter())
                .chain(h.tlsa.iter())
                .collect::<Vec<_>>()
        }))
        .chain([&mta_sts_txt, &tls_rpt])
        .filter(|a| a.fails_validation() || a.dnssec.is_secure())
        .collect();
    let dnssec_chain = run.key_chain(depended).await;

    Ok(Evidence {
        schema: SCHEMA_VERSION,
        probe: ProbeInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            started_at,
            finished_at: crate::clock::unix_now(),
            vantage: config.vantage.clone(),
            ehlo: Some(config.helo.clone()),
            source: config.source.list(),
        },
        domain: domain.clone(),
        resolver: ResolverEvidence {
            address: upstream.to_string(),
            rrsigs,
        },
        mx,
        hosts: host_evidence,
        mta_sts: MtaStsEvidence {
            txt: Some(mta_sts_txt),
            policy,
        },
        tls_rpt: Some(tls_rpt),
        limits_hit: limits,
        settings: ProbeSettings {
            extra_pkix_roots: config.extra_pkix_roots.iter().cloned().map(Bytes).collect(),
            allow_private_targets: config.allow_private_targets,
        },
        dnssec_chain,
        authoritative,
    })
}

fn prefixed(prefix: &str, domain: &DnsName) -> Result<DnsName, SetupError> {
    DnsName::parse(&format!("{prefix}.{domain}")).map_err(SetupError)
}

impl Run {
    /// DNSKEY and DS of every zone that signed `answers`, then of each zone that signed
    /// those DS records, up to the root: at most [`MAX_CHAIN_ZONES`] zones.
    async fn key_chain(&self, answers: Vec<&DnsAnswer>) -> Vec<DnsAnswer> {
        let now = crate::clock::unix_now();
        let mut seen: Vec<DnsName> = Vec::new();
        let mut next = mxtls_core::dnssec::signer_zones(answers, now);
        let mut chain = Vec::new();
        while !next.is_empty() && seen.len() < MAX_CHAIN_ZONES {
            let zones: Vec<DnsName> = next
                .drain(..)
                .filter(|z| !seen.contains(z))
                .take(MAX_CHAIN_ZONES - seen.len())
                .collect();
            seen.extend(zones.iter().cloned());
            let round = join_all(zones.iter().flat_map(|zone| {
                let types: &[RecordType] = if zone.is_root() {
                    &[RecordType::DNSKEY]
                } else {
                    &[RecordType::DNSKEY, RecordType::DS]
                };
                types.iter().map(move |t| self.lookup(zone, *t))
            }))
            .await;
            next = mxtls_core::dnssec::signer_zones(&round, now)
                .into_iter()
                .filter(|z| !seen.contains(z))
                .collect();
            chain.extend(round);
        }
        chain
    }

    async fn lookup(&self, name: &DnsName, rtype: RecordType) -> DnsAnswer {
        emit(
            &self.sink,
            Event::LookupStarted {
                qname: name.clone(),
                qtype: rtype,
            },
        );
        let a = match tokio::time::timeout_at(self.deadline.into(), self.dns.lookup(name, rtype))
            .await
        {
            Ok(a) => a,
            Err(_) => crate::dns::timed_out(name, rtype, "the check's deadline passed"),
        };
        emit(
            &self.sink,
            Event::LookupDone {
                qname: name.clone(),
                qtype: rtype,
                outcome: a.outcome.clone(),
                dnssec: a.dnssec.clone(),
            },
        );
        a
    }

    /// A host's lookups (addresses, TLSA), and which addresses to probe with which SNI.
    async fn host(self: Arc<Self>, name: DnsName, origin: HostOrigin) -> HostPlan {
        let (a, aaaa) = tokio::join!(
            self.lookup(&name, RecordType::A),
            self.lookup(&name, RecordType::AAAA)
        );
        // RFC 7672 §2.2.3: with a secure CNAME expansion, TLSA is sought at the expanded name
        // first, then at the original name.
        let expanded = [&a, &aaaa]
            .into_iter()
            .find(|x| {
                !x.cname_chain.is_empty() && x.cname_chain.iter().all(|l| l.dnssec.is_secure())
            })
            .map(|x| core_dns::final_name(x).clone());
        let mut bases: Vec<DnsName> = expanded.into_iter().collect();
        bases.push(name.clone());
        let mut tlsa = Vec::new();
        for base in &bases {
            let answer = self.lookup(&base.tlsa_owner(25), RecordType::TLSA).await;
            let found = answer.outcome == DnsOutcome::Data
                || answer.outcome.is_failure()
                || answer.dnssec.is_failed();
            tlsa.push(answer);
            if found {
                break;
            }
        }
        let sni = tlsa
            .iter()
            .find(|t| t.outcome == DnsOutcome::Data)
            .map(|t| &t.qname)
            .unwrap_or(&tlsa[0].qname);
        let sni = bases
            .iter()
            .find(|b| b.tlsa_owner(25) == *sni)
            .cloned()
            .unwrap_or_else(|| name.clone());

        // Addresses from an answer that fails validation are where validating senders never
        // go (they defer): not connected to.
        let usable = |x: &DnsAnswer| {
            if x.fails_validation() {
                Vec::new()
            } else {
                core_dns::addresses(x)
            }
        };
        let mut ips: Vec<IpAddr> = usable(&a).into_iter().chain(usable(&aaaa)).collect();
        // Resolvers rotate RRsets; the report lists addresses in one order every time.
        ips.sort();
        ips.dedup();
        let mut limits = Vec::new();
        if ips.len() > MAX_ADDRESSES_PER_HOST {
            limits.push(LimitHit {
                limit: "addresses-per-host".into(),
                subject: name.to_string(),
                detail: format!(
                    "{} addresses; only the first {MAX_ADDRESSES_PER_HOST} were checked",
                    ips.len()
                ),
            });
            ips.truncate(MAX_ADDRESSES_PER_HOST);
        }
        HostPlan {
            evidence: HostEvidence {
                name,
                origin,
                a: Some(a),
                aaaa: Some(aaaa),
                tlsa,
                addresses: Vec::new(),
            },
            sni,
            ips,
            limits,
        }
    }

    /// Probes every address once, however many MX hosts name it: with the SNI of the first
    /// host (by preference) that does, the others keeping the same sessions and saying for
    /// which host they were run. Senders reaching the address get the same server either way.
    async fn sessions(self: Arc<Self>, plans: Vec<HostPlan>) -> Vec<(HostEvidence, Vec<LimitHit>)> {
        let mut first: Vec<(IpAddr, usize)> = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            for ip in &plan.ips {
                if !first.iter().any(|(seen, _)| seen == ip) {
                    first.push((*ip, i));
                }
            }
        }
        let probed = join_all(first.iter().map(|&(ip, i)| {
            let (name, sni) = (plans[i].evidence.name.clone(), plans[i].sni.clone());
            // Every host naming the address: an opt-out of any covers the server they share.
            let named: Vec<DnsName> = plans
                .iter()
                .filter(|p| p.ips.contains(&ip))
                .map(|p| p.evidence.name.clone())
                .collect();
            self.clone().address(name, sni, ip, named)
        }))
        .await;
        plans
            .into_iter()
            .map(|mut plan| {
                for ip in &plan.ips {
                    let Some(at) = first.iter().position(|(seen, _)| seen == ip) else {
                        continue;
                    };
                    let mut address = probed[at].clone();
                    if address.probed_for.as_ref() == Some(&plan.evidence.name) {
                        address.probed_for = None;
                    }
                    plan.evidence.addresses.push(address);
                }
                (plan.evidence, plan.limits)
            })
            .collect()
    }

    async fn address(
        self: Arc<Self>,
        host: DnsName,
        sni: DnsName,
        ip: IpAddr,
        named: Vec<DnsName>,
    ) -> AddressEvidence {
        if let Some(untested) = self.untested(&host, &named, ip).await {
            return untested;
        }
        // Over the address's budget, sessions seen there a moment ago (by another check, of
        // another domain on the same server, say) are used instead of waiting.
        if let Some(shared) = reused::first(&self.config, ip).await {
            return shared;
        }
        let mut first_permit = None;
        if let (Some(b), Some(reuse)) = (&self.config.budget, &self.config.reuse) {
            match b.admit(ip).await {
                budget::Admission::Start(p) => first_permit = Some(p),
                budget::Admission::Wait { reason, .. } => {
                    let until = Instant::now()
                        + self.deadline.saturating_duration_since(Instant::now()) / 2;
                    match reused::wait_for_shared(b.as_ref(), reuse.as_ref(), ip, until, reason)
                        .await
                    {
                        Ok(permit) => first_permit = permit,
                        Err(evidence) => return *evidence,
                    }
                }
            }
        }
        // Every key type, without doubling the wait for a slow greeting: offer everything and,
        // at the same time, only RSA (servers prefer ECDSA when the client can take it). Only
        // if the first chain is RSA is an ECDSA-only session needed afterwards.
        let (first, rsa_only) = tokio::join!(
            self.session_with(&host, &sni, ip, KeyTypeOffer::Any, first_permit),
            self.session(&host, &sni, ip, KeyTypeOffer::Rsa)
        );
        let first_key = first
            .tls
            .as_ref()
            .and_then(|t| t.chain.first())
            .and_then(|c| ParsedCert::parse(c.as_ref()).ok().map(|c| c.key_kind()));
        let mut sessions = vec![first];
        match first_key {
            Some(KeyKind::Rsa) => {
                sessions.push(self.session(&host, &sni, ip, KeyTypeOffer::Ecdsa).await)
            }
            Some(_) => sessions.push(rsa_only),
            None => {}
        }
        let main = sessions.first().and_then(|s| s.tls.as_ref());
        let posture = self.posture(&sni, ip, main).await;
        AddressEvidence {
            ip,
            target: TargetDecision::Allowed,
            sessions,
            probed_for: Some(host.clone()),
            reused: None,
            posture,
        }
    }

    async fn session(
        &self,
        host: &DnsName,
        sni: &DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
    ) -> SmtpSession {
        self.session_with(host, sni, ip, offer, None).await
    }

    /// A session, with the address's budget permit if one was taken for it already.
    async fn session_with(
        &self,
        host: &DnsName,
        sni: &DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        permit: Option<budget::Permit>,
    ) -> SmtpSession {
        // The address's budget first: a session waiting for it holds no connection slot.
        let _target = match (&self.config.budget, permit) {
            (_, Some(p)) => Some(p),
            (None, None) => None,
            (Some(b), None) => {
                let deadline = tokio::time::Instant::from_std(self.deadline);
                let waiting = |reason: &str, wait: Duration| {
                    emit(
                        &self.sink,
                        Event::Waiting {
                            host: host.clone(),
                            ip,
                            offer,
                            reason: reason.to_owned(),
                            wait_ms: wait.as_millis().min(u128::from(u64::MAX)) as u64,
                        },
                    )
                };
                match budget::acquire(b.as_ref(), ip, deadline, waiting).await {
                    Ok(permit) => Some(permit),
                    Err(reason) => {
                        return failed_session(
                            self.config.smtp_port,
                            offer,
                            &format!("not connected before the check's deadline: {reason}"),
                        );
                    }
                }
            }
        };
        let Ok(_permit) = CONNECTIONS.acquire().await else {
            return failed_session(self.config.smtp_port, offer, "connection limiter closed");
        };
        let plan = SessionPlan {
            ip,
            port: self.config.smtp_port,
            sni: sni.clone(),
            offer,
            helo: self.config.helo.clone(),
            source: self.config.source,
            deadline: self.deadline,
            deadlines: self.config.deadlines,
            on_step: Some(step_hook(
                &self.sink,
                host,
                ip,
                offer,
                self.config.deadlines,
            )),
        };
        let s = smtp::session(&plan).await;
        if let Some(b) = &self.config.budget {
            b.finished(ip, outcome(&s));
        }
        emit(
            &self.sink,
            Event::SessionDone {
                host: host.clone(),
                ip,
                offer,
                stopped: s.stopped.as_ref().map(|x| x.step),
            },
        );
        s
    }
}

/// Turns session steps into progress events for `host`/`ip`, each with its step's limit.
fn step_hook(
    sink: &Sink,
    host: &DnsName,
    ip: IpAddr,
    offer: KeyTypeOffer,
    deadlines: Deadlines,
) -> smtp::StepHook {
    let (sink, host) = (sink.clone(), host.clone());
    Arc::new(move |step| {
        let limit = match step {
            Step::Connect => Some(deadlines.connect),
            Step::Banner => Some(deadlines.banner),
            Step::Ehlo | Step::Starttls | Step::EhloTls => Some(deadlines.command),
            Step::Handshake => Some(deadlines.handshake),
            Step::Quit => None,
        };
        emit(
            &sink,
            Event::Session {
                host: host.clone(),
                ip,
                offer,
                step,
                limit_ms: limit.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
            },
        )
    })
}

/// What a session says about the server's willingness to talk to us, for the budget.
fn outcome(s: &SmtpSession) -> Outcome {
    use mxtls_core::evidence::SessionError;
    match (&s.banner, s.stopped.as_ref().map(|x| &x.error)) {
        (Some(b), _) if b.code == 421 => Outcome::Refused,
        (_, Some(SessionError::ConnectRefused | SessionError::Rejected { code: 421 })) => {
            Outcome::Refused
        }
        (Some(_), _) => Outcome::Served,
        _ => Outcome::Other,
    }
}

fn failed_session(port: u16, offered: KeyTypeOffer, why: &str) -> SmtpSession {
    SmtpSession {
        stopped: Some(SessionStop {
            step: Step::Connect,
            error: SessionError::Io {
                message: why.into(),
            },
            at_ms: None,
        }),
        ..SmtpSession::new(port, offered)
    }
}
