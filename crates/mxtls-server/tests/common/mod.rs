//! What the server tests share: a probe pointed at a test world, and the router served on
//! a loopback port.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::Arc;

use mxtls_server::{App, Config};
use mxtls_world::World;

/// The probe configuration `mxtls serve` gets from the world's flags.
pub fn world_probe(world: &World) -> mxtls_probe::Config {
    mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        ..mxtls_probe::Config::default()
    }
}

/// Serves `config`'s router with `app` on a loopback port (as `mxtls serve` does, with
/// client addresses for the rate limit); returns where, and the task to stop it with.
pub async fn serve(
    config: Config,
    app: Arc<App>,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            mxtls_server::router(&config, app).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    (addr, server)
}
