//! The flags that say how a process probes: the network settings every probing command
//! takes (`ProbeArgs`: resolver, trust anchor, identity, opt-out list…) and a cluster
//! process's (`ClusterArgs`).

use std::path::PathBuf;

/// How a process of a cluster probes: shared by `serve` and `worker`.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// Where this process probes from, recorded in the evidence (e.g. `eu-west`).
    #[arg(long, value_name = "NAME")]
    pub vantage: Option<String>,
    /// Checks probed at once by this process (1–64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
    /// Seconds a claimed job stays this process's without renewal (renewed every third):
    /// how soon a job whose worker died is taken again (3–600).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease: u64,
    /// When a check would exceed an address's session budget, use that address's sessions
    /// from a stored check at most this many seconds old instead of waiting (the report
    /// says so, with their age); 0: always wait (0–86400).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub target_reuse: u64,
    /// Reuse an address's TLS posture from a stored check at most this many seconds old
    /// instead of asking again (posture changes rarely; a server that now answers the main
    /// session with another version or suite is asked afresh); 0: always ask (0–2592000).
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(0..=2_592_000))]
    pub posture_reuse: u64,
    /// The window of `--target-sessions`, in seconds (1–3600; tests shorten it).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub target_window: u64,
    /// How the log is written to standard error: `text`, or `json` (one object per line:
    /// time, level, msg, and a check's check, domain, client and outcome).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: mxtls_server::log::Format,
}

impl ClusterArgs {
    pub fn worker(&self, target_sessions: u64) -> mxtls_server::cluster::WorkerConfig {
        let mut w = mxtls_server::cluster::WorkerConfig::new(self.jobs as usize);
        w.lease = std::time::Duration::from_secs(self.lease);
        w.target_sessions = target_sessions as usize;
        w.target_window = std::time::Duration::from_secs(self.target_window);
        w
    }
}

/// How checks reach the network: shared by `check` and `serve`.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Upstream resolver, IP or IP:PORT (default: the system's).
    #[arg(long)]
    pub resolver: Option<String>,
    /// Root trust anchor: DNSKEY or DS records for `.` (default: the IANA root keys).
    #[arg(long)]
    pub trust_anchor: Option<PathBuf>,
    /// Connect to non-public addresses (test worlds only).
    #[arg(long)]
    pub allow_private_targets: bool,
    /// Extra PKIX roots (PEM certificates), e.g. a test world's CA.
    #[arg(long)]
    pub pkix_roots: Option<PathBuf>,
    /// SMTP port (tests only; mail uses 25).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: u16,
    /// HTTPS port of the MTA-STS policy host (tests only; senders use 443).
    #[arg(long, default_value_t = 443, value_parser = clap::value_parser!(u16).range(1..))]
    pub https_port: u16,
    /// Deadline for the whole check, in seconds (1–600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Ask each address's TLS posture — versions, weak suites, server order, post-quantum
    /// key exchange — in at most 6 more sessions per address, after the others: on in
    /// `serve` and `worker` (`--posture=false` turns it off), off in `check` (`--posture`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub posture: Option<bool>,
    /// The name the probe gives in EHLO (default: this machine's fully qualified name).
    /// Receivers distrust a name that does not resolve to the source address, or whose
    /// address's reverse DNS does not name it; `serve` and `worker` refuse `.invalid`.
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    /// The IPv4 address every SMTP, HTTPS and DNS connection of the probe leaves from
    /// (default: the kernel's choice): the address postmasters see and may allow.
    #[arg(long, value_name = "ADDR")]
    pub source_ipv4: Option<std::net::Ipv4Addr>,
    /// As `--source-ipv4`, for IPv6.
    #[arg(long, value_name = "ADDR")]
    pub source_ipv6: Option<std::net::Ipv6Addr>,
    /// Hosts never to connect to, one per line: a host name, `*.zone`, an address or an
    /// address block (`#` comments). Read again when the file changes; in a cluster, shared
    /// through the store with every worker. The report says the host was opted out.
    #[arg(long, value_name = "FILE")]
    pub never_probe: Option<PathBuf>,
}

impl ProbeArgs {
    /// The probe's configuration; `posture` unless `--posture` said otherwise. A `public`
    /// probe (`serve`, `worker`) may not call itself by a name under `.invalid`.
    pub fn config(self, posture: bool, public: bool) -> Result<mxtls_probe::Config, String> {
        let helo = match &self.ehlo {
            Some(name) => mxtls_core::names::DnsName::parse(name)
                .map_err(|e| format!("--ehlo: {e}"))?
                .to_string(),
            None => mxtls_probe::identity::machine_name()
                .ok_or("this machine has no host name to give in EHLO: give --ehlo NAME")?,
        };
        if public {
            mxtls_probe::identity::public_ehlo(&helo)?;
        }
        let source = mxtls_probe::identity::SourceAddrs {
            v4: self.source_ipv4,
            v6: self.source_ipv6,
        };
        source.check_local()?;
        let never_probe = match &self.never_probe {
            Some(path) => Some(std::sync::Arc::new(
                mxtls_probe::never_probe::NeverProbeFile::open(path)
                    .map_err(|e| format!("--never-probe: {e}"))?,
            )
                as std::sync::Arc<dyn mxtls_probe::never_probe::OptOut>),
            None => None,
        };
        Ok(mxtls_probe::Config {
            never_probe,
            helo,
            source,
            resolver: self.resolver.as_deref().map(parse_resolver).transpose()?,
            trust_anchor: self.trust_anchor,
            allow_private_targets: self.allow_private_targets,
            smtp_port: self.smtp_port,
            https_port: self.https_port,
            timeout: std::time::Duration::from_secs(self.timeout),
            extra_pkix_roots: self
                .pkix_roots
                .as_deref()
                .map(read_pem_certs)
                .transpose()?
                .unwrap_or_default(),
            posture: mxtls_probe::PostureConfig {
                ask: self.posture.unwrap_or(posture),
                ..Default::default()
            },
            ..mxtls_probe::Config::default()
        })
    }
}

pub fn parse_resolver(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse::<std::net::SocketAddr>()
        .or_else(|_| {
            text.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("--resolver {text:?} is not IP or IP:PORT"))
}

pub fn read_pem_certs(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<Vec<u8>>, _> = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect();
    let certs = certs.map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate found", path.display()));
    }
    Ok(certs)
}
