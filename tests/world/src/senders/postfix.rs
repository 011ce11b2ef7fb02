//! Postfix as a sender: the installed package with a configuration directory of its own
//! (`postfix -c DIR start`, as the world's receiving instances in `daemons` are), mail handed
//! to its `sendmail` and picked up at once, delivered by `smtp` from the source address.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{Plan, chown, sh};
use crate::Error;

pub(super) fn plan(dir: &Path, source: Ipv4Addr, port: u16, dane: bool) -> Result<Plan, Error> {
    let conf = dir.join("etc");
    for sub in ["etc", "queue", "data"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let label = if dane { "postfix-dane" } else { "postfix-may" };
    let tls = if dane {
        // DANE needs DNSSEC-validated answers: the AD bit, which glibc passes on only with
        // `options trust-ad` (use_resolver writes it).
        "smtp_dns_support_level = dnssec\nsmtp_tls_security_level = dane\n"
    } else {
        "smtp_tls_security_level = may\n"
    };
    let log = dir.join("maillog");
    let main_cf = format!(
        "compatibility_level = 3.6\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         command_directory = /usr/sbin\n\
         daemon_directory = /usr/lib/postfix/sbin\n\
         meta_directory = /etc/postfix\n\
         shlib_directory = no\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         inet_interfaces = loopback-only\n\
         inet_protocols = ipv4\n\
         myhostname = sender-{label}.test\n\
         mydomain = sender.test\n\
         myorigin = $myhostname\n\
         mydestination =\n\
         relay_domains =\n\
         relayhost =\n\
         mynetworks = 127.0.0.0/8\n\
         alias_maps =\n\
         alias_database =\n\
         local_transport = error:5.1.1 this sender delivers nothing locally\n\
         default_transport = smtp\n\
         smtp_tcp_port = {port}\n\
         smtp_bind_address = {source}\n\
         smtp_address_preference = ipv4\n\
         smtp_connect_timeout = 10s\n\
         smtp_helo_timeout = 30s\n\
         smtp_tls_loglevel = 1\n\
         {tls}\
         queue_run_delay = 1s\n\
         minimal_backoff_time = 2s\n\
         maximal_backoff_time = 4s\n\
         maillog_file_prefixes = {dir}\n\
         maillog_file = {log}\n",
        queue = dir.join("queue").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
        log = log.display(),
    );
    std::fs::write(conf.join("main.cf"), main_cf)?;
    // No listener: mail comes in through postdrop and pickup only.
    std::fs::write(
        conf.join("master.cf"),
        "pickup unix n - n 1 1 pickup\n\
         cleanup unix n - n - 0 cleanup\n\
         qmgr unix n - n 1 1 qmgr\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\n\
         rewrite unix - - n - - trivial-rewrite\n\
         bounce unix - - n - 0 bounce\n\
         defer unix - - n - 0 bounce\n\
         trace unix - - n - 0 bounce\n\
         verify unix - - n - 1 verify\n\
         flush unix n - n 1000? 0 flush\n\
         proxymap unix - - n - - proxymap\n\
         smtp unix - - n - - smtp\n\
         relay unix - - n - - smtp\n\
         anvil unix - - n - 1 anvil\n\
         scache unix - - n - 1 scache\n\
         error unix - - n - - error\n\
         retry unix - - n - - error\n\
         discard unix - - n - - discard\n\
         showq unix n - n - - showq\n\
         postlog unix-dgram n - n - 1 postlogd\n",
    )?;
    // The queue directory stays root's (postfix-script creates its subdirectories, each
    // with its owner); the data directory is the mail owner's.
    chown("postfix", &[&dir.join("data")])?;
    let c = sh(&conf);
    Ok(Plan {
        // `postfix start` daemonises master (in the jail); the script then idles as the
        // jail's first process.
        script: format!("postfix -c {c} start\nwhile :; do sleep 3600; done\n"),
        ready: dir.join("queue/pid/master.pid"),
        submit: vec![
            "/usr/sbin/sendmail".into(),
            OsString::from("-C"),
            conf.clone().into(),
        ],
        logs: vec![log],
        stop: Some(vec![
            "/usr/sbin/postfix".into(),
            "-c".into(),
            conf.into(),
            "abort".into(),
        ]),
        syslog: None,
    })
}
