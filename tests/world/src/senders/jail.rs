//! A sender's jail: its own PID, mount and UTS namespaces, and the syslog socket Sendmail
//! logs to.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{TOOL_LIMIT, set_mode};
use crate::Error;

/// An MTA's own PID, mount and UTS namespaces: `unshare … sh -c SCRIPT`, the script being the
/// namespace's first process. Killing it makes the kernel kill every other process there.
pub(super) struct Jail {
    /// The `unshare` process.
    child: Child,
    /// The host PID of the jail's first process.
    init: libc::pid_t,
    /// Standard output and error of the script (and of MTAs that log there).
    pub(super) output: PathBuf,
}

impl Jail {
    pub(super) fn spawn(dir: &Path, hostname: &str, script: &str) -> Result<Jail, Error> {
        let output = dir.join("jail.log");
        let log = std::fs::File::create(&output)?;
        let script = format!("set -e\nhostname {hostname}\n{script}");
        let mut child = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--kill-child",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(script)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let began = Instant::now();
        let init = loop {
            if let Some(pid) = first_child(child.id()) {
                break pid;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&output).unwrap_or_default();
                return Err(format!("the jail ended at once ({status}): {text}").into());
            }
            if began.elapsed() > TOOL_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the jail's first process did not appear".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(Jail {
            child,
            init,
            output,
        })
    }

    /// A command that runs `argv` inside the jail.
    pub(super) fn enter(&self, argv: &[OsString]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init.to_string())
            .args(["--pid", "--mount", "--uts", "--"])
            .args(argv);
        cmd
    }

    /// The jail's exit status, once it has ended.
    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL to the first process (the kernel then kills the rest of the namespace), and
    /// `unshare` reaped, which it is only once every process of the namespace is gone.
    pub(super) fn kill(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // SAFETY: kill(2) on the PID of our own child's child, which is not reaped while our
        // child (`unshare`, which waits for it) lives; no memory is involved.
        unsafe { libc::kill(self.init, libc::SIGKILL) };
        let began = Instant::now();
        while self.exited().is_none() {
            if began.elapsed() > TOOL_LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The first child of process `parent`: from `/proc/PID/task/PID/children`, else by reading
/// every process's parent.
fn first_child(parent: u32) -> Option<libc::pid_t> {
    let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"));
    if let Ok(children) = children {
        return children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok());
    }
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            (parent_of(pid)? == parent as libc::pid_t).then_some(pid)
        })
}

/// The parent of process `pid`: the second field after the command name (which may hold
/// spaces and parentheses) of `/proc/PID/stat`.
pub(super) fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A syslog socket (`/dev/log` inside a jail) whose messages are appended to a file.
pub(super) struct Syslog {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Syslog {
    pub(super) fn serve(socket: &Path, file: &Path) -> Result<Syslog, Error> {
        use std::io::Write;
        let _ = std::fs::remove_file(socket);
        let listener = std::os::unix::net::UnixDatagram::bind(socket)
            .map_err(|e| format!("cannot bind {}: {e}", socket.display()))?;
        set_mode(socket, 0o666)?;
        listener.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)?;
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            // After the stop flag, whatever is still queued is read, then the thread ends.
            loop {
                match listener.recv(&mut buf) {
                    Ok(n) => {
                        let line = String::from_utf8_lossy(&buf[..n]);
                        let _ = writeln!(out, "{}", line.trim_end_matches(['\n', '\0']));
                    }
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        });
        Ok(Syslog { done, thread })
    }

    pub(super) fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
