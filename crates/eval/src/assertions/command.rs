//! The `command` contract: pipe the output into a consumer program and pass on exit 0.
//!
//! Model output is untrusted data, so it only ever travels on the consumer's standard
//! input, byte for byte. The command line is the argument list written in the program
//! (never a shell string, nothing interpolated). It runs in a fresh temporary directory
//! (removed afterwards) with an environment holding only `PATH`, in its own process
//! group, and the whole group is killed when it passes its timeout. Semantics:
//! `docs/assertions.md`, "command".

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{excerpt, Finding, EXCERPT_CHARS};

/// How many bytes of the end of the consumer's standard error are kept for the detail.
const STDERR_KEEP: usize = 4096;

/// Run `argv` with `output` on standard input; pass when it exits 0 within `timeout_secs`.
pub async fn command(output: &str, argv: &[String], timeout_secs: f64) -> Finding {
    let Some((program, args)) = argv.split_first() else {
        return Finding::fail("empty command");
    };
    let dir = match tempfile::Builder::new().prefix("proximity-cmd-").tempdir() {
        Ok(d) => d,
        Err(e) => return Finding::fail(format!("cannot create a temporary directory: {e}")),
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Finding::fail(format!("cannot run `{program}`: {e}")),
    };
    let group = child.id();
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let input = output.as_bytes();

    let write = async move {
        if let Some(mut s) = stdin {
            // A consumer that exits without reading everything closes the pipe: its exit
            // status, not the broken pipe, decides.
            let _ = s.write_all(input).await;
            let _ = s.shutdown().await;
        }
    };
    let read = async move {
        let mut kept = Vec::new();
        if let Some(mut s) = stderr {
            let mut chunk = [0_u8; 4096];
            while let Ok(n) = s.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&chunk[..n]);
                let over = kept.len().saturating_sub(STDERR_KEEP);
                kept.drain(..over);
            }
        }
        kept
    };
    let limit = Duration::from_secs_f64(timeout_secs.max(0.001));
    let ran = tokio::time::timeout(limit, async {
        let ((), status, err) = tokio::join!(write, child.wait(), read);
        (status, err)
    })
    .await;
    // Whatever happened, nothing the consumer started outlives the check.
    kill_group(group);
    let (status, err) = match ran {
        Ok(done) => done,
        Err(_) => {
            let _ = child.kill().await;
            return Finding::fail(format!(
                "`{program}` timed out after {timeout_secs}s and was killed"
            ));
        }
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return Finding::fail(format!("`{program}` could not be waited for: {e}")),
    };
    let err_text = String::from_utf8_lossy(&err);
    let stderr_part = if err_text.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", tail_excerpt(&err_text))
    };
    match status.code() {
        Some(0) => Finding::pass(format!("`{program}` exited 0")),
        Some(code) => Finding::fail(format!("`{program}` exited {code}{stderr_part}")),
        None => Finding::fail(format!("`{program}` was killed by a signal{stderr_part}")),
    }
}

/// The end of `text` (where an error message usually is), quoted like [`excerpt`]: whitespace
/// runs collapsed, at most [`EXCERPT_CHARS`] characters, `…` in front when cut.
fn tail_excerpt(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let count = collapsed.chars().count();
    if count <= EXCERPT_CHARS {
        return excerpt(&collapsed);
    }
    let tail: String = collapsed.chars().skip(count - EXCERPT_CHARS).collect();
    format!("{:?}", format!("…{tail}"))
}

/// Kill the process group the consumer leads (it may have started others).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The group is usually gone already (ESRCH): nothing to do then.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn passes_on_exit_zero_and_quotes_stderr_on_failure() {
        let ok = command("{}", &argv(&["sh", "-c", "cat >/dev/null"]), 10.0).await;
        assert!(ok.passed, "{}", ok.detail);
        assert_eq!(ok.detail, "`sh` exited 0");
        let bad = command(
            "x",
            &argv(&["sh", "-c", "echo 'bad row 3' >&2; exit 3"]),
            10.0,
        )
        .await;
        assert!(!bad.passed);
        assert_eq!(bad.detail, "`sh` exited 3; stderr: \"bad row 3\"");
    }

    #[tokio::test]
    async fn python_consumer_validates_json() {
        let check = argv(&["python3", "-c", "import json,sys; json.load(sys.stdin)"]);
        assert!(command("{\"a\": 1}", &check, 10.0).await.passed);
        let f = command("{a: 1}", &check, 10.0).await;
        assert!(!f.passed);
        assert!(f.detail.contains("Expecting property name"), "{}", f.detail);
        assert!(
            f.detail.contains("stderr: \"…"),
            "the end of stderr: {}",
            f.detail
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_consumer() {
        let f = command("", &argv(&["sh", "-c", "sleep 30"]), 0.3).await;
        assert!(!f.passed);
        assert_eq!(f.detail, "`sh` timed out after 0.3s and was killed");
    }

    #[tokio::test]
    async fn missing_program_fails() {
        let f = command("", &argv(&["proximity-no-such-consumer"]), 5.0).await;
        assert!(!f.passed);
        assert!(
            f.detail
                .starts_with("cannot run `proximity-no-such-consumer`"),
            "{}",
            f.detail
        );
    }

    #[tokio::test]
    async fn environment_holds_only_path_and_cwd_is_a_fresh_directory() {
        std::env::set_var("PROXIMITY_TEST_SECRET", "hunter2");
        let f = command(
            "",
            &argv(&[
                "sh",
                "-c",
                // Only PATH (sh itself may add PWD, SHLVL and _); an empty directory.
                "env | grep -v -e '^PATH=' -e '^PWD=' -e '^SHLVL=' -e '^_=' >&2; test -z \"$(ls -A)\" || exit 9; env | grep -q SECRET && exit 8; exit 0",
            ]),
            10.0,
        )
        .await;
        assert!(f.passed, "{}", f.detail);
    }

    /// Model output is data on stdin: shell syntax in it is never run.
    #[tokio::test]
    async fn output_cannot_inject_shell_commands() {
        let hostile =
            "$(touch pwned); rm -rf x `touch pwned2` ; touch pwned3\n\"'\\ && touch pwned4 | sh\n";
        // A consumer that records what it got on stdin and lists its directory.
        let probe = "import os,sys; data=sys.stdin.buffer.read(); files=os.listdir('.'); sys.stderr.write(repr(files)); sys.exit(0 if data == sys.argv[1].encode() and not files else 1)";
        let f = command(hostile, &argv(&["python3", "-c", probe, hostile]), 10.0).await;
        assert!(
            f.passed,
            "stdin byte-exact and no file created: {}",
            f.detail
        );

        // Byte-exact delivery, through `cat` and through `sh -c 'cat >/dev/null'`.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy");
        let copy_arg = copy.display().to_string();
        let f = command(
            hostile,
            &argv(&["sh", "-c", "cat > \"$0\"; ls -A", &copy_arg]),
            10.0,
        )
        .await;
        assert!(f.passed, "{}", f.detail);
        assert_eq!(tokio::fs::read(&copy).await.unwrap(), hostile.as_bytes());
        let f = command(hostile, &argv(&["sh", "-c", "cat >/dev/null"]), 10.0).await;
        assert!(f.passed, "{}", f.detail);
        let f = command(hostile, &argv(&["cat"]), 10.0).await;
        assert!(f.passed, "{}", f.detail);
        for name in ["pwned", "pwned2", "pwned3", "pwned4"] {
            assert!(!dir.path().join(name).exists());
            assert!(
                !std::path::Path::new(name).exists(),
                "{name} in the test's cwd"
            );
        }
    }
}
