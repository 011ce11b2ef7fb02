//! Every seed and every fixed crash, through every fuzz target, on stable: a regression of a
//! crash fuzzing once found fails here even where no nightly toolchain is installed, and an
//! input that hangs fails with its name rather than stalling the suite. And the target list
//! cannot drift from the cargo-fuzz binaries.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use mxtls_fuzz_targets::{Body, TARGETS};

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

/// How long one input may take through its target before the replay calls it a hang (the
/// slowest seed takes about 20 ms in a debug build): it fails with the file's name instead
/// of stalling the suite.
const PER_INPUT: Duration = Duration::from_secs(2);

/// Runs every file through `body`, each on its own thread with `limit`: a panic or a hang
/// fails with the file's name (a hung thread is left behind; the test fails anyway).
/// Returns how many inputs passed and the slowest one's time.
fn replay(
    name: &str,
    body: Body,
    files: &[PathBuf],
    limit: Duration,
) -> Result<(usize, Duration), String> {
    let mut slowest = Duration::ZERO;
    for file in files {
        let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let (done, finished) = mpsc::channel();
        let started = Instant::now();
        std::thread::Builder::new()
            .name(format!("{name} {}", file.display()))
            .spawn(move || {
                body(&data);
                let _ = done.send(());
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        match finished.recv_timeout(limit) {
            Ok(()) => slowest = slowest.max(started.elapsed()),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{name}: {} took longer than {limit:?} (a hang)",
                    file.display()
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("{name}: {} panicked", file.display()));
            }
        }
    }
    Ok((files.len(), slowest))
}

#[test]
fn seeds_and_fixed_crashes_pass_every_target() {
    let mut total = 0;
    let mut slowest = (Duration::ZERO, "");
    for (name, body) in TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(!seeds.is_empty(), "{name} has no seeds from the test world");
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        let inputs: Vec<PathBuf> = seeds.into_iter().chain(regressions).collect();
        let (n, took) = replay(name, *body, &inputs, PER_INPUT).unwrap_or_else(|e| panic!("{e}"));
        total += n;
        if took > slowest.0 {
            slowest = (took, name);
        }
    }
    println!(
        "{total} inputs through {} targets; the slowest took {:?} ({})",
        TARGETS.len(),
        slowest.0,
        slowest.1
    );
}

/// The replay's own guard: an input that hangs or panics fails with its file's name instead
/// of stalling or aborting the suite.
#[test]
fn a_hanging_or_panicking_input_fails_the_replay_with_its_name() {
    fn hangs(_: &[u8]) {
        loop {
            std::thread::park();
        }
    }
    fn panics(_: &[u8]) {
        panic!("a crash");
    }
    fn passes(_: &[u8]) {}
    let inputs = files(&fuzz_dir().join("regressions").join("ehlo"));
    let first = inputs
        .first()
        .expect("a fixed ehlo crash")
        .display()
        .to_string();
    let limit = Duration::from_millis(200);
    let hang = replay("hangs", hangs, &inputs, limit).expect_err("a hang fails");
    assert_eq!(
        hang,
        format!("hangs: {first} took longer than {limit:?} (a hang)")
    );
    // A panic is reported when its thread ends, after the panic hook has printed (with
    // RUST_BACKTRACE set, a symbolised backtrace: slow on a loaded machine), so it gets a
    // deadline it cannot reach by printing.
    let crash =
        replay("panics", panics, &inputs, Duration::from_secs(60)).expect_err("a panic fails");
    assert_eq!(crash, format!("panics: {first} panicked"));
    let (n, _) = replay("passes", passes, &inputs, limit).expect("passes");
    assert_eq!(n, inputs.len());
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
