use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `path` atomically: the bytes produced by `fill` go to a temporary file beside `path`, which is
/// flushed, synced and renamed over `path` only when `fill` succeeded. On error the temp file is removed.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Writes a text file atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::format(path, format!("cannot serialise JSON: {e}")))?;
    write_text(path, &(text + "\n"))
}

/// Writes `value` as pretty JSON with every object's keys in sorted order (through a `serde_json::Value`,
/// whose maps are sorted): how summary.json files are written, whatever the order of a struct's fields.
pub fn write_json_sorted<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let v = serde_json::to_value(value)
        .map_err(|e| Error::format(path, format!("cannot serialise JSON: {e}")))?;
    write_json(path, &v)
}

/// Writes a whole output directory atomically: `fill` writes into a fresh temporary directory beside
/// `out`, which then replaces `out` (an existing run directory is removed only after `fill` succeeded).
/// On error, or if `fill` returns `Err(Interrupted)` after Ctrl-C, the temporary directory is removed and
/// `out` is left as it was. On Linux the replacement is one atomic exchange of the two directories
/// (`renameat2(RENAME_EXCHANGE)`), so a process killed at any moment leaves at `out` either the old run
/// directory or the new one, never none and never a mix; elsewhere the old one is moved aside first.
pub fn write_run_dir(out: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.is_dir() && exchange(&tmp, out).is_ok() {
        // `tmp` now holds the old run directory.
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(());
    }
    if out.exists() {
        let old = out.with_file_name(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        let _ = std::fs::remove_dir_all(&old);
        return Ok(());
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
}

/// Swaps two directory entries in one atomic step (Linux, glibc: `renameat2(RENAME_EXCHANGE)`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// No atomic exchange here: [`write_run_dir`] moves the old directory aside instead.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run directory replaced by a new one holds exactly the new files (none of the old left over); one
    /// whose `fill` fails (a full disk, an interrupt) keeps the old files and leaves no partial directory.
    #[test]
    fn run_dir_is_replaced_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("diffscope-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("run");
        write_run_dir(&out, |d| write_text(&d.join("a.txt"), "old")).unwrap();
        write_run_dir(&out, |d| write_text(&d.join("b.txt"), "new")).unwrap();
        assert!(!out.join("a.txt").exists());
        assert_eq!(std::fs::read_to_string(out.join("b.txt")).unwrap(), "new");
        let r = write_run_dir(&out, |d| {
            write_text(&d.join("c.txt"), "half")?;
            Err(Error::io(
                d.join("d.txt"),
                std::io::Error::other("No space left on device"),
            ))
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("d.txt") && e.contains("No space"), "{e}");
        assert_eq!(std::fs::read_to_string(out.join("b.txt")).unwrap(), "new");
        assert!(!out.join("c.txt").exists());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["run".to_string()],
            "leftovers beside the run directory"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_leaves_old_file_and_no_temp() {
        let dir = std::env::temp_dir().join(format!("diffscope-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        write_text(&p, "old").unwrap();
        let r = write_atomic(&p, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
