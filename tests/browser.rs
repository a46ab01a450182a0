//! Runs the web UI's browser tests (tests/browser: Playwright driving Debian's headless
//! Chromium) against the chatterbox binary built for this test run.

use std::{path::Path, process::Command};

#[test]
fn web_ui_in_a_real_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's Chromium: run `bash .ci/install-deps` (apt-get install chromium chromium-driver)"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install Node.js and npm: bash .ci/install-deps)");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    let status = Command::new("npm")
        .arg("test")
        .current_dir(&dir)
        .env("CHATTERBOX_BIN", env!("CARGO_BIN_EXE_chatterbox"))
        .status()
        .expect("npm runs");
    assert!(status.success(), "browser tests failed (screenshots and logs in tests/browser/output)");
}
