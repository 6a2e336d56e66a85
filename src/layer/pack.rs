//! The deterministic, streaming, parallel ZIP packer.
//!
//! Input arrives in any order (a container's tar stream, or a directory walk); the ZIP must come
//! out byte-identical for the same tree. So packing has two phases:
//!
//! 1. Stream: each regular file is compressed as it arrives, small ones on worker threads, large
//!    ones on the reading thread, and appended to a *spool*: an unsorted ZIP in a temporary file
//!    beside the target. Directories and symlinks only go into an in-memory index. Memory stays
//!    bounded by a budget of bytes in flight, however big the layer.
//! 2. Order: once the whole tree is known, links are checked through each other, missing parent
//!    directories are added, and the final ZIP is written in path order by copying each entry's
//!    compressed bytes from the spool (no recompression).
//!
//! Every entry gets the same timestamp (SOURCE_DATE_EPOCH, or 1980-01-01 00:00:00), mode 0644 or
//! 0755 (directories and executables), no owner and no extra fields; symlinks are stored as
//! symlinks (Unix mode in the external attributes). The compressed bytes of a file depend only on
//! its contents, so the output is the same whatever the number of threads.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::console::Progress;
use crate::error::{Error, IoContext, Result};
use crate::extract::{self, layer_path};

/// Files up to this size are read whole and compressed on a worker; bigger ones are streamed.
const SMALL_FILE: u64 = 4 << 20;
/// Bytes of file data (read or compressed) allowed in flight between reader and workers.
const IN_FLIGHT_BUDGET: usize = 24 << 20;

#[derive(Clone, Debug)]
pub struct PackOptions {
    /// Timestamp of every entry.
    pub mtime: DateTime,
    /// Deflate level, 0-9.
    pub level: i64,
    /// Compression threads.
    pub threads: usize,
    /// Set by a signal handler: stop at the next entry.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Entries written in the ordered phase (the length is set to their number).
    pub progress: Progress,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            mtime: source_date_epoch().unwrap_or_else(default_mtime),
            level: 6,
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            cancel: None,
            progress: Progress::hidden(),
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
}

struct Job {
    path: String,
    data: Vec<u8>,
    exec: bool,
}

type Done = std::result::Result<(PreparedZipFile, usize), String>;

/// Compression workers fed through a bounded queue.
struct Pool {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Done>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, opts: &PackOptions) -> Pool {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let handles = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let opts = opts.clone();
                thread::spawn(move || {
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let len = job.data.len();
                        let res = compress(&job, &opts)
                            .map(|p| (p, len))
                            .map_err(|e| format!("cannot compress {}: {e}", job.path));
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

/// Deflate one file; store it instead when deflate does not make it smaller (as Info-ZIP does).
fn compress(job: &Job, opts: &PackOptions) -> zip::result::ZipResult<PreparedZipFile> {
    let deflated = file_options(opts, job.exec, CompressionMethod::Deflated);
    let mut builder = ZipFileBuilder::new(&job.path, deflated)?;
    builder.write_all(&job.data)?;
    let prepared = builder.finish()?;
    if prepared.compressed_size() < prepared.uncompressed_size() {
        return Ok(prepared);
    }
    // Free the rejected deflate output before making the stored copy: otherwise three copies of
    // an incompressible file are alive at once on every worker.
    drop(prepared);
    let stored = file_options(opts, job.exec, CompressionMethod::Stored);
    PreparedZipFile::from_data(&job.path, stored, &job.data)
}

fn file_options(opts: &PackOptions, exec: bool, method: CompressionMethod) -> SimpleFileOptions {
    let level = (method == CompressionMethod::Deflated).then_some(opts.level);
    SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .last_modified_time(opts.mtime)
        .unix_permissions(if exec { 0o755 } else { 0o644 })
        .system(zip::System::Unix)
}

fn dir_options(opts: &PackOptions) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(opts.mtime)
        .unix_permissions(0o755)
        .system(zip::System::Unix)
}

fn link_options(opts: &PackOptions) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .last_modified_time(opts.mtime)
        .unix_permissions(0o777)
        .system(zip::System::Unix)
}

pub struct Packer {
    opts: PackOptions,
    spool: ZipWriter<BufWriter<Quiet<File>>>,
    entries: Vec<Entry>,
    seen: HashMap<String, usize>,
    pool: Pool,
    in_flight: usize,
    /// Jobs sent to the workers and not yet appended. Counted apart from `in_flight` because an
    /// empty file weighs 0 bytes but must still be waited for.
    pending: usize,
}

impl Packer {
    /// Start a pack that spools compressed data into `spool` (an empty temporary file).
    pub fn new(spool: File, opts: PackOptions) -> Packer {
        let threads = opts.threads.max(1);
        let pool = Pool::new(threads, &opts);
        Packer {
            opts,
            spool: ZipWriter::new(BufWriter::with_capacity(1 << 20, Quiet::new(spool))),
            entries: Vec::new(),
            seen: HashMap::new(),
            pool,
            in_flight: 0,
            pending: 0,
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
    pub fn set_progress(&mut self, progress: Progress) {
        self.opts.progress = progress;
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

    /// The flag that interrupts this packer, if any.
    pub fn cancel_flag(&self) -> Option<Arc<AtomicBool>> {
        self.opts.cancel.clone()
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

    /// Add one regular file, reading exactly `size` bytes from `data`.
    fn add_file(&mut self, path: String, size: u64, exec: bool, data: &mut dyn Read) -> Result<()> {
        self.record(path.clone(), Kind::File { size, exec })?;
        if size > SMALL_FILE {
            // Stream big files straight into the spool: memory stays flat.
            let opts = file_options(&self.opts, exec, CompressionMethod::Deflated);
            self.spool
                .start_file(path.as_str(), opts)
                .map_err(|e| zip_error(&path, e))?;
            let cancel = self.opts.cancel.clone();
            let between = || match &cancel {
                Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::interrupted("a signal")),
                _ => Ok(()),
            };
            let copied = copy_fixed_chunks(&mut data.take(size), &mut self.spool, &between)
                .map_err(|e| match e {
                    CopyError::Read(e) => {
                        Error::build(format!("cannot read {path} from the layer stream: {e}"))
                    }
                    CopyError::Write(e) => write_error(&path, &e),
                    CopyError::Stopped(e) => e,
                })?;
            if copied != size {
                return Err(truncated(&path));
            }
            return Ok(());
        }
        let mut buf = Vec::with_capacity(size as usize);
        data.take(size)
            .read_to_end(&mut buf)
            .map_err(|e| Error::build(format!("cannot read {path} from the layer stream: {e}")))?;
        if buf.len() as u64 != size {
            return Err(truncated(&path));
        }
        while self.in_flight > IN_FLIGHT_BUDGET {
            self.collect_one()?;
        }
        self.in_flight += buf.len();
        self.pending += 1;
        let job = Job {
            path,
            data: buf,
            exec,
        };
        self.pool
            .jobs
            .as_ref()
            .expect("pool open while adding")
            .send(job)
            .map_err(|_| Error::build("compression workers stopped unexpectedly"))?;
        self.collect_ready()
    }

    /// Append every finished compression to the spool without waiting.
    fn collect_ready(&mut self) -> Result<()> {
        while let Ok(done) = self.pool.done.try_recv() {
            self.append(done)?;
        }
        Ok(())
    }

    /// Wait for one finished compression and append it.
    fn collect_one(&mut self) -> Result<()> {
        let done = self
            .pool
            .done
            .recv()
            .map_err(|_| Error::build("compression workers stopped unexpectedly"))?;
        self.append(done)
    }

    fn append(&mut self, done: Done) -> Result<()> {
        let (prepared, len) = done.map_err(Error::build)?;
        self.in_flight -= len;
        self.pending -= 1;
        let name = String::from_utf8_lossy(prepared.file_name_raw()).into_owned();
        self.spool
            .add_prepared_file(prepared)
            .map_err(|e| zip_error(&name, e))
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
        let meta = std::fs::metadata(root).at("read", root)?;
        if !meta.is_dir() {
            return Err(Error::input(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        self.walk(root, root)
    }

    fn walk(&mut self, root: &Path, dir: &Path) -> Result<()> {
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
                self.walk(root, &full)?;
            } else if ft.is_file() {
                let mut f = File::open(&full).at("open", &full)?;
                let exec = meta.permissions().mode() & 0o111 != 0;
                self.add_file(path, meta.len(), exec, &mut f)?;
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
        let spool = self
            .spool
            .finish()
            .map_err(|e| zip_error("spool", e))?
            .into_inner()
            .map_err(|e| write_error("the spool file", e.error()))?
            .into_inner();

        let entries = complete_tree(self.entries, &self.seen)?;
        let links: HashMap<String, String> = entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Symlink { target } => Some((e.path.clone(), target.clone())),
                _ => None,
            })
            .collect();
        extract::check_links(&links)?;
        write_ordered(&self.opts, entries, spool, out)
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

fn write_ordered(
    opts: &PackOptions,
    entries: Vec<Entry>,
    mut spool: File,
    out: &mut File,
) -> Result<PackStats> {
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::build(format!("cannot read the spool file: {e}")))?;
    let mut spool = ZipArchive::new(BufReader::with_capacity(1 << 20, spool))
        .map_err(|e| zip_error("spool", e))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, Quiet::new(&mut *out)));
    let mut stats = PackStats::default();
    let mut sizes: Vec<(String, u64, u64)> = Vec::new();
    opts.progress.set_length(entries.len() as u64);
    for e in &entries {
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Error::interrupted("a signal"));
        }
        opts.progress.inc(1);
        let path = e.path.as_str();
        match &e.kind {
            Kind::Dir => {
                stats.dirs += 1;
                zip.add_directory(format!("{path}/"), dir_options(opts))
                    .map_err(|err| zip_error(path, err))?;
            }
            Kind::Symlink { target } => {
                stats.symlinks += 1;
                zip.add_symlink(path, target, link_options(opts))
                    .map_err(|err| zip_error(path, err))?;
            }
            Kind::File { .. } | Kind::Hardlink { .. } => {
                let source = match &e.kind {
                    Kind::Hardlink { target } => target.as_str(),
                    _ => path,
                };
                let index = spool
                    .index_for_name(source)
                    .ok_or_else(|| Error::build(format!("{source} is missing from the spool")))?;
                let file = spool
                    .by_index_raw(index)
                    .map_err(|err| zip_error(source, err))?;
                stats.files += 1;
                stats.bytes += file.size();
                sizes.push((path.to_string(), file.size(), file.compressed_size()));
                zip.raw_copy_file_rename(file, path)
                    .map_err(|err| zip_error(path, err))?;
            }
        }
        if !path.contains('/') {
            stats.top_level.push(path.to_string());
        }
    }
    let writer = zip.finish().map_err(|e| zip_error("layer", e))?;
    writer
        .into_inner()
        .map_err(|e| write_error("the ZIP", e.error()))?;
    stats.zip_bytes = out
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::build(format!("cannot write the layer: {e}")))?;
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sizes.truncate(10);
    stats.largest = sizes;
    Ok(stats)
}

/// Copy in chunks of one fixed size. Deflate's output depends on how its input is split into
/// writes, and a stream's reads come in whatever sizes the network delivered: fixed chunks make
/// the compressed bytes a function of the content alone. `between` runs before each chunk (the
/// cancel check: a big file must not hold up an interrupt). Read and write failures stay apart:
/// one is the stream's, the other the disk's.
fn copy_fixed_chunks(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    between: &dyn Fn() -> Result<()>,
) -> std::result::Result<u64, CopyError> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        between().map_err(CopyError::Stopped)?;
        let mut filled = 0;
        while filled < CHUNK {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CopyError::Read(e)),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        writer.write_all(&buf[..filled]).map_err(CopyError::Write)?;
        total += filled as u64;
        if filled < CHUNK {
            return Ok(total);
        }
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Stopped(Error),
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

fn zip_error(what: &str, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) => write_error(what, &io),
        other => Error::build(format!("cannot write {what} to the layer: {other}")),
    }
}

/// A failed write of the spool or the ZIP; both sit beside the target, so a full disk is the
/// target's disk.
fn write_error(what: &str, io: &io::Error) -> Error {
    let e = Error::build(format!(
        "cannot write {what} to the layer: {}",
        plain_io(io)
    ));
    match io.raw_os_error() {
        // ENOSPC, EDQUOT
        Some(28) | Some(122) => e.with_hint(
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

/// A file that goes quiet after its first error. The ZIP writer finishes its archive when it is
/// dropped unfinished (after an error or an interrupt) and prints to stderr when that fails,
/// which on a full disk it does: the first error reaches fclayer, which reports it properly;
/// what the writer does afterwards goes nowhere, with consistent positions (its arithmetic on
/// them must not see a file that shrank).
struct Quiet<W> {
    inner: W,
    broken: bool,
    pos: u64,
    len: u64,
}

impl<W> Quiet<W> {
    /// `inner` must be an empty file at its start.
    fn new(inner: W) -> Quiet<W> {
        Quiet {
            inner,
            broken: false,
            pos: 0,
            len: 0,
        }
    }

    fn into_inner(self) -> W {
        self.inner
    }

    fn moved(&mut self, pos: u64) -> u64 {
        self.pos = pos;
        self.len = self.len.max(pos);
        pos
    }
}

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            self.moved(self.pos + buf.len() as u64);
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.moved(self.pos + n as u64);
                Ok(n)
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.broken {
            return Ok(());
        }
        self.inner.flush().inspect_err(|_| self.broken = true)
    }
}

impl<W: Seek> Seek for Quiet<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if self.broken {
            let base = match to {
                SeekFrom::Start(n) => return Ok(self.moved(n)),
                SeekFrom::Current(d) => (self.pos, d),
                SeekFrom::End(d) => (self.len, d),
            };
            let pos = base.0.checked_add_signed(base.1).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "seek before the start")
            })?;
            return Ok(self.moved(pos));
        }
        match self.inner.seek(to) {
            Ok(p) => Ok(self.moved(p)),
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }
}

/// A reader that counts the bytes read through it into a progress bar.
pub struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, progress: &'a Progress) -> Self {
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

    /// A writer whose disk fills after `room` bytes.
    struct Full {
        room: usize,
        data: Vec<u8>,
        pos: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.pos + buf.len() > self.room {
                return Err(io::Error::from_raw_os_error(28));
            }
            if self.data.len() < self.pos + buf.len() {
                self.data.resize(self.pos + buf.len(), 0);
            }
            self.data[self.pos..self.pos + buf.len()].copy_from_slice(buf);
            self.pos += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Full {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.pos = match to {
                SeekFrom::Start(n) => n as usize,
                SeekFrom::Current(d) => (self.pos as i64 + d) as usize,
                SeekFrom::End(d) => (self.data.len() as i64 + d) as usize,
            };
            Ok(self.pos as u64)
        }
    }

    #[test]
    fn a_full_disk_fails_once_and_the_abandoned_zip_writer_stays_quiet() {
        let mut w = Quiet::new(Full {
            room: 100,
            data: Vec::new(),
            pos: 0,
        });
        w.write_all(&[1; 60]).unwrap();
        let e = w.write_all(&[2; 60]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        // What the ZIP writer's drop does next succeeds, with positions that add up.
        let end = w.seek(SeekFrom::End(0)).unwrap();
        w.write_all(&[3; 10]).unwrap();
        assert_eq!(w.stream_position().unwrap(), end + 10);
        assert_eq!(w.seek(SeekFrom::Current(-5)).unwrap(), end + 5);
        assert!(w.seek(SeekFrom::Current(-1000)).is_err());
        // A ZIP writer dropped unfinished on a full disk: no panic (and nothing on stderr).
        let mut zip = ZipWriter::new(Quiet::new(Full {
            room: 64,
            data: Vec::new(),
            pos: 0,
        }));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        zip.start_file("a", stored).unwrap();
        assert!(zip.write_all(&[7u8; 4096]).is_err());
        drop(zip);
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
