//! Every seed and every fixed crash, through every fuzz target, on stable: a regression of a
//! crash fuzzing once found fails here even where no nightly toolchain is installed. And the
//! target list cannot drift from the cargo-fuzz binaries.

use std::path::{Path, PathBuf};

use mxtls_fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn seeds_and_fixed_crashes_pass_every_target() {
    let mut total = 0;
    for (name, body) in TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(!seeds.is_empty(), "{name} has no seeds from the test world");
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("read");
            body(&data);
            total += 1;
        }
    }
    println!("{total} inputs through {} targets", TARGETS.len());
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is not a [[bin]] of fuzz/Cargo.toml"
        );
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source).expect("the target's source");
        assert!(
            text.contains(&format!("mxtls_fuzz_targets::{name}(data)")),
            "{}",
            source.display()
        );
    }
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(
        bins,
        TARGETS.len(),
        "fuzz/Cargo.toml has targets the list does not"
    );
}
