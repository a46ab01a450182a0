//! The `chatterbox` binary: everything lives in the library; see `src/lib.rs` for the map.

fn main() -> std::process::ExitCode {
    chatterbox::cli::main()
}
