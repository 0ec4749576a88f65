//! Every file effect of the snapshot commands, in a few small functions: create the dir, create
//! a `.partial` file, rename, remove, write the metadata. All but the `.partial` file (which only
//! a running dump creates) go through the runner, which performs them or, in `--dry-run`, prints
//! the shell line that would.
//!
//! Also the streaming halves of a snapshot: [`Writer`] compresses (zstd level 1, one thread) and
//! hashes a dump on its way into its `.partial` file; [`feed`] decompresses a file into the
//! restore program's stdin. Memory stays flat whatever the size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use super::{Compression, Meta, meta_path};
use crate::exec::{Content, Runner};
use crate::fsutil::Perm;

/// Create the snapshots dir (0700).
pub fn ensure_dir(runner: &Runner<'_>, dir: &Utf8Path) -> Result<()> {
    runner.ensure_dir(dir)
}

/// Remove files (missing ones are fine).
pub fn remove(runner: &Runner<'_>, paths: &[Utf8PathBuf]) -> Result<()> {
    for p in paths {
        runner.remove_file(p)?;
    }
    Ok(())
}

/// Rename `from` to `to` (same dir, so atomic; the dir is fsynced).
pub fn rename(runner: &Runner<'_>, from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    runner.rename(from, to)
}

/// Make removals in `dir` durable (renames already are).
pub fn fsync_dir(dir: &Utf8Path) {
    crate::fsutil::fsync_dir(dir);
}

/// Write `NAME.json` atomically (a fsynced temporary file renamed into place), 0600.
pub fn write_meta(runner: &Runner<'_>, dir: &Utf8Path, meta: &Meta) -> Result<()> {
    let text = meta.to_text()?;
    runner.write_file(&meta_path(dir, &meta.name), &Content::text(text), Perm::Private(0o600))
}

/// Create (truncate) a `.partial` file, 0600. Called only when a dump really runs (see
/// `exec::Chunk::Start`).
pub fn create_partial(path: &Utf8Path) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {path}"))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("could not chmod {path}"))?;
    Ok(f)
}

/// Removes the `.partial` files when dropped, unless they were renamed into place: a failed or
/// interrupted snapshot leaves nothing half-written.
pub struct PartialGuard {
    pub paths: Vec<Utf8PathBuf>,
}

impl PartialGuard {
    pub fn disarm(&mut self) {
        self.paths.clear();
    }
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}

/// Size and sha256 of a file, read in one streaming pass.
pub fn digest(path: &Utf8Path) -> Result<(u64, String)> {
    let mut f = File::open(path).with_context(|| format!("could not open {path}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        crate::exec::check_interrupt()?;
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that counts and hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a [`Writer`] does with the stream that arrives from the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Compress it with zstd at this level (it arrives uncompressed).
    Compress(i32),
    /// Store it as it arrives (it is what the restore program reads).
    AsIs,
    /// Store it as it arrives (a zstd frame) and decompress a copy to check what it holds.
    AsIsZstd,
}

enum Inner {
    Plain(Hashing<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, Hashing<BufWriter<File>>>),
    /// The file as it arrives, and a decoder that feeds the raw tap.
    Decoded(Hashing<BufWriter<File>>, Box<zstd::stream::write::Decoder<'static, Tap>>),
}

/// What a [`Writer`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// Bytes on disk and their sha256.
    pub size: u64,
    pub sha256: String,
    /// Bytes that arrived from the pod, and their sha256 (what the pod reports it sent).
    pub wire_size: u64,
    pub wire_sha256: String,
    /// Bytes the database program wrote, and their sha256.
    pub raw_size: u64,
    pub raw_sha256: String,
    /// The first and last bytes of the raw stream (to check that the dump looks whole).
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

const EDGE: usize = 128;

/// Counts and hashes the database program's own bytes and keeps their first and last ones.
#[derive(Default)]
struct Tap {
    bytes: u64,
    hasher: Sha256,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Write for Tap {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.head.len() < EDGE {
            let take = data.len().min(EDGE - self.head.len());
            self.head.extend_from_slice(&data[..take]);
        }
        if data.len() >= EDGE {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - EDGE..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(EDGE);
            self.tail.drain(..excess);
        }
        self.bytes += data.len() as u64;
        self.hasher.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stores (compressing or not) and hashes a dump into its `.partial` file.
pub struct Writer {
    inner: Inner,
    /// The raw stream when it is what arrives (not for [`Store::AsIsZstd`]).
    tap: Tap,
    wire: u64,
    wire_hasher: Sha256,
    /// The stream stopped decompressing ([`Store::AsIsZstd`]).
    undecodable: bool,
}

/// How kilter's own compression reads as a shell command, e.g. `zstd -q -1 --single-thread`.
/// One thread: measured on two cores, the dump, the database server and kubectl need the other
/// core, and a second zstd worker made both the snapshot and the restore slower (README,
/// "Performance").
pub fn zstd_shell(level: i32) -> String {
    format!("zstd -q -{level} --single-thread")
}

impl Writer {
    pub fn new(file: File, store: Store) -> io::Result<Writer> {
        let out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let inner = match store {
            Store::AsIs => Inner::Plain(out),
            Store::Compress(level) => {
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                enc.include_checksum(true)?;
                Inner::Zstd(enc)
            }
            Store::AsIsZstd => {
                Inner::Decoded(out, Box::new(zstd::stream::write::Decoder::new(Tap::default())?))
            }
        };
        Ok(Writer {
            inner,
            tap: Tap::default(),
            wire: 0,
            wire_hasher: Sha256::new(),
            undecodable: false,
        })
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.wire
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.wire += data.len() as u64;
        self.wire_hasher.update(data);
        match &mut self.inner {
            Inner::Plain(w) => {
                self.tap.write_all(data)?;
                w.write_all(data)
            }
            Inner::Zstd(w) => {
                self.tap.write_all(data)?;
                w.write_all(data)
            }
            Inner::Decoded(w, dec) => {
                w.write_all(data)?;
                // A stream that does not decompress is reported by `finish`, after the pod's
                // report was compared (a cut stream is "cut short", not "corrupt").
                if !self.undecodable && dec.write_all(data).is_err() {
                    self.undecodable = true;
                }
                Ok(())
            }
        }
    }

    /// Finish the stream, flush and fsync the file.
    pub fn finish(self) -> io::Result<Written> {
        let (hashing, tap) = match self.inner {
            Inner::Plain(w) => (w, self.tap),
            Inner::Zstd(w) => (w.finish()?, self.tap),
            Inner::Decoded(w, dec) => {
                let bad = |why: String| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the pod's zstd stream does not decompress ({why})"),
                    )
                };
                if self.undecodable {
                    return Err(bad("not zstd data".to_owned()));
                }
                let tap = dec.finish().map_err(|e| bad(e.to_string()))?;
                (w, tap)
            }
        };
        let Hashing { inner, hasher, bytes } = hashing;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(Written {
            size: bytes,
            sha256: hex(&hasher.finalize()),
            wire_size: self.wire,
            wire_sha256: hex(&self.wire_hasher.finalize()),
            raw_size: tap.bytes,
            raw_sha256: hex(&tap.hasher.finalize()),
            head: tap.head,
            tail: tap.tail,
        })
    }
}

/// Size and sha256 of the decompressed contents of `path` (what a restore sends), for a
/// snapshot that did not record them.
pub fn raw_digest(path: &Utf8Path, compression: Compression) -> Result<(u64, String)> {
    let mut out = Hashing { inner: io::sink(), hasher: Sha256::new(), bytes: 0 };
    feed(path, compression, &mut out).with_context(|| format!("could not read {path}"))?;
    Ok((out.bytes, hex(&out.hasher.finalize())))
}

/// Stream `path` into `out` as it is on disk.
pub fn copy_into(path: &Utf8Path, out: &mut dyn Write) -> io::Result<()> {
    let mut r = io::BufReader::with_capacity(1 << 20, File::open(path)?);
    io::copy(&mut r, out).map(|_| ())
}

/// Stream the (decompressed) contents of `path` into `out`.
pub fn feed(path: &Utf8Path, compression: Compression, out: &mut dyn Write) -> io::Result<()> {
    let file = File::open(path)?;
    match compression {
        Compression::None | Compression::PgZstd { .. } | Compression::PgGzip { .. } => {
            drop(file);
            copy_into(path, out)
        }
        Compression::Zstd { .. } => {
            let mut dec = zstd::stream::read::Decoder::new(file)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match dec.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{path} does not decompress: {e}"),
                        ));
                    }
                };
                out.write_all(&buf[..n])?;
            }
        }
    }
}
