//! The hermetic test world: what the probe, the CLI and the browser tests run against, and the
//! demo for a machine with no network.
//!
//! Everything lives on the world's own loopback block `127.<net>.0.0/16` (default
//! `127.53`), never on a wildcard address:
//!
//! | address            | what                                              |
//! |--------------------|---------------------------------------------------|
//! | `127.<net>.0.1:53` | Unbound, validating from the world's root key      |
//! | `127.<net>.0.2:53` | NSD, authoritative for `.`, `test.`, the scenarios |
//! | `127.<net>.1.N`    | scenario SMTP servers (port `smtp_port`, 2525)     |
//! | `127.<net>.2.1`    | the real Postfix (port `smtp_port`)                |
//! | `127.<net>.3.N`    | MTA-STS policy hosts (port `https_port`, 4443)     |
//! | `127.<net>.10.K`   | a portfolio's shared mail hosts (`portfolio`)      |
//! | `127.<net>.11-19.N`| a portfolio's own mail hosts                       |
//! | `[::1]`            | the IPv6 address of the `ipv6` scenario            |
//!
//! Nothing binds a wildcard address or ports 25 and 443, so the world runs beside the mail
//! server and the web server of the machine it runs on (`scripts/test.sh` proves it by
//! holding both ports on every address while the suite runs).
//!
//! [`scenarios::SCENARIOS`] is the list of mail domains and their expected outcomes.

pub mod daemons;
pub mod https;
pub mod openssl;
pub mod pki;
pub mod portfolio;
pub mod postgres;
pub mod process;
pub mod scenarios;
pub mod sender_reports;
pub mod sender_zone;
pub mod senders;
pub mod smtp;
pub mod zones;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemons::Daemon;
use pki::{Error, KeyAlg, Pki};
use scenarios::{Behaviour, Certs, EXPIRING_CERT, Mx, SCENARIOS, Scenario, Tlsa};

/// How to start the world.
#[derive(Debug, Clone)]
pub struct Options {
    /// The second octet of the world's loopback block: `127.<net>.0.0/16`.
    pub net: u8,
    /// The port every SMTP server listens on (the probe's `--smtp-port`). Not 25: the
    /// machines this runs on often run a mail server of their own (Debian's exim holds
    /// 127.0.0.1:25 and [::1]:25; a Postfix with `inet_interfaces = all` holds port 25 on
    /// every address).
    pub smtp_port: u16,
    /// The delay of the `slow-banner` scenario.
    pub banner_delay: Duration,
    /// Start the real Postfix (its scenario is unreachable without it).
    pub postfix: bool,
    /// The port the MTA-STS policy hosts listen on (the probe's `--https-port`); not 443,
    /// for the same reason.
    pub https_port: u16,
    /// Extra signed domains `tenant-1.test` … `tenant-N.test` whose MX is `dane-ee.test`'s
    /// host: many domains that share one mail server, as at a hosting provider.
    pub tenants: usize,
    /// The tenants' MX host instead of `mx.dane-ee.test.` (a scenario's host, absolute):
    /// many domains hurt by one broken mail server.
    pub tenant_mx: Option<&'static str>,
    /// Publish the sender test's zone (`sender_zone`).
    pub sender_test: bool,
    /// A hosting provider's portfolio in `portfolio.test`: many domains over a few shared
    /// mail hosts, and some with their own (`portfolio`; the scale benchmark's).
    pub portfolio: Option<portfolio::Shape>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            net: 53,
            smtp_port: 2525,
            banner_delay: Duration::from_millis(3000),
            postfix: true,
            https_port: 4443,
            tenants: 0,
            tenant_mx: None,
            sender_test: false,
            portfolio: None,
        }
    }
}

/// A scenario as started: its domain and the addresses of its hosts.
#[derive(Debug, Clone)]
pub struct Running {
    pub scenario: &'static Scenario,
    pub domain: String,
    /// `(host name, addresses)` in MX order.
    pub hosts: Vec<(String, Vec<IpAddr>)>,
    /// The scenario's SMTP servers, for [`World::stop_smtp`].
    smtp: Vec<tokio::task::AbortHandle>,
}

/// A running world. Stop it with [`World::stop`]; dropping it also kills its processes.
pub struct World {
    /// The validating resolver to point the probe at (`--resolver`).
    pub resolver: SocketAddr,
    /// The authoritative server, for looking behind the resolver.
    pub authoritative: SocketAddr,
    /// The root zone's DS record (`--trust-anchor`).
    pub trust_anchor: PathBuf,
    /// The world's root CA certificate, PEM (`--pkix-roots`).
    pub root_ca: PathBuf,
    pub root_ca_der: Vec<u8>,
    pub smtp_port: u16,
    pub https_port: u16,
    pub scenarios: Vec<Running>,
    pub dir: PathBuf,
    pub started_in: Duration,
    daemons: Vec<Daemon>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    /// Every session the scenario SMTP servers took (not Postfix's).
    pub sessions: std::sync::Arc<smtp::SessionLog>,
    /// The sender test's zone and what its receivers need, with `Options::sender_test`.
    pub sender_test: Option<sender_zone::SenderTestWorld>,
    /// The portfolio's domains and mail hosts, with `Options::portfolio`.
    pub portfolio: Option<portfolio::Portfolio>,
}

/// The names of [`Options::tenants`] domains.
pub fn tenant_domains(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("tenant-{i}.test")).collect()
}

impl World {
    /// Builds keys, certificates and signed zones, and starts every server. On failure
    /// nothing is left behind: started processes are killed and the files removed.
    pub async fn start(options: Options) -> Result<World, Error> {
        let dir = std::env::temp_dir().join(format!(
            "mxtls-world-{}-{}",
            options.net,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let started = Self::start_in(options, dir.clone()).await;
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    async fn start_in(options: Options, dir: PathBuf) -> Result<World, Error> {
        let began = Instant::now();
        let net = options.net;
        let ip = |c: u8, d: u8| Ipv4Addr::new(127, net, c, d);

        let pki = Pki::new()?;
        // A second PKI nobody is told to trust, for the untrusted policy host.
        let stranger = Pki::new()?;
        let mut next_policy_ip = 1u8;
        let root_ca = dir.join("world-root-ca.pem");
        std::fs::write(&root_ca, &pki.root_pem)?;

        let mut zones = Vec::new();
        let mut running = Vec::new();
        let mut servers = Servers(Vec::new());
        let sessions = std::sync::Arc::new(smtp::SessionLog::default());
        let mut smtp_handles: Vec<tokio::task::AbortHandle> = Vec::new();
        let mut next_ip = 1u8;
        // Each Postfix host: its leaf, name, main.cf tail and address.
        let mut postfixes: Vec<(pki::Leaf, String, &'static str, Ipv4Addr)> = Vec::new();
        for scenario in SCENARIOS {
            let domain = scenario.domain();
            let mut body = String::new();
            let mut hosts = Vec::new();
            // The last host's address and key, for a host that shares its address.
            let mut previous: Option<(Ipv4Addr, String)> = None;
            if scenario.mx == Mx::Null {
                body.push_str("@ IN MX 0 .\n");
            }
            for (i, host) in scenario.hosts.iter().enumerate() {
                let fqdn = if host.label == "@" {
                    domain.clone()
                } else {
                    format!("{}.{domain}", host.label)
                };
                // Where the address and TLSA records live: the alias target for Mx::Cname.
                let (owner, base) = if scenario.mx == Mx::Cname {
                    let _ = writeln!(body, "{} IN CNAME real", host.label);
                    ("real".to_owned(), format!("real.{domain}"))
                } else {
                    (host.label.to_owned(), fqdn.clone())
                };
                if matches!(scenario.mx, Mx::Hosts | Mx::Cname | Mx::Twice) {
                    let _ = writeln!(body, "@ IN MX {} {fqdn}.", 10 * (i + 1));
                }
                if scenario.mx == Mx::Twice {
                    let again = 10 * (i + 1 + scenario.hosts.len());
                    let _ = writeln!(body, "@ IN MX {again} {fqdn}.");
                }
                let v4 = match (host.behaviour, host.unused_address) {
                    _ if host.shares_address && previous.is_some() => {
                        previous.as_ref().map(|(a, _)| *a).unwrap_or(ip(1, 250))
                    }
                    (_, true) => ip(1, 250),
                    (Behaviour::Postfix | Behaviour::PostfixWith(_), _) => {
                        ip(2, postfixes.len() as u8 + 1)
                    }
                    _ => {
                        let a = ip(1, next_ip);
                        next_ip += 1;
                        a
                    }
                };
                let mut addrs = vec![IpAddr::V4(v4)];
                let _ = writeln!(body, "{owner} IN A {v4}");
                if host.two_addresses {
                    let second = ip(1, next_ip);
                    next_ip += 1;
                    addrs.push(IpAddr::V4(second));
                    let _ = writeln!(body, "{owner} IN A {second}");
                }
                if host.ipv6 {
                    addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
                    let _ = writeln!(body, "{owner} IN AAAA ::1");
                }

                let names: Vec<String> = if base == fqdn {
                    vec![fqdn.clone()]
                } else {
                    vec![fqdn.clone(), base.clone()]
                };
                let leaf = match host.certs {
                    Certs::Ecdsa | Certs::Dual => pki.leaf(&names, KeyAlg::Ecdsa, false, true)?,
                    Certs::Expired => pki.leaf(&names, KeyAlg::Ecdsa, true, true)?,
                    Certs::Expiring => {
                        pki.leaf_valid(&names, KeyAlg::Ecdsa, EXPIRING_CERT, true)?
                    }
                    Certs::LeafOnly => pki.leaf(&names, KeyAlg::Ecdsa, false, false)?,
                    Certs::WrongName => pki.leaf(
                        &["mail.elsewhere.test".to_owned()],
                        KeyAlg::Ecdsa,
                        false,
                        true,
                    )?,
                };
                let rsa = match host.certs {
                    Certs::Dual => Some(pki.leaf(&names, KeyAlg::Rsa, false, true)?),
                    _ => None,
                };
                let port_label = if host.tlsa == Tlsa::Wildcard {
                    "*"
                } else {
                    "_25"
                };
                let tlsa_owner = if owner == "@" {
                    format!("{port_label}._tcp")
                } else {
                    format!("{port_label}._tcp.{owner}")
                };
                let records = match &previous {
                    Some((_, spki)) if host.shares_address => vec![format!("3 1 1 {spki}")],
                    _ => tlsa_records(host.tlsa, &leaf, &pki, &names)?,
                };
                for record in records {
                    let _ = writeln!(body, "{tlsa_owner} IN TLSA {record}");
                }
                if host.shares_address {
                    hosts.push((fqdn, addrs));
                    continue;
                }
                previous = Some((v4, leaf.spki_sha256()));

                match host.behaviour {
                    Behaviour::Silent => {}
                    Behaviour::Postfix => postfixes.push((leaf, fqdn.clone(), "", v4)),
                    Behaviour::PostfixWith(tail) => postfixes.push((leaf, fqdn.clone(), tail, v4)),
                    behaviour => {
                        let server = smtp::Server {
                            hostname: fqdn.clone(),
                            behaviour,
                            banner_delay: options.banner_delay,
                            tls: Some(if behaviour == Behaviour::PostQuantum {
                                smtp::post_quantum_config(&leaf)?
                            } else {
                                smtp::tls_config(&leaf, rsa.as_ref())?
                            }),
                            log: sessions.clone(),
                        };
                        // A split host's second address presents another key.
                        let other = if host.split_keys {
                            let other = pki.leaf(&names, KeyAlg::Ecdsa, false, true)?;
                            Some(smtp::Server {
                                tls: Some(smtp::tls_config(&other, None)?),
                                ..server.clone()
                            })
                        } else {
                            None
                        };
                        for (n, a) in addrs.iter().enumerate() {
                            let server = match (&other, n) {
                                (Some(o), 1) => o.clone(),
                                _ => server.clone(),
                            };
                            let listener =
                                smtp::listen(SocketAddr::new(*a, options.smtp_port), server)
                                    .await?;
                            smtp_handles.push(listener.abort_handle());
                            servers.0.push(listener);
                        }
                    }
                }
                hosts.push((fqdn, addrs));
            }
            if let Some(sts) = &scenario.sts {
                for txt in sts.txt {
                    let _ = writeln!(body, "_mta-sts IN TXT \"{txt}\"");
                }
                let addr = ip(3, next_policy_ip);
                next_policy_ip += 1;
                let _ = writeln!(body, "mta-sts IN A {addr}");
                let name = format!("mta-sts.{domain}");
                let issuer = if sts.untrusted { &stranger } else { &pki };
                let leaf = issuer.leaf(&[name], KeyAlg::Ecdsa, false, true)?;
                let host = https::PolicyHost {
                    serve: sts.serve,
                    domain: domain.clone(),
                    tls: smtp::tls_config(&leaf, None)?,
                };
                servers.0.push(
                    https::listen(SocketAddr::new(IpAddr::V4(addr), options.https_port), host)
                        .await?,
                );
            }
            if let Some(rpt) = scenario.tls_rpt {
                let _ = writeln!(body, "_smtp._tls IN TXT \"{rpt}\"");
            }
            // Where the first host's address records live (the alias target for Mx::Cname).
            let first_host = match scenario.hosts.first() {
                Some(_) if scenario.mx == Mx::Cname => format!("real.{domain}."),
                Some(h) if h.label == "@" => format!("{domain}."),
                Some(h) => format!("{}.{domain}.", h.label),
                None => format!("{domain}."),
            };
            zones.push(zones::Zone {
                origin: format!("{domain}."),
                body,
                signing: scenario.signing,
                first_host,
                secondary: scenario.secondary,
            });
            running.push(Running {
                scenario,
                domain,
                hosts,
                smtp: std::mem::take(&mut smtp_handles),
            });
        }

        let tenant_mx = options.tenant_mx.unwrap_or("mx.dane-ee.test.");
        for name in tenant_domains(options.tenants) {
            zones.push(zones::Zone {
                origin: format!("{name}."),
                body: format!("@ IN MX 10 {tenant_mx}\n"),
                signing: scenarios::Signing::Signed,
                first_host: tenant_mx.into(),
                secondary: scenarios::Secondary::None,
            });
        }
        let sender_test = if options.sender_test {
            let (zone, hosts, world) =
                sender_zone::build(&pki, &dir, net, options.smtp_port, options.https_port).await?;
            zones.push(zone);
            servers.0.extend(hosts);
            Some(world)
        } else {
            None
        };
        let portfolio = match options.portfolio {
            Some(shape) => {
                let (zone, hosts, portfolio) =
                    portfolio::build(&pki, net, options.smtp_port, shape, sessions.clone()).await?;
                zones.push(zone);
                servers.0.extend(hosts);
                Some(portfolio)
            }
            None => None,
        };
        let zone_dir = dir.join("zones");
        let signed = zones::build(&zone_dir, ip(0, 2), &zones)?;
        let mut daemons = Vec::new();
        let (nsd, nsd_log) = daemons::nsd(&zone_dir, ip(0, 2), &signed.files)?;
        daemons.push(nsd);
        let authoritative = SocketAddr::new(IpAddr::V4(ip(0, 2)), 53);
        daemons::wait_for_dns(authoritative, Duration::from_secs(10))
            .map_err(|e| with_log(e, &nsd_log))?;
        // The stale secondary serves its old copies; the silent one takes queries and never
        // answers. Unbound never asks either (`do-not-query-address`).
        if !signed.stale.is_empty() {
            let stale_dir = zone_dir.join("stale");
            let ip = ip(0, scenarios::STALE_NS);
            let (nsd, log) = daemons::nsd(&stale_dir, ip, &signed.stale)?;
            daemons.push(nsd);
            daemons::wait_for_dns(SocketAddr::new(IpAddr::V4(ip), 53), Duration::from_secs(10))
                .map_err(|e| with_log(e, &log))?;
        }
        let silent = tokio::net::UdpSocket::bind((ip(0, scenarios::SILENT_NS), 53)).await?;
        servers.0.push(tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while silent.recv_from(&mut buf).await.is_ok() {}
        }));
        let (unbound, unbound_log) =
            daemons::unbound(&dir, ip(0, 1), ip(0, 2), &signed.trust_anchor)?;
        daemons.push(unbound);
        let resolver = SocketAddr::new(IpAddr::V4(ip(0, 1)), 53);
        daemons::wait_for_dns(resolver, Duration::from_secs(10))
            .map_err(|e| with_log(e, &unbound_log))?;

        // The first instance in `postfix/` (its log is the one `logs` shows), the others in
        // `postfix-<n>/`; all started, then each waited for.
        let mut starting = Vec::new();
        for (n, (leaf, hostname, tail, address)) in postfixes.iter().enumerate() {
            if !options.postfix {
                break;
            }
            let files = daemons::PostfixFiles {
                key_pem: &leaf.key_pem,
                chain_pem: &leaf.chain_pem,
                hostname,
                main_cf_tail: tail,
            };
            let name = if n == 0 {
                "postfix".to_owned()
            } else {
                format!("postfix-{}", n + 1)
            };
            let (postfix, log) =
                daemons::postfix(&dir.join(name), *address, options.smtp_port, &files)?;
            daemons.push(postfix);
            starting.push((*address, log));
        }
        for (address, log) in starting {
            wait_for_tcp(
                SocketAddr::new(IpAddr::V4(address), options.smtp_port),
                Duration::from_secs(15),
            )
            .await
            .map_err(|e| with_log(e, &log))?;
        }

        Ok(World {
            resolver,
            authoritative,
            trust_anchor: signed.trust_anchor,
            root_ca,
            root_ca_der: pki.root_der.clone(),
            smtp_port: options.smtp_port,
            https_port: options.https_port,
            scenarios: running,
            dir,
            started_in: began.elapsed(),
            daemons,
            servers: std::mem::take(&mut servers.0),
            sessions,
            sender_test,
            portfolio,
        })
    }

    /// The daemons' logs, for diagnosing a failed test.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for log in ["zones/nsd.log", "unbound.log", "postfix/maillog"] {
            let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let _ = writeln!(out, "--- {log} (last lines) ---");
            for line in tail.into_iter().rev() {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// The scenario named `name` (e.g. `dane-ee`).
    /// The first address of the first MX host of the scenario `domain`: where a test finds
    /// the server it counts sessions at or names in a report.
    pub fn first_address(&self, domain: &str) -> Option<IpAddr> {
        self.scenarios
            .iter()
            .find(|s| s.domain == domain)
            .and_then(|s| s.hosts.first())
            .and_then(|(_, a)| a.first().copied())
    }

    /// Stops the SMTP servers of the scenario `domain` (its mail server goes down), a change
    /// of the world between two checks. Whether the scenario exists.
    pub fn stop_smtp(&self, domain: &str) -> bool {
        let Some(r) = self.scenarios.iter().find(|r| r.domain == domain) else {
            return false;
        };
        for h in &r.smtp {
            h.abort();
        }
        true
    }

    pub fn scenario(&self, name: &str) -> Option<&Running> {
        self.scenarios.iter().find(|s| s.scenario.name == name)
    }

    /// Stops every process and server and removes the world's files.
    pub async fn stop(mut self) {
        for task in self.servers.drain(..) {
            task.abort();
        }
        for daemon in self.daemons.drain(..).rev() {
            daemon.stop().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// What the `mxtls-world` command prints.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "resolver      {}\ntrust anchor  {}\npkix root     {}\nsmtp port     {}\nstarted in    {:.1} s\n\nscenarios:\n",
            self.resolver,
            self.trust_anchor.display(),
            self.root_ca.display(),
            self.smtp_port,
            self.started_in.as_secs_f64()
        );
        for s in &self.scenarios {
            let addrs: Vec<String> = s
                .hosts
                .iter()
                .flat_map(|(_, a)| a.iter().map(IpAddr::to_string))
                .collect();
            let _ = writeln!(
                out,
                "  {:<28} {:<40} {}",
                s.domain,
                s.scenario.summary,
                addrs.join(" ")
            );
        }
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for task in &self.servers {
            task.abort();
        }
        // Daemons are spawned with kill_on_drop.
    }
}

/// Aborts the SMTP server tasks if start-up fails half-way.
struct Servers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Raises the open-files limit to its hard maximum (at most 65536), so that a thousand
/// connections can be open at once (the scale benchmark, on both sides).
pub fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The TLSA records of a host, as zone-file RDATA (`usage selector matching data`).
fn tlsa_records(
    kind: Tlsa,
    leaf: &pki::Leaf,
    pki: &Pki,
    names: &[String],
) -> Result<Vec<String>, Error> {
    let fresh = || {
        pki.leaf(names, KeyAlg::Ecdsa, false, true)
            .map(|l| l.spki_sha256())
    };
    let spki_sha256 = |usage: u8, data: String| format!("{usage} 1 1 {data}");
    Ok(match kind {
        Tlsa::None => Vec::new(),
        Tlsa::Ee | Tlsa::Wildcard => vec![spki_sha256(3, leaf.spki_sha256())],
        Tlsa::Ta => vec![spki_sha256(2, pki.intermediate_spki_sha256())],
        Tlsa::Mismatch => vec![spki_sha256(3, fresh()?)],
        Tlsa::Rollover => vec![spki_sha256(3, leaf.spki_sha256()), spki_sha256(3, fresh()?)],
        Tlsa::PkixOnly => vec![
            spki_sha256(0, pki.root_spki_sha256()),
            spki_sha256(1, leaf.spki_sha256()),
        ],
        Tlsa::Many => {
            use sha2::{Digest, Sha512};
            let mut records: Vec<String> = (0..20)
                .map(|i| {
                    let digest = Sha512::digest(format!("not a key {i}").as_bytes());
                    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                    format!("3 1 2 {hex}")
                })
                .collect();
            records.push(spki_sha256(3, leaf.spki_sha256()));
            records
        }
    })
}

fn with_log(e: Error, log: &std::path::Path) -> Error {
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    format!("{e}\n--- {} ---\n{tail}", log.display()).into()
}

async fn wait_for_tcp(addr: SocketAddr, deadline: Duration) -> Result<(), Error> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("nothing listens on {addr} after {deadline:?}").into())
}
