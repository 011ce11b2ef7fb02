//! The first-load budget: what the home page loads (the files `dist/index.html` references:
//! its stylesheet, the app's JS and wasm), compressed with brotli as the server sends them
//! (Debian's `brotli`, quality 11), must stay within 350 KB. The size is deterministic, so it is a test, not a benchmark: no
//! change can grow it silently. The root set is not part of it (fetched when a check starts).
//!
//!     trunk build --release && cargo test -p mxtls-server --test bundle -- --nocapture

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BUDGET: usize = 350 * 1024;

/// `index.html` and every file of `dist` that it names (`"/file"` or `'/file'`).
fn first_load(dist: &Path) -> Vec<PathBuf> {
    first_load_under(dist, "/")
}

/// `index.html` of `dir`, served under the URL `prefix`, and every file of `dir` it names.
fn first_load_under(dist: &Path, prefix: &str) -> Vec<PathBuf> {
    let index = dist.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the web app first: trunk build --release (scripts/test.sh does)",
            index.display()
        )
    });
    let mut files = vec![index];
    for quote in ['"', '\''] {
        for piece in html.split(quote).skip(1).step_by(2) {
            if let Some(name) = piece.strip_prefix(prefix)
                && !name.is_empty()
                && !name.contains('/')
                && dist.join(name).is_file()
                && !files.contains(&dist.join(name))
            {
                files.push(dist.join(name));
            }
        }
    }
    files
}

/// The brotli size of `data` at the highest quality.
fn brotli_len(data: &[u8]) -> usize {
    let out = mxtls_world::process::output_with_input(
        Command::new("brotli").args(["--stdout", "--quality=11"]),
        data,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("brotli: {e} (scripts/setup.sh installs it)"));
    assert!(out.status.success(), "brotli failed");
    out.stdout.len()
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

#[test]
fn the_home_page_loads_at_most_350_kb_brotli() {
    let dist = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist"));
    let files = first_load(&dist);
    let kinds: Vec<&str> = files
        .iter()
        .filter_map(|p| p.extension().and_then(|e| e.to_str()))
        .collect();
    for kind in ["html", "css", "js", "wasm"] {
        assert!(
            kinds.contains(&kind),
            "the home page loads a .{kind} file: {files:?}"
        );
    }
    let (mut raw_total, mut br_total) = (0, 0);
    println!("{:<44} {:>10} {:>10}", "first load", "raw", "brotli");
    for path in &files {
        let raw = std::fs::read(path).expect("read");
        let br = brotli_len(&raw);
        raw_total += raw.len();
        br_total += br;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!("{name:<44} {:>10} {:>10}", kb(raw.len()), kb(br));
    }
    println!(
        "{:<44} {:>10} {:>10}   (budget {})",
        "total",
        kb(raw_total),
        kb(br_total),
        kb(BUDGET)
    );
    let roots = serde_json::to_vec(&mxtls_core::pkix::RootSet::mozilla()).expect("roots");
    println!(
        "{:<44} {:>10} {:>10}",
        "/api/roots (fetched when a check starts)",
        kb(roots.len()),
        kb(brotli_len(&roots))
    );
    // The history (/d/…), the report reader (/tls-rpt) and the portfolio (/b/…) are bundles
    // of their own, loaded only on their pages: none of their files is part of the home
    // page's load.
    for (dir, page) in [
        ("history", "/d/<domain>"),
        ("tls-rpt", "/tls-rpt"),
        ("portfolio", "/b/<id>"),
    ] {
        let bundle = dist.join(dir);
        let bundle_files = first_load_under(&bundle, &format!("/{dir}/"));
        assert!(
            bundle_files
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "wasm")),
            "{page} is built into dist/{dir} (scripts/setup.sh's build_web): {bundle_files:?}"
        );
        assert!(
            files.iter().all(|f| !f.starts_with(&bundle)),
            "the home page loads nothing of {page}"
        );
        let br: usize = bundle_files
            .iter()
            .map(|p| brotli_len(&std::fs::read(p).expect("read")))
            .sum();
        println!(
            "{:<44} {:>10} {:>10}",
            format!("{page} (its own load)"),
            "",
            kb(br)
        );
    }
    assert!(
        br_total <= BUDGET,
        "the home page loads {} brotli, over the {} budget",
        kb(br_total),
        kb(BUDGET)
    );
}
