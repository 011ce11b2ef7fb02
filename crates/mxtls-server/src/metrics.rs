//! `/metrics`: the server's counters in the Prometheus text format (version 0.0.4) — checks
//! started and how they ended, their durations, refusals, notices (delivered, retried,
//! given up, pending), watches, and per
//! watched domain the monitoring-plugin state of its latest check.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the check-duration histogram, in seconds.
const BUCKETS: [f64; 8] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 120.0];

/// The counters; every one only grows.
#[derive(Default)]
pub struct Metrics {
    checks_started: AtomicU64,
    checks_evidence: AtomicU64,
    checks_error: AtomicU64,
    checks_cancelled: AtomicU64,
    checks_panicked: AtomicU64,
    /// Microseconds, summed, and the histogram's cumulative counts.
    duration_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    watch_checks_failed: AtomicU64,
    notices_delivered: AtomicU64,
    notices_retried: AtomicU64,
    notices_given_up: AtomicU64,
    /// A gauge, set by the delivery loop from the store (the outbox is the cluster's).
    notices_pending: AtomicU64,
    tls_reports: AtomicU64,
}

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Evidence,
    /// The probe could not start or run (a setup error: bad resolver, no network).
    Error,
    Cancelled,
    Panicked,
}

impl Metrics {
    pub fn started(&self) {
        self.checks_started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finished(&self, outcome: Outcome, took: Duration) {
        let counter = match outcome {
            Outcome::Evidence => &self.checks_evidence,
            Outcome::Error => &self.checks_error,
            Outcome::Cancelled => &self.checks_cancelled,
            Outcome::Panicked => &self.checks_panicked,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::Evidence {
            self.duration_us
                .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
            for (i, le) in BUCKETS.iter().enumerate() {
                if took.as_secs_f64() <= *le {
                    self.buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn tls_report(&self) {
        self.tls_reports.fetch_add(1, Ordering::Relaxed);
    }

    pub fn watch_check_failed(&self) {
        self.watch_checks_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A notice reached its webhook or relay.
    pub fn notice_delivered(&self) {
        self.notices_delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery attempt failed; the notice is tried again later.
    pub fn notice_retried(&self) {
        self.notices_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A notice was given up (a permanent refusal, or tried for too long).
    pub fn notice_given_up(&self) {
        self.notices_given_up.fetch_add(1, Ordering::Relaxed);
    }

    /// Notices in the outbox not yet delivered nor given up.
    pub fn notices_pending(&self, n: u64) {
        self.notices_pending.store(n, Ordering::Relaxed);
    }

    /// The text exposition, with the gauges passed in: checks running now, free slots, the
    /// number of watches and each watched domain's state (0 OK … 3 UNKNOWN).
    pub fn render(
        &self,
        running: usize,
        free: usize,
        watches: usize,
        domains: &[(String, u8)],
    ) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP mxtls_checks_started_total Probes started (merged requests count once)."
        );
        let _ = writeln!(o, "# TYPE mxtls_checks_started_total counter");
        let _ = writeln!(
            o,
            "mxtls_checks_started_total {}",
            get(&self.checks_started)
        );
        let _ = writeln!(
            o,
            "# HELP mxtls_checks_finished_total Probes ended, by outcome; error and panicked are probe failures."
        );
        let _ = writeln!(o, "# TYPE mxtls_checks_finished_total counter");
        for (label, c) in [
            ("evidence", &self.checks_evidence),
            ("error", &self.checks_error),
            ("cancelled", &self.checks_cancelled),
            ("panicked", &self.checks_panicked),
        ] {
            let _ = writeln!(
                o,
                "mxtls_checks_finished_total{{outcome=\"{label}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            o,
            "# HELP mxtls_check_duration_seconds How long probes that gave evidence took."
        );
        let _ = writeln!(o, "# TYPE mxtls_check_duration_seconds histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "mxtls_check_duration_seconds_bucket{{le=\"{le}\"}} {}",
                get(&self.buckets[i])
            );
        }
        let count = get(&self.checks_evidence);
        let _ = writeln!(
            o,
            "mxtls_check_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "mxtls_check_duration_seconds_sum {:.6}",
            get(&self.duration_us) as f64 / 1e6
        );
        let _ = writeln!(o, "mxtls_check_duration_seconds_count {count}");
        let _ = writeln!(o, "# HELP mxtls_checks_running Probes running now.");
        let _ = writeln!(o, "# TYPE mxtls_checks_running gauge");
        let _ = writeln!(o, "mxtls_checks_running {running}");
        let _ = writeln!(
            o,
            "# HELP mxtls_check_slots_free Slots free for new probes."
        );
        let _ = writeln!(o, "# TYPE mxtls_check_slots_free gauge");
        let _ = writeln!(o, "mxtls_check_slots_free {free}");
        let _ = writeln!(o, "# HELP mxtls_watches Watches stored (confirmed or not).");
        let _ = writeln!(o, "# TYPE mxtls_watches gauge");
        let _ = writeln!(o, "mxtls_watches {watches}");
        let _ = writeln!(
            o,
            "# HELP mxtls_watch_checks_failed_total Re-checks of watched domains that could not run (busy, or no evidence)."
        );
        let _ = writeln!(o, "# TYPE mxtls_watch_checks_failed_total counter");
        let _ = writeln!(
            o,
            "mxtls_watch_checks_failed_total {}",
            get(&self.watch_checks_failed)
        );
        let _ = writeln!(
            o,
            "# HELP mxtls_notifications_total Delivery attempts of notices to webhooks and mailboxes by this instance, by result: delivered, retried (failed, tried again later), given_up."
        );
        let _ = writeln!(o, "# TYPE mxtls_notifications_total counter");
        for (label, c) in [
            ("delivered", &self.notices_delivered),
            ("retried", &self.notices_retried),
            ("given_up", &self.notices_given_up),
        ] {
            let _ = writeln!(
                o,
                "mxtls_notifications_total{{result=\"{label}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            o,
            "# HELP mxtls_notifications_pending Notices in the outbox not yet delivered nor given up."
        );
        let _ = writeln!(o, "# TYPE mxtls_notifications_pending gauge");
        let _ = writeln!(
            o,
            "mxtls_notifications_pending {}",
            get(&self.notices_pending)
        );
        let _ = writeln!(
            o,
            "# HELP mxtls_tls_reports_received_total TLS-RPT reports received at /tlsrpt/{{domain}}."
        );
        let _ = writeln!(o, "# TYPE mxtls_tls_reports_received_total counter");
        let _ = writeln!(
            o,
            "mxtls_tls_reports_received_total {}",
            get(&self.tls_reports)
        );
        let _ = writeln!(
            o,
            "# HELP mxtls_watched_domain_state Monitoring-plugin state of each watched domain's latest check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN or not checked yet."
        );
        let _ = writeln!(o, "# TYPE mxtls_watched_domain_state gauge");
        for (domain, state) in domains {
            let _ = writeln!(
                o,
                "mxtls_watched_domain_state{{domain=\"{}\"}} {state}",
                escape(domain)
            );
        }
        o
    }
}

/// A label value escaped as the text format wants (domains never need it; be safe).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
