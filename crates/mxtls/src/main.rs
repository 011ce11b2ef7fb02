//! `mxtls`: the command line.
//!
//! * `mxtls analyse FILE` judges stored evidence (a snapshot, or `--json` output) and prints
//!   the report; this is how a probe run is re-judged by newer analysis.
//! * `mxtls serve` serves the web checker.
//!
//! Exit status: 0 no error findings, 1 error findings, 2 bad input or usage.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mxtls_core::{Evidence, Report, UnixTime, analyse, render};

#[derive(Parser)]
#[command(
    name = "mxtls",
    version,
    about = "Is mail to your domain protected by authenticated TLS?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge stored evidence (JSON) and print the report.
    Analyse {
        /// Evidence JSON file, or `-` for standard input.
        file: PathBuf,
        /// Print the report and its evidence as JSON.
        #[arg(long)]
        json: bool,
        /// Judge as of this Unix time instead of when the evidence was gathered.
        #[arg(long)]
        at: Option<i64>,
    },
    /// Serve the web checker.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The built web app (Trunk's output directory).
        #[arg(long, default_value = "dist")]
        web_dir: PathBuf,
    },
}

/// Exit statuses promised by the design.
const EXIT_ERRORS: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Analyse { file, json, at } => analyse_file(&file, json, at),
        Command::Serve { listen, web_dir } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            match runtime.block_on(mxtls_server::serve(mxtls_server::Config {
                listen,
                web_dir,
            })) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("cannot serve on {listen}: {e}")),
            }
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("mxtls: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn analyse_file(file: &PathBuf, json: bool, at: Option<i64>) -> ExitCode {
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
    let now = at.map(UnixTime).unwrap_or(evidence.probe.finished_at);
    let report = analyse(&evidence, now);
    if json {
        println!("{}", to_json(&report, &evidence));
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render::text(&report, colour));
    }
    if report.has_errors() {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    }
}

/// The report with its evidence beside it, as `mxtls check --json` will print it.
fn to_json(report: &Report, evidence: &Evidence) -> String {
    #[derive(serde::Serialize)]
    struct Output<'a> {
        #[serde(flatten)]
        report: &'a Report,
        evidence: &'a Evidence,
    }
    serde_json::to_string_pretty(&Output { report, evidence })
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
