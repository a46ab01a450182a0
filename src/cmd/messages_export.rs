//! `chatterbox messages export --csv [--output FILE] [--since T] [--until T] [--after-id N]`:
//! stream messages as CSV, in constant memory, to stdout or to a file (atomically), FIFO or device.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use anyhow::{bail, Context};

use crate::{
    chat::export::{self, CellStyle},
    cli::ExportArgs,
    store::MessageFilter,
};

pub fn run(db: &super::Database, args: &ExportArgs) -> anyhow::Result<()> {
    // clap has already turned --since and --until into the store's timestamp form.
    let filter = MessageFilter {
        since: args.since.clone(),
        until: args.until.clone(),
        after_id: args.after_id,
        ..MessageFilter::default()
    };
    let path = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    // Where the output goes is settled before the database is opened, so a bad --output leaves
    // nothing behind.
    let target = path.map(|p| Target::of(p).map(|t| (p, t))).transpose()?;
    let store = super::open_store(db)?;
    let mut filter = filter;
    if let Some(name) = &args.room {
        let room = super::find_room(&*store, name)?;
        filter.rooms = Some(vec![room.id]);
    }
    let export = |out: &mut dyn Write, terminal: bool| {
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        let rows = export::write_messages(&*store, &filter, &mut out, CellStyle { raw: args.raw, terminal })?;
        out.flush()?;
        anyhow::Ok(rows)
    };
    match target {
        None => {
            let terminal = std::io::stdout().is_terminal();
            export(&mut std::io::stdout().lock(), terminal)?;
        }
        Some((path, Target::Replace(file))) => {
            let rows = replace_atomically(&file, |out| export(out, false))?;
            eprintln!("wrote {rows} messages to {}", path.display());
        }
        Some((path, Target::WriteInto(file))) => {
            let mut out = OpenOptions::new()
                .write(true)
                .open(&file)
                .with_context(|| format!("cannot open {}", path.display()))?;
            // Checked again on the open file: the path may have been swapped since it was looked at.
            if !is_stream(&out.metadata()?.file_type()) {
                bail!("{} changed while opening it", path.display());
            }
            let terminal = out.is_terminal();
            let rows = export(&mut out, terminal)?;
            eprintln!("wrote {rows} messages to {}", path.display());
        }
    }
    Ok(())
}

/// What `--output` names, with symlinks followed.
enum Target {
    /// A regular file, or nothing yet: written as a temporary file beside it, then renamed over
    /// it, so a reader never sees half an export. The path is the symlinks' final target, so a
    /// symlink stays a symlink to a complete export.
    Replace(PathBuf),
    /// A FIFO or a character device (`/dev/null`, a terminal): written into, never replaced.
    WriteInto(PathBuf),
}

impl Target {
    fn of(path: &Path) -> anyhow::Result<Target> {
        let file = follow_symlinks(path).with_context(|| format!("cannot follow {}", path.display()))?;
        match std::fs::metadata(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Replace(file)),
            Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
            Ok(meta) if meta.is_file() => Ok(Target::Replace(file)),
            Ok(meta) if is_stream(&meta.file_type()) => Ok(Target::WriteInto(file)),
            Ok(meta) if meta.is_dir() => bail!("cannot write {}: it is a folder", path.display()),
            Ok(_) => bail!("cannot write {}: not a regular file, FIFO or character device", path.display()),
        }
    }
}

/// The folder that holds `path` (`.` for a bare file name), where its link is checked and its
/// temporary file made.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn is_stream(file_type: &std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        file_type.is_fifo() || file_type.is_char_device()
    }
    #[cfg(not(unix))]
    {
        let _ = file_type;
        false
    }
}

/// The path a chain of symlinks ends at (which may not exist yet). Only the last component is
/// followed: renaming through a symlinked folder already lands in the right place.
///
/// Following the links here (to replace the target atomically) bypasses the kernel's
/// `fs.protected_symlinks`, so every link is first checked against that rule: see
/// [`may_follow`].
fn follow_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // The kernel's own limit (ELOOP): a symlink cycle is an error, not a hang.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                may_follow(&path, &meta)?;
                let link = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Whether the symlink at `path` may be followed, by the rule of Linux's `fs.protected_symlinks`
/// (a little stricter): the link belongs to us, or it belongs to the owner of its folder and that
/// folder is not sticky and world-writable like `/tmp`. Otherwise anyone could plant a link
/// where a root cron job writes (`/tmp/messages.csv -> /etc/cron.d/x`) and have it write there.
#[cfg(unix)]
fn may_follow(path: &Path, link: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;

    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if link.uid() == me {
        return Ok(());
    }
    let dir = std::fs::metadata(folder_of(path))?;
    let shared = dir.mode() & 0o1002 == 0o1002;
    if link.uid() == dir.uid() && !shared {
        return Ok(());
    }
    let why = if shared {
        "it is in a sticky world-writable folder".to_string()
    } else {
        format!("its folder belongs to uid {}", dir.uid())
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "refusing to follow the symlink {}: it belongs to uid {}, not to you (uid {me}), and {why}",
            path.display(),
            link.uid()
        ),
    ))
}

#[cfg(not(unix))]
fn may_follow(_path: &Path, _link: &std::fs::Metadata) -> std::io::Result<()> {
    Ok(())
}

/// Writes `file` through a temporary file in its folder, renamed over it only when `write` has
/// succeeded. SIGINT, SIGTERM or SIGHUP meanwhile stops the export, removes the temporary file
/// and then ends the process by that signal as it would have without the handler.
fn replace_atomically(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<u64>,
) -> anyhow::Result<u64> {
    replace_with(file, write, rename)
}

fn rename(tmp: tempfile::NamedTempFile, file: &Path) -> std::io::Result<()> {
    tmp.persist(file).map(drop).map_err(|e| e.error)
}

/// [`replace_atomically`] with the final rename given (a test signals during it).
fn replace_with(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<u64>,
    persist: impl FnOnce(tempfile::NamedTempFile, &Path) -> std::io::Result<()>,
) -> anyhow::Result<u64> {
    let dir = folder_of(file);
    let interrupt = Interrupt::install()?;
    let written = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))
        .and_then(|tmp| {
            let rows = write(&mut Interruptible { file: tmp.as_file(), interrupt: &interrupt })?;
            tmp.as_file().sync_all()?;
            interrupt.check()?;
            Ok((tmp, rows))
        });
    let (tmp, rows) = match written {
        Ok(done) => done,
        Err(e) => {
            // The temporary file is gone by now (dropped); only then may the signal end us.
            interrupt.reraise();
            return Err(e);
        }
    };
    // Keep the permissions of the file being replaced (a reader set up by the operator must
    // still be able to read it); a new export stays private (0600): messages are personal data.
    if let Ok(meta) = std::fs::metadata(file) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    let persisted = persist(tmp, file).with_context(|| format!("cannot write {}", file.display()));
    // A signal during the rename came after the last check: the export is complete, but the
    // command still ends by the signal, so a script does not carry on as if nothing happened.
    interrupt.reraise();
    persisted?;
    Ok(rows)
}

/// The signals that end an export, noted by a flag-setting handler instead of ending the process
/// at once; the handlers are removed when this is dropped.
struct Interrupt {
    signal: Arc<AtomicUsize>,
    ids: Vec<signal_hook::SigId>,
}

impl Interrupt {
    #[cfg(unix)]
    const SIGNALS: [i32; 3] =
        [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP];
    #[cfg(not(unix))]
    const SIGNALS: [i32; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

    fn install() -> anyhow::Result<Interrupt> {
        let signal = Arc::new(AtomicUsize::new(0));
        let mut ids = Vec::new();
        for sig in Self::SIGNALS {
            let id = signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)
                .context("cannot install a signal handler")?;
            ids.push(id);
        }
        Ok(Interrupt { signal, ids })
    }

    fn received(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig as i32),
        }
    }

    fn check(&self) -> std::io::Result<()> {
        match self.received() {
            Some(sig) => Err(std::io::Error::other(format!("interrupted by signal {sig}"))),
            None => Ok(()),
        }
    }

    /// Ends the process by the signal received, if any (so a shell sees 130 for SIGINT, 143 for
    /// SIGTERM, and a script loop stops as it does for any interrupted command).
    fn reraise(&self) {
        if let Some(sig) = self.received() {
            for id in &self.ids {
                signal_hook::low_level::unregister(*id);
            }
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// The temporary file, failing the next write once a signal has arrived.
struct Interruptible<'a> {
    file: &'a File,
    interrupt: &'a Interrupt,
}

impl Write for Interruptible<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.interrupt.check()?;
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    const CHILD: &str = "CHATTERBOX_TEST_SIGNAL_DURING_RENAME";

    /// Runs in a child process (the signal ends it): SIGTERM arrives while the finished export
    /// is being renamed into place, after the last check of the write loop.
    #[test]
    fn a_signal_during_the_rename_still_ends_the_command_by_it() {
        if let Some(dir) = std::env::var_os(CHILD) {
            let file = Path::new(&dir).join("messages.csv");
            let rows = replace_with(
                &file,
                |out| {
                    out.write_all(b"id\n")?;
                    Ok(1)
                },
                |tmp, file| {
                    signal_hook::low_level::raise(signal_hook::consts::SIGTERM)?;
                    rename(tmp, file)
                },
            );
            panic!("the export went on after the signal: {rows:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cmd::messages_export::tests::a_signal_during_the_rename_still_ends_the_command_by_it",
            ])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, dir.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(signal_hook::consts::SIGTERM),
            "{:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // The rename itself had happened: the export is complete, nothing else is left.
        assert_eq!(std::fs::read_to_string(dir.path().join("messages.csv")).unwrap(), "id\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
