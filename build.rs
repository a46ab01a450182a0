//! Build script: rebuilds when migrations or the web UI change, and embeds every file under `web/`.
//!
//! refinery's `embed_migrations!` and `include_bytes!` only notice files that existed at the last
//! build, so a new migration or a new web asset would otherwise be silently left out.

use std::{env, fs, io::Write, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=sql");
    println!("cargo:rerun-if-changed=web");
    // Read when the script runs, not when it was compiled: cargo shares one build-script binary
    // between checkouts of this package that use the same target folder, and a path baked in at
    // compile time would embed another checkout's web UI (or none).
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("web");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    let mut f = fs::File::create(out).unwrap();
    writeln!(f, "&[").unwrap();
    for rel in files {
        let abs = root.join(&rel);
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(f, "    ({:?}, include_bytes!({:?}) as &[u8]),", rel, abs.display().to_string()).unwrap();
    }
    writeln!(f, "]").unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if !rel.starts_with('.') && !rel.contains("/.") {
                out.push(rel);
            }
        }
    }
}
