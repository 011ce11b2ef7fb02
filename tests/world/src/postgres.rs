//! A throw-away PostgreSQL server for tests: Debian's own `postgres`, in a temporary
//! directory, on a loopback port, with trust authentication for one user — started by the
//! test that needs it and stopped (its directory removed) when the [`Cluster`] is dropped.
//!
//! PostgreSQL refuses to run as root, so under root (CI) `initdb` and the server run as the
//! `postgres` user (made by Debian's package); otherwise as the caller. The server is our
//! own child and gets a fast shutdown (SIGINT) if the thread that started it ends first, so
//! a test that fails or is killed leaves no server behind. [`Cluster::stop`] and
//! [`Cluster::start_again`] make an outage of the database for the tests of faults.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::output_within;

/// A running PostgreSQL server.
pub struct Cluster {
    dir: PathBuf,
    server: Child,
    pub port: u16,
}

/// The user the tests connect as (the cluster's superuser).
pub const USER: &str = "mxtls";

/// Where Debian keeps the server's programs: the newest `/usr/lib/postgresql/N/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The `postgres` user's uid and gid.
fn postgres_user() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam with a valid C string; the fields are copied out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: checked for null; getpwnam's record is valid until the next call.
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// `program`, as the `postgres` user when we are root.
fn command(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(program);
    if is_root()
        && let Some((uid, gid)) = postgres_user()
    {
        c.uid(uid).gid(gid);
        c.env("HOME", "/var/lib/postgresql");
    }
    c
}

impl Cluster {
    /// Makes a cluster in a fresh temporary directory and starts it on a free loopback port.
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir().ok_or(
            "PostgreSQL is not installed (/usr/lib/postgresql/N/bin/postgres): scripts/setup.sh installs Debian's postgresql",
        )?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mxtls-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if is_root() {
            let (uid, gid) =
                postgres_user().ok_or("no postgres user (Debian's postgresql package makes it)")?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown postgres {}: {e}", dir.display()))?;
        }
        let data = dir.join("data");
        let out = output_within(
            command(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                USER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]),
            Duration::from_secs(120),
        )
        .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let server = launch(&bin, &dir, port)?;
        let mut cluster = Cluster { dir, server, port };
        cluster.until_ready(&bin)?;
        Ok(cluster)
    }

    /// Waits (at most a minute) until the server accepts connections.
    fn until_ready(&mut self, bin: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.server.try_wait() {
                return Err(format!("postgres exited ({status}): {}", self.log()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && self.ready(bin)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("postgres did not start in 60 s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (a fast shutdown: its clients are disconnected) and waits for it to
    /// exit; the data stays, for [`Cluster::start_again`]. A test's database outage.
    pub fn stop(&mut self) -> Result<(), String> {
        let bin = bin_dir().ok_or("PostgreSQL is not installed")?;
        let out = output_within(
            command(&bin.join("pg_ctl"))
                .arg("stop")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "-t", "20"]),
            Duration::from_secs(30),
        )
        .map_err(|e| format!("pg_ctl stop: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl stop: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let _ = self.server.wait();
        Ok(())
    }

    /// Starts the stopped server again on the same port, with the same data, and waits
    /// until it accepts connections.
    pub fn start_again(&mut self) -> Result<(), String> {
        let bin = bin_dir().ok_or("PostgreSQL is not installed")?;
        self.server = launch(&bin, &self.dir, self.port)?;
        self.until_ready(&bin)
    }

    /// A client program of `bin` pointed at this cluster as [`USER`].
    fn client(&self, bin: &Path, program: &str) -> Command {
        let mut c = Command::new(bin.join(program));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER]);
        c
    }

    fn ready(&self, bin: &Path) -> bool {
        output_within(
            self.client(bin, "pg_isready").args(["-d", "postgres"]),
            Duration::from_secs(10),
        )
        .is_ok_and(|o| o.status.success())
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// A connection URL for a database of the cluster (made by [`Cluster::database`]).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Makes a new, empty database and returns its URL: each test its own.
    pub fn database(&self, name: &str) -> Result<String, String> {
        let bin = bin_dir().ok_or("PostgreSQL is not installed")?;
        let out = output_within(
            self.client(&bin, "createdb").arg(name),
            Duration::from_secs(30),
        )
        .map_err(|e| format!("createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "createdb {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(self.url(name))
    }
}

/// Runs `postgres` on `dir`'s data at `port`, its log appended to `dir/server.log`.
fn launch(bin: &Path, dir: &Path, port: u16) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .map_err(|e| e.to_string())?;
    let mut server = command(&bin.join("postgres"));
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            server.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
    }
    server
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
        .arg(dir)
        // A test database: nothing to keep across a crash of the machine.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=200"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("postgres: {e}"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // pg_ctl's fast shutdown (clients are disconnected, no waiting), as the server's user.
        if let Some(bin) = bin_dir() {
            let _ = output_within(
                command(&bin.join("pg_ctl"))
                    .arg("stop")
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-m", "fast", "-w", "-t", "20"]),
                Duration::from_secs(30),
            );
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
