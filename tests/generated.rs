//! The committed man pages (`man/`) and shell completions (`completions/`) are exactly what
//! `chatterbox generate` produces from the current clap definitions.

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
