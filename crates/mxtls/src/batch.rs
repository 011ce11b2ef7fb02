//! `mxtls batch FILE`: a portfolio of domains checked politely from this machine. Each
//! domain's DNS is its own; an MX address's sessions are shared — once its per-address
//! budget is spent (`--target-sessions` a minute, one at a time), a check reuses what another
//! domain's check saw there a moment ago (the probe's `RecentEvidence` seam, over the
//! snapshots this command keeps), so a portfolio on a few shared mail servers opens about
//! those servers' worth of sessions. Within a run, any of its sessions may be reused; an
//! earlier run's, kept in `--db`, only when at most `--target-reuse` seconds old (default
//! 0: each run sees each server afresh at least once). Rows come out in the file's order: JSON lines
//! (`--json`), CSV (`--csv`) or a table; a progress line on a terminal's standard error.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mxtls_core::batch::{self, Row};
use mxtls_core::pkix::RootSet;

use crate::probe_flags::ProbeArgs;

/// Domains one batch takes (as the server's batches).
pub const MAX_DOMAINS: usize = 100_000;

#[derive(clap::Args)]
pub struct Args {
    /// One domain per line (`#` starts a comment); `-` reads standard input.
    pub file: PathBuf,
    /// One JSON object per domain and line: domain, status (`summary.status`'s state, or
    /// `error`), answer, codes, snapshot, reused.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header line.
    #[arg(long)]
    pub csv: bool,
    /// Checks running at once (1–64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub parallel: u64,
    /// SMTP sessions to one address per minute (1–60), one at a time; over it, sessions
    /// are reused.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub target_sessions: u64,
    /// Keep every domain's evidence in this SQLite store (a snapshot id per row); without
    /// it they are kept in memory for the run only.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Also reuse sessions an earlier run kept in `--db`, when at most this many seconds old
    /// (0–86400); this run's own sessions are reused whatever their age.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub target_reuse: u64,
    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// The domains of `text`, each once, in order; lines that are not domains become error rows
/// at their place.
fn domains(text: &str) -> Vec<Result<mxtls_core::names::DnsName, Row>> {
    let mut seen = HashSet::new();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| match mxtls_core::names::parse_user_domain(l) {
            Ok(d) => seen.insert(d.clone()).then_some(Ok(d)),
            Err(e) => Some(Err(batch::failed(l, &e))),
        })
        .collect()
}

pub fn run(args: Args) -> ExitCode {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return crate::fail(&format!("cannot read {}: {e}", args.file.display())),
    };
    let list = domains(&text);
    if list.is_empty() {
        return crate::fail(&format!("{}: no domains", args.file.display()));
    }
    if list.len() > MAX_DOMAINS {
        return crate::fail(&format!(
            "{}: {} domains; a batch takes at most {MAX_DOMAINS}",
            args.file.display(),
            list.len()
        ));
    }
    let mut probe = match args.probe.config(false, false) {
        Ok(p) => p,
        Err(e) => return crate::fail(&e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return crate::fail(&format!("cannot start the runtime: {e}")),
    };
    let db = args
        .db
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ":memory:".into());
    let store = match runtime.block_on(mxtls_server::snapshots::Store::connect(&db)) {
        Ok(s) => Arc::new(s),
        Err(e) => return crate::fail(&format!("the store ({db}): {e}")),
    };
    probe.budget = Some(Arc::new(mxtls_probe::budget::LocalBudget::new(
        args.target_sessions as usize,
        Duration::from_secs(60),
    )));
    probe.reuse_first = true;
    probe.reuse = Some(Arc::new(RunRecent {
        store: store.clone(),
        started: unix_now(),
        across: args.target_reuse as i64,
    }));
    let total = list.len();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let roots = Arc::new(RootSet::mozilla());
    let mut out = std::io::stdout().lock();
    if args.csv {
        let _ = writeln!(out, "{}", batch::CSV_HEADER);
    }
    let mut rows = Vec::with_capacity(total);
    runtime.block_on(async {
        let probe = Arc::new(probe);
        let mut stream = futures_util::stream::iter(list)
            .map(|item| {
                let (probe, store, roots, done) =
                    (probe.clone(), store.clone(), roots.clone(), done.clone());
                async move {
                    let row = match item {
                        Err(row) => row,
                        Ok(domain) => one(&domain, &probe, &store, &roots).await,
                    };
                    done.fetch_add(1, Ordering::Relaxed);
                    row
                }
            })
            .buffered(args.parallel as usize);
        while let Some(row) = stream.next().await {
            if args.json {
                let _ = writeln!(out, "{}", serde_json::to_string(&row).unwrap_or_default());
            } else if args.csv {
                let _ = writeln!(out, "{}", batch::csv(&row));
            }
            let _ = out.flush();
            if progress {
                eprint!(
                    "\r{} {}/{total} domains, {:.0} s",
                    bar(done.load(Ordering::Relaxed), total),
                    done.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
            rows.push(row);
        }
    });
    if progress {
        eprintln!();
    }
    if !args.json && !args.csv {
        for row in &rows {
            let _ = writeln!(out, "{:<40} {:<14} {}", row.domain, row.status, row.answer);
        }
    }
    let counts: Vec<String> = batch::counts(&rows)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    eprintln!(
        "mxtls: {total} domains in {:.1} min ({:.0} a minute): {}",
        minutes,
        total as f64 / minutes.max(1e-9),
        counts.join(", ")
    );
    ExitCode::SUCCESS
}

/// The store's recent sessions as a run may reuse them: its own, of any age, and an earlier
/// run's up to `across` seconds old. Sessions younger than the run are its own (or of a run
/// beside it, which is as fresh).
struct RunRecent {
    store: Arc<mxtls_server::snapshots::Store>,
    /// When the run started, in Unix seconds.
    started: i64,
    across: i64,
}

impl std::fmt::Debug for RunRecent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRecent")
            .field("started", &self.started)
            .field("across", &self.across)
            .finish()
    }
}

impl RunRecent {
    fn now(&self) -> mxtls_server::budget::StoreRecent {
        let own = (unix_now() - self.started).max(0) + 1;
        mxtls_server::budget::StoreRecent {
            store: self.store.clone(),
            max_age: Duration::from_secs((own + self.across) as u64),
        }
    }
}

type Found<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Option<mxtls_probe::budget::Recent>> + Send + 'a>,
>;

impl mxtls_probe::budget::RecentEvidence for RunRecent {
    fn recent(&self, ip: std::net::IpAddr) -> Found<'_> {
        let inner = self.now();
        Box::pin(async move { inner.recent(ip).await })
    }

    fn posture(&self, ip: std::net::IpAddr) -> Found<'_> {
        let inner = self.now();
        Box::pin(async move { inner.posture(ip).await })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One domain checked, kept and judged.
async fn one(
    domain: &mxtls_core::names::DnsName,
    probe: &mxtls_probe::Config,
    store: &mxtls_server::snapshots::Store,
    roots: &RootSet,
) -> Row {
    let evidence = match mxtls_probe::check(domain, probe, None).await {
        Ok(e) => e,
        Err(e) => return batch::failed(domain.as_str(), &e.to_string()),
    };
    // Stored so the next domains on the same server can reuse its sessions.
    let snapshot = store
        .put(&evidence)
        .await
        .ok()
        .map(|id| id.as_str().to_owned());
    let report = mxtls_core::analysis::analyse_with(&evidence, evidence.probe.finished_at, roots);
    batch::row(&report, &evidence, snapshot)
}

/// `--batch-token NAME=TOKEN`s: a name (an operator) and a token of at least 16 characters
/// each, names and tokens each once.
pub fn tokens(given: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in given {
        let Some((name, token)) = t.split_once('=') else {
            return Err("--batch-token takes NAME=TOKEN".into());
        };
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty() || token.len() < 16 {
            return Err(format!(
                "--batch-token {name}=…: a name, and a token of at least 16 characters"
            ));
        }
        if out.iter().any(|(n, t)| n == name || t == token) {
            return Err(format!("--batch-token {name}: a name or token given twice"));
        }
        out.push((name.to_owned(), token.to_owned()));
    }
    Ok(out)
}

fn bar(done: usize, total: usize) -> String {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    format!(
        "[{}{}]",
        "=".repeat(filled),
        " ".repeat(width - filled.min(width))
    )
}
