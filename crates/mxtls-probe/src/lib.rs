//! mxtls-probe: the I/O half of mxtls. It talks to DNS and SMTP servers and records what it
//! saw as [`mxtls_core::Evidence`]; it never decides what the evidence means.

pub mod budget;
pub mod check;
pub mod client_hello;
pub mod clock;
pub mod deadlines;
pub mod dns;
pub mod identity;
pub mod mta_sts;
pub mod nameservers;
pub mod never_probe;
pub mod posture;
pub mod progress;
pub mod smtp;
pub mod target;
pub mod tls;

pub use check::{Config, PostureConfig, check};
pub use deadlines::Deadlines;
