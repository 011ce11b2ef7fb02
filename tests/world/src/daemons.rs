//! The world's real servers: NSD (authoritative for the signed zones), Unbound (validating
//! resolver in front, as production has) and Postfix. Each runs in the foreground as a child of
//! the world, bound to the world's own loopback addresses, and is stopped with it.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::pki::Error;

/// A child process that is terminated (and reaped) when the world stops.
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    /// For servers that daemonise (Postfix): the command that stops them, run at stop and on
    /// drop, since signalling our child does not reach a detached master.
    stop_command: Option<std::process::Command>,
}

/// How long a stop command (`postfix abort`) may take before it is killed.
const STOP_COMMAND_LIMIT: Duration = Duration::from_secs(10);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(cmd) = &mut self.stop_command {
            let _ = crate::process::output_within(cmd, STOP_COMMAND_LIMIT);
        }
    }
}

impl Daemon {
    fn spawn(name: &'static str, cmd: &mut Command) -> Result<Daemon, Error> {
        // Its own process group: Postfix's master signals its whole group when it stops, which
        // must not reach the test runner; and stopping the group stops every helper process.
        let child = cmd
            .process_group(0)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start {name}: {e} (is it installed? scripts/setup.sh installs it)")
            })?;
        Ok(Daemon {
            name,
            child,
            stop_command: None,
        })
    }

    /// SIGTERM, then SIGKILL if it has not exited within two seconds.
    pub async fn stop(mut self) {
        if let Some(mut cmd) = self.stop_command.take() {
            let _ = tokio::task::spawn_blocking(move || {
                crate::process::output_within(&mut cmd, STOP_COMMAND_LIMIT)
            })
            .await;
        }
        if let Some(pid) = self.child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) on a pid we spawned and have not reaped; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Starts NSD on `ip:53` serving `zones`.
pub fn nsd(
    dir: &Path,
    ip: Ipv4Addr,
    zones: &[(String, PathBuf)],
) -> Result<(Daemon, PathBuf), Error> {
    let mut conf = format!(
        "server:\n  ip-address: {ip}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         database: \"\"\n  logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n  hide-version: yes\n  \
         do-ip6: no\nremote-control:\n  control-enable: no\n",
        d = dir.display()
    );
    for (origin, file) in zones {
        let _ = write!(
            conf,
            "zone:\n  name: \"{origin}\"\n  zonefile: \"{}\"\n",
            file.display()
        );
    }
    let path = dir.join("nsd.conf");
    std::fs::write(&path, conf)?;
    let log = dir.join("nsd.log");
    Ok((
        Daemon::spawn("nsd", Command::new("nsd").arg("-d").arg("-c").arg(&path))?,
        log,
    ))
}

/// Starts Unbound on `ip:53`, validating from `trust_anchor`, recursing from the root at
/// `root_ip`.
pub fn unbound(
    dir: &Path,
    ip: Ipv4Addr,
    root_ip: Ipv4Addr,
    trust_anchor: &Path,
) -> Result<(Daemon, PathBuf), Error> {
    let hints = dir.join("root.hints");
    std::fs::write(
        &hints,
        format!(". 3600000 IN NS ns.test.\nns.test. 3600000 IN A {root_ip}\n"),
    )?;
    let conf = format!(
        "server:\n  interface: {ip}\n  port: 53\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  \
         do-not-query-localhost: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  \
         pidfile: \"{d}/unbound.pid\"\n  logfile: \"{d}/unbound.log\"\n  use-syslog: no\n  \
         verbosity: 1\n  val-log-level: 2\n  root-hints: \"{hints}\"\n  trust-anchor-file: \"{ta}\"\n  \
         module-config: \"validator iterator\"\n  cache-max-ttl: 30\n  cache-max-negative-ttl: 5\n  \
         num-threads: 1\n  so-reuseport: no\n  local-zone: \"test.\" nodefault\n  \
         do-not-query-address: {stale}\n  do-not-query-address: {silent}\nremote-control:\n  control-enable: no\n",
        stale = with_last(ip, crate::scenarios::STALE_NS),
        silent = with_last(ip, crate::scenarios::SILENT_NS),
        d = dir.display(),
        hints = hints.display(),
        ta = trust_anchor.display()
    );
    let path = dir.join("unbound.conf");
    std::fs::write(&path, conf)?;
    let log = dir.join("unbound.log");
    Ok((
        Daemon::spawn(
            "unbound",
            Command::new("unbound").arg("-d").arg("-c").arg(&path),
        )?,
        log,
    ))
}

/// `ip` with its last octet replaced.
fn with_last(ip: Ipv4Addr, last: u8) -> Ipv4Addr {
    let [a, b, c, _] = ip.octets();
    Ipv4Addr::new(a, b, c, last)
}

/// Waits until a DNS server at `addr` answers a query for `. SOA`.
pub fn wait_for_dns(addr: SocketAddr, deadline: Duration) -> Result<(), Error> {
    // A minimal query: id 0x4d58, RD, one question `. IN SOA`.
    let query = [
        0x4d, 0x58, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1,
    ];
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while start.elapsed() < deadline {
        let _ = socket.send_to(&query, addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n >= 2
            && buf[..2] == query[..2]
        {
            return Ok(());
        }
    }
    Err(format!("no DNS answer from {addr} within {deadline:?}").into())
}

/// Files a Postfix instance needs.
pub struct PostfixFiles<'a> {
    pub key_pem: &'a str,
    pub chain_pem: &'a str,
    pub hostname: &'a str,
    /// Lines appended to main.cf (a scenario's TLS settings).
    pub main_cf_tail: &'a str,
}

/// Starts a real Postfix listening only on `ip:port`, configured so that
/// it can never relay or deliver anywhere: every recipient is rejected and every transport is
/// `error`. The listening address is set in master.cf; `inet_interfaces` must name an
/// interface address, and 127.<net>.x.y are not (only 127.0.0.1/8 is), so it names 127.0.0.1,
/// where no service of this instance listens.
pub fn postfix(
    dir: &Path,
    ip: Ipv4Addr,
    port: u16,
    files: &PostfixFiles<'_>,
) -> Result<(Daemon, PathBuf), Error> {
    let conf = dir.join("etc");
    for sub in ["etc", "queue", "data"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let tls = dir.join("etc/tls.pem");
    std::fs::write(&tls, format!("{}{}", files.key_pem, files.chain_pem))?;
    let nothing = "error:5.7.1 the mxtls test world delivers nothing";
    // Each EHLO is logged (`info: EHLO from …; helo=<name>`): tests read who the probe said
    // it was.
    let main_cf = format!(
        "{base}\
         mynetworks =\n\
         default_transport = {nothing}\n\
         local_transport = {nothing}\n\
         relay_transport = {nothing}\n\
         virtual_transport = {nothing}\n\
         smtpd_relay_restrictions = reject\n\
         smtpd_recipient_restrictions = reject\n\
         smtpd_banner = $myhostname ESMTP mxtls test world (Postfix)\n\
         smtpd_tls_security_level = may\n\
         smtpd_tls_chain_files = {tls}\n\
         smtpd_tls_loglevel = 1\n\
         smtpd_delay_reject = no\n\
         smtpd_helo_restrictions = check_helo_access static:{{INFO ehlo}}\n\
         {tail}",
        base = main_cf_base(dir, files.hostname),
        tls = tls.display(),
        tail = files.main_cf_tail,
    );
    std::fs::write(conf.join("main.cf"), main_cf)?;
    std::fs::write(conf.join("master.cf"), master_cf(ip, port, ""))?;
    let daemon = start_postfix(dir, "postfix", &[])?;
    Ok((daemon, dir.join("maillog")))
}

/// What every Postfix instance of the world has in its main.cf: its own queue, data and log
/// under `dir`, loopback only, no local delivery, no relay host, no pickup.
fn main_cf_base(dir: &Path, hostname: &str) -> String {
    format!(
        "compatibility_level = 3.6\n\
         queue_directory = {q}\n\
         data_directory = {data}\n\
         command_directory = /usr/sbin\n\
         daemon_directory = /usr/lib/postfix/sbin\n\
         meta_directory = /etc/postfix\n\
         shlib_directory = no\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         myhostname = {hostname}\n\
         mydestination =\n\
         relay_domains =\n\
         relayhost =\n\
         alias_maps =\n\
         alias_database =\n\
         smtpd_peername_lookup = no\n\
         maillog_file_prefixes = {dir}\n\
         maillog_file = {log}\n\
         master_service_disable = pickup/unix\n",
        q = dir.join("queue").display(),
        data = dir.join("data").display(),
        log = dir.join("maillog").display(),
        dir = dir.display(),
    )
}

/// Starts the Postfix configured in `<dir>/etc`, its queue, data (and `owned`) directories
/// given to its mail owner as Postfix insists. `postfix start` daemonises master into a
/// session of its own, out of reach of signals to our child; `postfix abort` (through
/// master's pid file) is what ends it.
fn start_postfix(dir: &Path, name: &'static str, owned: &[&str]) -> Result<Daemon, Error> {
    let conf = dir.join("etc");
    let _ = crate::process::output_within(
        std::process::Command::new("chown")
            .args(["-R", "postfix"])
            .arg(dir.join("queue"))
            .arg(dir.join("data"))
            .args(owned.iter().map(|d| dir.join(d))),
        Duration::from_secs(10),
    );
    let mut daemon = Daemon::spawn(
        name,
        Command::new("postfix").arg("-c").arg(&conf).arg("start"),
    )?;
    let mut stop = std::process::Command::new("postfix");
    stop.arg("-c").arg(&conf).arg("abort");
    daemon.stop_command = Some(stop);
    Ok(daemon)
}

/// Postfix's services: smtpd on `ip:port` and what a queue needs, plus `extra` lines.
fn master_cf(ip: Ipv4Addr, port: u16, extra: &str) -> String {
    format!(
        "{ip}:{port} inet n - n - - smtpd\n\
         cleanup unix n - n - 0 cleanup\n\
         qmgr unix n - n 300 1 qmgr\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\n\
         rewrite unix - - n - - trivial-rewrite\n\
         bounce unix - - n - 0 bounce\n\
         defer unix - - n - 0 bounce\n\
         trace unix - - n - 0 bounce\n\
         verify unix - - n - 1 verify\n\
         flush unix n - n 1000? 0 flush\n\
         proxymap unix - - n - - proxymap\n\
         anvil unix - - n - 1 anvil\n\
         scache unix - - n - 1 scache\n\
         error unix - - n - - error\n\
         retry unix - - n - - error\n\
         discard unix - - n - - discard\n\
         showq unix n - n - - showq\n\
         postlog unix-dgram n - n - 1 postlogd\n{extra}"
    )
}

/// Starts a real Postfix on `ip:port` that takes mail from loopback for `domain` only and
/// delivers every address of it into one Maildir, `<dir>/mail/mailbox/` (returned): the
/// mailbox a test reads what the server sent. It relays nothing anywhere else.
pub fn mailbox_postfix(
    dir: &Path,
    ip: Ipv4Addr,
    port: u16,
    domain: &str,
) -> Result<(Daemon, PathBuf), Error> {
    let conf = dir.join("etc");
    for sub in ["etc", "queue", "data", "mail"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let id = |flag: &str| -> Result<String, Error> {
        let out = crate::process::output_within(
            std::process::Command::new("id").args([flag, "postfix"]),
            Duration::from_secs(10),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    let nothing = "error:5.7.1 the mxtls test mailbox relays nothing";
    let main_cf = format!(
        "{base}\
         mynetworks = 127.0.0.0/8\n\
         local_recipient_maps =\n\
         virtual_mailbox_domains = {domain}\n\
         virtual_mailbox_base = {mail}\n\
         virtual_mailbox_maps = static:mailbox/\n\
         virtual_uid_maps = static:{uid}\n\
         virtual_gid_maps = static:{gid}\n\
         virtual_transport = virtual\n\
         default_transport = {nothing}\n\
         local_transport = {nothing}\n\
         relay_transport = {nothing}\n\
         smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         smtpd_recipient_restrictions = permit_mynetworks, reject\n",
        base = main_cf_base(dir, &format!("mailbox.{domain}")),
        mail = dir.join("mail").display(),
    );
    std::fs::write(conf.join("main.cf"), main_cf)?;
    std::fs::write(
        conf.join("master.cf"),
        master_cf(ip, port, "virtual unix - n n - - virtual\n"),
    )?;
    let daemon = start_postfix(dir, "postfix (mailbox)", &["mail"])?;
    Ok((daemon, dir.join("mail/mailbox")))
}
