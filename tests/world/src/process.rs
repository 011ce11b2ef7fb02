//! Subprocesses with a deadline. A tool that hangs (a resolver that never answers, a browser
//! that never exits) must fail the test that ran it, with a message, instead of stalling the
//! whole suite: every command the world and the tests run goes through [`output_within`].

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to completion like [`Command::output`], but kills it (and says so) when it
/// has not exited within `limit`. Standard output and error are read concurrently, so a
/// chatty child cannot block on a full pipe.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<Output> {
    output_with_input(cmd, &[], limit)
}

/// [`output_within`], with `input` written to the child's standard input (then closed).
pub fn output_with_input(
    cmd: &mut Command,
    input: &[u8],
    limit: Duration,
) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{cmd:?} did not finish within {limit:?} and was killed; stderr: {err}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_hangs_is_killed_at_its_deadline() {
        let started = Instant::now();
        let err = output_within(Command::new("sleep").arg("30"), Duration::from_millis(300))
            .expect_err("sleep 30 cannot finish in 300 ms");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "killed, not waited for"
        );
    }

    #[test]
    fn a_quick_command_gives_its_output() {
        let out = output_within(Command::new("echo").arg("hello"), Duration::from_secs(10))
            .expect("echo runs");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello\n");
    }
}
