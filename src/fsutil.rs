//! Small file helpers: private dirs (0700), private files (0600), atomic writes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use anyhow::{Context, Result};
use camino::Utf8Path;

/// Create `dir` (and parents) if missing; the leaf is set to 0700.
pub fn ensure_private_dir(dir: &Utf8Path) -> Result<()> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("could not create {dir}"))?;
    }
    let meta = fs::metadata(dir).with_context(|| format!("could not stat {dir}"))?;
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("could not chmod 0700 {dir}"))?;
    }
    Ok(())
}

/// Write `contents` to `path` atomically (temp file in the same dir, fsync, rename) with `mode`.
pub fn write_private(path: &Utf8Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    ensure_private_dir(dir)?;
    let tmp = dir.join(format!(".{}.tmp.{}", path.file_name().unwrap_or("f"), std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_compat(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.with_context(|| format!("could not write {path}"))
}

/// Make sure an existing file has exactly `mode`.
pub fn chmod(path: &Utf8Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("could not chmod {mode:o} {path}"))
}

/// Remove a file if it exists.
pub fn remove_if_exists(path: &Utf8Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("could not remove {path}")),
    }
}

trait ModeCompat {
    fn mode_compat(&mut self, mode: u32) -> &mut Self;
}
impl ModeCompat for fs::OpenOptions {
    fn mode_compat(&mut self, mode: u32) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(mode)
    }
}
