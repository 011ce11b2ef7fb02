//! What the CLI's world tests share: `mxtls …` pointed at a test world.

use std::process::Command;

use mxtls_world::World;

/// `mxtls ARGS…` (a subcommand and its arguments) with the world's resolver, trust anchor,
/// CA and ports, and a 30 s check deadline.
pub fn mxtls_at(world: &World, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(args)
        .args(["--timeout", "30"])
        .arg("--resolver")
        .arg(world.resolver.to_string())
        .arg("--trust-anchor")
        .arg(&world.trust_anchor)
        .arg("--pkix-roots")
        .arg(&world.root_ca)
        .arg("--smtp-port")
        .arg(world.smtp_port.to_string())
        .arg("--https-port")
        .arg(world.https_port.to_string());
    cmd
}
