//! The web app's first-load transfer size: every wasm, js and css file Trunk put in `dist/`,
//! compressed with brotli as the server sends them. Budget: 350 KB. The root set the page
//! judges certificates with is not part of it: it is fetched when a check starts.
//!
//!     trunk build --release && cargo bench -p mxtls-server --bench bundle

use std::io::Write;
use std::path::PathBuf;

const BUDGET: usize = 350 * 1024;

fn main() {
    let dist = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist"));
    let Ok(entries) = std::fs::read_dir(&dist) else {
        eprintln!("no {}: run `trunk build --release` first", dist.display());
        std::process::exit(2);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("wasm" | "js" | "css" | "html")
            ) && p.file_name().and_then(|n| n.to_str()) != Some("embed.js")
        })
        .collect();
    files.sort();
    let (mut raw_total, mut br_total) = (0, 0);
    println!("{:<44} {:>10} {:>10}", "file", "raw", "brotli");
    for path in &files {
        let raw = std::fs::read(path).unwrap_or_default();
        let br = brotli_len(&raw);
        raw_total += raw.len();
        br_total += br;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!("{name:<44} {:>10} {:>10}", kb(raw.len()), kb(br));
    }
    println!(
        "{:<44} {:>10} {:>10}",
        "first load (total)",
        kb(raw_total),
        kb(br_total)
    );
    let roots = serde_json::to_vec(&mxtls_core::pkix::RootSet::mozilla()).unwrap_or_default();
    println!(
        "{:<44} {:>10} {:>10}",
        "/api/roots (fetched when a check starts)",
        kb(roots.len()),
        kb(brotli_len(&roots))
    );
    let verdict = if br_total <= BUDGET { "within" } else { "OVER" };
    println!("budget {}: {verdict}", kb(BUDGET));
    if br_total > BUDGET {
        std::process::exit(1);
    }
}

fn brotli_len(data: &[u8]) -> usize {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        let _ = w.write_all(data);
    }
    out.len()
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}
