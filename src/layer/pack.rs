//! The deterministic, streaming, parallel ZIP packer.
//!
//! Input arrives in any order (a container's tar stream, or a directory walk); the ZIP must come
//! out byte-identical for the same tree. So packing has two phases:
//!
//! 1. Stream: each regular file is compressed as it arrives, on worker threads: a small one read
//!    whole, a big one cut into 1 MiB pieces that are compressed independently (and so in
//!    parallel) and concatenate into one deflate stream (see `deflate`). The workers append the
//!    results to a *spool*, a temporary file beside the target, in whatever order they finish;
//!    an index in memory records where each file's pieces are. Directories and symlinks only go
//!    into the index. Memory stays bounded by a budget of bytes in flight, however big the layer.
//! 2. Order: once the whole tree is known, links are checked through each other, missing parent
//!    directories are added, and the final ZIP is written in path order by copying each file's
//!    compressed bytes from the spool (no recompression), hashed as it is written.
//!
//! Every entry gets the same timestamp (SOURCE_DATE_EPOCH, or 1980-01-01 00:00:00), mode 0644 or
//! 0755 (directories and executables), no owner and no extra fields; symlinks are stored as
//! symlinks (Unix mode in the external attributes). The compressed bytes of a file depend only on
//! its contents (pieces are cut at fixed offsets), so the output is the same whatever the number
//! of threads and whatever order the input comes in.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use zip::DateTime;

use super::deflate::{Deflater, PIECE};
use super::digest::Digests;
use super::zipwrite::{DEFLATED, Header, S_IFDIR, S_IFLNK, S_IFREG, STORED, ZipWriter};
use crate::error::{Error, IoContext, Result};
use crate::extract::{self, layer_path};

/// What decides the bytes of a layer besides its tree and `PackOptions`: the ZIP layout, the
/// compressor and its version, how big files are cut. Changed whenever the same tree would pack
/// to different bytes, so that anything keyed on a layer's inputs (the build cache) can include it.
pub const FORMAT: &str = "zip-v2 libdeflate-1.26 pieces-1MiB store-incompressible";

/// Files up to this size are read whole and compressed in one piece (which compresses a little
/// better); bigger ones are cut into pieces, so that no file needs more than a piece in memory
/// and a big file keeps every worker busy.
const SMALL_FILE: u64 = 4 << 20;
/// Bytes of file data allowed in flight between reader and workers.
const IN_FLIGHT_BUDGET: usize = 24 << 20;
/// Phase 2 copies from the spool to the ZIP through a buffer of this size.
const COPY_BUFFER: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct PackOptions {
    /// Timestamp of every entry.
    pub mtime: DateTime,
    /// Deflate level: 0 (store) to 9 as zlib's, and libdeflate's slower 10-12.
    pub level: i64,
    /// Compression threads.
    pub threads: usize,
    /// Set by a signal handler: stop at the next entry.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Entries written in the ordered phase (the length is set to their number).
    pub progress: Arc<dyn Reporter>,
}

/// Where the packer says how far it got: the UI implements it (a progress bar), the packer only
/// counts (uv's `Reporter`). Called from the packing thread, so it must be cheap.
pub trait Reporter: Send + Sync {
    /// How many units the work has; the count starts again from 0.
    fn set_length(&self, n: u64);
    /// `n` more units done.
    fn inc(&self, n: u64);
}

/// Reports nowhere.
struct Silent;

impl Reporter for Silent {
    fn set_length(&self, _: u64) {}
    fn inc(&self, _: u64) {}
}

impl std::fmt::Debug for dyn Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            mtime: source_date_epoch().unwrap_or_else(default_mtime),
            level: 6,
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            cancel: None,
            progress: Arc::new(Silent),
        }
    }
}

/// The timestamp used when SOURCE_DATE_EPOCH is not set: the earliest a ZIP can hold.
pub fn default_mtime() -> DateTime {
    DateTime::default()
}

/// SOURCE_DATE_EPOCH (reproducible-builds.org) as a ZIP timestamp, in UTC, clamped to what the
/// format can hold (1980-2107). Invalid values are ignored.
pub fn source_date_epoch() -> Option<DateTime> {
    let secs: i64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(unix_to_dos(secs))
}

/// Convert Unix seconds to a ZIP (DOS) timestamp in UTC.
pub fn unix_to_dos(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year < 1980 {
        return DateTime::default();
    }
    if year > 2107 {
        return DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58).unwrap_or_default();
    }
    DateTime::from_date_and_time(
        year as u16,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem % 3600 / 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File {
        size: u64,
        exec: bool,
        /// Index of its data in `Packer::files`.
        file: usize,
    },
    Symlink {
        target: String,
    },
    /// A tar hardlink: stored as a copy of `target`'s bytes (ZIP has no hardlinks).
    Hardlink {
        target: String,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    path: String,
    kind: Kind,
}

/// What a finished pack holds, for the summary line, `inspect` and the size budget.
#[derive(Clone, Debug, Default)]
pub struct PackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Sum of file sizes before compression.
    pub bytes: u64,
    /// Size of the ZIP.
    pub zip_bytes: u64,
    /// The largest files, biggest first: (path, size, compressed size).
    pub largest: Vec<(String, u64, u64)>,
    /// Top-level folders of the layer (`python`, `lib`, ...).
    pub top_level: Vec<String>,
    /// Digests of the ZIP, computed while it was written.
    pub digests: Digests,
}

/// Where a file's compressed bytes are in the spool, and what the ZIP header needs to know.
#[derive(Clone, Debug, Default)]
struct Spooled {
    method: u16,
    /// The file's pieces in order (one for a small file); filled in as the workers finish them.
    parts: Vec<Part>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Part {
    /// Where the compressed (or stored) bytes are in the spool, and how many.
    offset: u64,
    len: u64,
    /// CRC-32 and length of the uncompressed bytes.
    crc: u32,
    size: u64,
}

impl Spooled {
    fn crc32(&self) -> u32 {
        let mut parts = self.parts.iter();
        let Some(first) = parts.next() else { return 0 };
        let mut crc = crc32fast::Hasher::new_with_initial_len(first.crc, first.size);
        for p in parts {
            crc.combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.size));
        }
        crc.finalize()
    }

    fn compressed(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }
}

/// The spool: compressed bytes in whatever order the workers finish them. Each worker reserves
/// a range and writes it with `pwrite`, so no data passes back through the reading thread.
struct Spool {
    file: File,
    end: AtomicU64,
}

impl Spool {
    fn append(&self, bytes: &[u8]) -> io::Result<u64> {
        let offset = self.end.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.file.write_all_at(bytes, offset)?;
        Ok(offset)
    }
}

struct Job {
    file: usize,
    piece: usize,
    /// A small file read whole: deflated, or stored when deflate does not make it smaller.
    /// Otherwise one piece of a big file, `last` or not.
    whole: bool,
    last: bool,
    data: Vec<u8>,
}

struct Done {
    file: usize,
    piece: usize,
    method: u16,
    part: Part,
    /// The job's input buffer, back for reuse (and freed by the thread that allocated it).
    buffer: Vec<u8>,
}

/// Compression workers fed through a bounded queue.
struct Pool {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<io::Result<Done>>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, level: i64, spool: &Arc<Spool>) -> Pool {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel();
        let handles = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let spool = Arc::clone(spool);
                thread::spawn(move || {
                    let mut deflater = Deflater::new(level);
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let res = compress(&mut deflater, &spool, job);
                        if done_tx.send(res).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(job_tx),
            done: done_rx,
            handles,
        }
    }
}

/// Compress one job into the spool.
fn compress(deflater: &mut Deflater, spool: &Spool, job: Job) -> io::Result<Done> {
    let crc = crc32fast::hash(&job.data);
    let (method, bytes) = if job.whole {
        match deflater.whole(&job.data) {
            Some(packed) => (DEFLATED, packed),
            // Stored, as Info-ZIP does when deflate does not help.
            None => (STORED, &job.data[..]),
        }
    } else {
        (DEFLATED, deflater.piece(&job.data, job.last))
    };
    let offset = spool.append(bytes)?;
    Ok(Done {
        file: job.file,
        piece: job.piece,
        method,
        part: Part {
            offset,
            len: bytes.len() as u64,
            crc,
            size: job.data.len() as u64,
        },
        buffer: job.data,
    })
}

pub struct Packer {
    opts: PackOptions,
    spool: Arc<Spool>,
    entries: Vec<Entry>,
    seen: HashMap<String, usize>,
    /// Per regular file (`Kind::File::file`), where its bytes are in the spool.
    files: Vec<Spooled>,
    pool: Pool,
    /// Bytes of input handed to the workers and not yet compressed.
    in_flight: usize,
    /// Jobs sent to the workers and not yet back. (Empty files are never sent: they are stored
    /// with nothing to compress, and a job of 0 bytes could not be told apart in `in_flight`.)
    pending: usize,
    /// Piece buffers back from the workers, for the next pieces.
    spare: Vec<Vec<u8>>,
}

impl Packer {
    /// Start a pack that spools compressed data into `spool` (an empty temporary file).
    pub fn new(spool: File, opts: PackOptions) -> Packer {
        let threads = opts.threads.max(1);
        let spool = Arc::new(Spool {
            file: spool,
            end: AtomicU64::new(0),
        });
        let pool = Pool::new(threads, opts.level, &spool);
        Packer {
            opts,
            spool,
            entries: Vec::new(),
            seen: HashMap::new(),
            files: Vec::new(),
            pool,
            in_flight: 0,
            pending: 0,
            spare: Vec::new(),
        }
    }

    /// Entries (files, directories, links) added so far.
    pub fn entries_seen(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of regular files added so far, before compression.
    pub fn bytes_seen(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// Where the ordered phase reports the entries it writes.
    pub fn set_progress(&mut self, progress: impl Reporter + 'static) {
        self.opts.progress = Arc::new(progress);
    }

    /// The flag that interrupts this packer, if any.
    pub fn cancel_flag(&self) -> Option<Arc<AtomicBool>> {
        self.opts.cancel.clone()
    }

    /// Regular files added so far (hardlinks included).
    pub fn files_seen(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::File { .. } | Kind::Hardlink { .. }))
            .count()
    }

    /// Regular files added so far below the top-level folder `dir`.
    pub fn files_below(&self, dir: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::File { .. } | Kind::Hardlink { .. }))
            .filter(|e| {
                e.path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .count()
    }

    fn check_cancel(&self) -> Result<()> {
        match &self.opts.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::interrupted("a signal")),
            _ => Ok(()),
        }
    }

    fn record(&mut self, path: String, kind: Kind) -> Result<()> {
        if self.seen.contains_key(&path) {
            return Err(Error::build(format!(
                "unsafe entry `{path}` in the layer: duplicate path"
            ))
            .with_hint("the archive lists the same path twice; it was not made by a Docker engine or was tampered with"));
        }
        self.seen.insert(path.clone(), self.entries.len());
        self.entries.push(Entry { path, kind });
        Ok(())
    }

    /// Add one regular file, reading exactly `size` bytes from `data`. A small file is read
    /// whole and compressed on a worker; a big one is cut into pieces of a fixed size that the
    /// workers compress in parallel, so memory stays bounded and every core works on it.
    fn add_file(&mut self, path: String, size: u64, exec: bool, data: &mut dyn Read) -> Result<()> {
        let file = self.files.len();
        self.record(path.clone(), Kind::File { size, exec, file })?;
        let pieces = if size > SMALL_FILE {
            size.div_ceil(PIECE as u64) as usize
        } else {
            1
        };
        self.files.push(Spooled {
            method: if size == 0 { STORED } else { DEFLATED },
            parts: vec![Part::default(); pieces],
        });
        if size == 0 {
            return Ok(());
        }
        let read_error =
            |e: io::Error| Error::build(format!("cannot read {path} from the layer stream: {e}"));
        if pieces == 1 {
            let mut buf = Vec::with_capacity(size as usize);
            data.take(size).read_to_end(&mut buf).map_err(read_error)?;
            if buf.len() as u64 != size {
                return Err(truncated(&path));
            }
            return self.submit(Job {
                file,
                piece: 0,
                whole: true,
                last: true,
                data: buf,
            });
        }
        let mut left = size;
        for piece in 0..pieces {
            // A big file must not hold up an interrupt.
            self.check_cancel()?;
            let len = left.min(PIECE as u64) as usize;
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.resize(len, 0);
            match data.read_exact(&mut buf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(truncated(&path)),
                Err(e) => return Err(read_error(e)),
            }
            left -= len as u64;
            self.submit(Job {
                file,
                piece,
                whole: false,
                last: left == 0,
                data: buf,
            })?;
        }
        Ok(())
    }

    /// Hand a job to the workers once the bytes in flight are within budget.
    fn submit(&mut self, job: Job) -> Result<()> {
        while self.in_flight > IN_FLIGHT_BUDGET {
            self.collect_one()?;
        }
        self.in_flight += job.data.len();
        self.pending += 1;
        self.pool
            .jobs
            .as_ref()
            .expect("pool open while adding")
            .send(job)
            .map_err(|_| Error::build("compression workers stopped unexpectedly"))?;
        self.collect_ready()
    }

    /// Record every finished compression without waiting.
    fn collect_ready(&mut self) -> Result<()> {
        while let Ok(done) = self.pool.done.try_recv() {
            self.finished(done)?;
        }
        Ok(())
    }

    /// Wait for one finished compression and record it.
    fn collect_one(&mut self) -> Result<()> {
        let done = self
            .pool
            .done
            .recv()
            .map_err(|_| Error::build("compression workers stopped unexpectedly"))?;
        self.finished(done)
    }

    fn finished(&mut self, done: io::Result<Done>) -> Result<()> {
        let done = done.map_err(|e| write_error("the spool file", &e))?;
        self.in_flight -= done.buffer.len();
        self.pending -= 1;
        let spooled = &mut self.files[done.file];
        spooled.method = done.method;
        spooled.parts[done.piece] = done.part;
        // Keep enough piece buffers for the pieces in flight; let the rest go.
        if done.buffer.capacity() == PIECE && self.spare.len() < IN_FLIGHT_BUDGET / PIECE + 2 {
            self.spare.push(done.buffer);
        }
        Ok(())
    }

    /// Add every entry of a tar stream (untrusted). `strip` is the exported root directory to
    /// remove from names, e.g. `opt` for a container's `/opt`.
    ///
    /// The stream must end with the archive's end marker (zero blocks). Entries just stop when
    /// a stream is cut between two of them (an engine that went away, a container removed
    /// while copying out): without this check such a layer would be packed, short of files,
    /// as if complete.
    pub fn add_tar<R: Read>(&mut self, reader: R, strip: Option<&str>) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        self.add_entries(&mut archive, strip)?;
        // The tar reader stops at the first zero block (or at the end of the stream); a
        // complete archive has a second one after it.
        let mut rest = Vec::new();
        archive
            .into_inner()
            .take(1 << 20)
            .read_to_end(&mut rest)
            .map_err(stream_error)?;
        if rest.len() < 512 || rest.iter().any(|b| *b != 0) {
            return Err(Error::build(
                "the layer stream ended before the end of the archive: some of /opt is missing",
            )
            .with_hint(
                "the container or the engine stopped while copying out; run the build again",
            ));
        }
        Ok(())
    }

    fn add_entries<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
        strip: Option<&str>,
    ) -> Result<()> {
        let entries = archive.entries().map_err(stream_error)?;
        for entry in entries {
            self.check_cancel()?;
            let mut entry = entry.map_err(stream_error)?;
            let raw = entry.path_bytes().into_owned();
            let Some(path) = layer_path(&raw, strip)? else {
                continue;
            };
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode().unwrap_or(0o644);
            use tar::EntryType as T;
            match kind {
                T::Directory => self.record(path, Kind::Dir)?,
                T::Regular | T::Continuous => {
                    let size = entry.size();
                    self.add_file(path, size, mode & 0o111 != 0, &mut entry)?;
                }
                T::Symlink => {
                    let target = link_name(&entry, &path)?;
                    let target = extract::link_target(&path, &target)?;
                    self.record(path, Kind::Symlink { target })?;
                }
                T::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    // The target's own rejection names only the target; say which entry it is.
                    let target = layer_path(&target, strip)
                        .map_err(|e| e.context(format!("hardlink `{path}`")))?
                        .ok_or_else(|| {
                            Error::build(format!(
                                "unsafe entry `{path}` in the layer: hardlink to the root"
                            ))
                        })?;
                    self.record(path, Kind::Hardlink { target })?;
                }
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
                other => {
                    return Err(Error::build(format!(
                        "unsafe entry `{path}` in the layer: {} (only files, directories and links may be in a layer)",
                        describe(other)
                    ))
                    .with_hint("remove device files, FIFOs and sockets from the layer's folders"));
                }
            }
            self.collect_ready()?;
        }
        Ok(())
    }

    /// Add a directory tree from disk, its contents becoming the layer's root.
    pub fn add_dir(&mut self, root: &Path) -> Result<()> {
        self.add_dir_except(root, &[])
    }

    /// `add_dir`, leaving out the files `skip` names (the output and its temporaries, when the
    /// output lies inside the tree) and any temporary fclayer made. Left out, not refused:
    /// `fclayer pack . -o layer.zip` is the obvious way to pack the current folder, and its
    /// second run must give the first run's bytes, not a layer holding the first layer.
    pub fn add_dir_except(&mut self, root: &Path, skip: &[super::FileId]) -> Result<()> {
        let meta = std::fs::metadata(root).at("read", root)?;
        if !meta.is_dir() {
            return Err(Error::input(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        self.walk(root, root, skip)
    }

    fn walk(&mut self, root: &Path, dir: &Path, skip: &[super::FileId]) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .at("read directory", dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .at("read directory", dir)?;
        names.sort();
        for name in names {
            self.check_cancel()?;
            let full = dir.join(&name);
            let rel = full.strip_prefix(root).expect("walk stays below root");
            let Some(path) = layer_path(rel.as_os_str().as_bytes(), None)? else {
                continue;
            };
            let meta = std::fs::symlink_metadata(&full).at("read", &full)?;
            let ft = meta.file_type();
            if ft.is_dir() {
                self.record(path, Kind::Dir)?;
                self.walk(root, &full, skip)?;
            } else if ft.is_file() {
                if skip.contains(&super::FileId::of(&meta)) || super::is_temporary(&name, &meta) {
                    continue;
                }
                let f = File::open(&full).at("open", &full)?;
                let exec = meta.permissions().mode() & 0o111 != 0;
                self.add_local_file(path, &full, f, exec)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&full).at("read link", &full)?;
                let target = target.to_str().ok_or_else(|| {
                    Error::build(format!("symlink {} has a non-UTF-8 target", full.display()))
                })?;
                let target = extract::link_target(&path, target)?;
                self.record(path, Kind::Symlink { target })?;
            } else {
                return Err(Error::input(format!(
                    "{} is a device, FIFO or socket; a layer holds only files, directories and links",
                    full.display()
                )));
            }
            self.collect_ready()?;
        }
        Ok(())
    }

    /// Add a regular file of a local folder, open as `f`. Its size is taken once it is open; if
    /// it then ends early, grows, or is rewritten while it is read, the layer would hold bytes
    /// that never were the file's, so that is an error naming the file (not a cut stream: no
    /// container is involved).
    fn add_local_file(&mut self, path: String, full: &Path, f: File, exec: bool) -> Result<()> {
        let before = f.metadata().at("read", full)?;
        self.add_local_file_as(path, full, f, exec, &before)
    }

    /// `add_local_file` with the file's metadata as taken when it was opened.
    fn add_local_file_as(
        &mut self,
        path: String,
        full: &Path,
        f: File,
        exec: bool,
        before: &std::fs::Metadata,
    ) -> Result<()> {
        let size = before.len();
        let mut reader = Watched {
            inner: f,
            read: 0,
            eof: false,
        };
        let added = self.add_file(path, size, exec, &mut reader);
        let read = reader.read;
        // One byte more than it said: it grew (or its file system reports a wrong size).
        let grew = added.is_ok() && reader.inner.read(&mut [0u8; 1]).is_ok_and(|n| n > 0);
        let after = reader.inner.metadata().ok();
        let rewritten = after
            .as_ref()
            .is_some_and(|a| a.len() != size || a.modified().ok() != before.modified().ok());
        let short = added.is_err() && reader.eof && read < size;
        if grew || short || (added.is_ok() && rewritten) {
            let now = after.map_or(String::new(), |a| format!(", {} now", a.len()));
            let read = if grew {
                format!("more than {read}")
            } else {
                read.to_string()
            };
            return Err(Error::build(format!(
                "{} changed while it was being packed: {size} bytes when its reading began, {read} read{now}",
                full.display(),
            ))
            .with_hint("pack a folder nothing writes to while fclayer reads it (stop what writes there, or copy the folder first); files of /proc and /sys report sizes they do not have and cannot be packed"));
        }
        added
    }

    /// Phase 2: check the tree and write the ordered ZIP into `out`.
    pub fn finish(mut self, out: &mut File) -> Result<PackStats> {
        // Let the workers finish, then collect what they made.
        drop(self.pool.jobs.take());
        while self.pending > 0 {
            self.collect_one()?;
        }
        for h in std::mem::take(&mut self.pool.handles) {
            let _ = h.join();
        }
        self.check_cancel()?;

        let entries = complete_tree(self.entries, &self.seen)?;
        let links: HashMap<String, String> = entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Symlink { target } => Some((e.path.clone(), target.clone())),
                _ => None,
            })
            .collect();
        extract::check_links(&links)?;
        let ordered = Ordered {
            opts: &self.opts,
            entries: &entries,
            files: &self.files,
            spool: &self.spool.file,
        };
        ordered.write(out)
    }
}

/// Add parent directories the input did not list, reject entries below a file or link, resolve
/// hardlinks to files, and sort everything by path (component by component).
fn complete_tree(mut entries: Vec<Entry>, seen: &HashMap<String, usize>) -> Result<Vec<Entry>> {
    let mut implicit: Vec<String> = Vec::new();
    let mut known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for e in &entries {
        let mut p = extract::parent(&e.path);
        while !p.is_empty() {
            match seen.get(p).map(|&i| &entries[i].kind) {
                Some(Kind::Dir) => {}
                Some(_) => {
                    return Err(Error::build(format!(
                        "unsafe entry `{}` in the layer: it lies below `{p}`, which is not a directory",
                        e.path
                    )));
                }
                None => {
                    if known.insert(p) {
                        implicit.push(p.to_string());
                    }
                }
            }
            p = extract::parent(p);
        }
    }
    for e in &entries {
        if let Kind::Hardlink { target } = &e.kind {
            match seen.get(target.as_str()).map(|&i| &entries[i].kind) {
                Some(Kind::File { .. }) => {}
                _ => {
                    return Err(Error::build(format!(
                        "unsafe entry `{}` in the layer: hardlink to `{target}`, which is not a file in the layer",
                        e.path
                    )));
                }
            }
        }
    }
    entries.extend(implicit.into_iter().map(|path| Entry {
        path,
        kind: Kind::Dir,
    }));
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    Ok(entries)
}

/// Everything phase 2 reads: the sorted tree and where each file's bytes are.
struct Ordered<'a> {
    opts: &'a PackOptions,
    entries: &'a [Entry],
    files: &'a [Spooled],
    spool: &'a File,
}

impl Ordered<'_> {
    /// Write the ZIP in path order, copying each file's compressed bytes from the spool (no
    /// recompression), hashing as it goes: nothing seeks back, so the digests need no second read.
    fn write(&self, out: &mut File) -> Result<PackStats> {
        let zip_error = |e: io::Error| write_error("the ZIP", &e);
        let mut zip = ZipWriter::new(
            BufWriter::with_capacity(1 << 20, &mut *out),
            self.opts.mtime,
        );
        let mut stats = PackStats::default();
        let mut sizes: Vec<(String, u64, u64)> = Vec::new();
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut name = String::new();
        self.opts.progress.set_length(self.entries.len() as u64);
        for e in self.entries {
            self.check_cancel()?;
            self.opts.progress.inc(1);
            let path = e.path.as_str();
            match &e.kind {
                Kind::Dir => {
                    stats.dirs += 1;
                    name.clear();
                    name.push_str(path);
                    name.push('/');
                    zip.start(&Header {
                        name: &name,
                        method: STORED,
                        crc32: 0,
                        compressed: 0,
                        size: 0,
                        mode: S_IFDIR | 0o755,
                    })
                    .map_err(zip_error)?;
                }
                Kind::Symlink { target } => {
                    stats.symlinks += 1;
                    let len = target.len() as u64;
                    zip.start(&Header {
                        name: path,
                        method: STORED,
                        crc32: crc32fast::hash(target.as_bytes()),
                        compressed: len,
                        size: len,
                        mode: S_IFLNK | 0o777,
                    })
                    .map_err(zip_error)?;
                    zip.data(target.as_bytes()).map_err(zip_error)?;
                }
                Kind::File { .. } | Kind::Hardlink { .. } => {
                    let (size, compressed) = self.write_file(e, &mut zip, &mut buf)?;
                    stats.files += 1;
                    stats.bytes += size;
                    sizes.push((path.to_string(), size, compressed));
                }
            }
            if !path.contains('/') {
                stats.top_level.push(path.to_string());
            }
        }
        let (writer, size, digests) = zip.finish().map_err(zip_error)?;
        writer
            .into_inner()
            .map_err(|e| write_error("the ZIP", e.error()))?;
        stats.zip_bytes = size;
        stats.digests = digests;
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sizes.truncate(10);
        stats.largest = sizes;
        Ok(stats)
    }

    /// Write a file's (or a hardlink's) header and copy its compressed bytes from the spool;
    /// returns its size and compressed size.
    fn write_file(
        &self,
        e: &Entry,
        zip: &mut ZipWriter<BufWriter<&mut File>>,
        buf: &mut [u8],
    ) -> Result<(u64, u64)> {
        // A hardlink is a second copy of its target, mode included.
        let source = match &e.kind {
            Kind::Hardlink { target } => &self.entries_by_path(target)?.kind,
            kind => kind,
        };
        let &Kind::File { size, exec, file } = source else {
            unreachable!("complete_tree resolved every hardlink to a file");
        };
        let spooled = &self.files[file];
        let compressed = spooled.compressed();
        zip.start(&Header {
            name: &e.path,
            method: spooled.method,
            crc32: spooled.crc32(),
            compressed,
            size,
            mode: S_IFREG | if exec { 0o755 } else { 0o644 },
        })
        .map_err(|e| write_error("the ZIP", &e))?;
        for part in &spooled.parts {
            self.copy(part, buf, zip)?;
        }
        Ok((size, compressed))
    }

    /// The entry a hardlink points to (checked to exist by `complete_tree`).
    fn entries_by_path(&self, path: &str) -> Result<&Entry> {
        // The entries are sorted by this very order.
        self.entries
            .binary_search_by(|e| e.path.split('/').cmp(path.split('/')))
            .map(|i| &self.entries[i])
            .map_err(|_| Error::build(format!("{path} is missing from the layer")))
    }

    fn copy(
        &self,
        part: &Part,
        buf: &mut [u8],
        zip: &mut ZipWriter<BufWriter<&mut File>>,
    ) -> Result<()> {
        let mut offset = part.offset;
        let end = part.offset + part.len;
        while offset < end {
            let n = (end - offset).min(buf.len() as u64) as usize;
            self.spool
                .read_exact_at(&mut buf[..n], offset)
                .map_err(|e| Error::build(format!("cannot read the spool file: {e}")))?;
            zip.data(&buf[..n])
                .map_err(|e| write_error("the ZIP", &e))?;
            offset += n as u64;
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<()> {
        match &self.opts.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::interrupted("a signal")),
            _ => Ok(()),
        }
    }
}

/// A local file being read, counting its bytes and noting its end (to tell a file that shrank
/// from a read error).
struct Watched {
    inner: File,
    read: u64,
    eof: bool,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.eof |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String> {
    let raw = entry.link_name_bytes().unwrap_or_default();
    String::from_utf8(raw.into_owned()).map_err(|_| {
        Error::build(format!(
            "unsafe entry `{path}` in the layer: symlink target is not UTF-8"
        ))
    })
}

fn describe(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "unsupported entry type",
    }
}

fn truncated(path: &str) -> Error {
    Error::build(format!("the layer stream ended in the middle of {path}"))
        .with_hint("the container or the engine stopped while copying out; run the build again")
}

fn stream_error(e: io::Error) -> Error {
    Error::build(format!("cannot read the layer stream: {e}"))
}

/// A failed write of the spool or the ZIP; both sit beside the target, so a full disk is the
/// target's disk.
fn write_error(what: &str, io: &io::Error) -> Error {
    let e = Error::build(format!(
        "cannot write {what} to the layer: {}",
        plain_io(io)
    ));
    // ENOSPC and EDQUOT, by kind: EDQUOT's number differs between Linux and macOS.
    match io.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => e.with_hint(
            "the disk holding the output path is full: free some space, or write the layer elsewhere with -o",
        ),
        _ => e,
    }
}

fn plain_io(io: &io::Error) -> String {
    let s = io.to_string();
    s.find(" (os error")
        .map_or(s.clone(), |i| s[..i].to_string())
}

/// A reader that counts the bytes read through it into a progress bar.
pub struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Reporter,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, progress: &'a dyn Reporter) -> Self {
        Counted { inner, progress }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of two files; `complete` adds the end-of-archive blocks.
    fn two_files(complete: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("opt/python/a.py", b"a = 1\n"),
            ("opt/python/b.py", b"b = 2\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        let mut tar = b.into_inner().unwrap();
        if !complete {
            // Cut right after the first entry (header and one padded data block).
            tar.truncate(1024);
        }
        tar
    }

    #[test]
    fn a_stream_cut_between_entries_is_an_error_not_a_short_layer() {
        let dir = tempfile::tempdir().unwrap();
        let spool = File::create(dir.path().join("spool")).unwrap();
        let mut packer = Packer::new(spool, PackOptions::default());
        let e = packer
            .add_tar(&two_files(false)[..], Some("opt"))
            .unwrap_err();
        assert!(
            e.message.contains("ended before the end of the archive"),
            "{}",
            e.message
        );

        let spool = File::create(dir.path().join("spool2")).unwrap();
        let mut packer = Packer::new(spool, PackOptions::default());
        packer.add_tar(&two_files(true)[..], Some("opt")).unwrap();
        assert_eq!(packer.files_seen(), 2);
    }

    /// Counts what the packer reports, as a progress bar would show it.
    #[derive(Clone, Default)]
    struct Tally(Arc<(AtomicU64, AtomicU64)>);

    impl Reporter for Tally {
        fn set_length(&self, n: u64) {
            self.0.0.store(n, Ordering::Relaxed);
            self.0.1.store(0, Ordering::Relaxed);
        }
        fn inc(&self, n: u64) {
            self.0.1.fetch_add(n, Ordering::Relaxed);
        }
    }

    #[test]
    fn progress_is_reported_through_the_reporter_trait() {
        let dir = tempfile::tempdir().unwrap();
        // Read back in the ordered phase.
        let spool = tempfile::tempfile_in(dir.path()).unwrap();
        let mut packer = Packer::new(spool, PackOptions::default());
        let tar = two_files(true);
        let read = Tally::default();
        packer
            .add_tar(Counted::new(&tar[..], &read), Some("opt"))
            .unwrap();
        assert_eq!(read.0.1.load(Ordering::Relaxed), tar.len() as u64);

        let written = Tally::default();
        packer.set_progress(written.clone());
        let mut zip = File::create(dir.path().join("layer.zip")).unwrap();
        packer.finish(&mut zip).unwrap();
        // python/, python/a.py, python/b.py: the length is set, then every entry counted.
        assert_eq!(written.0.0.load(Ordering::Relaxed), 3);
        assert_eq!(written.0.1.load(Ordering::Relaxed), 3);
    }

    /// A local file that changes between the moment its size is taken (once it is open) and
    /// the end of its reading: shrunk, grown, or rewritten in place at the same size. The change
    /// is made between the two, as another process would make it.
    #[test]
    fn a_local_file_that_changes_while_read_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        // Read whole, and read in pieces.
        for size in [1000u64, SMALL_FILE + 10] {
            for change in ["shrink", "grow", "rewrite"] {
                std::fs::write(&path, vec![7u8; size as usize]).unwrap();
                let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(old)
                    .unwrap();
                let f = File::open(&path).unwrap();
                let before = f.metadata().unwrap();
                let other = File::options().write(true).open(&path).unwrap();
                match change {
                    "shrink" => other.set_len(size / 2).unwrap(),
                    "grow" => other.set_len(size + 100).unwrap(),
                    _ => other.write_all_at(b"new", 10).unwrap(),
                }
                let mut packer = Packer::new(tempfile::tempfile().unwrap(), PackOptions::default());
                let e = packer
                    .add_local_file_as("python/data.bin".into(), &path, f, false, &before)
                    .unwrap_err();
                assert!(
                    e.message
                        .contains("data.bin changed while it was being packed"),
                    "{size} {change}: {}",
                    e.message
                );
                assert!(!e.message.contains("stream"), "{}", e.message);
            }
        }
        // Unchanged: packed.
        std::fs::write(&path, b"same").unwrap();
        let f = File::open(&path).unwrap();
        let before = f.metadata().unwrap();
        let mut packer = Packer::new(tempfile::tempfile().unwrap(), PackOptions::default());
        packer
            .add_local_file_as("python/data.bin".into(), &path, f, false, &before)
            .unwrap();
    }

    #[test]
    fn a_full_disk_names_the_output_disk() {
        let e = write_error("the ZIP", &io::Error::from_raw_os_error(28));
        assert_eq!(
            e.message,
            "cannot write the ZIP to the layer: No space left on device"
        );
        assert!(e.hint.as_deref().unwrap_or("").contains("is full"));
        // EDQUOT, Linux's number.
        #[cfg(target_os = "linux")]
        assert!(
            write_error("the ZIP", &io::Error::from_raw_os_error(122))
                .hint
                .is_some()
        );
        assert!(
            write_error("the ZIP", &io::Error::from_raw_os_error(5))
                .hint
                .is_none()
        );
    }

    #[test]
    fn unix_to_dos_converts_in_utc() {
        let t = unix_to_dos(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2023, 11, 14, 22, 13, 20)
        );
        assert_eq!(unix_to_dos(0), DateTime::default());
        assert_eq!(unix_to_dos(-5), DateTime::default());
    }
}
