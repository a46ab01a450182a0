//! The committed man pages (`man/`) and shell completions (`completions/`) are exactly what
//! `chatterbox generate` produces from the current clap definitions; and the lists of tests that
//! run on both stores (`postgres_too!`) name every test of their suites.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

const FIX: &str = "run `cargo run -- generate` and commit man/ and completions/";

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn committed_man_pages_and_completions_are_up_to_date() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatterbox"))
        .args(["generate", "--out-dir"])
        .arg(tmp.path())
        .output()
        .expect("run chatterbox generate");
    assert!(out.status.success(), "chatterbox generate failed:\n{}", String::from_utf8_lossy(&out.stderr));

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["man", "completions"] {
        let generated = files(&tmp.path().join(sub));
        let committed = files(&repo.join(sub));
        assert!(!generated.is_empty(), "chatterbox generate wrote nothing into {sub}/");
        let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&committed), names(&generated), "{sub}/ has the wrong set of files: {FIX}");
        for (name, bytes) in &generated {
            assert!(
                committed[name] == *bytes,
                "{sub}/{} is out of date with the command-line definitions: {FIX}",
                name.display()
            );
        }
    }
}

/// The test functions of a suite: `fn` items right after `#[test]` or `#[tokio::test(..)]`.
fn test_names(src: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut attributed = false;
    for line in src.lines() {
        if line.starts_with("#[tokio::test") || line.starts_with("#[test]") {
            attributed = true;
        } else if attributed && !line.starts_with("#[") {
            let item = line.trim_start_matches("async ");
            if let Some(rest) = item.strip_prefix("fn ") {
                names.push(rest.split(['(', '<']).next().unwrap_or("").trim().to_string());
            }
            attributed = false;
        }
    }
    names
}

/// Every test of a suite that runs on both stores is listed in its `postgres_too!` (to run on
/// PostgreSQL too, or named as checking something only SQLite has): a new test cannot quietly
/// run on SQLite alone.
#[test]
fn suites_on_both_stores_list_every_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut suites = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        // At the start of a line: the invocation, not this test's own mention of it.
        let Some((_, listed)) = src.split_once("\ncommon::postgres_too!(") else { continue };
        suites += 1;
        let listed = listed.split(");").next().unwrap();
        let mut listed: Vec<String> = listed
            .replace("sqlite_only:", "")
            .split([',', ';'])
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        let mut tests = test_names(&src);
        listed.sort();
        tests.sort();
        assert_eq!(listed, tests, "{}: postgres_too! must name every test of the suite", path.display());
    }
    assert!(suites >= 5, "the suites that run on both stores invoke postgres_too!");
}
