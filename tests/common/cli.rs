//! Running the real binary from a test: an environment that cannot leak in from the developer's
//! shell, optional input on stdin, and a readable account of what came out.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");

/// The binary without the database, log and backtrace variables of the calling shell.
pub fn chatterbox() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("CHATTERBOX_DB")
        .env_remove("CHATTERBOX_DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// Runs `cmd`, feeding `stdin` if given (else no stdin at all).
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chatterbox");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
