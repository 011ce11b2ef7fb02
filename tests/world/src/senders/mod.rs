//! Real mail transfer agents as *senders*: Postfix (twice: DANE and opportunistic TLS), Exim,
//! Sendmail and OpenSMTPD, each with its own configuration, queue and log under a directory
//! of the test's, sending by MX lookup through the system resolver (see [`use_resolver`]) from
//! one source address. A test hands each a message for a world domain and reads, from the
//! world's session log and the MTA's own log, whether it connected, used STARTTLS and what it
//! made of the domain's TLSA records.
//!
//! Only Postfix is installed as a package (`scripts/setup.sh`): the others conflict with it in
//! dpkg, so setup.sh unpacks their Debian packages into `$MXTLS_MTA_DIR/<name>/` (default
//! `$HOME/.cache/mxtls-tools/mta`) and creates the system users their compiled-in defaults
//! name. Their compiled-in paths are met with command-line flags, configuration and, in each
//! MTA's own mount namespace, bind mounts.
//!
//! Every MTA runs in a *jail*: `unshare --pid --mount --uts`, so it has a host name of its
//! own (Sendmail waits a minute when it cannot qualify the machine's), its bind mounts touch
//! nothing outside, and killing the jail's first process ends every process the MTA started,
//! however it daemonised. Messages are handed over inside the jail (`nsenter`), so a
//! background delivery is in the jail too.
//!
//! The senders expect to run as root inside the test's own network and mount namespaces
//! (`unshare --net --mount`, loopback up), where port 25 is free: the world is started with
//! `smtp_port: 25` there, since TLSA records are published for `_25._tcp` (on another port,
//! DANE senders look for `_<port>._tcp` and find nothing). Call [`use_resolver`] before
//! [`Sender::start`]: each jail copies the mount table when it starts. There, OpenSMTPD's
//! sender also adds its source address to `lo` (and removes it at stop): glibc's
//! getaddrinfo with `AI_ADDRCONFIG` answers nothing where 127.0.0.1 is the only IPv4
//! address. [`Sender::start`] and the other calls block (start-up: Postfix about 2 s, the
//! others well under 1 s; at most 30 s).

mod exim;
mod jail;
mod opensmtpd;
mod postfix;
mod sendmail;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jail::{Jail, Syslog, parent_of};

use crate::Error;
use crate::process::{output_with_input, output_within};

/// How long a sender may take to come up.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long handing over one message may take (the MTA's own submission program).
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// How long a helper command (`ip`, `postfix abort`, `chown`) may take.
const TOOL_LIMIT: Duration = Duration::from_secs(10);

/// The MTAs (and Postfix's two settings) a sender test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderKind {
    /// Postfix 3.7, `smtp_tls_security_level = dane` with DNSSEC lookups.
    PostfixDane,
    /// Postfix 3.7, `smtp_tls_security_level = may`.
    PostfixMay,
    /// Exim 4.96 (Debian's exim4-daemon-light, GnuTLS), DANE where TLSA records exist.
    Exim,
    /// Sendmail 8.17 (Debian's build has no DANE): opportunistic STARTTLS.
    Sendmail,
    /// OpenSMTPD 6.8: opportunistic STARTTLS, port 25 only.
    OpenSmtpd,
}

impl SenderKind {
    pub const ALL: [SenderKind; 5] = [
        SenderKind::PostfixDane,
        SenderKind::PostfixMay,
        SenderKind::Exim,
        SenderKind::Sendmail,
        SenderKind::OpenSmtpd,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SenderKind::PostfixDane => "postfix-dane",
            SenderKind::PostfixMay => "postfix-may",
            SenderKind::Exim => "exim",
            SenderKind::Sendmail => "sendmail",
            SenderKind::OpenSmtpd => "opensmtpd",
        }
    }

    /// The setting that decides its TLS behaviour, in its own configuration's words.
    pub fn settings(self) -> &'static str {
        match self {
            SenderKind::PostfixDane => {
                "smtp_tls_security_level = dane, smtp_dns_support_level = dnssec"
            }
            SenderKind::PostfixMay => "smtp_tls_security_level = may",
            SenderKind::Exim => "hosts_try_dane = *, dnssec_request_domains = *",
            SenderKind::Sendmail => "STARTTLS as a client (its default; no DANE in Debian's build)",
            SenderKind::OpenSmtpd => "action relay (opportunistic STARTTLS, no DANE)",
        }
    }
}

/// What an MTA's module hands the common start-up.
struct Plan {
    /// Shell lines run as the jail's first process: mounts, then the MTA's start. The jail
    /// stays up while the script runs (it must end in a loop or `exec` of a foreground MTA).
    script: String,
    /// This file appears when the MTA is ready.
    ready: PathBuf,
    /// The submission program and its arguments, before `-f from to…`.
    submit: Vec<OsString>,
    /// The MTA's log files, in the order [`Sender::log`] shows them.
    logs: Vec<PathBuf>,
    /// Run before the jail is killed (`postfix abort`), inside it.
    stop: Option<Vec<OsString>>,
    /// A syslog socket to serve (Sendmail logs only through syslog).
    syslog: Option<(PathBuf, PathBuf)>,
}

/// A running MTA. Dropping it (or [`Sender::stop`]) kills it and everything it started.
pub struct Sender {
    kind: SenderKind,
    dir: PathBuf,
    jail: Jail,
    submit: Vec<OsString>,
    logs: Vec<PathBuf>,
    stop: Option<Vec<OsString>>,
    /// Dropped after the jail is killed (fields drop after [`Sender`]'s own `drop`).
    _aids: Aids,
    /// How long [`Sender::start`] took.
    pub started_in: Duration,
}

/// What a sender sets up beside its jail, undone when dropped — also when start-up fails
/// half-way.
#[derive(Default)]
struct Aids {
    syslog: Option<Syslog>,
    /// The source address added to `lo`, removed again.
    added_address: Option<Ipv4Addr>,
}

impl Drop for Aids {
    fn drop(&mut self) {
        if let Some(syslog) = self.syslog.take() {
            syslog.stop();
        }
        if let Some(address) = self.added_address.take() {
            let _ = ip_addr("del", address);
        }
    }
}

impl Sender {
    /// Starts the MTA with its own queue/config under `dir` (created; made traversable, since
    /// the MTAs' unprivileged processes reach files in it), sending from `source` (its
    /// outgoing SMTP connections are bound to it), delivering by MX lookup through the system
    /// resolver to SMTP `port` of the MX hosts. OpenSMTPD can only use port 25.
    pub fn start(
        kind: SenderKind,
        dir: &Path,
        source: Ipv4Addr,
        port: u16,
    ) -> Result<Sender, Error> {
        let began = Instant::now();
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o755)?;
        let dir = dir.canonicalize()?;
        let mut aids = Aids::default();
        let plan = match kind {
            SenderKind::PostfixDane => postfix::plan(&dir, source, port, true)?,
            SenderKind::PostfixMay => postfix::plan(&dir, source, port, false)?,
            SenderKind::Exim => exim::plan(&dir, source, port)?,
            SenderKind::Sendmail => sendmail::plan(&dir, source, port)?,
            SenderKind::OpenSmtpd => {
                if port != 25 {
                    return Err(format!(
                        "OpenSMTPD 6.8 relays by MX lookup to port 25 only (a port is only \
                         for `relay host`, which skips the MX lookup); asked for {port}"
                    )
                    .into());
                }
                // glibc's getaddrinfo (AI_ADDRCONFIG), which OpenSMTPD resolves MX hosts
                // with, returns nothing where the only IPv4 address is 127.0.0.1.
                aids.added_address = add_loopback_address(source)?;
                opensmtpd::plan(&dir, source)?
            }
        };
        if let Some((socket, file)) = &plan.syslog {
            aids.syslog = Some(Syslog::serve(socket, file)?);
        }
        // A pid file or socket left by an earlier run in `dir` is not readiness.
        let _ = std::fs::remove_file(&plan.ready);
        let hostname = format!("sender-{}.test", kind.label());
        let jail = Jail::spawn(&dir, &hostname, &plan.script)?;
        let mut sender = Sender {
            kind,
            dir,
            jail,
            submit: plan.submit,
            logs: plan.logs,
            stop: plan.stop,
            _aids: aids,
            started_in: Duration::ZERO,
        };
        while !plan.ready.exists() {
            if let Some(status) = sender.jail.exited() {
                return Err(format!(
                    "{} exited ({status}) while starting\n{}",
                    kind.label(),
                    sender.log()
                )
                .into());
            }
            if began.elapsed() > START_LIMIT {
                return Err(format!(
                    "{} not ready after {START_LIMIT:?} ({} missing)\n{}",
                    kind.label(),
                    plan.ready.display(),
                    sender.log()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        sender.started_in = began.elapsed();
        Ok(sender)
    }

    pub fn kind(&self) -> SenderKind {
        self.kind
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands one short message (From `from`, To each of `to`) to the MTA for delivery, now.
    pub fn send(&self, from: &str, to: &[String]) -> Result<(), Error> {
        for address in std::iter::once(from).chain(to.iter().map(String::as_str)) {
            if address.is_empty()
                || address.starts_with('-')
                || address.contains(|c: char| c.is_whitespace() || c.is_control())
            {
                return Err(format!("not an address to hand an MTA: {address:?}").into());
            }
        }
        if to.is_empty() {
            return Err("a message needs a recipient".into());
        }
        let message = format!(
            "From: <{from}>\nTo: {}\nSubject: mxtls sender test ({})\n\n\
             A test message of the mxtls test world, sent by {}.\n",
            to.iter()
                .map(|t| format!("<{t}>"))
                .collect::<Vec<_>>()
                .join(", "),
            self.kind.label(),
            self.kind.label(),
        );
        let mut cmd = self.jail.enter(&self.submit);
        cmd.arg("-f").arg(from).args(to);
        let out = output_with_input(&mut cmd, message.as_bytes(), SEND_LIMIT)?;
        if !out.status.success() {
            return Err(format!(
                "{} did not take the message ({}): {}{}\n{}",
                self.kind.label(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            )
            .into());
        }
        Ok(())
    }

    /// The MTA's log so far (for test failure messages).
    pub fn log(&self) -> String {
        let mut out = String::new();
        for path in self.logs.iter().chain([&self.jail.output]) {
            let text = std::fs::read(path).unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            let _ = writeln!(out, "--- {} ---", path.display());
            out.push_str(&String::from_utf8_lossy(&text));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// Stops the MTA; no process of it is left.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take()
            && self.jail.exited().is_none()
        {
            let _ = output_within(&mut self.jail.enter(&stop), TOOL_LIMIT);
        }
        self.jail.kill();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Inside a private mount namespace only, bind-mounts a resolv.conf naming `resolver` (with
/// `options trust-ad edns0`, so that glibc passes on the AD bit DANE senders need) over
/// /etc/resolv.conf. The machine's own file is never touched: outside a private mount
/// namespace this refuses.
pub fn use_resolver(resolver: Ipv4Addr, dir: &Path) -> Result<(), Error> {
    if !private_namespace("mnt")? {
        return Err(
            "use_resolver needs a private mount namespace (unshare --mount), told from PID 1's or an ancestor's: it \
                    would otherwise change the machine's /etc/resolv.conf"
                .into(),
        );
    }
    std::fs::create_dir_all(dir)?;
    let file = dir.join("resolv.conf");
    std::fs::write(
        &file,
        format!("nameserver {resolver}\noptions trust-ad edns0\n"),
    )?;
    set_mode(&file, 0o644)?;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::from("a path with a NUL byte"))
    };
    let (root, target, source) = (
        c(Path::new("/"))?,
        c(Path::new("/etc/resolv.conf"))?,
        c(&file)?,
    );
    // SAFETY: mount(2) with NUL-terminated strings that outlive the calls. The first makes
    // every mount of this (private, checked above) namespace private, so that nothing done
    // here can propagate to the machine's namespace whatever the caller's unshare did.
    unsafe {
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "mount --make-rprivate /: {}",
                std::io::Error::last_os_error()
            )
            .into());
        }
        if libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "bind-mount {} over /etc/resolv.conf: {}",
                file.display(),
                std::io::Error::last_os_error()
            )
            .into());
        }
    }
    Ok(())
}

/// Whether this process's `kind` namespace (`mnt`, `net`) differs from PID 1's — or, where
/// PID 1's cannot be read (a sandbox's init may hide it even from root), from that of one of
/// our ancestors (the shell or test runner that ran `unshare`). When neither can be told,
/// the answer is no.
fn private_namespace(kind: &str) -> Result<bool, Error> {
    let ours = std::fs::read_link(format!("/proc/self/ns/{kind}"))?;
    if let Ok(init) = std::fs::read_link(format!("/proc/1/ns/{kind}")) {
        return Ok(ours != init);
    }
    // SAFETY: getppid(2) has no preconditions.
    let mut pid = unsafe { libc::getppid() };
    while pid > 1 {
        match std::fs::read_link(format!("/proc/{pid}/ns/{kind}")) {
            Ok(theirs) if theirs != ours => return Ok(true),
            Ok(_) => {}
            Err(_) => return Ok(false),
        }
        pid = parent_of(pid).unwrap_or(0);
    }
    Ok(false)
}

/// Adds `address/32` to `lo` when this is a private network namespace and the address is not
/// there yet; returns it if it was added. Outside one the machine's own interfaces give
/// getaddrinfo the address it wants, and nothing is changed.
fn add_loopback_address(address: Ipv4Addr) -> Result<Option<Ipv4Addr>, Error> {
    if !private_namespace("net")? {
        return Ok(None);
    }
    let out = output_within(
        Command::new("ip").args(["-4", "-o", "addr", "show", "dev", "lo"]),
        TOOL_LIMIT,
    )?;
    if String::from_utf8_lossy(&out.stdout).contains(&format!(" {address}/")) {
        return Ok(None);
    }
    ip_addr("add", address)?;
    Ok(Some(address))
}

fn ip_addr(verb: &str, address: Ipv4Addr) -> Result<(), Error> {
    let out = output_within(
        Command::new("ip").args(["addr", verb, &format!("{address}/32"), "dev", "lo"]),
        TOOL_LIMIT,
    )?;
    if !out.status.success() {
        return Err(format!(
            "ip addr {verb} {address}/32 dev lo: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// Where setup.sh unpacked the MTA packages: `$MXTLS_MTA_DIR`, else
/// `$HOME/.cache/mxtls-tools/mta`.
fn mta_dir() -> PathBuf {
    match std::env::var_os("MXTLS_MTA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/mxtls-tools/mta"),
    }
}

/// `relative` inside the unpacked package tree `name`, which must exist.
fn unpacked(name: &str, relative: &str) -> Result<PathBuf, Error> {
    let path = mta_dir().join(name).join(relative);
    if !path.exists() {
        return Err(format!(
            "{} is missing: scripts/setup.sh unpacks {name} into $MXTLS_MTA_DIR ({})",
            path.display(),
            mta_dir().display()
        )
        .into());
    }
    Ok(path)
}

/// Copies an unpacked binary into `dir/bin/` (where unprivileged users can run it: the
/// package tree usually lies under root's home), with `mode`, and `group` if given.
fn install_binary(
    from: &Path,
    dir: &Path,
    name: &str,
    mode: u32,
    group: Option<&str>,
) -> Result<PathBuf, Error> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    set_mode(&bin, 0o755)?;
    let to = bin.join(name);
    let _ = std::fs::remove_file(&to);
    std::fs::copy(from, &to)?;
    if let Some(group) = group {
        chown(&format!(":{group}"), &[&to])?;
    }
    set_mode(&to, mode)?;
    Ok(to)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()).into())
}

/// `chown -R owner paths…`.
fn chown(owner: &str, paths: &[&Path]) -> Result<(), Error> {
    let out = output_within(
        Command::new("chown").arg("-R").arg(owner).args(paths),
        TOOL_LIMIT,
    )?;
    if !out.status.success() {
        return Err(format!("chown {owner}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// `path` quoted for the jail's shell.
fn sh(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Shell lines that bind-mount `source` over `target` in the jail.
fn bind(source: &Path, target: &str) -> String {
    format!("mount --bind {} {target}\n", sh(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_label_and_a_one_line_setting() {
        let labels: std::collections::HashSet<_> =
            SenderKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), SenderKind::ALL.len());
        for kind in SenderKind::ALL {
            assert!(!kind.settings().is_empty() && !kind.settings().contains('\n'));
        }
    }

    #[test]
    fn use_resolver_refuses_outside_a_private_mount_namespace() {
        // Inside one (a test run under `unshare --mount`) it would really mount.
        if private_namespace("mnt").unwrap_or(true) {
            return;
        }
        let dir = std::env::temp_dir().join(format!("mxtls-senders-{}", std::process::id()));
        let err = use_resolver(Ipv4Addr::new(127, 53, 0, 1), &dir).expect_err("must refuse");
        assert!(err.to_string().contains("private mount namespace"), "{err}");
        assert!(
            !dir.join("resolv.conf").exists(),
            "refused before writing anything"
        );
    }

    #[test]
    fn a_process_parent_is_read_from_proc() {
        // SAFETY: getpid(2) and getppid(2) have no preconditions.
        let (me, parent) = unsafe { (libc::getpid(), libc::getppid()) };
        assert_eq!(parent_of(me), Some(parent));
    }
}
