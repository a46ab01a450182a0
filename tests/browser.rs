//! Runs the web UI's browser tests (tests/browser: Playwright driving Debian's headless
//! Chromium) against the chatterbox binary built for this test run, and type-checks the UI's
//! JavaScript (JSDoc types, tests/browser/tsconfig.json) with TypeScript.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

/// Both tests may find node_modules incomplete; one `npm ci` at a time.
static NPM: Mutex<()> = Mutex::new(());

/// tests/browser with every devDependency installed (`npm ci` when one is missing, e.g. on a
/// machine whose node_modules predates a newly added package).
fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let _one = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).expect("tests/browser/package.json"),
    )
    .expect("package.json is JSON");
    let missing = manifest["devDependencies"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(name, _)| !dir.join("node_modules").join(name).join("package.json").exists());
    if missing {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install Node.js and npm: bash .ci/install-deps)");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    dir
}

#[test]
fn web_ui_in_a_real_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's Chromium: run `bash .ci/install-deps` (apt-get install chromium chromium-driver)"
    );
    let dir = browser_dir();
    let status = Command::new("npm")
        .arg("test")
        .current_dir(&dir)
        .env("CHATTERBOX_BIN", env!("CARGO_BIN_EXE_chatterbox"))
        .status()
        .expect("npm runs");
    assert!(status.success(), "browser tests failed (screenshots and logs in tests/browser/output)");
}

/// The UI has no build step, so its JSDoc types are the only static check it gets: a type error
/// in web/static/*.js fails the test suite.
#[test]
fn web_ui_javascript_type_checks() {
    let dir = browser_dir();
    let out = Command::new(dir.join("node_modules/.bin/tsc"))
        .args(["-p", ".", "--noEmit", "--pretty", "false"])
        .current_dir(&dir)
        .output()
        .expect("tsc runs (npm ci in tests/browser installs TypeScript)");
    assert!(
        out.status.success(),
        "TypeScript finds type errors in web/static (tests/browser/tsconfig.json):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
