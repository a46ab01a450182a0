//! `chatterbox generate` (hidden): man pages into `man/` and shell completions into
//! `completions/`, from the clap definitions. The committed copies are checked by a test.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn run(out_dir: &Path) -> anyhow::Result<()> {
    let man = out_dir.join("man");
    let completions = out_dir.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    clap_mangen::generate_to(Cli::command(), &man).context("cannot write the man pages")?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
        clap_complete::generate_to(shell, &mut Cli::command(), "chatterbox", &completions)
            .with_context(|| format!("cannot write the {shell} completions"))?;
    }
    Ok(())
}
