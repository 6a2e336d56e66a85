//! Layer ZIPs: writing them (deterministic, streaming, parallel), their digests, and the size
//! budget FC enforces.
//!
//! A ZIP is never written at its target path directly: `Output` holds two temporary files beside
//! the target (the spool and the ZIP being written) and renames the finished ZIP into place only
//! when it is complete, within budget and hashed. Dropping an `Output` removes both.
//!
//! A run killed outright (SIGKILL, power loss) cannot remove its temporaries, so each holds an
//! advisory lock on them while it lives; the next run writing beside the same target removes the
//! ones nobody holds.

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
        if target.is_dir() {
            return Err(
                Error::input(format!("output path {} is a directory", target.display()))
                    .with_hint("give a file name, e.g. -o layer.zip"),
            );
        }
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
        let prefix = format!(".{}.", name.to_string_lossy());
        let temp = |suffix: &str| {
            // Each temporary is locked for as long as it lives (the lock dies with the process),
            // which tells later runs it is not litter. Between creating and locking it, another
            // run's `remove_stale` may take it for litter and delete it: then the path no longer
            // names the locked file, and a new one is made. A file system without locks only
            // loses that cleanup.
            for _ in 0..5 {
                // 0666 less the umask, like any file the user creates: a temporary file's own
                // 0600 would otherwise survive the rename into the layer's place.
                let file = tempfile::Builder::new()
                    .prefix(&prefix)
                    .suffix(suffix)
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                    .tempfile_in(&dir)
                    .map_err(|e| {
                        Error::io("write to", &dir, e).context("output path is not writable")
                    })?;
                let _ = file.as_file().try_lock();
                if same_file(file.path(), file.as_file()) {
                    return Ok(file);
                }
            }
            Err(Error::build(format!(
                "temporary files in {} keep disappearing: is another program deleting them?",
                dir.display()
            )))
        };
        remove_stale(&dir, &prefix);
        let spool = temp(".spool")?;
        let zip = temp(".partial")?;
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

/// Whether `path` still names the open `file`.
fn same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Remove temporaries of earlier runs beside the target (`.NAME.XXXXXX.spool` and `.partial`)
/// whose lock nobody holds: their run was killed.
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(prefix) || !(name.ends_with(".spool") || name.ends_with(".partial")) {
            continue;
        }
        let path = entry.path();
        if let Ok(file) = File::open(&path)
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
    packer.add_dir(dir)?;
    output.finish(packer, max_size)?.persist()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_of_dead_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layer.zip");
        let dead = dir.path().join(".layer.zip.abc123.partial");
        std::fs::write(&dead, b"half").unwrap();
        let live = Output::prepare(&target).unwrap();
        let other = Output::prepare(&target).unwrap();
        assert!(!dead.exists(), "a dead run's temporary stayed");
        assert!(
            live.zip.path().exists(),
            "a live run's temporary was removed"
        );
        drop((live, other));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
