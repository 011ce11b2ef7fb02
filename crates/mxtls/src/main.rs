//! `mxtls`: the command line.
//!
//! * `mxtls check DOMAIN` probes the domain's mail servers and prints the report.
//! * `mxtls analyse FILE` judges stored evidence (a snapshot, or `--json` output) and prints
//!   the report; this is how a probe run is re-judged by newer analysis.
//! * `mxtls tls-rpt FILE...` reads senders' TLS-RPT reports and holds them against the
//!   domain's evidence (`--evidence`, or a fresh check).
//! * `mxtls batch FILE` checks a list of domains, sharing mail servers' sessions.
//! * `mxtls serve` serves the web checker.
//!
//! With `--server URL` (or `MXTLS_SERVER`), `check` and `analyse` end the report with the
//! domain's watch page on that server (`watch_url` in the JSON; null without a server).
//!
//! With `--nagios`, one monitoring-plugin line and its statuses instead: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. Otherwise, exit status: 0 no error findings, 1 error findings, 2 bad input or usage, 3 no mail server
//! could be tested (every address refused by the target policy, unreachable or limiting the
//! probe) and DNS shows no error: the report says what DNS alone shows.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod batch;
mod probe_flags;
mod sender_test;
mod service;
mod settings;
use mxtls_core::pkix::RootSet;
use mxtls_core::{Evidence, Horizon, Report, UnixTime, analyse, analyse_over, render};
use probe_flags::{ClusterArgs, ProbeArgs};

#[derive(Parser)]
#[command(
    name = "mxtls",
    version,
    about = "Is mail to your domain protected by authenticated TLS?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A TOML file of settings (see `settings`): a flag or an `MXTLS_…` variable overrides it.
    #[arg(long, global = true, value_name = "FILE", env = "MXTLS_CONFIG")]
    config: Option<PathBuf>,
}

// Parsed once per process: the size of its largest variant (`serve`'s flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check a mail domain: every MX host and address, STARTTLS, certificates, DANE.
    Check {
        /// The mail domain (Unicode names are converted to A-labels).
        domain: String,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        probe: ProbeArgs,
    },
    /// Judge stored evidence (JSON) and print the report.
    Analyse {
        /// Evidence JSON file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        /// Judge as of this Unix time instead of when the evidence was gathered.
        #[arg(long)]
        at: Option<i64>,
    },
    /// Read TLS-RPT reports (RFC 8460; JSON or .json.gz) and hold them against the domain's
    /// evidence: what senders saw that the probe sees too, or does not (STARTTLS stripped on
    /// their path).
    TlsRpt {
        /// Report files (JSON or gzip), one or more; `-` reads one from standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The domain's evidence (what `mxtls analyse` takes); without it, the reports' policy
        /// domain is checked first.
        #[arg(long, value_name = "EVIDENCE.json")]
        evidence: Option<PathBuf>,
        /// Print the summary and findings as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        probe: ProbeArgs,
    },
    /// Serve the web checker.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The built web app (Trunk's output directory).
        #[arg(long, default_value = "dist")]
        web_dir: PathBuf,
        /// The store: a SQLite file (the default; made if missing), or a PostgreSQL URL
        /// (`postgres://user:password@host/db`) that every instance of a cluster shares.
        #[arg(long, value_name = "PATH|URL", default_value = "mxtls.sqlite")]
        db: String,
        /// A domain the home page offers as an example (repeatable).
        #[arg(long = "example", value_name = "DOMAIN", value_delimiter = ',')]
        examples: Vec<String>,
        /// Reverse proxies (address blocks, e.g. 10.0.0.0/8 or ::1) whose `Forwarded` /
        /// `X-Forwarded-For` headers name the client; from anyone else they are ignored.
        #[arg(long = "trusted-proxy", value_name = "CIDR", num_args = 1.., value_delimiter = ',')]
        trusted_proxies: Vec<mxtls_server::Cidr>,
        /// How often each watched domain is checked again, in seconds (60–604800; ± a
        /// tenth at random).
        #[arg(long, default_value_t = 21_600, value_parser = clap::value_parser!(u64).range(60..=604_800))]
        watch_interval: u64,
        /// The SMTP relay that takes notification mail (a local MTA, e.g. 127.0.0.1:25);
        /// without it, watches can only use webhooks.
        #[arg(long, value_name = "HOST:PORT")]
        smtp_relay: Option<std::net::SocketAddr>,
        /// The sender address of notification mail.
        #[arg(long, default_value = "mxtls@localhost")]
        mail_from: String,
        /// The URL people reach this server at, for links in mail, webhooks and feeds
        /// (default: http://LISTEN).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Take TLS-RPT reports at /tlsrpt/DOMAIN for every domain, not only watched ones.
        #[arg(long)]
        accept_tls_rpt: bool,
        /// Address blocks besides loopback that may read /metrics (a Prometheus server).
        #[arg(long = "metrics-from", value_name = "CIDR", num_args = 1.., value_delimiter = ',')]
        metrics_from: Vec<mxtls_server::Cidr>,
        /// SMTP sessions this server opens to one tested address per minute, over all its
        /// checks (1–60; a check takes 2 or 3), one at a time; an address that answers 421
        /// or refuses the connection is left alone longer. Checks beyond it wait, and say so.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=60))]
        target_sessions: u64,
        /// Checks this instance's probe runs at once (1–512); a batch uses only the free ones
        /// beyond half.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=512))]
        max_checks: u64,
        /// With a PostgreSQL store: serve the API and pages only, and leave the probing to
        /// `mxtls worker` processes.
        #[arg(long)]
        no_probe: bool,
        /// How postmasters reach the operator to opt a host out (a mail address or a URL),
        /// shown on /about/probe.
        #[arg(long, value_name = "MAIL|URL")]
        operator_contact: Option<String>,
        /// Print the effective settings (flag > environment > file > default, secrets
        /// masked) and exit.
        #[arg(long)]
        print_config: bool,
        /// An operator's API token for batches (`POST /api/batches` with `Authorization:
        /// Bearer TOKEN`), as NAME=TOKEN (repeatable); without one the server takes none.
        #[arg(long = "batch-token", value_name = "NAME=TOKEN", value_delimiter = ',')]
        batch_tokens: Vec<String>,
        #[command(flatten)]
        sender_test: sender_test::ServeArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        probe: ProbeArgs,
    },
    /// Check a list of domains (a portfolio), sharing each mail server's sessions among the
    /// domains that use it; one row per domain.
    Batch(batch::Args),
    /// The sender test: what to publish for its zone, and a test's verdicts.
    SenderTest {
        #[command(subcommand)]
        command: sender_test::Command,
    },
    /// Exit 0 if the server at `--listen` answers `/healthz` with 200 within 5 s, else 1: a
    /// container's health check, without curl in the image.
    Healthcheck {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Bring the store's schema up to this version's (what `serve` and `worker` do when they
    /// start), ahead of a rolling upgrade: run it once, then restart the instances one by one.
    Migrate {
        /// The store: a SQLite file or a PostgreSQL URL, as `serve --db`.
        #[arg(long, value_name = "PATH|URL", default_value = "mxtls.sqlite")]
        db: String,
    },
    /// Run the checks of a cluster: jobs queued by `mxtls serve` instances in the shared
    /// PostgreSQL store, probed here (`--vantage` names where, in the evidence).
    Worker {
        /// The cluster's store: a PostgreSQL URL.
        #[arg(long, value_name = "URL")]
        db: String,
        /// SMTP sessions this worker opens to one tested address per minute (1–60), one at a
        /// time; as for `serve`.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=60))]
        target_sessions: u64,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        probe: ProbeArgs,
    },
}

/// What to print and how far ahead to look: shared by `check` and `analyse`.
#[derive(clap::Args)]
struct OutputArgs {
    /// Print the report and its evidence as JSON.
    #[arg(long, conflicts_with = "nagios")]
    json: bool,
    /// Print one monitoring-plugin status line with performance data and exit 0 OK,
    /// 1 WARNING, 2 CRITICAL or 3 UNKNOWN (Nagios, Icinga, Zabbix, Uptime Kuma).
    #[arg(long)]
    nagios: bool,
    /// Report what stops working within DAYS (0–3650; 0: nothing ahead). Without it:
    /// 30 days for certificates and renewals, 3 days for DNSSEC signatures.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    horizon: Option<u32>,
    /// An mxtls server (`mxtls serve`, e.g. https://mxtls.example) where the domain can be
    /// watched: the text report ends with its watch page ("To be told when this changes:
    /// URL/d/DOMAIN/watch") and the JSON report gets it as `watch_url`, which is null without
    /// a server. `--nagios` prints its one line only.
    #[arg(long, value_name = "URL", env = "MXTLS_SERVER", value_parser = server_url)]
    server: Option<String>,
}

/// A `--server` URL: http or https with a host, without a trailing slash.
fn server_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("the server must be an http:// or https:// URL")?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the server URL has no host".into());
    }
    Ok(url.to_owned())
}

impl OutputArgs {
    fn horizon(&self) -> Horizon {
        self.horizon
            .map(|days| Horizon::Days { days })
            .unwrap_or_default()
    }

    /// The watch page of `domain` on `--server`, if one was given.
    fn watch_url(&self, domain: &str) -> Option<String> {
        let server = self.server.as_deref().filter(|s| !s.is_empty())?;
        Some(format!(
            "{server}/d/{}/watch",
            mxtls_core::route::percent_encode(domain)
        ))
    }
}

/// Exit statuses promised by the design.
pub(crate) const EXIT_ERRORS: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_TESTED: u8 = 3;

fn main() -> ExitCode {
    // A monitoring plugin reports bad usage as UNKNOWN (3), never as CRITICAL (2).
    let plugin = std::env::args().any(|a| a == "--nagios");
    use clap::{CommandFactory, FromArgMatches};
    let cmd = settings::with_env(Cli::command());
    let from_file = match settings::apply_file(&cmd, std::env::args_os().collect()) {
        Ok(f) => f,
        Err(e) if plugin => return unknown(&e),
        Err(e) => {
            eprintln!("mxtls: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let parsed = cmd
        .clone()
        .try_get_matches_from(&from_file.args)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if plugin && e.use_stderr() => {
            return unknown(&e.kind().to_string());
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    if let Command::Serve {
        print_config: true, ..
    } = &cli.command
        && let (Some(sub), Some(m)) = (
            cmd.find_subcommand("serve"),
            matches.subcommand_matches("serve"),
        )
    {
        print!("{}", settings::print(sub, m, &from_file.given));
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Command::Check {
            domain,
            output,
            probe,
        } => {
            let fail = |e: &str| {
                if output.nagios { unknown(e) } else { fail(e) }
            };
            let domain = match mxtls_core::names::parse_user_domain(&domain) {
                Ok(d) => d,
                Err(e) => return fail(&e),
            };
            match probe.config(false, false) {
                Ok(config) => check(&domain, &config, &output),
                Err(e) => fail(&e),
            }
        }
        Command::Analyse { file, output, at } => analyse_file(&file, &output, at),
        Command::TlsRpt {
            files,
            evidence,
            json,
            probe,
        } => tls_rpt(&files, evidence.as_deref(), json, probe),
        Command::Serve {
            listen,
            web_dir,
            db,
            examples,
            trusted_proxies,
            watch_interval,
            smtp_relay,
            mail_from,
            public_url,
            accept_tls_rpt,
            metrics_from,
            target_sessions,
            max_checks,
            no_probe,
            operator_contact,
            print_config: _,
            batch_tokens,
            sender_test,
            cluster: cluster_args,
            probe,
        } => {
            let sender_test = match sender_test.settings() {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let batch_tokens = match batch::tokens(&batch_tokens) {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            let mut probe = match probe.config(true, true) {
                Ok(p) => p,
                Err(e) => return fail(&e),
            };
            probe.posture.reuse_max_age =
                std::time::Duration::from_secs(cluster_args.posture_reuse);
            mxtls_server::log::set_format(cluster_args.log_format);
            probe.budget = Some(std::sync::Arc::new(mxtls_probe::budget::LocalBudget::new(
                target_sessions as usize,
                std::time::Duration::from_secs(cluster_args.target_window),
            )));
            probe.vantage = cluster_args.vantage.clone();
            probe.reuse_max_age = std::time::Duration::from_secs(cluster_args.target_reuse);
            let cluster = if mxtls_server::store::is_postgres_url(&db) {
                mxtls_server::ClusterMode::Cluster {
                    probe: !no_probe,
                    worker: cluster_args.worker(target_sessions),
                }
            } else if no_probe {
                return fail("--no-probe needs a PostgreSQL store (--db postgres://…) and workers");
            } else {
                mxtls_server::ClusterMode::Single
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            let allow_private_targets = probe.allow_private_targets;
            let config = mxtls_server::Config {
                listen,
                web_dir,
                db,
                probe,
                examples,
                trusted_proxies: mxtls_server::TrustedProxies(trusted_proxies),
                public_url,
                watch: mxtls_server::watches::WatchLimits {
                    interval: std::time::Duration::from_secs(watch_interval),
                    ..Default::default()
                },
                delivery: mxtls_server::notify::Delivery {
                    allow_private_targets,
                    smtp_relay,
                    mail_from,
                },
                accept_tls_rpt_for_all: accept_tls_rpt,
                metrics_from,
                cluster,
                limits: mxtls_server::Limits {
                    max_concurrent_checks: max_checks as usize,
                    ..mxtls_server::Limits::default()
                },
                operator: mxtls_server::about::Operator {
                    contact: operator_contact,
                    target_sessions,
                    target_window: std::time::Duration::from_secs(cluster_args.target_window),
                },
                sender_test,
                batch_tokens,
            };
            match runtime.block_on(mxtls_server::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("cannot serve on {listen}: {e}")),
            }
        }
        Command::Migrate { db } => service::migrate(&db),
        Command::Healthcheck { listen } => service::healthcheck(listen),
        Command::SenderTest { command } => sender_test::run(command),
        Command::Batch(args) => batch::run(args),
        Command::Worker {
            db,
            target_sessions,
            cluster,
            probe,
        } => {
            if !mxtls_server::store::is_postgres_url(&db) {
                return fail("a worker needs the cluster's PostgreSQL store (--db postgres://…)");
            }
            let mut probe = match probe.config(true, true) {
                Ok(p) => p,
                Err(e) => return fail(&e),
            };
            probe.posture.reuse_max_age = std::time::Duration::from_secs(cluster.posture_reuse);
            mxtls_server::log::set_format(cluster.log_format);
            // The worker counts sessions in the store (cluster::work sets the budget).
            probe.vantage = cluster.vantage.clone();
            probe.reuse_max_age = std::time::Duration::from_secs(cluster.target_reuse);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            let worker = cluster.worker(target_sessions);
            match runtime.block_on(async {
                let store = mxtls_server::snapshots::Store::connect(&db).await?;
                eprintln!("mxtls: worker {} probing the cluster's jobs", worker.name);
                let stop = mxtls_server::stop_signal();
                mxtls_server::cluster::work(std::sync::Arc::new(store), probe, worker, stop).await;
                Ok::<(), mxtls_server::store::StoreError>(())
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("the store: {e}")),
            }
        }
    }
}

fn check(
    domain: &mxtls_core::names::DnsName,
    config: &mxtls_probe::Config,
    output: &OutputArgs,
) -> ExitCode {
    let fail = |e: &str| {
        if output.nagios { unknown(e) } else { fail(e) }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let show_progress = !output.json && !output.nagios && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let evidence = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if show_progress {
                    eprintln!("  {}", mxtls_core::present::progress_line(&event));
                }
            }
        });
        let result = mxtls_probe::check(domain, config, Some(tx)).await;
        let _ = printer.await;
        result
    });
    let evidence = match evidence {
        Ok(e) => e,
        Err(e) => return fail(&e.to_string()),
    };
    let took = started.elapsed().as_secs_f64();
    print_report(&evidence, evidence.probe.finished_at, output, Some(took))
}

pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("mxtls: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// A setup error in monitoring-plugin mode: UNKNOWN, on standard output as plugins report.
fn unknown(message: &str) -> ExitCode {
    println!("MXTLS UNKNOWN - {}", message.replace(['\n', '|'], " "));
    ExitCode::from(mxtls_core::present::PluginState::Unknown.code())
}

fn analyse_file(file: &PathBuf, output: &OutputArgs, at: Option<i64>) -> ExitCode {
    let fail = |e: &str| {
        if output.nagios { unknown(e) } else { fail(e) }
    };
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
    };
    let evidence = match Evidence::from_json(&text) {
        Ok(e) => e,
        Err(e) => return fail(&format!("{}: {e}", file.display())),
    };
    print_report(
        &evidence,
        at.map(UnixTime).unwrap_or(evidence.probe.finished_at),
        output,
        None,
    )
}

/// Judges `evidence` as of `now` over the chosen horizon, prints the report (JSON, a plugin
/// line, or text with colour only on a terminal without NO_COLOR) and returns the exit
/// status it calls for.
/// `took`: how long the probe ran, where it ran here (else from the evidence's times).
fn print_report(
    evidence: &Evidence,
    now: UnixTime,
    output: &OutputArgs,
    took: Option<f64>,
) -> ExitCode {
    let report = analyse_over(evidence, now, &RootSet::mozilla(), output.horizon());
    if output.nagios {
        let took = took
            .unwrap_or((evidence.probe.finished_at.0 - evidence.probe.started_at.0).max(0) as f64);
        println!("{}", render::nagios(&report, took));
        return ExitCode::from(mxtls_core::present::plugin_state(&report).code());
    }
    let watch_url = output.watch_url(report.domain.as_str());
    if output.json {
        println!("{}", to_json(&report, evidence, watch_url.as_deref()));
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render::text(&report, colour));
        if let Some(url) = watch_url {
            println!("\nTo be told when this changes: {url}");
        }
    }
    if report.has_errors() {
        ExitCode::from(EXIT_ERRORS)
    } else if report.summary.status == mxtls_core::report::Status::NotTested {
        ExitCode::from(EXIT_NOT_TESTED)
    } else {
        ExitCode::SUCCESS
    }
}

/// `mxtls tls-rpt`: reads every report (exit 2 if one cannot be read), gets the evidence (a
/// file, or a check of the reports' policy domain), judges, prints.
fn tls_rpt(
    files: &[PathBuf],
    evidence: Option<&std::path::Path>,
    json: bool,
    probe: ProbeArgs,
) -> ExitCode {
    use mxtls_core::tls_rpt::report;
    let mut reports = Vec::new();
    for file in files {
        let bytes = if file.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map(|_| b)
        } else {
            std::fs::read(file)
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
        };
        match report::parse_bytes(&bytes) {
            Ok(r) => reports.push(r),
            Err(e) => return fail(&format!("{}: not a TLS-RPT report: {e}", file.display())),
        }
    }
    let evidence = match evidence {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Evidence::from_json(&t).map_err(|e| e.to_string()))
        {
            Ok(e) => e,
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        },
        None => {
            let Some(domain) = reports
                .iter()
                .flat_map(|r| &r.policies)
                .map(|p| p.policy_domain.as_str())
                .find(|d| !d.is_empty())
            else {
                return fail("the reports name no policy domain; give --evidence");
            };
            let domain = match mxtls_core::names::parse_user_domain(domain) {
                Ok(d) => d,
                Err(e) => return fail(&e),
            };
            let config = match probe.config(false, false) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            match runtime.block_on(mxtls_probe::check(&domain, &config, None)) {
                Ok(e) => e,
                Err(e) => return fail(&e.to_string()),
            }
        }
    };
    let judged = analyse(&evidence, evidence.probe.finished_at);
    let findings = mxtls_core::analysis::judge_reports(&reports, &evidence, &judged);
    if json {
        #[derive(serde::Serialize)]
        struct Output<'a> {
            domain: &'a str,
            reports: &'a [report::AggregateReport],
            summary: Vec<report::SummaryRow>,
            findings: &'a [mxtls_core::Finding],
            evidence: &'a Evidence,
        }
        let out = Output {
            domain: evidence.domain.as_str(),
            reports: &reports,
            summary: report::summarise(&report::about(&reports, evidence.domain.as_str())),
            findings: &findings,
            evidence: &evidence,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!(
            "{}",
            render::tls_rpt_text(evidence.domain.as_str(), &reports, &findings, colour)
        );
    }
    if findings
        .iter()
        .any(|f| f.severity == mxtls_core::Severity::Error)
    {
        ExitCode::from(EXIT_ERRORS)
    } else if judged.summary.status == mxtls_core::report::Status::NotTested {
        ExitCode::from(EXIT_NOT_TESTED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The report with its evidence beside it, as `mxtls check --json` will print it, and the
/// domain's watch page on `--server` (null without one).
fn to_json(report: &Report, evidence: &Evidence, watch_url: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct Output<'a> {
        #[serde(flatten)]
        report: &'a Report,
        evidence: &'a Evidence,
        watch_url: Option<&'a str>,
    }
    serde_json::to_string_pretty(&Output {
        report,
        evidence,
        watch_url,
    })
    .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
