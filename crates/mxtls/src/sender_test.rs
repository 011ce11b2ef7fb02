//! `mxtls serve --sender-test ZONE …` (the receivers' flags), `mxtls sender-test zone`
//! (what the operator publishes) and `mxtls sender-test watch TOKEN` (a test's verdicts on
//! the terminal, as the page shows them).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mxtls_core::names::DnsName;
use mxtls_core::sender_test::view::SenderTest;
use mxtls_core::sender_test::{Case, Outcome, zone};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The receivers of `mxtls serve`.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Run the sender test for the test domains under ZONE (delegated to this server's
    /// operator and signed; publish what `mxtls sender-test zone` writes).
    #[arg(long, value_name = "ZONE")]
    pub sender_test: Option<String>,
    /// Where the eight receivers listen, one address each, in this order: dane-valid,
    /// dane-mismatch, dnssec-no-tlsa, sts-enforce, sts-wrong-name, starttls-broken,
    /// starttls-stripped, no-starttls (IP or IP:PORT; the port defaults to 25).
    #[arg(long, value_name = "ADDR,…", value_delimiter = ',')]
    pub sender_test_listen: Vec<String>,
    /// The receivers' certificate chain (PEM), valid for `*.ZONE`.
    #[arg(long, value_name = "PEM")]
    pub sender_test_cert: Option<PathBuf>,
    /// The receivers' private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub sender_test_key: Option<PathBuf>,
    /// The addresses the test domains' MX hosts have in the zone, when they differ from the
    /// listening ones (behind NAT or a port forward): 8, in the order of
    /// `--sender-test-listen`.
    #[arg(long, value_name = "IP,…", value_delimiter = ',')]
    pub sender_test_published: Vec<IpAddr>,
    /// How long the receivers listen for a test after it starts, in seconds (60–86400): a
    /// sender that defers comes back within its retry interval.
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub sender_test_window: u64,
}

impl ServeArgs {
    /// The server's settings, or why the flags do not make any.
    pub fn settings(&self) -> Result<Option<mxtls_server::sender_test::Settings>, String> {
        let Some(zone) = &self.sender_test else {
            if !self.sender_test_listen.is_empty()
                || self.sender_test_cert.is_some()
                || self.sender_test_key.is_some()
                || !self.sender_test_published.is_empty()
            {
                return Err("the --sender-test-… flags need --sender-test ZONE".into());
            }
            return Ok(None);
        };
        let zone = DnsName::parse(zone).map_err(|e| format!("--sender-test {zone}: {e}"))?;
        let listen = receivers(&self.sender_test_listen)?;
        let (Some(cert), Some(key)) = (&self.sender_test_cert, &self.sender_test_key) else {
            return Err("--sender-test needs --sender-test-cert and --sender-test-key".into());
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("--sender-test-cert {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "--sender-test-cert {}: no certificate",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("--sender-test-key {}: {e}", key.display()))?;
        Ok(Some(mxtls_server::sender_test::Settings {
            zone,
            listen,
            chain,
            key: std::sync::Arc::new(key),
            window: Duration::from_secs(self.sender_test_window),
            published: match self.sender_test_published.len() {
                0 => Vec::new(),
                8 => Case::ALL
                    .into_iter()
                    .zip(self.sender_test_published.iter().copied())
                    .collect(),
                n => {
                    return Err(format!(
                        "--sender-test-published takes 8 addresses (as --sender-test-listen), not {n}"
                    ));
                }
            },
        }))
    }
}

/// Eight receiver addresses, in [`Case::ALL`]'s order.
fn receivers(list: &[String]) -> Result<Vec<(Case, SocketAddr)>, String> {
    if list.len() != Case::ALL.len() {
        return Err(format!(
            "--sender-test-listen takes {} addresses (one per test domain: {}), not {}",
            Case::ALL.len(),
            Case::ALL.map(Case::label).join(", "),
            list.len()
        ));
    }
    let mut out = Vec::new();
    for (case, text) in Case::ALL.into_iter().zip(list) {
        let text = text.trim();
        let addr = text
            .parse::<SocketAddr>()
            .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 25)))
            .map_err(|_| format!("--sender-test-listen: {text:?} is not IP or IP:PORT"))?;
        if out
            .iter()
            .any(|(_, a): &(Case, SocketAddr)| a.ip() == addr.ip())
        {
            return Err(format!(
                "--sender-test-listen: {} is given twice: each test domain needs its own address",
                addr.ip()
            ));
        }
        out.push((case, addr));
    }
    Ok(out)
}

/// `mxtls sender-test …`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Write what the operator publishes: the test domains' records (for the signed zone)
    /// and the MTA-STS policies (for the web server at mta-sts.<test domain>).
    Zone {
        /// The zone the test domains live under.
        #[arg(long)]
        zone: String,
        /// The receivers' published addresses, as `serve --sender-test-listen` (8, in order).
        #[arg(long, value_name = "ADDR,…", value_delimiter = ',', required = true)]
        addresses: Vec<String>,
        /// The receivers' certificate (PEM): its key is what the TLSA records name.
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// The web server that serves the MTA-STS policies (its addresses).
        #[arg(long = "policy-host", value_name = "IP", value_delimiter = ',')]
        policy_hosts: Vec<IpAddr>,
        /// The MTA-STS policy id (letters and digits; change it with the policies).
        #[arg(long, default_value = "1")]
        sts_id: String,
        /// Write the policies under DIR (`DIR/<domain>/.well-known/mta-sts.txt`) too.
        #[arg(long, value_name = "DIR")]
        policies: Option<PathBuf>,
    },
    /// Follow a test started on the web page (or with `--start`) and print its verdicts.
    Watch {
        /// The test's token (from its page's address, /send-test/TOKEN); omit with --start.
        token: Option<String>,
        /// The mxtls server that runs the test.
        #[arg(long, value_name = "URL", env = "MXTLS_SERVER")]
        server: String,
        /// Start a new test and print the addresses to send to first.
        #[arg(long)]
        start: bool,
        /// Look once and print, instead of following until the receivers stop listening.
        #[arg(long)]
        once: bool,
        /// Print the test (connections and verdicts) as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Zone {
            zone,
            addresses,
            cert,
            policy_hosts,
            sts_id,
            policies,
        } => match write_zone(&zone, &addresses, &cert, policy_hosts, sts_id, policies) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => crate::fail(&e),
        },
        Command::Watch {
            token,
            server,
            start,
            once,
            json,
        } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return crate::fail(&format!("cannot start the runtime: {e}")),
            };
            runtime.block_on(watch(server, token, start, once, json))
        }
    }
}

fn write_zone(
    zone: &str,
    addresses: &[String],
    cert: &PathBuf,
    policy_hosts: Vec<IpAddr>,
    sts_id: String,
    policies: Option<PathBuf>,
) -> Result<String, String> {
    let zone = DnsName::parse(zone).map_err(|e| format!("--zone {zone}: {e}"))?;
    let receivers = receivers(addresses)?;
    let leaf = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("--cert {}: {e}", cert.display()))?
        .next()
        .ok_or_else(|| format!("--cert {}: no certificate", cert.display()))?
        .map_err(|e| format!("--cert {}: {e}", cert.display()))?;
    if sts_id.is_empty() || sts_id.len() > 32 || !sts_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err("--sts-id must be 1 to 32 letters and digits".into());
    }
    let plan = zone::Plan {
        zone: zone.clone(),
        receivers: receivers.iter().map(|(c, a)| (*c, a.ip())).collect(),
        spki_sha256: zone::spki_sha256(&leaf)?,
        policy_hosts,
        sts_id,
    };
    if let Some(dir) = policies {
        for case in Case::ALL {
            if let Some(text) = zone::policy(case, &zone) {
                let path = dir.join(case.domain(&zone).as_str()).join(".well-known");
                std::fs::create_dir_all(&path)
                    .and_then(|()| std::fs::write(path.join("mta-sts.txt"), text))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(zone::records(&plan))
}

async fn watch(
    server: String,
    token: Option<String>,
    start: bool,
    once: bool,
    json: bool,
) -> ExitCode {
    let server = server.trim_end_matches('/').to_owned();
    let mut token = token;
    if start {
        match post_start(&server).await {
            Ok(test) => {
                if !json {
                    println!("Send one message from the server you test to each of:");
                    for (_, address) in test.addresses() {
                        println!("  {address}");
                    }
                    println!("Result: {server}/send-test/{}\n", test.token);
                }
                token = Some(test.token);
            }
            Err(e) => return crate::fail(&e),
        }
    }
    let Some(token) = token else {
        return crate::fail("give the test's TOKEN, or --start");
    };
    let url = format!("{server}/api/sender-tests/{token}");
    let mut printed = 0;
    loop {
        let test = match fetch(&url).await {
            Ok(t) => t,
            Err(e) => return crate::fail(&e),
        };
        // Connections only ever join a test: the new ones are those past the last count.
        let lines = text(&test);
        if !json {
            for line in lines.iter().skip(printed) {
                println!("{line}");
            }
        }
        printed = lines.len();
        if once || !test.listening() {
            if json {
                println!("{}", to_json(&test));
            } else {
                println!("\n{}\n{}", test.summary(), summary(&test));
            }
            // A test domain broken on the server's side is not the sender's failure.
            let bad = test.verdicts().iter().any(|v| {
                v.outcome == Outcome::Bad && !test.published.iter().any(|p| p.case == v.case)
            });
            return ExitCode::from(if bad { 1 } else { 0 });
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

async fn fetch(url: &str) -> Result<SenderTest, String> {
    let (status, body) = mxtls_server::notify::get(url, 4 << 20, Duration::from_secs(20)).await?;
    if status != 200 {
        let why = serde_json::from_slice::<mxtls_core::api::ApiError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the server answered {status}"));
        return Err(format!("{url}: {why}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not a sender test: {e}"))
}

async fn post_start(server: &str) -> Result<SenderTest, String> {
    let url = format!("{server}/api/sender-tests");
    let (status, body) =
        mxtls_server::notify::post(&url, "{}".into(), 1 << 20, Duration::from_secs(20)).await?;
    if status != 201 {
        let why = serde_json::from_slice::<mxtls_core::api::ApiError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the server answered {status}"));
        return Err(format!("{url}: {why}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not a sender test: {e}"))
}

/// One line per connection, in the order they happened.
fn text(test: &SenderTest) -> Vec<String> {
    test.connections
        .iter()
        .map(|c| {
            format!(
                "  {} {:<18} {}",
                clock(c.at.0),
                c.case.label(),
                mxtls_core::present::sender_test_connection(c)
            )
        })
        .collect()
}

/// `HH:MM:SS` (UTC) of a Unix time.
fn clock(at: i64) -> String {
    let day = at.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

/// The verdict per test domain; those whose published records are broken are not judged.
fn summary(test: &SenderTest) -> String {
    let mut out = String::new();
    for v in test.verdicts() {
        let broken = test.published.iter().filter(|p| p.case == v.case).count();
        let (mark, words) = if broken > 0 {
            ("?", mxtls_core::sender_test::view::NOT_JUDGED.to_owned())
        } else {
            let mark = match v.outcome {
                Outcome::Good => "ok",
                Outcome::Bad => "BAD",
                Outcome::Neutral => "-",
                Outcome::Waiting => "…",
            };
            (mark, v.words.clone())
        };
        out.push_str(&format!("{mark:>4}  {:<18} {words}\n", v.case.label()));
    }
    out
}

fn to_json(test: &SenderTest) -> String {
    let verdicts: Vec<serde_json::Value> = test
        .verdicts()
        .into_iter()
        .map(|v| {
            serde_json::json!({
                "case": v.case.label(),
                "outcome": v.outcome.id(),
                "verdict": v.words,
                "judged": !test.published.iter().any(|p| p.case == v.case),
            })
        })
        .collect();
    serde_json::json!({ "test": test, "summary": test.summary(), "verdicts": verdicts }).to_string()
}
