//! The one reader of layer ZIPs, for `check`, `inspect`, `stack`, `verify` and the manifest.
//!
//! A layer ZIP may come from anywhere (a colleague, a public layer list, a CI artifact), so
//! reading it is bounded: [`LayerZip::open`] opens only regular files and never blocks (a FIFO
//! cannot hang it), refuses a ZIP with more than [`MAX_ENTRIES`] entries or with entries that
//! overlap (one compressed stream listed many times, a classic ZIP bomb), and [`LayerZip::entry`]
//! reads each central-directory entry through the one name rule ([`crate::extract::Name`]) into
//! an [`Entry`]: its layer path, kind, mode, sizes. Names longer than [`MAX_NAME`] bytes or deeper
//! than [`MAX_DEPTH`] components are refused with an error naming the entry; no Linux tool can
//! unpack them anyway. Every byte inflated through [`LayerZip::open_entry`] counts against
//! [`MAX_INFLATED`] for the whole archive.
//!
//! What to do with an odd name (skip it, warn, refuse) is each command's choice, made on the
//! same parsed [`Entry`].

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::extract::{Name, NameIssue};

/// Entries per ZIP. A 500 MB layer (FC's limit) of empty files holds about 5 million; real
/// layers hold up to a few hundred thousand.
pub const MAX_ENTRIES: usize = 4_000_000;
/// Bytes in one entry name: Linux's PATH_MAX, the longest path unzip can create.
pub const MAX_NAME: usize = 4096;
/// Components in one entry name. The deepest real trees (nested node_modules) stay under 100.
pub const MAX_DEPTH: usize = 256;
/// Bytes of a symlink's target (PATH_MAX).
pub const MAX_TARGET: u64 = 4096;
/// Bytes inflated from one archive, over every entry read: the ELF gate reads each ELF file at
/// most twice; no honest layer (500 MB zipped) comes near this.
pub const MAX_INFLATED: u64 = 8 << 30;

/// Where FC unpacks every layer.
pub const ROOT: &str = crate::extract::LAYER_MOUNT;

/// Unix file-type bits of a ZIP entry's external attributes.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;

/// What an entry of the unpacked layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

/// One central-directory entry, read through the name rule.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its index in the archive, for [`LayerZip::open_entry`].
    pub index: usize,
    pub name: Name,
    /// The raw name as shown in messages (lossy, control characters escaped).
    pub shown: String,
    pub kind: Kind,
    /// Unix mode bits, if the tool that wrote the ZIP stored them.
    pub mode: Option<u32>,
    /// Uncompressed size (0 for directories, whatever the header says).
    pub size: u64,
    pub compressed: u64,
    pub crc32: u32,
}

impl Entry {
    /// The layer path, unless the name cannot land where it says (absolute, `..`) or is the
    /// root itself.
    pub fn path(&self) -> Option<&str> {
        (!self.name.outside && !self.name.path.is_empty()).then_some(self.name.path.as_str())
    }

    /// The layer path by the packer's rule, which refuses every name issue (`None` for the root).
    pub fn strict_path(&self) -> Result<Option<&str>> {
        if let Some(issue) = self.name.issue {
            return Err(crate::extract::refuse(&shorten(&self.shown), issue));
        }
        Ok((!self.name.path.is_empty()).then_some(self.name.path.as_str()))
    }

    pub fn executable(&self) -> bool {
        self.mode.is_some_and(|m| m & 0o111 != 0)
    }
}

/// A layer ZIP open for reading.
pub struct LayerZip<R: Read + Seek = BufReader<File>> {
    zip: zip::ZipArchive<R>,
    /// The path as given, for messages.
    shown: String,
    size: u64,
    inflated: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Open the file at `path` only if it is a regular file, without blocking (a FIFO or a device
/// opened for reading could wait forever), and say what it is otherwise. The error is the same
/// for every command that reads layers.
pub fn open_regular(path: &Path, what: &str, example: &str) -> Result<(File, u64)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io("open", path, e).with_hint(format!("give the path of {example}")))?;
    let not = |kind: &str| {
        Error::input(format!("{} is {kind}, not {what}", path.display()))
            .with_hint(format!("give the path of {example}"))
    };
    if meta.is_dir() {
        return Err(not("a directory")
            .with_hint("to look at a folder, pack it first: fclayer pack DIR -o layer.zip"));
    }
    if !meta.is_file() {
        return Err(not(file_type(&meta)));
    }
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .at("open", path)?;
    // The path may have been swapped for something else between the two looks.
    let meta = file.metadata().at("read", path)?;
    if !meta.is_file() {
        return Err(not(file_type(&meta)));
    }
    Ok((file, meta.len()))
}

fn file_type(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

impl LayerZip {
    /// Open the layer ZIP at `path`.
    pub fn open(path: &Path) -> Result<LayerZip> {
        let (file, size) = open_regular(path, "a layer ZIP", "a layer ZIP, e.g. layer.zip")?;
        LayerZip::from_reader(BufReader::new(file), path.display().to_string(), size)
    }
}

impl<R: Read + Seek> LayerZip<R> {
    /// Read the central directory of a ZIP held by `reader` (`shown` names it in messages).
    pub fn from_reader(reader: R, shown: String, size: u64) -> Result<LayerZip<R>> {
        let zip = zip::ZipArchive::new(reader).map_err(|e| {
            Error::input(format!("{shown} is not a readable ZIP file: {e}")).with_hint(
                "give a layer ZIP as uploaded to FC (e.g. one written by fclayer build or pack)",
            )
        })?;
        let layer = LayerZip {
            zip,
            shown,
            size,
            inflated: Default::default(),
        };
        if layer.len() > MAX_ENTRIES {
            return Err(layer.damaged(format!(
                "it lists {} entries, over the cap of {MAX_ENTRIES}",
                layer.len()
            )));
        }
        layer.refuse_overlaps()?;
        Ok(layer)
    }

    pub fn len(&self) -> usize {
        self.zip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zip.is_empty()
    }

    /// The archive's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The ZIP names some paths twice: the reader keeps one entry per name.
    pub fn has_duplicate_names(&self) -> bool {
        self.zip.has_duplicate_names()
    }

    fn damaged(&self, why: impl std::fmt::Display) -> Error {
        Error::input(format!("{} is damaged or hostile: {why}", self.shown))
            .with_hint("download or build the layer again; fclayer reads no further")
    }

    /// Each entry's local header and data must lie before the next entry's: a stream shared
    /// by many entries inflates many times over. Only the central directory is read; the local
    /// header is at least 30 bytes plus the name.
    fn refuse_overlaps(&self) -> Result<()> {
        let mut spans: Vec<(u64, u64, u32)> = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let e = self.zip.by_index_data(i).map_err(|e| self.damaged(e))?;
            let min_len = 30 + e.name_raw().len() as u64 + e.compressed_size();
            spans.push((
                e.header_start(),
                e.header_start().saturating_add(min_len),
                i as u32,
            ));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            if w[0].1 > w[1].0 {
                let name = |i: u32| {
                    self.zip
                        .by_index_data(i as usize)
                        .map(|e| Name::shown(e.name_raw()))
                        .unwrap_or_default()
                };
                return Err(self.damaged(format!(
                    "entries `{}` and `{}` overlap (one compressed stream listed twice)",
                    shorten(&name(w[0].2)),
                    shorten(&name(w[1].2))
                )));
            }
        }
        Ok(())
    }

    /// Entry `index` from the central directory, through the name rule and the caps.
    pub fn entry(&self, index: usize) -> Result<Entry> {
        let e = self.zip.by_index_data(index).map_err(|e| self.damaged(e))?;
        let raw = e.name_raw();
        let shown = Name::shown(raw);
        if raw.len() > MAX_NAME {
            return Err(self.cap(&shown, format!("its name is {} bytes", raw.len()), MAX_NAME));
        }
        let depth = raw.iter().filter(|b| **b == b'/').count() + 1;
        if depth > MAX_DEPTH {
            return Err(self.cap(
                &shown,
                format!("its name has {depth} components"),
                MAX_DEPTH,
            ));
        }
        let mode = e.unix_mode();
        let kind = match mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => Kind::Symlink,
            Some(S_IFDIR) => Kind::Dir,
            _ if e.is_dir() => Kind::Dir,
            _ => Kind::File,
        };
        Ok(Entry {
            index,
            name: Name::parse(raw),
            shown,
            kind,
            mode,
            size: if kind == Kind::Dir { 0 } else { e.size() },
            compressed: e.compressed_size(),
            crc32: e.crc32(),
        })
    }

    fn cap(&self, shown: &str, what: String, cap: usize) -> Error {
        Error::input(format!(
            "{}: entry `{}`: {what}, over the cap of {cap}",
            self.shown,
            shorten(shown)
        ))
        .with_hint("no Linux tool can unpack such a name; the ZIP is damaged or hostile")
    }

    /// Every entry, in archive order.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry>> + '_ {
        (0..self.len()).map(|i| self.entry(i))
    }

    /// The entry's content, inflated; every byte counts against [`MAX_INFLATED`] and reading
    /// stops at the declared size.
    pub fn open_entry(&mut self, entry: &Entry) -> Result<impl Read + '_> {
        let shown = self.shown.clone();
        let f = self
            .zip
            .by_index(entry.index)
            .map_err(|e| Error::input(format!("{shown} is damaged: {}: {e}", entry.shown)))?;
        Ok(Budgeted {
            inner: f.take(entry.size),
            inflated: self.inflated.clone(),
        })
    }

    /// A symlink's target (at most [`MAX_TARGET`] bytes), as stored.
    pub fn link_target(&mut self, entry: &Entry) -> Result<String> {
        if entry.size > MAX_TARGET {
            return Err(self.cap(
                &entry.shown,
                format!("its symlink target is {} bytes", entry.size),
                MAX_TARGET as usize,
            ));
        }
        let shown = self.shown.clone();
        let mut buf = Vec::new();
        self.open_entry(entry)?.read_to_end(&mut buf).map_err(|e| {
            Error::input(format!(
                "{shown} is damaged: cannot read symlink {}: {e}",
                entry.shown
            ))
            .with_hint("download or build the layer again")
        })?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// A reader that counts what it inflates against the archive's budget.
struct Budgeted<T> {
    inner: T,
    inflated: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<T: Read> Read for Budgeted<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self
            .inflated
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed)
            + n as u64;
        if total > MAX_INFLATED {
            return Err(std::io::Error::other(format!(
                "more than {} inflated from this ZIP, over the cap",
                super::human_bytes(MAX_INFLATED)
            )));
        }
        Ok(n)
    }
}

/// A name cut to a screen's width for a message (hostile names run to kilobytes).
pub fn shorten(shown: &str) -> String {
    const KEEP: usize = 120;
    if shown.chars().count() <= KEEP {
        return shown.to_string();
    }
    let head: String = shown.chars().take(KEEP).collect();
    format!("{head}… ({} bytes)", shown.len())
}

/// The warning every reader gives for names that cannot land where they say.
pub const OUTSIDE: &str = "entries with an absolute path or `..` (outside /opt; skipped)";
/// ... and for the odd names that are kept.
pub const NOT_UTF8: &str = "names that are not UTF-8 (FC may unpack them garbled)";
pub const CONTROL: &str = "names with control characters (shown escaped)";
pub const BACKSLASH: &str =
    "names with backslashes (made on Windows? they are not folders on Linux)";

/// The warnings an entry's name earns, the same in every command that lists entries.
pub fn name_warnings(name: &Name) -> impl Iterator<Item = &'static str> {
    let first = if name.outside {
        Some(OUTSIDE)
    } else {
        match name.issue {
            Some(NameIssue::NotUtf8) => Some(NOT_UTF8),
            Some(NameIssue::Control(_)) => Some(CONTROL),
            _ => None,
        }
    };
    first.into_iter().chain(name.backslash.then_some(BACKSLASH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cut_for_messages() {
        assert_eq!(shorten("a/b"), "a/b");
        let long = "d/".repeat(500);
        let s = shorten(&long);
        assert!(s.len() < 200 && s.ends_with("(1000 bytes)"), "{s}");
    }
}
