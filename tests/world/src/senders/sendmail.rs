//! Sendmail 8.17 as a sender, unpacked, not installed: its sendmail.cf is built from an .mc
//! with the unpacked sendmail-cf's m4 files and named with `-C`; it runs a queue every 5 s
//! (`-q5s`, no `-bd`: it listens nowhere). Debian's build has STARTTLS (used as a client
//! whenever offered) but no DANE. Sendmail logs only through syslog, so the jail's `/dev` is
//! a directory of ours whose `log` is a socket the sender reads.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{Plan, install_binary, sh, unpacked};
use crate::Error;

/// The device files Sendmail and its libraries may open, bound into the jail's `/dev`.
const DEVICES: [&str; 5] = ["null", "zero", "random", "urandom", "full"];

pub(super) fn plan(dir: &Path, source: Ipv4Addr, port: u16) -> Result<Plan, Error> {
    let sendmail = install_binary(
        &unpacked("sendmail", "usr/libexec/sendmail/sendmail")?,
        dir,
        "sendmail",
        0o755,
        None,
    )?;
    let cf_dir = unpacked("sendmail", "usr/share/sendmail/cf")?;
    let queue = dir.join("queue");
    std::fs::create_dir_all(&queue)?;
    super::set_mode(&queue, 0o700)?;
    std::fs::write(dir.join("aliases"), "")?;
    std::fs::write(dir.join("statistics"), "")?;
    let d = |name: &str| dir.join(name).display().to_string();
    let mc = format!(
        "divert(-1)\ndivert(0)dnl\n\
         include(`{cf}/m4/cf.m4')dnl\n\
         VERSIONID(`mxtls sender')dnl\n\
         OSTYPE(`linux')dnl\n\
         define(`confDOMAIN_NAME', `sender-sendmail.test')dnl\n\
         define(`QUEUE_DIR', `{queue}')dnl\n\
         define(`STATUS_FILE', `{stats}')dnl\n\
         define(`confPID_FILE', `{pid}')dnl\n\
         define(`ALIAS_FILE', `{aliases}')dnl\n\
         define(`HELP_FILE', `{help}')dnl\n\
         CLIENT_OPTIONS(`Family=inet, Addr={source}')dnl\n\
         define(`confDONT_PROBE_INTERFACES', `True')dnl\n\
         define(`confMIN_QUEUE_AGE', `0')dnl\n\
         define(`confDOUBLE_BOUNCE_ADDRESS', `')dnl\n\
         define(`confTO_CONNECT', `10s')dnl\n\
         define(`confTO_INITIAL', `30s')dnl\n\
         define(`confLOG_LEVEL', `14')dnl\n\
         define(`ESMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         FEATURE(`nocanonify')dnl\n\
         FEATURE(`no_default_msa')dnl\n\
         MAILER(`local')dnl\n\
         MAILER(`smtp')dnl\n",
        cf = cf_dir.display(),
        queue = queue.display(),
        stats = d("statistics"),
        pid = d("sendmail.pid"),
        aliases = d("aliases"),
        help = d("helpfile"),
    );
    let mc_path = dir.join("sendmail.mc");
    std::fs::write(&mc_path, mc)?;
    let out = crate::process::output_within(
        std::process::Command::new("m4").arg(&mc_path),
        super::TOOL_LIMIT,
    )
    .map_err(|e| format!("m4 (scripts/setup.sh installs it): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "m4 {}: {}",
            mc_path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let cf = dir.join("sendmail.cf");
    std::fs::write(&cf, &out.stdout)?;

    let dev = dir.join("dev");
    std::fs::create_dir_all(&dev)?;
    super::set_mode(&dev, 0o755)?;
    let mut script = String::new();
    for name in DEVICES {
        std::fs::write(dev.join(name), "")?;
        script.push_str(&super::bind(
            Path::new(&format!("/dev/{name}")),
            &sh(&dev.join(name)),
        ));
    }
    script.push_str(&format!(
        "mount --rbind {} /dev\n{} -C {} -q5s\nwhile :; do sleep 3600; done\n",
        sh(&dev),
        sh(&sendmail),
        sh(&cf)
    ));
    let log = dir.join("maillog");
    Ok(Plan {
        script,
        ready: dir.join("sendmail.pid"),
        submit: vec![
            sendmail.into_os_string(),
            OsString::from("-C"),
            cf.into_os_string(),
            "-Am".into(),
            "-odb".into(),
        ],
        logs: vec![log.clone()],
        stop: None,
        syslog: Some((dev.join("log"), log)),
    })
}
