//! Running as a service: `mxtls migrate` ahead of an upgrade, `mxtls healthcheck` for a
//! container.

use std::process::ExitCode;

use crate::{EXIT_ERRORS, fail};

/// `mxtls migrate`: the store opened (which applies what is missing) and its version said.
pub fn migrate(db: &str) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let known = mxtls_server::store::MIGRATIONS.len();
    match runtime.block_on(async {
        let store = mxtls_server::snapshots::Store::connect(db).await?;
        let version = store.schema_version().await?;
        store.flush().await?;
        Ok::<_, mxtls_server::store::StoreError>((store.engine(), version))
    }) {
        Ok((engine, version)) => {
            println!("mxtls: the store ({engine}) is at schema version {version} of {known}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("the store: {e}")),
    }
}

/// `mxtls healthcheck`: `GET /healthz` on `listen`, 200 or not, within 5 s.
pub fn healthcheck(listen: std::net::SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    let limit = std::time::Duration::from_secs(5);
    let answer = (|| -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&listen, limit)?;
        s.set_read_timeout(Some(limit))?;
        s.set_write_timeout(Some(limit))?;
        s.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {listen}\r\n\r\n").as_bytes())?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(head) if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") => {
            ExitCode::SUCCESS
        }
        Ok(head) => {
            eprintln!(
                "mxtls: {listen}/healthz: {}",
                head.lines().next().unwrap_or("")
            );
            ExitCode::from(EXIT_ERRORS)
        }
        Err(e) => {
            eprintln!("mxtls: {listen}/healthz: {e}");
            ExitCode::from(EXIT_ERRORS)
        }
    }
}
