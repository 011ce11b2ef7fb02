//! mxtls-core: the judgement of mail-TLS evidence.
//!
//! A pure function from [`Evidence`] (what the probe saw) and a time to a [`Report`] (what it
//! means for mail to the domain), plus the text rendering of that report. No sockets, no async
//! runtime, no clock, no randomness: this crate compiles to `wasm32-unknown-unknown` and runs
//! in the browser exactly as on the server.
//!
//! The rules are those of RFC 7672 (DANE for SMTP), RFC 7671 (DANE operations), RFC 6698
//! (TLSA) and RFC 5280/6125 (PKIX and names); each finding carries the section it rests on.

pub mod analysis;
pub mod api;
pub mod authoritative;
pub mod batch;
pub mod cert;
pub mod dane;
pub mod der;
pub mod dns;
pub mod dnssec;
pub mod evidence;
pub mod findings;
pub mod mta_sts;
pub mod names;
pub mod pkix;
pub mod posture;
pub mod present;
pub mod progress;
pub mod promises;
pub mod render;
pub mod report;
pub mod route;
pub mod sender_test;
pub mod starttls;
pub mod tls;
pub mod tls_rpt;
pub mod tlsa;

#[cfg(feature = "mozilla-roots")]
pub use analysis::analyse;
pub use analysis::{analyse_over, analyse_with};
pub use evidence::{Evidence, SCHEMA_VERSION, UnixTime};
pub use findings::{Code, Finding, Severity, Subject};
pub use report::{Horizon, Report, Verdict};
