//! The workspace's layers, as ARCHITECTURE.md states them, checked on the source: in the core,
//! the probe and the server, every module uses only modules of lower layers, or earlier
//! modules of its own layer — a total order, so there can be no import cycle — and no file
//! grows past its size limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A crate's modules in layers, lowest first. A module may use a module of a lower layer,
/// or one listed before it in its own layer.
type Layers = &'static [(&'static str, &'static [&'static str])];

const CORE: Layers = &[
    ("names and wire concepts", &["names", "tls", "der"]),
    (
        "evidence and the wire contract",
        &["evidence", "progress", "api", "route"],
    ),
    ("report types", &["findings", "report"]),
    (
        "rules per protocol",
        &[
            "dns",
            "dnssec",
            "authoritative",
            "cert",
            "pkix",
            "tlsa",
            "dane",
            "starttls",
            "mta_sts",
            "posture",
            "sender_test",
            "tls_rpt",
        ],
    ),
    ("presentation vocabulary", &["present"]),
    ("judgement", &["analysis"]),
    (
        "renderers and the report's promises",
        &["render", "batch", "promises"],
    ),
];

const PROBE: Layers = &[
    (
        "limits and seams",
        &[
            "clock",
            "deadlines",
            "progress",
            "target",
            "budget",
            "identity",
            "never_probe",
        ],
    ),
    (
        "one protocol each",
        &[
            "dns",
            "nameservers",
            "tls",
            "client_hello",
            "posture",
            "smtp",
            "mta_sts",
        ],
    ),
    ("the whole check", &["check"]),
];

const SERVER: Layers = &[
    ("clocks and keys", &["clock", "ids", "log"]),
    ("the store", &["store", "snapshots", "outage"]),
    ("the operator's policy", &["never_probe"]),
    (
        "who asks, and how it is answered",
        &[
            "clients",
            "csp",
            "headers",
            "connections",
            "webapp",
            "metrics",
            "notify",
        ],
    ),
    ("running checks", &["checks", "budget", "cluster", "runner"]),
    (
        "the endpoints",
        &[
            "api",
            "health",
            "watches",
            "history",
            "tls_reports",
            "about",
            "sender_test",
            "batches",
        ],
    ),
];

/// Each crate's layers and file size limit; the core's judgement files stay near 400 lines.
const CRATES: &[(&str, Layers, usize)] = &[
    ("mxtls-core", CORE, 700),
    ("mxtls-probe", PROBE, 700),
    ("mxtls-server", SERVER, 700),
];
const MAX_ANALYSIS_LINES: usize = 450;

fn src(krate: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join(krate)
        .join("src")
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
fn module_of(krate: &str, path: &Path) -> String {
    let rel = path.strip_prefix(src(krate)).expect("under src");
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
    let mut problems = Vec::new();
    for (krate, layers, _) in CRATES {
        problems.extend(layer_problems(krate, layers));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn layer_problems(krate: &str, layers: Layers) -> Vec<String> {
    let order: Vec<&str> = layers.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let layer_of = |m: &str| layers.iter().position(|(_, ms)| ms.contains(&m));
    let mut problems = Vec::new();
    let mut seen_modules = BTreeMap::new();
    for path in files(&src(krate)) {
        let module = module_of(krate, &path);
        if module == "lib" || module == "main" {
            continue;
        }
        seen_modules.insert(module.clone(), ());
        let Some(rank) = order.iter().position(|m| *m == module) else {
            problems.push(format!(
                "{krate}: {module} is in no layer: add it to the layers here and in ARCHITECTURE.md"
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
                    layers[layer_of(&module).unwrap_or(0)].0,
                    layers[layer_of(&used).unwrap_or(0)].0,
                ));
            }
        }
    }
    for m in &order {
        if !seen_modules.contains_key(*m) {
            problems.push(format!(
                "{krate}: the layers name {m}, which does not exist"
            ));
        }
    }
    problems
}

#[test]
fn no_file_is_too_long() {
    let mut problems = Vec::new();
    for (krate, _, max) in CRATES {
        for path in files(&src(krate)) {
            let lines = std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count();
            let limit = if *krate == "mxtls-core" && module_of(krate, &path) == "analysis" {
                MAX_ANALYSIS_LINES
            } else {
                *max
            };
            if lines > limit {
                problems.push(format!("{}: {lines} lines (limit {limit})", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The server's layers as ARCHITECTURE.md lists them: the table there and the one here are
/// the same, so the document cannot drift from what is checked.
#[test]
fn architecture_md_lists_the_same_layers() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ARCHITECTURE.md"
    ))
    .expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for (krate, layers, _) in CRATES {
        for (name, modules) in *layers {
            let row = modules
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if !doc
                .lines()
                .any(|l| l.starts_with(&format!("| {name} | {row}")))
            {
                missing.push(format!("{krate}: | {name} | {row} | …"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md lacks these layer rows (or lists them otherwise):\n{}",
        missing.join("\n")
    );
}
