//! Files on disk: private dirs (0700), and the one atomic writer (temporary file in the same
//! directory, fsync, rename, fsync of the directory) that every file kilter writes goes through
//! (via the runner, so that `--dry-run` prints instead). A write can be staged first and
//! committed later: `kilter stop` stages kilter.yaml before it stops anything, so a file that
//! cannot be written stops nothing.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

/// Create `dir` (and missing parents, 0700) if missing; the leaf is set to 0700.
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

/// How a written file's permissions and ownership are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// A file kilter owns: exactly this mode, in a private (0700) directory created if missing.
    Private(u32),
    /// A file the user owns (kilter.yaml): an existing file keeps its mode, owner and group; a
    /// new one gets 0644 and, when kilter runs as root, the directory's owner and group. The
    /// directory must exist.
    Keep,
}

/// A write staged in a temporary file next to its target; [`Staged::commit`] renames it into
/// place. Dropping it uncommitted removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    tmp: Utf8PathBuf,
    target: Utf8PathBuf,
    committed: bool,
}

/// Where a write to `path` really lands: through a symlink to its target. A dangling symlink is
/// an error rather than a silent replacement of the link by a file.
pub fn write_target(path: &Utf8Path) -> Result<Utf8PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match path.canonicalize_utf8() {
            Ok(t) => Ok(t),
            Err(_) => {
                let to = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
                bail!("{path} is a symlink to {to}, which does not exist")
            }
        },
        _ => Ok(path.to_owned()),
    }
}

/// What names [`stage`]'s temporary files: `.<file>.kilter-tmp.<pid>`.
const TMP_INFIX: &str = ".kilter-tmp.";

/// What a temporary file of [`stage`] is for: `.<file>.kilter-tmp.<pid>` → (`<file>`, pid).
pub fn staged_tmp(file_name: &str) -> Option<(&str, i32)> {
    let (target, pid) = file_name.strip_prefix('.')?.rsplit_once(TMP_INFIX)?;
    Some((target, pid.parse().ok().filter(|p: &i32| *p > 0)?))
}

/// Write `contents` to a temporary file beside `path` (following a symlink), with the
/// permissions `perm` asks for, and fsync it. Fails — changing nothing — when the directory is
/// not writable, or the existing file could not be replaced by us (read-only, immutable, or
/// owned by someone whose ownership we cannot keep).
pub fn stage(path: &Utf8Path, contents: &[u8], perm: Perm) -> Result<Staged> {
    let target = write_target(path)?;
    let dir = target.parent().context("path has no parent")?.to_owned();
    let existing = fs::metadata(&target).ok();
    let (mode, owner) = match perm {
        Perm::Private(mode) => {
            ensure_private_dir(&dir)?;
            (mode, None)
        }
        Perm::Keep => match &existing {
            Some(m) => (m.permissions().mode() & 0o7777, Some((m.uid(), m.gid()))),
            None => {
                let d = fs::metadata(&dir).with_context(|| format!("could not stat {dir}"))?;
                (0o644, Some((d.uid(), d.gid())))
            }
        },
    };
    if existing.is_some() {
        // Opening for writing (no truncation) changes nothing but proves we may change it:
        // it fails on a read-only file (unless root) and on an immutable one (even for root).
        fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .with_context(|| format!("{target} cannot be written"))?;
    }
    let name = target.file_name().unwrap_or("file");
    let tmp = dir.join(format!(".{name}{TMP_INFIX}{}", std::process::id()));
    let staged = Staged { tmp: tmp.clone(), target, committed: false };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .or_else(|e| {
            // A temporary file left by a killed kilter with our pid: replace it.
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                let _ = fs::remove_file(&tmp);
                fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)
            } else {
                Err(e)
            }
        })
        .with_context(|| format!("could not create a file in {dir}"))?;
    f.write_all(contents).with_context(|| format!("could not write {tmp}"))?;
    if let Some((uid, gid)) = owner {
        let m = f.metadata()?;
        if (m.uid(), m.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).with_context(|| {
                format!(
                    "{} belongs to uid {uid} gid {gid}; kilter (uid {}) cannot keep that owner",
                    staged.target,
                    m.uid()
                )
            })?;
        }
    }
    f.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("could not chmod {mode:o} {tmp}"))?;
    f.sync_all().with_context(|| format!("could not fsync {tmp}"))?;
    Ok(staged)
}

impl Staged {
    /// The file the rename will replace.
    pub fn target(&self) -> &Utf8Path {
        &self.target
    }

    /// Rename into place and fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("could not replace {}", self.target))?;
        self.committed = true;
        if let Some(dir) = self.target.parent() {
            fsync_dir(dir);
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write atomically: stage, then commit.
pub fn write_atomic(path: &Utf8Path, contents: &[u8], perm: Perm) -> Result<()> {
    stage(path, contents, perm)?.commit()
}

/// fsync a directory so a rename in it survives a crash (best effort).
pub fn fsync_dir(dir: &Utf8Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Make sure an existing file has exactly `mode`.
pub fn chmod(path: &Utf8Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("could not chmod {mode:o} {path}"))
}

/// The permission bits of a file, if it exists.
pub fn mode_of(path: &Utf8Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

/// Remove a file if it exists.
pub fn remove_if_exists(path: &Utf8Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("could not remove {path}")),
    }
}

/// Whether anything (a file, a dangling symlink, a directory) is at `path`.
pub fn exists(path: &Utf8Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_files_name_gives_its_target_and_writer() {
        assert_eq!(staged_tmp(".ports.json.kilter-tmp.4242"), Some(("ports.json", 4242)));
        assert_eq!(staged_tmp(".a.kilter-tmp.b.kilter-tmp.7"), Some(("a.kilter-tmp.b", 7)));
        for not in [
            ".ports.json.kilter-tmp.0",
            ".ports.json.kilter-tmp.-3",
            ".ports.json.kilter-tmp.x",
            "ports.json.kilter-tmp.12",
            ".ports.json",
        ] {
            assert_eq!(staged_tmp(not), None, "{not}");
        }
    }

    /// A temporary file a killed kilter left under this process's pid is replaced, not an error.
    #[test]
    fn a_leftover_temporary_file_with_our_pid_is_replaced() {
        let d = tmpdir();
        let target = d.join("ports.json");
        let leftover = d.join(format!(".ports.json.kilter-tmp.{}", std::process::id()));
        fs::write(&leftover, "half a write").expect("write");
        write_atomic(&target, b"{}", Perm::Private(0o600)).expect("written");
        assert_eq!(fs::read_to_string(&target).expect("read"), "{}");
        assert!(!leftover.exists());
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn remove_if_exists_says_whether_there_was_a_file_and_fails_on_anything_else() {
        let d = tmpdir();
        let f = d.join("f");
        fs::write(&f, "x").expect("write");
        assert!(remove_if_exists(&f).expect("removes"));
        assert!(!f.exists());
        assert!(!remove_if_exists(&f).expect("nothing to remove"));
        // a directory is not removed, and that is an error, not "nothing there"
        let e = remove_if_exists(&d).expect_err("a directory");
        assert!(format!("{e:#}").starts_with(&format!("could not remove {d}")), "{e:#}");
        assert!(d.is_dir());
    }

    fn tmpdir() -> Utf8PathBuf {
        let d = tempfile::tempdir().expect("tempdir").keep();
        Utf8PathBuf::from_path_buf(d).expect("utf8")
    }

    #[test]
    fn keep_preserves_mode_and_writes_through_symlinks() {
        let d = tmpdir();
        let real = d.join("real.yaml");
        fs::write(&real, "a: 1\n").expect("write");
        chmod(&real, 0o640).expect("chmod");
        let link = d.join("kilter.yaml");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        write_atomic(&link, b"a: 2\n", Perm::Keep).expect("write");
        assert!(fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).expect("read"), "a: 2\n");
        assert_eq!(mode_of(&real), Some(0o640));
        let leftovers: Vec<_> = fs::read_dir(&d).expect("ls").flatten().collect();
        assert_eq!(leftovers.len(), 2, "no temporary file left behind");
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn dangling_symlink_and_dropped_stage_change_nothing() {
        let d = tmpdir();
        let link = d.join("kilter.yaml");
        std::os::unix::fs::symlink(d.join("gone.yaml"), &link).expect("symlink");
        let err = stage(&link, b"x", Perm::Keep).expect_err("dangling");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let f = d.join("f");
        fs::write(&f, "old").expect("write");
        let s = stage(&f, b"new", Perm::Keep).expect("stage");
        drop(s);
        assert_eq!(fs::read_to_string(&f).expect("read"), "old");
        assert_eq!(fs::read_dir(&d).expect("ls").count(), 2);
        fs::remove_dir_all(&d).expect("cleanup");
    }

    /// A directory that is already private is left alone: not even chmodded to the same mode,
    /// which fails where kilter may read a directory but not change it (someone else's, or an
    /// immutable one). As root the test makes its directory immutable (`chattr +i`, by its ioctl);
    /// as another user it uses `/root`.
    #[test]
    fn a_private_directory_is_not_chmodded_again() {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let is_root = unsafe { libc::geteuid() } == 0;
        if is_root {
            let d = tmpdir();
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).expect("chmod");
            if !set_immutable(&d, true) {
                let _ = fs::remove_dir_all(&d);
                return skipped(
                    "a filesystem with the immutable flag (`chattr +i`) under the temp dir",
                );
            }
            let immutable = fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).is_err();
            let result = ensure_private_dir(&d);
            assert!(set_immutable(&d, false), "chattr -i");
            fs::remove_dir_all(&d).expect("cleanup");
            assert!(immutable, "a chmod of the immutable directory fails");
            result.expect("left alone");
        } else {
            let root = Utf8Path::new("/root");
            if mode_of(root) != Some(0o700) {
                return skipped("a directory of root's with mode 0700 (/root)");
            }
            ensure_private_dir(root).expect("left alone");
        }
    }

    /// Set or clear the immutable flag of `dir` (`chattr ±i`, by its ioctl); false where the
    /// filesystem or the process cannot.
    fn set_immutable(dir: &Utf8Path, on: bool) -> bool {
        use std::os::fd::AsRawFd as _;
        const FS_IMMUTABLE_FL: libc::c_long = 0x10;
        let Ok(f) = fs::File::open(dir) else { return false };
        let mut flags: libc::c_long = 0;
        // SAFETY: both ioctls read or write one integer through a valid pointer, on an open fd.
        unsafe {
            if libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0 {
                return false;
            }
            flags = if on { flags | FS_IMMUTABLE_FL } else { flags & !FS_IMMUTABLE_FL };
            libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) == 0
        }
    }

    /// A test that could not run says so (as the integration tests' `support::skipped` does):
    /// on stderr, in `$KILTER_TEST_SKIP_LOG`, and as a failure under `CI=true`.
    fn skipped(why: &str) {
        if let Ok(log) = std::env::var("KILTER_TEST_SKIP_LOG")
            && let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(log)
        {
            use std::io::Write as _;
            let _ = writeln!(f, "fsutil: a private directory is not chmodded again: {why}");
        }
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "needs {why}, and CI=true requires every test to run");
        eprintln!("SKIPPED fsutil: a private directory is not chmodded again: needs {why}");
    }

    #[test]
    fn private_files_get_their_mode_in_a_private_dir() {
        let d = tmpdir();
        let p = d.join("sub/inner/kubeconfig");
        write_atomic(&p, b"k", Perm::Private(0o600)).expect("write");
        assert_eq!(mode_of(&p), Some(0o600));
        assert_eq!(mode_of(&d.join("sub/inner")), Some(0o700));
        // an existing directory with any other mode is made private, whatever its bits
        for mode in [0o755, 0o077, 0o000, 0o7700] {
            let dir = d.join(format!("m{mode:o}"));
            fs::create_dir(&dir).expect("mkdir");
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
            ensure_private_dir(&dir).expect("private");
            assert_eq!(mode_of(&dir).map(|m| m & 0o777), Some(0o700), "{mode:o}");
        }
        fs::remove_dir_all(&d).expect("cleanup");
    }
}
