//! Layer ZIPs: writing them (deterministic, streaming, parallel), their digests, and the size
//! budget FC enforces.
//!
//! A ZIP is never written at its target path directly: `Output` holds two temporary files beside
//! the target (the spool and the ZIP being written) and renames the finished ZIP into place only
//! when it is complete, within budget and hashed. Dropping an `Output` removes both.
//!
//! A run killed outright (SIGKILL, power loss) cannot remove its temporaries, so each holds an
//! advisory lock on them while it lives; the next run writing beside the same target removes the
//! ones nobody holds, and only files fclayer made (see `TEMP_MARK`).

mod deflate;
pub mod digest;
pub mod inspect;
pub mod pack;
pub mod read;
pub mod stack;
mod zipwrite;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::NamedTempFile;

use crate::error::{Error, IoContext, Result};
// Sizes in messages; re-exported for the modules that import it from here.
pub use crate::units::human_bytes;
use digest::Digests;
use pack::{PackOptions, PackStats, Packer};

/// FC accepts code packages of at most 500 MB zipped (console, tools and OSS uploads).
pub const DEFAULT_MAX_SIZE: u64 = 500 * 1000 * 1000;

/// A finished layer.
#[derive(Clone, Debug, Serialize)]
pub struct LayerInfo {
    pub path: PathBuf,
    pub size: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Bytes of file content before compression.
    pub unpacked_size: u64,
    pub sha256: String,
    /// FC's `codeChecksum` (CRC-64/XZ), as the decimal string FC shows.
    pub crc64: String,
    pub top_level: Vec<String>,
}

/// A complete ZIP not yet at its target path.
pub struct Finished {
    output: Output,
    pub info: LayerInfo,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Finished {
    /// The temporary file holding the ZIP, for checks before it is moved into place.
    pub fn zip_path(&self) -> &Path {
        self.output.zip.path()
    }

    pub fn persist(self) -> Result<LayerInfo> {
        // The last moment to honour an interrupt: after the rename the layer is complete and
        // stays.
        if self
            .cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(Error::interrupted("a signal"));
        }
        self.output.persist()?;
        Ok(self.info)
    }
}

/// Temporary files of live `Output`s. A signal can end the process while a packing thread still
/// owns its `Output` (so its destructor never runs); the signal path removes these instead.
static TEMPORARIES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn register(path: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.push(path.to_path_buf());
    }
}

fn unregister(path: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.retain(|p| p != path);
    }
}

/// Delete the temporary files of every unfinished output (after an interrupt or error).
pub fn remove_temporaries() {
    if let Ok(mut t) = TEMPORARIES.lock() {
        for p in t.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The temporary files a layer is written through, beside its target.
pub struct Output {
    target: PathBuf,
    spool: NamedTempFile,
    zip: NamedTempFile,
}

impl Output {
    /// Check that `target` can be written and create the temporary files beside it. Called before
    /// any container starts, so an unwritable output fails fast and leaves nothing behind.
    pub fn prepare(target: &Path) -> Result<Output> {
        // First of all, before any temporary exists in its folder: the ZIP is renamed over the
        // target, and a rename replaces whatever is there, /dev/null included.
        check_replaceable(target)?;
        let name = target.file_name().ok_or_else(|| {
            Error::input(format!("output path {} has no file name", target.display()))
        })?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(
                Error::input(format!("output directory {} does not exist", dir.display()))
                    .with_hint("create it first, or choose another -o path"),
            );
        }
        let prefix = temp_prefix(&name.to_string_lossy());
        remove_stale(&dir, &prefix);
        let spool = make_temporary(&dir, &prefix, ".spool")?;
        let zip = make_temporary(&dir, &prefix, ".partial")?;
        register(spool.path());
        register(zip.path());
        Ok(Output {
            target: target.to_path_buf(),
            spool,
            zip,
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The files a pack into this output must leave out when it reads a folder that holds them
    /// (`fclayer pack . -o layer.zip`): its own temporaries and the output itself, whose previous
    /// version would otherwise end up inside the next one.
    pub fn own_files(&self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = [self.spool.as_file(), self.zip.as_file()]
            .into_iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| FileId::of(&m))
            .collect();
        if let Ok(m) = std::fs::metadata(&self.target) {
            ids.push(FileId::of(&m));
        }
        ids
    }

    /// A packer that spools into this output's spool file.
    pub fn packer(&self, opts: PackOptions) -> Result<Packer> {
        let spool = self.spool.reopen().at("open", self.spool.path())?;
        Ok(Packer::new(spool, opts))
    }

    /// Write the ordered ZIP (hashed as it is written) and enforce the size budget. The ZIP is
    /// still a temporary file: checks run on it, then `Finished::persist` moves it into place.
    pub fn finish(self, packer: Packer, max_size: u64) -> Result<Finished> {
        let mut file = self.zip.reopen().at("open", self.zip.path())?;
        let cancel = packer.cancel_flag();
        let stats = packer.finish(&mut file)?;
        check_budget(&stats, max_size)?;
        drop(file);
        let digests = stats.digests;
        let info = LayerInfo {
            path: self.target.clone(),
            size: stats.zip_bytes,
            files: stats.files,
            dirs: stats.dirs,
            symlinks: stats.symlinks,
            unpacked_size: stats.bytes,
            sha256: digests.sha256,
            crc64: digests.crc64.to_string(),
            top_level: stats.top_level,
        };
        Ok(Finished {
            output: self,
            info,
            cancel,
        })
    }

    /// Put a copy of an already finished ZIP (from the build cache) in place, after checking it
    /// still has the digest it was stored with.
    pub fn commit_copy(self, source: &Path, sha256: &str) -> Result<()> {
        std::fs::copy(source, self.zip.path()).at("copy", source)?;
        let file = File::open(self.zip.path()).at("read", self.zip.path())?;
        let digests = Digests::of_reader(BufReader::with_capacity(1 << 20, file))
            .at("read", self.zip.path())?;
        if digests.sha256 != sha256 {
            return Err(Error::build(format!(
                "the cached layer {} is damaged (sha256 {}, expected {sha256})",
                source.display(),
                digests.sha256
            ))
            .with_hint(
                "run with --no-cache, or clear the cache with `fclayer cache prune --all`",
            ));
        }
        self.persist()
    }

    fn persist(self) -> Result<()> {
        // Checked again: something may have been put at the target while the layer was built.
        check_replaceable(&self.target)?;
        let Output { target, spool, zip } = self;
        unregister(spool.path());
        drop(spool);
        let zip_path = zip.path().to_path_buf();
        zip.persist(&target)
            .map_err(|e| Error::io("write", &target, e.error))?;
        unregister(&zip_path);
        Ok(())
    }
}

/// A file's identity on this machine (device, inode and birth time), however its path is
/// spelled. The birth time tells a file from a later one that got its freed inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    born: Option<std::time::SystemTime>,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            born: meta.created().ok(),
        }
    }
}

/// Refuse an output path where renaming the ZIP would replace something that is not a regular
/// file: a device (a copy of /dev/null), a FIFO, a socket, a directory, a link to one of these
/// or to nothing. A link to a regular file is replaced by the layer, as `cp` would not but every
/// `-o` writer that renames does; a missing path is created.
pub fn check_replaceable(target: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match std::fs::symlink_metadata(target) {
                Ok(_) => Err(Error::input(format!(
                    "output path {} is a symbolic link to nothing",
                    target.display()
                ))
                .with_hint("remove the link, or choose another -o path")),
                Err(_) => Ok(()),
            };
        }
        // Its folder is missing or unreadable: the folder check says which.
        Err(_) => return Ok(()),
    };
    let ft = meta.file_type();
    let what = if ft.is_file() {
        return Ok(());
    } else if ft.is_dir() {
        return Err(
            Error::input(format!("output path {} is a directory", target.display()))
                .with_hint("give a file name, e.g. -o layer.zip"),
        );
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(Error::input(format!(
        "output path {} is {what}: writing the layer there would replace it",
        target.display()
    ))
    .with_hint(
        "give the path of a regular file (new or existing), e.g. -o layer.zip; nothing was written",
    ))
}

/// fclayer's temporaries beside `NAME` are `.NAME.fclayer-RANDOM-TAG.spool` (or `.partial`).
/// The TAG is made from the file's identity (`FileId`) and RANDOM: only the file fclayer created
/// under that name carries it, so a user's own `.NAME.x.spool`, a file renamed to look like ours
/// or a copy of one of ours is never taken for litter. (An extended attribute would say the same
/// but is not kept by every file system; the name is.)
const TEMP_MARK: &str = "fclayer-";

fn temp_prefix(target_name: &str) -> String {
    format!(".{target_name}.{TEMP_MARK}")
}

fn temp_tag(id: FileId, random: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"fclayer temporary v1\0");
    h.update(id.dev.to_le_bytes());
    h.update(id.ino.to_le_bytes());
    let born = id
        .born
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    h.update(born.to_le_bytes());
    h.update(random.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Whether `name` (with `meta` from `symlink_metadata`) is a temporary fclayer made, for any
/// target: the packer leaves such files out of the folders it packs.
pub fn is_temporary(name: &std::ffi::OsStr, meta: &std::fs::Metadata) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(i) = rest.rfind(&format!(".{TEMP_MARK}")) else {
        return false;
    };
    temporary_of(
        &format!(".{}", &rest[..i + 1 + TEMP_MARK.len()]),
        name,
        meta,
    )
}

/// Whether `name` is a temporary made beside the target whose prefix is `prefix` and `meta` (not
/// following links) is that very file.
fn temporary_of(prefix: &str, name: &str, meta: &std::fs::Metadata) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let Some(rest) = rest
        .strip_suffix(".spool")
        .or_else(|| rest.strip_suffix(".partial"))
    else {
        return false;
    };
    let Some((random, tag)) = rest.rsplit_once('-') else {
        return false;
    };
    meta.file_type().is_file()
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
        && tag == temp_tag(FileId::of(meta), random)
}

/// Create one locked, tagged temporary beside the target.
fn make_temporary(dir: &Path, prefix: &str, suffix: &str) -> Result<NamedTempFile> {
    let write_error =
        |e: std::io::Error| Error::io("write to", dir, e).context("output path is not writable");
    // 0666 less the umask, like any file the user creates: a temporary file's own 0600 would
    // otherwise survive the rename into the layer's place. Created under a name no sweep looks
    // at (`.new`), locked (the lock dies with the process, which tells later runs whether it is
    // litter), then renamed to its tagged name, which needs its inode. (A run killed between
    // the two leaves an empty `.new` that no run removes: what deleting a file that might not
    // be ours would cost is worse.)
    let file = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".new")
        .rand_bytes(10)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(write_error)?;
    // A file system without locks only loses the cleanup after a killed run.
    let _ = file.as_file().try_lock();
    let id = FileId::of(&file.as_file().metadata().map_err(write_error)?);
    let name = file
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let random = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".new"))
        .unwrap_or_default()
        .to_string();
    let tagged = dir.join(format!(
        "{prefix}{random}-{}{suffix}",
        temp_tag(id, &random)
    ));
    let (file, path) = file.into_parts();
    // No-clobber: a file already at that name (it cannot be ours) stays.
    path.persist_noclobber(&tagged)
        .map_err(|e| write_error(e.error))?;
    let path = tempfile::TempPath::try_from_path(&tagged).map_err(write_error)?;
    Ok(NamedTempFile::from_parts(file, path))
}

/// Remove temporaries of earlier runs beside the target (see `TEMP_MARK`) whose lock nobody
/// holds: their run was killed. Only files fclayer made are looked at, and only regular files are
/// opened (a FIFO of that name would block the open).
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !temporary_of(prefix, name, &meta) {
            continue;
        }
        if let Ok(file) = File::open(&path)
            && file
                .metadata()
                .is_ok_and(|m| FileId::of(&m) == FileId::of(&meta))
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn check_budget(stats: &PackStats, max_size: u64) -> Result<()> {
    if stats.zip_bytes <= max_size {
        return Ok(());
    }
    let details = stats.largest.iter().map(|(path, size, packed)| {
        format!(
            "{:>10}  ({} zipped)  {path}",
            human_bytes(*size),
            human_bytes(*packed)
        )
    });
    Err(Error::build(format!(
        "the layer is {} zipped, over the budget of {} (FC accepts at most 500 MB)",
        human_bytes(stats.zip_bytes),
        human_bytes(max_size)
    ))
    .with_details(std::iter::once("largest files:".to_string()).chain(details))
    .with_hint("split the dependencies over several layers, drop what the function does not need, or raise --max-size"))
}

/// Pack a directory into a layer ZIP at `target` (what `fclayer pack` does).
pub fn pack_dir(dir: &Path, target: &Path, opts: PackOptions, max_size: u64) -> Result<LayerInfo> {
    if !dir.is_dir() {
        return Err(
            Error::input(format!("{} is not a directory", dir.display()))
                .with_hint("give the folder whose contents become /opt, e.g. one holding python/"),
        );
    }
    let output = Output::prepare(target)?;
    let mut packer = output.packer(opts)?;
    packer.add_dir_except(dir, &output.own_files())?;
    output.finish(packer, max_size)?.persist()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary as a killed run leaves it: made by `Output`, its lock gone with its process.
    fn dead_run_temporaries(target: &Path) -> Vec<PathBuf> {
        let Output { spool, zip, .. } = Output::prepare(target).unwrap();
        [spool, zip]
            .into_iter()
            .map(|f| {
                unregister(f.path());
                // Closing the file drops its lock; `keep` stops the removal.
                f.into_temp_path().keep().unwrap()
            })
            .collect()
    }

    #[test]
    fn temporaries_of_dead_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layer.zip");
        let dead = dead_run_temporaries(&target);
        assert!(dead.iter().all(|p| p.exists()));
        let live = Output::prepare(&target).unwrap();
        let other = Output::prepare(&target).unwrap();
        for p in &dead {
            assert!(
                !p.exists(),
                "a dead run's temporary stayed: {}",
                p.display()
            );
        }
        assert!(
            live.zip.path().exists() && live.spool.path().exists(),
            "a live run's temporary was removed"
        );
        drop((live, other));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn the_sweep_removes_only_files_fclayer_made() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layer.zip");
        // Names a user may well have, or that look like ours: none was made by fclayer.
        let dead = dead_run_temporaries(&target);
        let forged = dir.path().join(format!(
            "{}{}",
            dead[0].file_name().unwrap().to_str().unwrap(),
            ".copy.spool"
        ));
        std::fs::copy(&dead[0], &forged).unwrap();
        let really_dead = dead[1].clone();
        let users = [
            dir.path().join(".layer.zip.notes.spool"),
            dir.path().join(".layer.zip.abc123.partial"),
            dir.path()
                .join(".layer.zip.fclayer-abc123-0123456789abcdef.spool"),
            forged,
        ];
        for p in &users[..3] {
            std::fs::write(p, b"mine").unwrap();
        }
        // A copy of a dead temporary under the very name of the original: another inode.
        std::fs::remove_file(&dead[0]).unwrap();
        std::fs::write(&dead[0], b"a copy, not ours").unwrap();
        // A FIFO of our name must not block the sweep (opening it would wait for a writer).
        let fifo = dir
            .path()
            .join(".layer.zip.fclayer-abc123-0123456789abcdef.partial");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let out = Output::prepare(&target).unwrap();
        for p in users.iter().chain([&dead[0], &fifo]) {
            assert!(
                std::fs::symlink_metadata(p).is_ok(),
                "{} was removed",
                p.display()
            );
        }
        assert!(!really_dead.exists(), "the dead temporary stayed");
        drop(out);
    }

    #[test]
    fn outputs_that_are_not_regular_files_are_refused_before_any_temporary() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.zip");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let dangling = dir.path().join("dangling.zip");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
        let to_fifo = dir.path().join("to-fifo.zip");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        let sock = dir.path().join("sock.zip");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        for (path, what) in [
            (&fifo, "is a FIFO"),
            (&sub, "is a directory"),
            (&dangling, "symbolic link to nothing"),
            (&to_fifo, "is a FIFO"),
            (&sock, "is a socket"),
        ] {
            let e = Output::prepare(path).err().unwrap();
            assert!(
                e.message.contains(what),
                "{}: {}",
                path.display(),
                e.message
            );
            assert_eq!(e.kind, crate::error::Kind::BadInput);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains(TEMP_MARK)),
            "temporaries made: {names:?}"
        );
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(28_225_258), "28.2 MB");
        assert_eq!(human_bytes(500_000_000), "500.0 MB");
    }
}
