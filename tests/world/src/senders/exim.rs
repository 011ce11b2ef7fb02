//! Exim 4.96 (Debian's exim4-daemon-light: GnuTLS, DANE, DNSSEC) as a sender, unpacked, not
//! installed: `-C` names its configuration, which names every path it writes; `exim_path`
//! names the copy in `dir/bin/` that it re-executes as Debian-exim for each delivery. The
//! daemon runs in the foreground (`-bdf`) listening nowhere (`local_interfaces` empty), with
//! a queue run every 5 s.

use std::net::Ipv4Addr;
use std::path::Path;

use super::{Plan, chown, install_binary, sh, unpacked};
use crate::Error;

pub(super) fn plan(dir: &Path, source: Ipv4Addr, port: u16) -> Result<Plan, Error> {
    let exim = install_binary(
        &unpacked("exim", "usr/sbin/exim4")?,
        dir,
        "exim4",
        0o755,
        None,
    )?;
    for sub in ["spool", "log"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    chown(
        "Debian-exim:Debian-exim",
        &[&dir.join("spool"), &dir.join("log")],
    )?;
    let conf = dir.join("exim.conf");
    let text = format!(
        "exim_path = {exim}\n\
         primary_hostname = sender-exim.test\n\
         qualify_domain = sender.test\n\
         spool_directory = {spool}\n\
         log_file_path = {log}/%slog\n\
         pid_file_path = {pid}\n\
         exim_user = Debian-exim\n\
         exim_group = Debian-exim\n\
         trusted_users = root\n\
         local_interfaces =\n\
         tls_advertise_hosts =\n\
         acl_smtp_rcpt = deny\n\
         log_selector = +smtp_connection +tls_peerdn +tls_certificate_verified \
         +outgoing_interface +outgoing_port +smtp_protocol_error +subject\n\
         dns_dnssec_ok = 1\n\
         ignore_bounce_errors_after = 0s\n\
         timeout_frozen_after = 1m\n\
         keep_environment =\n\
         \n\
         begin routers\n\
         dnslookup:\n  driver = dnslookup\n  domains = *\n  transport = remote_smtp\n  \
         dnssec_request_domains = *\n  no_more\n\
         \n\
         begin transports\n\
         remote_smtp:\n  driver = smtp\n  interface = {source}\n  port = {port}\n  \
         hosts_try_dane = *\n  connect_timeout = 10s\n\
         \n\
         begin retry\n\
         * * F,2h,5s\n",
        exim = exim.display(),
        spool = dir.join("spool").display(),
        log = dir.join("log").display(),
        pid = dir.join("exim.pid").display(),
    );
    std::fs::write(&conf, text)?;
    Ok(Plan {
        script: format!("exec {} -C {} -bdf -q5s\n", sh(&exim), sh(&conf)),
        ready: dir.join("exim.pid"),
        submit: vec![
            exim.into_os_string(),
            "-C".into(),
            conf.into_os_string(),
            "-odb".into(),
        ],
        logs: vec![dir.join("log/mainlog"), dir.join("log/paniclog")],
        stop: None,
        syslog: None,
    })
}
