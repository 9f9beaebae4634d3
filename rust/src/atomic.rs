//! Writing a file so that readers see either the old file or the complete new one.
//!
//! The new content goes to `.<name>.<pid>-<n>.tmp` beside the target, which its writer
//! holds an exclusive `flock` on for its whole life. A writer killed mid-write (SIGKILL,
//! power loss) leaves that file behind; the next write to the same target removes every
//! such file whose lock it can take, since a lock that can be taken has no living owner.

use crate::error::{Error, Result};
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Takes an exclusive advisory lock on `file`; `wait` false fails at once when it is held.
fn lock(file: &fs::File, wait: bool) -> std::io::Result<()> {
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor this `File` owns and keeps open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `path` still names the file open as `file`.
fn still_named(path: &Path, file: &fs::File) -> bool {
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `file_name` is a temporary file of a write to `name` (`.<name>.<pid>-<n>.tmp`).
fn is_temp_of(file_name: &str, name: &str) -> bool {
    let Some(rest) = file_name
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next())
}

/// Removes temporary files that killed writers of `name` left in `dir`. Best effort:
/// a file that cannot be opened, locked or removed is left alone. Returns how many went.
pub fn remove_stale_temps(dir: &Path, name: &str) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !is_temp_of(file_name, name) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = fs::File::open(&path) else {
            continue;
        };
        // A held lock means a live writer; a free one, a dead writer's leftover. Check
        // the name still points at what we locked before removing it.
        if lock(&file, false).is_ok() && still_named(&path, &file) && fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Creates and locks a new temporary file for a write to `dir/name`.
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, fs::File)> {
    loop {
        let tmp = dir.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| {
                let what = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("write into {}: the folder does not exist", dir.display())
                } else {
                    format!("create {}", tmp.display())
                };
                Error::io(what, e)
            })?;
        lock(&file, true).map_err(|e| Error::io(format!("lock {}", tmp.display()), e))?;
        // Between create and lock, another writer's clean-up may have taken the free lock
        // and removed the name; then start again under a new name.
        if still_named(&tmp, &file) {
            return Ok((tmp, file));
        }
    }
}

/// Writes `path` through `fill`: into a temporary file in the same directory, flushed
/// and fsynced, then renamed over `path`. On any failure the temporary file is removed and
/// `path` is untouched.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArg(format!("{} is not a file path", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = name.to_string_lossy();
    remove_stale_temps(&dir, &name);
    let (tmp, file) = create_temp(&dir, &name)?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 16, file);
        fill(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(format!("write {}", tmp.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("sync {}", tmp.display()), e))?;
        // Renamed while still locked, so no clean-up can take it for a leftover.
        fs::rename(&tmp, path)
            .map_err(|e| Error::io(format!("rename to {}", path.display()), e))?;
        drop(file);
        // Persist the rename itself; a directory that cannot be opened or synced (some
        // filesystems) does not make the already-complete write fail.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vpack-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn temp_names_are_recognised_exactly() {
        assert!(is_temp_of(".a.vpack.123-0.tmp", "a.vpack"));
        assert!(!is_temp_of(".a.vpack.123-0.tmp", "b.vpack"));
        assert!(!is_temp_of(".a.vpack.12x-0.tmp", "a.vpack"));
        assert!(!is_temp_of(".a.vpack.123-.tmp", "a.vpack"));
        assert!(!is_temp_of("a.vpack", "a.vpack"));
        assert!(!is_temp_of(".a.vpack.1-2-3.tmp", "a.vpack"));
    }

    #[test]
    fn stale_temps_go_and_live_ones_stay() {
        let dir = scratch("stale");
        let stale = dir.join(".p.vpack.999999-3.tmp");
        fs::write(&stale, b"half a pack").unwrap();
        let other = dir.join(".q.vpack.999999-3.tmp");
        fs::write(&other, b"another target").unwrap();
        let (live, held) = create_temp(&dir, "p.vpack").unwrap();
        assert_eq!(remove_stale_temps(&dir, "p.vpack"), 1);
        assert!(!stale.exists());
        assert!(live.exists(), "a locked temp file belongs to a live writer");
        assert!(other.exists(), "temps of other targets are not touched");
        drop(held);
        assert_eq!(remove_stale_temps(&dir, "p.vpack"), 1);
        write_atomic(&dir.join("p.vpack"), |out| {
            out.write_all(b"x").map_err(|e| Error::io("w", e))
        })
        .unwrap();
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        let err = write_atomic(&dir.join("missing/p.vpack"), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
