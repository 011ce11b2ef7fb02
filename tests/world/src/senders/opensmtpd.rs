//! OpenSMTPD 6.8 as a sender, unpacked, not installed: `-f` names its configuration, but its
//! spool (`/var/spool/smtpd`), its chroot (`/var/lib/opensmtpd/empty`) and its control socket
//! (`/var/run/smtpd.sock`) are compiled in, so the jail binds directories of ours over
//! `/var/spool`, `/var/lib` and `/run`. It runs in the foreground (`-d`, logging to the jail's
//! output) with no listener; mail comes through its `sendmail` (smtpctl, setgid opensmtpq as
//! Debian installs it). Its scheduler waits minutes between retries, so the jail asks it to
//! retry everything every 5 s (`smtpctl schedule all`). It relays by MX lookup to port 25
//! only, with opportunistic STARTTLS and no DANE.

use std::net::Ipv4Addr;
use std::path::Path;

use super::{Plan, bind, install_binary, sh, unpacked};
use crate::Error;

pub(super) fn plan(dir: &Path, source: Ipv4Addr) -> Result<Plan, Error> {
    let smtpd = install_binary(
        &unpacked("opensmtpd", "usr/sbin/smtpd")?,
        dir,
        "smtpd",
        0o755,
        None,
    )?;
    let smtpctl = unpacked("opensmtpd", "usr/sbin/smtpctl")?;
    let control = install_binary(&smtpctl, dir, "smtpctl", 0o2755, Some("opensmtpq"))?;
    // smtpctl enqueues when it is called `sendmail`.
    let enqueue = install_binary(&smtpctl, dir, "sendmail", 0o2755, Some("opensmtpq"))?;
    let (spool, lib, run) = (dir.join("var-spool"), dir.join("var-lib"), dir.join("run"));
    std::fs::create_dir_all(&spool)?;
    std::fs::create_dir_all(lib.join("opensmtpd/empty"))?;
    std::fs::create_dir_all(&run)?;
    for d in [
        &spool,
        &lib,
        &lib.join("opensmtpd"),
        &lib.join("opensmtpd/empty"),
        &run,
    ] {
        super::set_mode(d, 0o755)?;
    }
    let conf = dir.join("smtpd.conf");
    std::fs::write(
        &conf,
        format!(
            "action \"out\" relay src {source} helo sender-opensmtpd.test\n\
             match from local for any action \"out\"\n"
        ),
    )?;
    super::set_mode(&conf, 0o644)?;
    let run_q = sh(&run);
    let script = format!(
        // A resolv.conf that is a link into /run must stay reachable under our /run.
        "resolv=$(readlink -f /etc/resolv.conf)\n\
         case \"$resolv\" in /run/*) mkdir -p {run_q}\"$(dirname \"${{resolv#/run}}\")\"; \
         cp \"$resolv\" {run_q}\"${{resolv#/run}}\";; esac\n\
         {spool}{lib}{runb}\
         {smtpd} -d -f {conf} &\n\
         while :; do sleep 5; {control} schedule all >/dev/null 2>&1 || true; done\n",
        spool = bind(&spool, "/var/spool"),
        lib = bind(&lib, "/var/lib"),
        runb = bind(&run, "/run"),
        smtpd = sh(&smtpd),
        conf = sh(&conf),
        control = sh(&control),
    );
    Ok(Plan {
        script,
        ready: run.join("smtpd.sock"),
        submit: vec![enqueue.into_os_string()],
        logs: Vec::new(),
        stop: None,
        syslog: None,
    })
}
