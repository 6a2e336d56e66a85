//! The build cache: finished layers keyed by a hash of everything that determines their bytes.
//!
//! A key covers the build image's ID (which covers its Dockerfile, scripts and base image), the
//! runtime, the target platform, the installers and their scripts, every input file's bytes (the
//! exact archive uploaded into the container), the environment that changes what is installed
//! (index URLs, credentials masked), the ZIP timestamp and fclayer's version. A build whose key is
//! present returns the stored ZIP without starting a container. Like any input-keyed cache it does
//! not notice a new upstream release of an unpinned requirement: pin versions (or use a lockfile),
//! or pass --no-cache.
//!
//! Entries live in `<cache root>/builds-v1/<key>.zip` with `<key>.json` beside them; the folder's
//! version changes whenever the format does. The cache is bounded by size: the least recently used
//! entries go first.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::layer::LayerInfo;

/// Default bound on the cache's size: `FCLAYER_CACHE_MAX_BYTES` overrides it.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1000 * 1000 * 1000;

/// Incremental key builder: each part is named and length-delimited, so no two different sets of
/// parts hash alike.
pub struct KeyBuilder(Sha256);

impl Default for KeyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyBuilder {
    pub fn new() -> KeyBuilder {
        let mut k = KeyBuilder(Sha256::new());
        k.part("fclayer", env!("CARGO_PKG_VERSION").as_bytes());
        k.part("format", b"builds-v1");
        k
    }

    pub fn part(&mut self, name: &str, value: &[u8]) -> &mut Self {
        for piece in [name.as_bytes(), value] {
            self.0.update((piece.len() as u64).to_le_bytes());
            self.0.update(piece);
        }
        self
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// What is stored beside a cached ZIP.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub key: String,
    pub runtime: String,
    pub platform: String,
    /// The project the layer was built from, for `fclayer cache ls`.
    pub project: String,
    pub sha256: String,
    pub crc64: String,
    pub size: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub unpacked_size: u64,
    pub top_level: Vec<String>,
    /// The build's manifest (package versions and all), reused on a hit.
    pub manifest: serde_json::Value,
}

pub struct BuildCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// One stored layer.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub key: String,
    pub runtime: String,
    pub project: String,
    pub size: u64,
    pub sha256: String,
    /// Seconds since it was last used.
    pub age_secs: u64,
}

impl BuildCache {
    pub fn open() -> BuildCache {
        let max_bytes = std::env::var("FCLAYER_CACHE_MAX_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_BYTES);
        BuildCache {
            dir: crate::paths::cache_root().join("builds-v1"),
            max_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn zip_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.zip"))
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The stored layer for `key`, if present and intact (its size still matches).
    pub fn lookup(&self, key: &str) -> Option<(PathBuf, Meta)> {
        let meta = read_meta(&self.meta_path(key))?;
        let zip = self.zip_path(key);
        // Not followed if a link, and a regular file only: opening a FIFO for writing (below)
        // would wait for a reader forever.
        let zip_meta = fs::symlink_metadata(&zip).ok()?;
        if !zip_meta.is_file() || zip_meta.len() != meta.size || meta.key != key {
            return None;
        }
        // Mark it used, for least-recently-used pruning.
        let _ = fs::File::options()
            .write(true)
            .open(&zip)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some((zip, meta))
    }

    /// Store a finished layer under `key` and keep the cache within its size. Failing to store is
    /// never fatal for the build: it only costs the next build its hit.
    pub fn store(&self, key: &str, zip: &Path, meta: &Meta) -> Result<()> {
        fs::create_dir_all(&self.dir).at("create", &self.dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(".store-")
            .tempfile_in(&self.dir)
            .at("write to", &self.dir)?;
        fs::copy(zip, tmp.path()).at("copy into the cache", tmp.path())?;
        tmp.persist(self.zip_path(key))
            .map_err(|e| Error::io("write", &self.zip_path(key), e.error))?;
        let json = serde_json::to_vec_pretty(meta).expect("meta serialises");
        let meta_tmp = tempfile::Builder::new()
            .prefix(".store-")
            .tempfile_in(&self.dir)
            .at("write to", &self.dir)?;
        fs::write(meta_tmp.path(), json).at("write", meta_tmp.path())?;
        meta_tmp
            .persist(self.meta_path(key))
            .map_err(|e| Error::io("write", &self.meta_path(key), e.error))?;
        self.prune(self.max_bytes)?;
        Ok(())
    }

    /// Every stored layer, most recently used first.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        let now = SystemTime::now();
        for e in read.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("zip") {
                continue;
            }
            let key = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let Some(meta) = read_meta(&self.meta_path(&key)) else {
                continue;
            };
            let used = e.metadata().and_then(|m| m.modified()).unwrap_or(now);
            out.push(Entry {
                key,
                runtime: meta.runtime,
                project: meta.project,
                size: meta.size,
                sha256: meta.sha256,
                age_secs: now.duration_since(used).map_or(0, |d| d.as_secs()),
            });
        }
        out.sort_by_key(|e| e.age_secs);
        Ok(out)
    }

    /// Remove least recently used entries until the cache holds at most `max_bytes`. Returns
    /// how many were removed and the bytes freed.
    pub fn prune(&self, max_bytes: u64) -> Result<(usize, u64)> {
        let entries = self.list()?;
        // Sizes come from the `.json` files, which anyone may have edited: in u128 the sum of
        // any number of u64s below 2^64 entries cannot wrap (a wrapped total once made prune
        // think a full cache was nearly empty).
        let mut total = total_size(&entries);
        let (mut removed, mut freed) = (0, 0u64);
        for e in entries.iter().rev() {
            if total <= u128::from(max_bytes) {
                break;
            }
            let _ = fs::remove_file(self.zip_path(&e.key));
            let _ = fs::remove_file(self.meta_path(&e.key));
            total -= u128::from(e.size);
            freed = freed.saturating_add(e.size);
            removed += 1;
        }
        Ok((removed, freed))
    }
}

/// The summed size of `entries`, exact (see `prune`).
pub fn total_size(entries: &[Entry]) -> u128 {
    entries.iter().map(|e| u128::from(e.size)).sum()
}

/// Biggest `.json` beside a cached layer that is read: it holds a manifest, a few kB to a few
/// hundred kB for a large project; anything this big is not one fclayer wrote.
const MAX_META_BYTES: u64 = 16 << 20;

/// Read and parse a `<key>.json`, if it is a regular file of a sane size. The cache folder is
/// the user's: a FIFO, a device or a link put there must not hang or feed `cache ls`, `prune` or
/// a build, so the file is checked before it is opened (not following links) and again once
/// open. (Between the two a file could still be swapped for a FIFO by whoever can write to the
/// user's cache; `O_NONBLOCK` would close that too, but std has no portable name for it and the
/// crate forbids the unsafe code a syscall wrapper needs.)
fn read_meta(path: &Path) -> Option<Meta> {
    use std::io::Read;
    let before = fs::symlink_metadata(path).ok()?;
    if !before.is_file() || before.len() > MAX_META_BYTES {
        return None;
    }
    let file = fs::File::open(path).ok()?;
    let after = file.metadata().ok()?;
    {
        use std::os::unix::fs::MetadataExt;
        if !after.is_file() || (after.dev(), after.ino()) != (before.dev(), before.ino()) {
            return None;
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_META_BYTES).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Meta {
    pub fn layer_info(&self, path: &Path) -> LayerInfo {
        LayerInfo {
            path: path.to_path_buf(),
            size: self.size,
            files: self.files,
            dirs: self.dirs,
            symlinks: self.symlinks,
            unpacked_size: self.unpacked_size,
            sha256: self.sha256.clone(),
            crc64: self.crc64.clone(),
            top_level: self.top_level.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_when_any_part_differs() {
        let key = |parts: &[(&str, &str)]| {
            let mut k = KeyBuilder::new();
            for (n, v) in parts {
                k.part(n, v.as_bytes());
            }
            k.finish()
        };
        let a = key(&[("image", "sha256:1"), ("inputs", "x")]);
        assert_eq!(a, key(&[("image", "sha256:1"), ("inputs", "x")]));
        assert_ne!(a, key(&[("image", "sha256:2"), ("inputs", "x")]));
        assert_ne!(a, key(&[("image", "sha256:1"), ("inputs", "y")]));
        // Length-delimited: moving a boundary changes the key.
        assert_ne!(key(&[("a", "bc")]), key(&[("ab", "c")]));
    }

    #[test]
    fn store_lookup_and_prune_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache {
            dir: dir.path().join("builds-v1"),
            max_bytes: u64::MAX,
        };
        let meta = |key: &str, size: u64| Meta {
            key: key.into(),
            runtime: "python3.9".into(),
            platform: "linux/amd64".into(),
            project: "p".into(),
            sha256: "s".into(),
            crc64: "1".into(),
            size,
            files: 1,
            dirs: 0,
            symlinks: 0,
            unpacked_size: size,
            top_level: vec!["python".into()],
            manifest: serde_json::Value::Null,
        };
        for (key, size) in [("old", 100u64), ("new", 50)] {
            let zip = dir.path().join(format!("{key}.zip"));
            fs::write(&zip, vec![0u8; size as usize]).unwrap();
            cache.store(key, &zip, &meta(key, size)).unwrap();
            let f = fs::File::options()
                .write(true)
                .open(cache.zip_path(key))
                .unwrap();
            let age = if key == "old" { 3600 } else { 0 };
            f.set_modified(SystemTime::now() - std::time::Duration::from_secs(age))
                .unwrap();
        }
        assert!(cache.lookup("new").is_some());
        assert!(cache.lookup("missing").is_none());
        assert_eq!(cache.list().unwrap().len(), 2);
        let (removed, freed) = cache.prune(60).unwrap();
        assert_eq!((removed, freed), (1, 100));
        assert!(cache.lookup("old").is_none());
        assert!(cache.lookup("new").is_some());
        // A truncated entry is not a hit.
        fs::write(cache.zip_path("new"), b"x").unwrap();
        assert!(cache.lookup("new").is_none());
    }

    fn hand_made(cache: &BuildCache, key: &str, size: u64) {
        fs::create_dir_all(&cache.dir).unwrap();
        fs::write(cache.zip_path(key), b"zip").unwrap();
        let meta = serde_json::json!({
            "key": key, "runtime": "python3.9", "platform": "linux/amd64", "project": "p",
            "sha256": "s", "crc64": "1", "size": size, "files": 1, "dirs": 0, "symlinks": 0,
            "unpacked_size": 1, "top_level": [], "manifest": null,
        });
        fs::write(cache.meta_path(key), meta.to_string()).unwrap();
    }

    #[test]
    fn a_total_past_2_pow_64_still_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache {
            dir: dir.path().join("builds-v1"),
            max_bytes: u64::MAX,
        };
        // Three entries whose sizes sum to 2^64 + 1: a wrapping u64 total read 1 byte, under
        // any limit, and nothing was removed.
        hand_made(&cache, "a", u64::MAX);
        hand_made(&cache, "b", 1);
        hand_made(&cache, "c", 1);
        assert_eq!(total_size(&cache.list().unwrap()), u128::from(u64::MAX) + 2);
        let (removed, freed) = cache.prune(1000).unwrap();
        assert!(removed >= 1, "nothing pruned");
        assert!(freed >= 1);
        assert!(total_size(&cache.list().unwrap()) <= 1000);
        assert!(!cache.zip_path("a").exists(), "the huge entry stayed");
    }

    #[test]
    fn a_fifo_or_link_as_meta_is_skipped_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache {
            dir: dir.path().join("builds-v1"),
            max_bytes: u64::MAX,
        };
        hand_made(&cache, "good", 3);
        fs::write(cache.zip_path("fifo"), b"zip").unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(cache.meta_path("fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        fs::write(cache.zip_path("link"), b"zip").unwrap();
        std::os::unix::fs::symlink("/dev/zero", cache.meta_path("link")).unwrap();
        // A FIFO as the ZIP: `lookup` opens it for writing, which would wait for a reader.
        hand_made(&cache, "fifozip", 3);
        fs::remove_file(cache.zip_path("fifozip")).unwrap();
        std::process::Command::new("mkfifo")
            .arg(cache.zip_path("fifozip"))
            .status()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let dir2 = cache.dir.clone();
        std::thread::spawn(move || {
            let cache = BuildCache {
                dir: dir2,
                max_bytes: u64::MAX,
            };
            let keys: Vec<String> = cache.list().unwrap().into_iter().map(|e| e.key).collect();
            let hit = cache.lookup("fifozip").is_some() || cache.lookup("fifo").is_some();
            let pruned = cache.prune(0).unwrap();
            tx.send((keys, hit, pruned)).unwrap();
        });
        let (keys, hit, pruned) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("cache ls/prune blocked on a FIFO");
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&"good".to_string()), "{keys:?}");
        assert!(!hit);
        assert_eq!(pruned.0, 2);
    }
}
