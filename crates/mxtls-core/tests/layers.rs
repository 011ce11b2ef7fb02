//! The core's layers, as ARCHITECTURE.md states them, checked on the source: every module
//! uses only modules of lower layers, or earlier modules of its own layer — a total order, so
//! there can be no import cycle — and no file grows past its size limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use a module of a lower layer, or one listed before it in its
/// own layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("names and wire concepts", &["names", "tls"]),
    (
        "evidence and the wire contract",
        &["evidence", "progress", "api", "route"],
    ),
    ("report types", &["findings", "report"]),
    (
        "rules per protocol",
        &[
            "dns", "dnssec", "cert", "pkix", "tlsa", "dane", "starttls", "mta_sts", "tls_rpt",
        ],
    ),
    ("presentation vocabulary", &["present"]),
    ("judgement", &["analysis"]),
    ("renderers", &["render"]),
];

/// No file of the core is longer; the judgement's files stay near 400 lines.
const MAX_LINES: usize = 700;
const MAX_ANALYSIS_LINES: usize = 450;

fn src() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level module a file belongs to (`analysis/host.rs` → `analysis`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The modules a file's code (tests excluded) names as `crate::<module>`.
fn uses(text: &str, modules: &[&str]) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            group
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap_or(""))
                .collect()
        } else {
            vec![
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or(""),
            ]
        };
        for n in names {
            if modules.contains(&n) && !found.iter().any(|f| f == n) {
                found.push(n.to_owned());
            }
        }
    }
    found
}

#[test]
fn modules_use_only_lower_layers() {
    let order: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let layer_of = |m: &str| LAYERS.iter().position(|(_, ms)| ms.contains(&m));
    let mut problems = Vec::new();
    let mut seen_modules = BTreeMap::new();
    for path in files(&src()) {
        let module = module_of(&path);
        if module == "lib" {
            continue;
        }
        seen_modules.insert(module.clone(), ());
        let Some(rank) = order.iter().position(|m| *m == module) else {
            problems.push(format!(
                "{module} is in no layer: add it to LAYERS and ARCHITECTURE.md"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read");
        for used in uses(&text, &order) {
            if used == module {
                continue;
            }
            let used_rank = order.iter().position(|m| *m == used).unwrap_or(0);
            if used_rank > rank {
                problems.push(format!(
                    "{} uses {used}: {} may not use {} ({} → {})",
                    path.display(),
                    module,
                    used,
                    LAYERS[layer_of(&module).unwrap_or(0)].0,
                    LAYERS[layer_of(&used).unwrap_or(0)].0,
                ));
            }
        }
    }
    for m in &order {
        assert!(
            seen_modules.contains_key(*m),
            "LAYERS names {m}, which does not exist"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_file_is_too_long() {
    let mut problems = Vec::new();
    for path in files(&src()) {
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        let limit = if module_of(&path) == "analysis" {
            MAX_ANALYSIS_LINES
        } else {
            MAX_LINES
        };
        if lines > limit {
            problems.push(format!("{}: {lines} lines (limit {limit})", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
