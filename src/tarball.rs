//! Deterministic tar archives for what fclayer sends to the engine: build-image contexts and a
//! build's inputs. Same files, same bytes: entries in the order added (callers add them sorted),
//! mtime 0, owner root, modes 0644/0755. That makes the bytes usable as a cache key.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};

pub struct TarBuilder {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        TarBuilder { builder }
    }

    /// Every header the same way: GNU format (long names without PAX records), and nothing of
    /// the host (time, owner) that would make the same files give other bytes.
    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    pub fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| tar_error(path, e))
    }

    pub fn file(&mut self, path: &str, data: &[u8], exec: bool) -> Result<()> {
        let mode = if exec { 0o755 } else { 0o644 };
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, mode);
        self.builder
            .append_data(&mut h, path, data)
            .map_err(|e| tar_error(path, e))
    }

    /// Add a file from disk, streaming its contents; returns their sha256 (hex).
    pub fn file_from_disk(&mut self, path: &str, disk: &Path, exec: bool) -> Result<String> {
        let mut f = File::open(disk).at("open", disk)?;
        let len = f.metadata().at("read", disk)?.len();
        let mode = if exec { 0o755 } else { 0o644 };
        let mut h = Self::header(tar::EntryType::Regular, len, mode);
        // Never more than the size the header announces, should the file grow while it is
        // read; the hash is of what was sent.
        let mut reader = HashingReader {
            inner: (&mut f).take(len),
            sha: Sha256::new(),
        };
        self.builder
            .append_data(&mut h, path, &mut reader)
            .map_err(|e| tar_error(path, e))?;
        Ok(hex::encode(reader.sha.finalize()))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777);
        self.builder
            .append_link(&mut h, path, target)
            .map_err(|e| tar_error(path, e))
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        self.builder
            .into_inner()
            .map_err(|e| Error::build(format!("cannot finish an archive: {e}")))
    }
}

/// Hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

fn tar_error(path: &str, e: std::io::Error) -> Error {
    Error::build(format!("cannot add {path} to an archive: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_bytes() {
        let make = || {
            let mut t = TarBuilder::new();
            t.dir("a").unwrap();
            t.file("a/x", b"hello", false).unwrap();
            t.file("a/run.sh", b"#!/bin/sh\n", true).unwrap();
            t.symlink("a/y", "x").unwrap();
            t.finish().unwrap()
        };
        assert_eq!(make(), make());
        let bytes = make();
        let mut ar = tar::Archive::new(&bytes[..]);
        let modes: Vec<u32> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().mode().unwrap())
            .collect();
        assert_eq!(modes, vec![0o755, 0o644, 0o755, 0o777]);
    }
}
