//! The packer's contract, checked from outside: the same tree gives the same bytes whatever the
//! host, the ZIP's layout is exactly what we promise (order, timestamps, modes, no extra fields,
//! symlinks as symlinks), hostile input is refused by name, failures leave nothing behind, other
//! tools read what we write, and memory stays flat on a big layer.
//!
//! ZIP headers are parsed from the raw bytes here rather than through the zip crate, so that a
//! reader's leniency cannot hide what is actually written.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output as ProcOutput, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fclayer::error::Error;
use fclayer::layer::pack::{PackOptions, default_mtime};
use fclayer::layer::{self, DEFAULT_MAX_SIZE, LayerInfo, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fclayer");

// ---------------------------------------------------------------------------------------------
// Test data

/// xorshift64*: fast, seedable, good enough to defeat deflate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng::new(seed).fill(&mut v);
    v
}

/// Source-code-like text: compresses about 3-4x, like a real layer's .py files.
fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "def", "return", "self", "import", "numpy", "class", "for", "in", "if", "else", "None",
        "True", "value", "index", "array", "dtype", "shape", "=", "(", ")", ":", "lambda", "yield",
        "with", "as", "try", "except", "raise", "float", "int", "str", "len",
    ];
    let mut rng = Rng::new(seed);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        let r = rng.next();
        v.extend_from_slice(WORDS[(r & 31) as usize].as_bytes());
        v.push(if r >> 60 == 0 { b'\n' } else { b' ' });
    }
    v.truncate(len);
    v
}

#[derive(Clone)]
enum Content {
    Text(u64, usize),
    Random(u64, usize),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match *self {
            Content::Text(s, n) => text_bytes(s, n),
            Content::Random(s, n) => random_bytes(s, n),
        }
    }
}

#[derive(Clone)]
enum Spec {
    Dir(&'static str),
    File(&'static str, Content, u32),
    Link(&'static str, &'static str),
    /// A second name for an earlier file (same inode on disk, a tar hardlink in a stream).
    Hard(&'static str, &'static str),
}

impl Spec {
    fn path(&self) -> &'static str {
        match self {
            Spec::Dir(p) | Spec::File(p, ..) | Spec::Link(p, _) | Spec::Hard(p, _) => p,
        }
    }
}

/// A tree with everything the packer treats differently: small and empty files (compressed on
/// workers), big ones (streamed, > 4 MiB), incompressible ones (stored), executables, a non-ASCII
/// name, an empty folder, a hardlink, a chain of library symlinks, a link to a folder, an absolute
/// link into /opt, and names whose byte order differs from their component order.
fn standard_tree() -> Vec<Spec> {
    use Content::*;
    use Spec::*;
    vec![
        Dir("python"),
        Dir("python/pkg"),
        Dir("python/pkg/sub"),
        Dir("python/empty"),
        File("python/pkg/__init__.py", Text(1, 300), 0o644),
        File("python/pkg/mod.py", Text(2, 20_000), 0o644),
        Hard("python/pkg/mod_alias.py", "python/pkg/mod.py"),
        File("python/pkg/sub/data.bin", Random(3, 100_000), 0o644),
        // Empty files are common (__init__.py, py.typed) and weigh nothing in the in-flight count.
        File("python/pkg/sub/__init__.py", Text(13, 0), 0o644),
        File("python/pkg/py.typed", Text(14, 0), 0o644),
        File("python/pkg/big.txt", Text(4, 5 << 20), 0o644),
        File(
            "python/pkg/big_random.bin",
            Random(5, (4 << 20) + 12_345),
            0o644,
        ),
        File("python/données.py", Text(6, 1000), 0o644),
        Dir("bin"),
        File("bin/tool", Text(7, 500), 0o755),
        File("bin/owner-only", Text(8, 500), 0o700),
        Link("bin/pkgdir", "../python/pkg"),
        Dir("lib"),
        File("lib/libz.so.1.2.13", Random(9, 60_000), 0o755),
        Link("lib/libz.so.1", "libz.so.1.2.13"),
        Link("lib/libz.so", "libz.so.1"),
        Link("python/abs", "/opt/lib/libz.so"),
        Dir("a"),
        File("a/b", Text(10, 10), 0o644),
        File("a-b", Text(11, 10), 0o644),
        File("a.b", Text(12, 10), 0o644),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    Forward,
    Reverse,
}

/// How the host differs when the tree is made.
#[derive(Clone, Copy)]
struct Host {
    order: Order,
    /// Permission bits removed from every mode, as a umask would.
    umask: u32,
    /// Give every file and folder a different, arbitrary mtime.
    scramble_mtimes: bool,
}

const PLAIN: Host = Host {
    order: Order::Forward,
    umask: 0o022,
    scramble_mtimes: false,
};

fn make_tree(root: &Path, specs: &[Spec], host: Host) {
    fs::create_dir_all(root).unwrap();
    let mut specs = specs.to_vec();
    if host.order == Order::Reverse {
        specs.reverse();
        // Hardlinks need their file first; move them to the end.
        specs.sort_by_key(|s| matches!(s, Spec::Hard(..)));
    }
    for s in &specs {
        let full = root.join(s.path());
        if let Some(p) = full.parent() {
            fs::create_dir_all(p).unwrap();
        }
        match s {
            Spec::Dir(_) => fs::create_dir_all(&full).unwrap(),
            Spec::File(_, c, mode) => {
                fs::write(&full, c.bytes()).unwrap();
                fs::set_permissions(&full, fs::Permissions::from_mode(mode & !host.umask)).unwrap();
            }
            Spec::Link(_, target) => std::os::unix::fs::symlink(target, &full).unwrap(),
            Spec::Hard(_, target) => fs::hard_link(root.join(target), &full).unwrap(),
        }
    }
    for s in &specs {
        if let Spec::Dir(p) = s {
            fs::set_permissions(
                root.join(p),
                fs::Permissions::from_mode(0o755 & !host.umask),
            )
            .unwrap();
        }
    }
    if host.scramble_mtimes {
        let mut rng = Rng::new(99);
        for s in &specs {
            if matches!(s, Spec::Link(..)) {
                continue;
            }
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(rng.next() % 2_000_000_000);
            fs::File::open(root.join(s.path()))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }
}

/// Paths of the standard tree's entries as the ZIP must list them, in order.
fn expected_names() -> Vec<String> {
    let mut names: Vec<String> = standard_tree()
        .iter()
        .map(|s| match s {
            Spec::Dir(p) => format!("{p}/"),
            other => other.path().to_string(),
        })
        .collect();
    names.sort_by(|a, b| {
        let key = |s: &String| s.trim_end_matches('/').to_string();
        key(a).split('/').cmp(key(b).split('/'))
    });
    names
}

// ---------------------------------------------------------------------------------------------
// Running the packer

fn opts() -> PackOptions {
    PackOptions {
        mtime: default_mtime(),
        ..PackOptions::default()
    }
}

/// `fclayer pack` as a child process, with a host environment of our choosing.
fn pack_cmd(
    dir: &Path,
    out: &Path,
    env: &[(&str, &str)],
    umask: Option<&str>,
    extra: &[&str],
) -> ProcOutput {
    let mut cmd = match umask {
        // A umask can only be set for a child through a shell (pre_exec would need unsafe).
        Some(m) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("umask {m} && exec \"$0\" \"$@\""))
                .arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.arg("pack")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("TZ");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run fclayer");
    if !o.status.success() {
        eprintln!(
            "fclayer pack failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o
}

fn pack_bin(
    dir: &Path,
    out: &Path,
    env: &[(&str, &str)],
    umask: Option<&str>,
    extra: &[&str],
) -> Vec<u8> {
    let o = pack_cmd(dir, out, env, umask, extra);
    assert!(
        o.status.success(),
        "pack failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    fs::read(out).unwrap()
}

fn pack_tar(tar: &[u8], strip: Option<&str>, out: &Path) -> Result<LayerInfo, Error> {
    let output = Output::prepare(out)?;
    let mut packer = output.packer(opts())?;
    packer.add_tar(tar, strip)?;
    output.finish(packer, DEFAULT_MAX_SIZE)?.persist()
}

/// Pack the standard tree made on `host` with the binary, under `env`.
fn standard_pack(
    tmp: &Path,
    name: &str,
    host: Host,
    env: &[(&str, &str)],
    umask: Option<&str>,
    extra: &[&str],
) -> Vec<u8> {
    let root = tmp.join(format!("{name}-tree"));
    make_tree(&root, &standard_tree(), host);
    let bytes = pack_bin(&root, &tmp.join(format!("{name}.zip")), env, umask, extra);
    // Guard against comparing two empty or truncated ZIPs.
    let names: Vec<String> = parse_zip(&bytes)
        .into_iter()
        .map(|e| e.name_str())
        .collect();
    assert_eq!(names, expected_names());
    bytes
}

fn assert_same(a: &[u8], b: &[u8], what: &str) {
    if a != b {
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        panic!(
            "{what}: ZIPs differ ({} vs {} bytes, first difference at {first:?})",
            a.len(),
            b.len()
        );
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Everything in `dir` (names only), to prove a failure left nothing behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Raw ZIP parsing

#[derive(Debug)]
struct Raw {
    name: Vec<u8>,
    made_by: u16,
    flags: u16,
    time: u16,
    date: u16,
    size: u32,
    extra_len: u16,
    comment_len: u16,
    external: u32,
    local_time: u16,
    local_date: u16,
    local_extra_len: u16,
    local_name: Vec<u8>,
    /// The entry's stored bytes (compressed or not).
    data: Vec<u8>,
    method: u16,
}

impl Raw {
    fn name_str(&self) -> String {
        String::from_utf8(self.name.clone()).unwrap()
    }

    fn mode(&self) -> u32 {
        self.external >> 16
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Every central-directory entry with its local header, in archive order.
fn parse_zip(b: &[u8]) -> Vec<Raw> {
    let eocd = (0..=b.len() - 22)
        .rev()
        .find(|&i| u32_at(b, i) == 0x0605_4b50)
        .expect("end of central directory");
    let count = u16_at(b, eocd + 10) as usize;
    let mut at = u32_at(b, eocd + 16) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(b, at), 0x0201_4b50, "central header signature");
        let name_len = u16_at(b, at + 28) as usize;
        let extra_len = u16_at(b, at + 30);
        let comment_len = u16_at(b, at + 32);
        let local = u32_at(b, at + 42) as usize;
        assert_eq!(u32_at(b, local), 0x0403_4b50, "local header signature");
        let local_name_len = u16_at(b, local + 26) as usize;
        let local_extra_len = u16_at(b, local + 28);
        let csize = u32_at(b, at + 20) as usize;
        let data_at = local + 30 + local_name_len + local_extra_len as usize;
        out.push(Raw {
            name: b[at + 46..at + 46 + name_len].to_vec(),
            made_by: u16_at(b, at + 4),
            flags: u16_at(b, at + 8),
            method: u16_at(b, at + 10),
            time: u16_at(b, at + 12),
            date: u16_at(b, at + 14),
            size: u32_at(b, at + 24),
            extra_len,
            comment_len,
            external: u32_at(b, at + 38),
            local_time: u16_at(b, local + 10),
            local_date: u16_at(b, local + 12),
            local_extra_len,
            local_name: b[local + 30..local + 30 + local_name_len].to_vec(),
            data: b[data_at..data_at + csize].to_vec(),
        });
        at += 46 + name_len + extra_len as usize + comment_len as usize;
    }
    out
}

fn dos(date: u16, time: u16) -> (u16, u16, u16, u16, u16, u16) {
    (
        1980 + (date >> 9),
        (date >> 5) & 15,
        date & 31,
        time >> 11,
        (time >> 5) & 63,
        (time & 31) * 2,
    )
}

// ---------------------------------------------------------------------------------------------
// Same tree, same bytes

#[test]
fn bytes_do_not_depend_on_the_time_zone() {
    let t = tmp();
    let base = standard_pack(t.path(), "utc", PLAIN, &[("TZ", "UTC")], None, &[]);
    for tz in ["Pacific/Chatham", "America/St_Johns", "Asia/Shanghai"] {
        let other = standard_pack(
            t.path(),
            tz.replace('/', "-").as_str(),
            PLAIN,
            &[("TZ", tz)],
            None,
            &[],
        );
        assert_same(&base, &other, tz);
    }
    // With SOURCE_DATE_EPOCH the timestamp is a real date: it must be read in UTC, not local time.
    let sde = [("SOURCE_DATE_EPOCH", "1700000000")];
    let a = standard_pack(
        t.path(),
        "sde-utc",
        PLAIN,
        &[sde[0], ("TZ", "UTC")],
        None,
        &[],
    );
    let b = standard_pack(
        t.path(),
        "sde-chatham",
        PLAIN,
        &[sde[0], ("TZ", "Pacific/Chatham")],
        None,
        &[],
    );
    assert_same(&a, &b, "SOURCE_DATE_EPOCH under another TZ");
}

#[test]
fn bytes_do_not_depend_on_umask() {
    let t = tmp();
    let base = standard_pack(t.path(), "022", PLAIN, &[], Some("022"), &[]);
    // A tree made under umask 077 has modes 0600/0700; the packer itself runs under 077 too.
    let strict = Host {
        umask: 0o077,
        ..PLAIN
    };
    let other = standard_pack(t.path(), "077", strict, &[], Some("077"), &[]);
    assert_same(&base, &other, "umask 077");
    let loose = Host {
        umask: 0o002,
        ..PLAIN
    };
    let other = standard_pack(t.path(), "002", loose, &[], Some("002"), &[]);
    assert_same(&base, &other, "umask 002");
}

#[test]
fn bytes_do_not_depend_on_the_locale() {
    let t = tmp();
    let base = standard_pack(
        t.path(),
        "c",
        PLAIN,
        &[("LC_ALL", "C"), ("LANG", "C")],
        None,
        &[],
    );
    // Turkish casing and a non-UTF-8 charset: the classic ways locale leaks into names and order.
    for loc in ["tr_TR.UTF-8", "ja_JP.EUC-JP", "en_US.ISO-8859-1"] {
        let other = standard_pack(
            t.path(),
            loc,
            PLAIN,
            &[("LC_ALL", loc), ("LANG", loc), ("LC_COLLATE", loc)],
            None,
            &[],
        );
        assert_same(&base, &other, loc);
    }
}

#[test]
fn bytes_do_not_depend_on_file_mtimes() {
    let t = tmp();
    let base = standard_pack(t.path(), "now", PLAIN, &[], None, &[]);
    let scrambled = Host {
        scramble_mtimes: true,
        ..PLAIN
    };
    let other = standard_pack(t.path(), "scrambled", scrambled, &[], None, &[]);
    assert_same(&base, &other, "scrambled mtimes");
}

#[test]
fn bytes_do_not_depend_on_creation_or_readdir_order() {
    let t = tmp();
    let base = standard_pack(t.path(), "fwd", PLAIN, &[], None, &[]);
    let reverse = Host {
        order: Order::Reverse,
        ..PLAIN
    };
    let other = standard_pack(t.path(), "rev", reverse, &[], None, &[]);
    assert_same(&base, &other, "tree created in reverse order");
}

#[test]
fn bytes_do_not_depend_on_the_thread_count() {
    let t = tmp();
    let one = standard_pack(t.path(), "j1", PLAIN, &[], None, &["-j", "1"]);
    let four = standard_pack(t.path(), "j4", PLAIN, &[], None, &["-j", "4"]);
    assert_same(&one, &four, "-j 1 vs -j 4");
    let thirteen = standard_pack(t.path(), "j13", PLAIN, &[], None, &["-j", "13"]);
    assert_same(&one, &thirteen, "-j 1 vs -j 13");
}

/// A tar of the tree in the given order, the way a container's archive export looks (every name
/// under `opt/`), optionally without directory entries (the packer must add them).
fn tar_of(specs: &[Spec], with_dirs: bool, prefix: &str) -> Vec<u8> {
    tar_builder(specs, with_dirs, prefix).into_inner().unwrap()
}

/// The same, still open for more entries (`into_inner` writes the end-of-archive blocks).
fn tar_builder(specs: &[Spec], with_dirs: bool, prefix: &str) -> tar::Builder<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let full = |p: &str| format!("{prefix}{p}");
    for s in specs {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_234_567_890);
        h.set_uid(1000);
        h.set_gid(1000);
        match s {
            Spec::Dir(p) => {
                if !with_dirs && *p != "python/empty" {
                    continue;
                }
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o700);
                h.set_size(0);
                b.append_data(&mut h, full(p), std::io::empty()).unwrap();
            }
            Spec::File(p, c, mode) => {
                let data = c.bytes();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, full(p), &data[..]).unwrap();
            }
            Spec::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, full(p), target).unwrap();
            }
            Spec::Hard(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, full(p), full(target)).unwrap();
            }
        }
    }
    b
}

#[test]
fn tar_stream_and_directory_give_the_same_zip() {
    let t = tmp();
    let root = t.path().join("tree");
    make_tree(&root, &standard_tree(), PLAIN);
    let from_dir = t.path().join("dir.zip");
    layer::pack_dir(&root, &from_dir, opts(), DEFAULT_MAX_SIZE).unwrap();
    let from_dir = fs::read(&from_dir).unwrap();
    assert_eq!(
        parse_zip(&from_dir)
            .iter()
            .map(Raw::name_str)
            .collect::<Vec<_>>(),
        expected_names()
    );

    // The tar crate's own walk of the directory (readdir order, real modes and mtimes).
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all("opt", &root).unwrap();
    let walked = b.into_inner().unwrap();
    let out = t.path().join("walked.zip");
    pack_tar(&walked, Some("opt"), &out).unwrap();
    assert_same(&from_dir, &fs::read(&out).unwrap(), "tar of the directory");

    // A hand-made stream: reversed, directories left out, the hardlink as a tar hardlink.
    let mut specs = standard_tree();
    specs.reverse();
    specs.sort_by_key(|s| matches!(s, Spec::Hard(..)));
    let out = t.path().join("reversed.zip");
    pack_tar(&tar_of(&specs, false, ""), None, &out).unwrap();
    assert_same(
        &from_dir,
        &fs::read(&out).unwrap(),
        "reversed tar without directories",
    );
}

#[test]
fn empty_files_are_all_packed_whatever_the_thread_count() {
    // Empty files weigh nothing in the in-flight byte count; the packer once stopped waiting for
    // the workers while some were still compressing, and lost them ("missing from the spool").
    let t = tmp();
    let root = t.path().join("tree");
    let mut specs = vec![Spec::Dir("python")];
    let names: Vec<&'static str> = (0..200)
        .map(|i| &*Box::leak(format!("python/pkg{}/e{i}.py", i % 7).into_boxed_str()))
        .collect();
    specs.extend(
        names
            .iter()
            .map(|n| Spec::File(n, Content::Text(0, 0), 0o644)),
    );
    specs.push(Spec::File("python/last.py", Content::Text(1, 50), 0o644));
    make_tree(&root, &specs, PLAIN);
    let mut first: Option<Vec<u8>> = None;
    for threads in [1, 2, 4, 8] {
        let out = t.path().join(format!("j{threads}.zip"));
        let o = PackOptions { threads, ..opts() };
        let info = layer::pack_dir(&root, &out, o, DEFAULT_MAX_SIZE)
            .unwrap_or_else(|e| panic!("-j {threads}: {}", e.message));
        assert_eq!(info.files, 201, "-j {threads}");
        let bytes = fs::read(&out).unwrap();
        let entries = parse_zip(&bytes);
        for n in &names {
            let e = entries.iter().find(|e| e.name == n.as_bytes());
            assert_eq!(e.map(|e| e.size), Some(0), "-j {threads}: {n}");
        }
        match &first {
            None => first = Some(bytes),
            Some(f) => assert_same(f, &bytes, &format!("-j {threads}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout

#[test]
fn entries_are_sorted_by_path_components_with_every_directory() {
    let t = tmp();
    let out = t.path().join("l.zip");
    // Only files in the stream: every parent folder must still be an entry of its own.
    let specs = standard_tree();
    pack_tar(&tar_of(&specs, false, ""), None, &out).unwrap();
    let names: Vec<String> = parse_zip(&fs::read(&out).unwrap())
        .iter()
        .map(Raw::name_str)
        .collect();
    assert_eq!(names, expected_names());
    // "a/" and "a/b" sort before "a-b" and "a.b" although '/' is the larger byte.
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("a/") < pos("a/b") && pos("a/b") < pos("a-b") && pos("a-b") < pos("a.b"));
    for dir in [
        "python/",
        "python/pkg/",
        "python/pkg/sub/",
        "python/empty/",
        "bin/",
        "lib/",
        "a/",
    ] {
        assert!(names.contains(&dir.to_string()), "{dir} missing");
    }
}

#[test]
fn timestamps_are_1980_without_source_date_epoch() {
    let t = tmp();
    let scrambled = Host {
        scramble_mtimes: true,
        ..PLAIN
    };
    let bytes = standard_pack(
        t.path(),
        "ts",
        scrambled,
        &[("TZ", "Asia/Tokyo")],
        None,
        &[],
    );
    for e in parse_zip(&bytes) {
        assert_eq!(
            (e.date, e.time),
            (0x21, 0),
            "{}: central time",
            e.name_str()
        );
        assert_eq!(
            (e.local_date, e.local_time),
            (0x21, 0),
            "{}: local time",
            e.name_str()
        );
        assert_eq!(dos(e.date, e.time), (1980, 1, 1, 0, 0, 0));
    }
}

#[test]
fn source_date_epoch_sets_every_timestamp_in_utc() {
    let t = tmp();
    // 2023-11-14 22:13:20 UTC; in Chatham (+13:45) it is already the 15th.
    let env = [
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("TZ", "Pacific/Chatham"),
    ];
    let bytes = standard_pack(t.path(), "sde", PLAIN, &env, None, &[]);
    for e in parse_zip(&bytes) {
        assert_eq!(
            dos(e.date, e.time),
            (2023, 11, 14, 22, 13, 20),
            "{}",
            e.name_str()
        );
        assert_eq!(
            (e.local_date, e.local_time),
            (e.date, e.time),
            "{}",
            e.name_str()
        );
    }
}

#[test]
fn modes_are_exactly_0644_or_0755_keeping_the_executable_bit() {
    use Content::Text;
    let specs = vec![
        Spec::File("plain", Text(1, 10), 0o644),
        Spec::File("private", Text(2, 10), 0o600),
        Spec::File("readonly", Text(3, 10), 0o444),
        Spec::File("group-write", Text(4, 10), 0o664),
        Spec::File("exec", Text(5, 10), 0o755),
        Spec::File("owner-exec", Text(6, 10), 0o700),
        Spec::File("other-exec-only", Text(7, 10), 0o641),
        Spec::File("setuid", Text(8, 10), 0o4755),
        Spec::File("sticky-world-writable", Text(9, 10), 0o1777),
        Spec::Dir("dir"),
        Spec::Link("link", "plain"),
    ];
    let t = tmp();
    let root = t.path().join("tree");
    make_tree(&root, &specs, PLAIN);
    fs::set_permissions(root.join("dir"), fs::Permissions::from_mode(0o700)).unwrap();
    let bytes = pack_bin(&root, &t.path().join("m.zip"), &[], None, &[]);
    let modes: BTreeMap<String, u32> = parse_zip(&bytes)
        .iter()
        .map(|e| (e.name_str(), e.mode()))
        .collect();
    let want: BTreeMap<String, u32> = [
        ("plain", 0o100644),
        ("private", 0o100644),
        ("readonly", 0o100644),
        ("group-write", 0o100644),
        ("exec", 0o100755),
        ("owner-exec", 0o100755),
        ("other-exec-only", 0o100755),
        ("setuid", 0o100755),
        ("sticky-world-writable", 0o100755),
        ("dir/", 0o040755),
        ("link", 0o120777),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(modes, want);
}

#[test]
fn headers_have_no_extra_fields_unix_made_by_and_no_owner() {
    let t = tmp();
    let bytes = standard_pack(t.path(), "hdr", PLAIN, &[], None, &[]);
    let entries = parse_zip(&bytes);
    assert!(!entries.is_empty());
    for e in &entries {
        let n = e.name_str();
        // Owner ids (0x7875, 0x5855) and timestamps (0x5455) would all live in extra fields.
        assert_eq!(e.extra_len, 0, "{n}: central extra field");
        assert_eq!(e.local_extra_len, 0, "{n}: local extra field");
        assert_eq!(e.comment_len, 0, "{n}: comment");
        assert_eq!(e.made_by >> 8, 3, "{n}: version made by is not Unix");
        assert_eq!(e.local_name, e.name, "{n}: local and central names differ");
        assert_eq!(e.flags & 1, 0, "{n}: encrypted");
        // DOS attributes (low byte) carry nothing but the directory bit.
        assert_eq!(e.external & 0xffef, 0, "{n}: DOS attributes set");
    }
    // The EOCD comment is empty too: nothing host-specific trails the archive.
    assert_eq!(u16_at(&bytes, bytes.len() - 2), 0);
}

// ---------------------------------------------------------------------------------------------
// Symlinks

fn check_library_chain(bytes: &[u8]) {
    let entries = parse_zip(bytes);
    let by_name = |n: &str| -> &Raw {
        let found: Vec<&Raw> = entries.iter().filter(|e| e.name == n.as_bytes()).collect();
        assert_eq!(found.len(), 1, "{n} stored {} times", found.len());
        found[0]
    };
    for (link, target) in [
        ("lib/libz.so", "libz.so.1"),
        ("lib/libz.so.1", "libz.so.1.2.13"),
        ("bin/pkgdir", "../python/pkg"),
        // Absolute targets inside /opt are made relative so they work wherever the ZIP lands.
        ("python/abs", "../lib/libz.so"),
    ] {
        let e = by_name(link);
        assert_eq!(e.mode() & 0o170000, 0o120000, "{link} is not S_IFLNK");
        assert_eq!(e.method, 0, "{link}: target must be stored, not deflated");
        assert_eq!(e.data, target.as_bytes(), "{link} target");
        assert_eq!(e.size as usize, target.len(), "{link} size");
    }
    let lib = by_name("lib/libz.so.1.2.13");
    assert_eq!(lib.mode() & 0o170000, 0o100000);
    assert_eq!(lib.size, 60_000);
    // The library's bytes are in the archive once: the links are not dereferenced copies.
    let payload = random_bytes(9, 60_000);
    let copies = bytes.windows(64).filter(|w| *w == &payload[..64]).count();
    assert_eq!(copies, 1, "library content stored {copies} times");
}

#[test]
fn symlinks_are_stored_as_symlinks_and_chains_once_each() {
    let t = tmp();
    let from_dir = standard_pack(t.path(), "links", PLAIN, &[], None, &[]);
    check_library_chain(&from_dir);
    let out = t.path().join("tar.zip");
    pack_tar(&tar_of(&standard_tree(), true, "opt/"), Some("opt"), &out).unwrap();
    check_library_chain(&fs::read(&out).unwrap());
}

/// A link path, its target, and another link (path, target) the chain goes through.
type Escape = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

const ESCAPING_LINKS: [Escape; 4] = [
    ("python/evil", "/etc/passwd", None),
    ("python/evil", "../../etc/passwd", None),
    ("python/evil", "/opt/../etc/passwd", None),
    // python/up -> .. is the root; through it the target climbs out, though read as text
    // (python/up/../../etc/passwd) it stays inside.
    (
        "python/evil",
        "up/../../etc/passwd",
        Some(("python/up", "..")),
    ),
];

#[test]
fn a_link_out_of_the_root_is_refused_in_a_directory() {
    for (link, target, via) in ESCAPING_LINKS {
        let t = tmp();
        let root = t.path().join("tree");
        fs::create_dir_all(root.join("python")).unwrap();
        fs::write(root.join("python/ok.py"), "x").unwrap();
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        if let Some((l, tg)) = via {
            std::os::unix::fs::symlink(tg, root.join(l)).unwrap();
        }
        let out = t.path().join("out.zip");
        let err = layer::pack_dir(&root, &out, opts(), DEFAULT_MAX_SIZE).unwrap_err();
        assert!(err.message.contains(link), "{target}: {}", err.message);
        assert!(!out.exists());
        assert_eq!(listing(t.path()), ["tree"], "{target}: leftovers");
    }
}

#[test]
fn a_link_out_of_the_root_is_refused_in_a_tar() {
    for (link, target, via) in ESCAPING_LINKS {
        let mut specs = vec![
            Spec::Dir("python"),
            Spec::File("python/ok.py", Content::Text(1, 10), 0o644),
        ];
        if let Some((l, tg)) = via {
            specs.push(Spec::Link(l, tg));
        }
        let t = tmp();
        let mut b = tar_builder(&specs, true, "");
        // append_link refuses `..` and absolute targets, so write the target field raw.
        append_raw(
            &mut b,
            link.as_bytes(),
            tar::EntryType::Symlink,
            Some(target.as_bytes()),
            b"",
        );
        let err = pack_tar(&b.into_inner().unwrap(), None, &t.path().join("o.zip")).unwrap_err();
        assert!(err.message.contains(link), "{target}: {}", err.message);
        assert!(listing(t.path()).is_empty(), "{target}: leftovers");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile tar streams

/// Append an entry with exactly these name and link-name bytes (the builder's setters refuse the
/// hostile ones this is for).
fn append_raw(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    link: Option<&[u8]>,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    {
        let g = h.as_gnu_mut().unwrap();
        g.name = [0; 100];
        g.name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            g.linkname = [0; 100];
            g.linkname[..l.len()].copy_from_slice(l);
        }
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Pack a stream that starts with a harmless `python/ok.py` and then the entries `add` writes;
/// it must fail with a message containing `names`, leaving nothing in the output folder.
fn assert_tar_rejected(add: impl FnOnce(&mut tar::Builder<Vec<u8>>), names: &str) -> String {
    let mut b = tar::Builder::new(Vec::new());
    append_raw(
        &mut b,
        b"python/ok.py",
        tar::EntryType::Regular,
        None,
        b"ok\n",
    );
    add(&mut b);
    let tar = b.into_inner().unwrap();
    let t = tmp();
    let out = t.path().join("layer.zip");
    let err = pack_tar(&tar, None, &out).expect_err("hostile stream was accepted");
    assert!(
        err.message.contains(names),
        "message does not name `{names}`: {}",
        err.message
    );
    assert!(!out.exists());
    assert!(
        listing(t.path()).is_empty(),
        "leftovers: {:?}",
        listing(t.path())
    );
    err.message
}

fn regular(name: &[u8]) -> impl FnOnce(&mut tar::Builder<Vec<u8>>) + '_ {
    move |b| append_raw(b, name, tar::EntryType::Regular, None, b"data")
}

#[test]
fn hostile_tar_absolute_path() {
    let m = assert_tar_rejected(regular(b"/etc/cron.d/evil"), "/etc/cron.d/evil");
    assert!(m.contains("absolute"), "{m}");
}

#[test]
fn hostile_tar_dot_dot() {
    let m = assert_tar_rejected(regular(b"python/../../etc/evil"), "python/../../etc/evil");
    assert!(m.contains(".."), "{m}");
}

#[test]
fn hostile_tar_hardlink_escaping_the_root() {
    assert_tar_rejected(
        |b| {
            append_raw(
                b,
                b"python/h",
                tar::EntryType::Link,
                Some(b"../../etc/shadow"),
                b"",
            )
        },
        "python/h",
    );
    assert_tar_rejected(
        |b| {
            append_raw(
                b,
                b"python/h",
                tar::EntryType::Link,
                Some(b"/etc/shadow"),
                b"",
            )
        },
        "python/h",
    );
}

#[test]
fn hostile_tar_hardlink_to_a_missing_file() {
    let m = assert_tar_rejected(
        |b| {
            append_raw(
                b,
                b"python/h",
                tar::EntryType::Link,
                Some(b"python/nope.py"),
                b"",
            )
        },
        "python/h",
    );
    assert!(m.contains("python/nope.py"), "{m}");
}

#[test]
fn hostile_tar_symlink_escaping() {
    assert_tar_rejected(
        |b| {
            append_raw(
                b,
                b"python/s",
                tar::EntryType::Symlink,
                Some(b"/etc/shadow"),
                b"",
            )
        },
        "python/s",
    );
    assert_tar_rejected(
        |b| {
            append_raw(
                b,
                b"python/s",
                tar::EntryType::Symlink,
                Some(b"../../../root"),
                b"",
            )
        },
        "python/s",
    );
}

#[test]
fn hostile_tar_char_device() {
    let m = assert_tar_rejected(
        |b| append_raw(b, b"python/null", tar::EntryType::Char, None, b""),
        "python/null",
    );
    assert!(m.contains("character device"), "{m}");
}

#[test]
fn hostile_tar_block_device() {
    let m = assert_tar_rejected(
        |b| append_raw(b, b"python/sda", tar::EntryType::Block, None, b""),
        "python/sda",
    );
    assert!(m.contains("block device"), "{m}");
}

#[test]
fn hostile_tar_fifo() {
    let m = assert_tar_rejected(
        |b| append_raw(b, b"python/pipe", tar::EntryType::Fifo, None, b""),
        "python/pipe",
    );
    assert!(m.contains("FIFO"), "{m}");
}

#[test]
fn hostile_tar_duplicate_path() {
    let m = assert_tar_rejected(regular(b"python/ok.py"), "python/ok.py");
    assert!(m.contains("duplicate"), "{m}");
}

#[test]
fn hostile_tar_control_characters_in_a_name() {
    // Shown escaped, so the message cannot repaint the user's terminal.
    let m = assert_tar_rejected(
        regular(b"python/evil\x1b[2J.py"),
        "python/evil\\u{1b}[2J.py",
    );
    assert!(!m.contains('\x1b'), "raw escape in the message: {m:?}");
    assert_tar_rejected(regular(b"python/new\nline.py"), "python/new\\nline.py");
}

#[test]
fn hostile_tar_non_utf8_name() {
    let m = assert_tar_rejected(regular(b"python/caf\xe9.py"), "python/caf\u{fffd}.py");
    assert!(m.contains("UTF-8"), "{m}");
}

#[test]
fn hostile_tar_entry_below_a_symlink() {
    let m = assert_tar_rejected(
        |b| {
            append_raw(b, b"python/pkg", tar::EntryType::Directory, None, b"");
            append_raw(
                b,
                b"python/link",
                tar::EntryType::Symlink,
                Some(b"pkg"),
                b"",
            );
            append_raw(
                b,
                b"python/link/evil.py",
                tar::EntryType::Regular,
                None,
                b"x",
            );
        },
        "python/link/evil.py",
    );
    assert!(m.contains("python/link"), "{m}");
}

// ---------------------------------------------------------------------------------------------
// Failures leave nothing behind

#[test]
fn a_failed_pack_leaves_no_file_and_no_temporaries() {
    let t = tmp();
    let root = t.path().join("tree");
    make_tree(&root, &standard_tree(), PLAIN);
    std::os::unix::fs::symlink("/etc/passwd", root.join("python/pkg/zz-evil")).unwrap();
    let outdir = t.path().join("out");
    fs::create_dir(&outdir).unwrap();
    let out = outdir.join("layer.zip");
    // The link is found only once the big files are compressed and spooled, so the temporary
    // files exist and are big by the time the error comes.
    let o = pack_cmd(&root, &out, &[], None, &[]);
    assert_eq!(o.status.code(), Some(1), "exit code");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("python/pkg/zz-evil"), "{err}");
    assert!(
        listing(&outdir).is_empty(),
        "left behind: {:?}",
        listing(&outdir)
    );

    // An older layer at the target survives a failed pack untouched.
    fs::write(&out, b"previous layer").unwrap();
    let o = pack_cmd(&root, &out, &[], None, &[]);
    assert!(!o.status.success());
    assert_eq!(fs::read(&out).unwrap(), b"previous layer");
    assert_eq!(listing(&outdir), ["layer.zip"]);
}

#[test]
fn an_over_budget_pack_leaves_nothing_and_names_the_largest_files() {
    let t = tmp();
    let root = t.path().join("tree");
    make_tree(&root, &standard_tree(), PLAIN);
    let outdir = t.path().join("out");
    fs::create_dir(&outdir).unwrap();
    let out = outdir.join("layer.zip");
    let o = pack_cmd(&root, &out, &[], None, &["--max-size", "1000000"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("over the budget"), "{err}");
    let big = err.find("python/pkg/big.txt");
    let random = err.find("python/pkg/big_random.bin");
    assert!(
        big.is_some() && random.is_some(),
        "largest files not listed: {err}"
    );
    // Biggest first.
    assert!(big < random, "{err}");
    assert!(
        listing(&outdir).is_empty(),
        "left behind: {:?}",
        listing(&outdir)
    );
}

#[test]
fn a_library_pack_dropped_midway_leaves_no_temporaries() {
    let t = tmp();
    let out = t.path().join("layer.zip");
    let output = Output::prepare(&out).unwrap();
    assert_eq!(
        listing(t.path()).len(),
        2,
        "spool and partial ZIP exist while packing"
    );
    let mut packer = output.packer(opts()).unwrap();
    packer
        .add_tar(&tar_of(&standard_tree(), true, "")[..], None)
        .unwrap();
    drop(packer);
    drop(output);
    assert!(listing(t.path()).is_empty(), "{:?}", listing(t.path()));
}

// ---------------------------------------------------------------------------------------------
// Other tools read what we write

fn check_with_other_tools(zip: &Path, expect_links: &[(&str, &str)], expect_exec: &[&str]) {
    let o = Command::new("/usr/bin/unzip")
        .arg("-t")
        .arg(zip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "unzip -t {}: {text}", zip.display());
    assert!(text.contains("No errors detected"), "{text}");

    let script = r#"
import stat, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, "bad CRC in %s" % bad
for i in z.infolist():
    mode = i.external_attr >> 16
    kind = "l" if stat.S_ISLNK(mode) else "d" if i.is_dir() else "f"
    data = z.read(i)
    assert len(data) == i.file_size, i.filename
    print(kind, oct(stat.S_IMODE(mode)), i.filename)
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python zipfile: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let py = String::from_utf8(o.stdout).unwrap();
    for (link, _) in expect_links {
        assert!(
            py.lines().any(|l| l == format!("l 0o777 {link}")),
            "python: {link} not a symlink:\n{py}"
        );
    }

    let dest = tempfile::tempdir().unwrap();
    let o = Command::new("/usr/bin/unzip")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(dest.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "unzip: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    for (link, target) in expect_links {
        let p = dest.path().join(link);
        let meta = fs::symlink_metadata(&p).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{link} unzipped as {:?}",
            meta.file_type()
        );
        assert_eq!(fs::read_link(&p).unwrap(), Path::new(target), "{link}");
        assert!(fs::metadata(&p).is_ok(), "{link} dangles after unzip");
    }
    for exe in expect_exec {
        let mode = fs::metadata(dest.path().join(exe))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o111,
            0o111,
            "{exe} lost its executable bit: {mode:o}"
        );
    }
}

#[test]
fn our_zips_pass_unzip_and_python_and_keep_symlinks() {
    let t = tmp();
    let links = [
        ("lib/libz.so", "libz.so.1"),
        ("lib/libz.so.1", "libz.so.1.2.13"),
        ("bin/pkgdir", "../python/pkg"),
        ("python/abs", "../lib/libz.so"),
    ];
    let exec = ["bin/tool", "bin/owner-only", "lib/libz.so.1.2.13"];

    let root = t.path().join("tree");
    make_tree(&root, &standard_tree(), PLAIN);
    let a = t.path().join("dir.zip");
    pack_bin(&root, &a, &[], None, &[]);
    check_with_other_tools(&a, &links, &exec);

    let b = t.path().join("tar.zip");
    pack_tar(&tar_of(&standard_tree(), false, "opt/"), Some("opt"), &b).unwrap();
    check_with_other_tools(&b, &links, &exec);

    let c = t.path().join("sde.zip");
    pack_bin(
        &root,
        &c,
        &[("SOURCE_DATE_EPOCH", "4102444800")],
        None,
        &["-j", "1"],
    );
    check_with_other_tools(&c, &links, &exec);

    // A layer of one tiny file, and one of a folder only.
    let tiny = t.path().join("tiny");
    fs::create_dir_all(tiny.join("bin")).unwrap();
    fs::write(tiny.join("bin/x"), "").unwrap();
    let d = t.path().join("tiny.zip");
    pack_bin(&tiny, &d, &[], None, &[]);
    check_with_other_tools(&d, &[], &[]);
}

/// Big files are compressed as 1 MiB pieces in parallel and joined into one deflate stream, and
/// incompressible data is stored without being deflated: every byte must still come back, at the
/// size boundaries too, whatever the thread count and the input's form.
#[test]
fn every_byte_comes_back_from_big_mixed_and_incompressible_files() {
    const MIB: usize = 1 << 20;
    let mixed = |seed: u64, len: usize| -> Vec<u8> {
        // Text, noise and zeros in stretches that straddle the pieces' boundaries.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u64;
        while v.len() < len {
            let n = 300_000 + (i as usize * 77_777) % 900_000;
            match i % 3 {
                0 => v.extend(text_bytes(seed + i, n)),
                1 => v.extend(random_bytes(seed + i, n)),
                _ => v.resize(v.len() + n, 0),
            }
            i += 1;
        }
        v.truncate(len);
        v
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("python/exactly_4mib.txt", text_bytes(21, 4 * MIB)),
        ("python/4mib_and_1.txt", text_bytes(22, 4 * MIB + 1)),
        ("python/exactly_6_pieces.bin", mixed(23, 6 * MIB)),
        ("python/mixed.so", mixed(24, 9 * MIB + 4321)),
        ("python/noise_then_text.bin", {
            let mut v = random_bytes(25, 3 * MIB);
            v.extend(text_bytes(26, 2 * MIB + 17));
            v
        }),
        ("python/noise.whl", random_bytes(27, 5 * MIB + 3)),
        ("python/small_noise.png", random_bytes(28, 200_000)),
        ("python/tiny_noise", random_bytes(29, 1000)),
        ("python/zeros.dat", vec![0u8; 5 * MIB]),
    ];
    let t = tmp();
    let root = t.path().join("tree");
    for (path, data) in &files {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, data).unwrap();
    }
    let one = pack_bin(&root, &t.path().join("j1.zip"), &[], None, &["-j", "1"]);
    let three = pack_bin(&root, &t.path().join("j3.zip"), &[], None, &["-j", "3"]);
    assert_same(&one, &three, "-j 1 vs -j 3");
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all("opt", &root).unwrap();
    let out = t.path().join("tar.zip");
    pack_tar(&b.into_inner().unwrap(), Some("opt"), &out).unwrap();
    assert_same(&one, &fs::read(&out).unwrap(), "tar vs directory");

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&one)).unwrap();
    for (path, data) in &files {
        let mut entry = zip.by_name(path).unwrap();
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert!(back == *data, "{path}: content differs");
        let stored = entry.compression() == zip::CompressionMethod::Stored;
        // Noise read whole (up to 4 MiB) is stored, as Info-ZIP stores it; everything else is
        // deflated (a big file's noise pieces as stored blocks inside its deflate stream).
        let want_stored = path.ends_with("small_noise.png") || path.ends_with("tiny_noise");
        assert_eq!(stored, want_stored, "{path}: stored {stored}");
        let ratio = entry.compressed_size() as f64 / data.len() as f64;
        if path.contains("noise") {
            assert!(ratio < 1.001, "{path}: {ratio}");
        } else {
            assert!(ratio < 0.7, "{path}: compresses to {ratio}");
        }
    }
    check_with_other_tools(&t.path().join("j1.zip"), &[], &[]);
}

#[test]
fn reported_digests_are_those_of_the_written_zip() {
    // The digests are computed while the ZIP is written, not by reading it back.
    let t = tmp();
    let root = t.path().join("tree");
    make_tree(&root, &standard_tree(), PLAIN);
    let out = t.path().join("l.zip");
    let info = layer::pack_dir(&root, &out, opts(), DEFAULT_MAX_SIZE).unwrap();
    let bytes = fs::read(&out).unwrap();
    let want = fclayer::layer::digest::Digests::of_bytes(&bytes);
    assert_eq!(info.sha256, want.sha256);
    assert_eq!(info.crc64, want.crc64.to_string());
    assert_eq!(info.size, bytes.len() as u64);
}

/// Node.js layers pass 65,535 files: the entry count then needs the ZIP64 end records.
#[test]
fn more_than_65535_entries_are_read_by_every_tool() {
    const FILES: usize = 70_000;
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..FILES {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(0);
        let data = format!("{i}\n");
        h.set_size(data.len() as u64);
        b.append_data(
            &mut h,
            format!("nodejs/node_modules/m{}/f{i}.js", i % 300),
            data.as_bytes(),
        )
        .unwrap();
    }
    let t = tmp();
    let out = t.path().join("many.zip");
    let info = pack_tar(&b.into_inner().unwrap(), None, &out).unwrap();
    assert_eq!(info.files, FILES as u64);
    let entries = FILES + 300 + 2;
    let zip = zip::ZipArchive::new(fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(zip.len(), entries);
    let o = Command::new("/usr/bin/unzip")
        .arg("-tq")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = Command::new("python3")
        .arg("-c")
        .arg("import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.infolist()))")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        entries.to_string()
    );
}

// ---------------------------------------------------------------------------------------------
// Memory

/// ~300 MB: one 60 MB file, several streamed ones over 4 MiB, many of 1-4 MiB (read whole and
/// queued for the workers, which is what the in-flight budget bounds) and many small ones; half
/// compressible text, half random.
fn big_tree(root: &Path) -> (u64, u64) {
    let mut rng = Rng::new(2024);
    let mut text_block = text_bytes(7, 1 << 20);
    let mut buf = vec![0u8; 1 << 20];
    let mut files = 0u64;
    let mut total = 0u64;
    let mut write = |path: PathBuf, len: usize, random: bool, rng: &mut Rng| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = fs::File::create(&path).unwrap();
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len());
            if random {
                rng.fill(&mut buf[..n]);
                f.write_all(&buf[..n]).unwrap();
            } else {
                // Vary each block so deflate cannot just match the previous one.
                text_block[..8].copy_from_slice(&rng.next().to_le_bytes());
                f.write_all(&text_block[..n]).unwrap();
            }
            left -= n;
        }
        len as u64
    };
    total += write(root.join("lib/huge.bin"), 60_000_000, false, &mut rng);
    files += 1;
    for i in 0..6 {
        let len = 5_000_000 + (rng.next() % 7_000_000) as usize;
        total += write(
            root.join(format!("lib/big{i}.so")),
            len,
            i % 2 == 0,
            &mut rng,
        );
        files += 1;
    }
    for i in 0..30 {
        let len = 1_000_000 + (rng.next() % 3_000_000) as usize;
        total += write(
            root.join(format!("python/mid/m{i}.bin")),
            len,
            i % 2 == 1,
            &mut rng,
        );
        files += 1;
    }
    let mut i = 0;
    while total < 300_000_000 {
        let len = 1_000 + (rng.next() % 140_000) as usize;
        let path = root.join(format!("python/pkg{}/f{i}.py", i % 40));
        total += write(path, len, i % 2 == 0, &mut rng);
        files += 1;
        i += 1;
    }
    (files, total)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn peak_memory_stays_flat_on_a_300_mb_layer() {
    const LIMIT_KB: u64 = 64 * 1024;
    let t = tmp();
    let root = t.path().join("tree");
    let started = Instant::now();
    let (files, bytes) = big_tree(&root);
    eprintln!(
        "generated {files} files, {bytes} bytes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let out = t.path().join("big.zip");
    let started = Instant::now();
    // Two workers, as on the CI machine: each compression thread gets its own glibc malloc arena,
    // which keeps ~5 MB of freed buffers, so the peak also grows with the thread count
    // (measured: -j 4 ~68 MB, -j 16 ~100 MB). Pinning keeps this test about the layer's size.
    let mut child = Command::new(BIN)
        .arg("pack")
        .arg(&root)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-j", "2"])
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0u64;
    let mut samples = 0u64;
    // VmHWM is the kernel's own high-water mark, so polling cannot miss a short peak as long as
    // one read lands after it; the last read before exit sees the final value.
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
            samples += 1;
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = started.elapsed().as_secs_f64();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "pack failed: {err}");
    let zip_size = fs::metadata(&out).unwrap().len();
    eprintln!(
        "packed {bytes} bytes into {zip_size} in {secs:.1} s; peak RSS (VmHWM) {peak} kB over {samples} samples"
    );
    // The measurement itself must have worked.
    assert!(
        samples > 10 && peak > 1024,
        "{samples} samples, peak {peak} kB"
    );
    assert!(peak <= LIMIT_KB, "peak RSS {peak} kB is over {LIMIT_KB} kB");
    let zip = zip::ZipArchive::new(fs::File::open(&out).unwrap()).unwrap();
    let stored_files = (0..zip.len())
        .filter(|&i| !zip.name_for_index(i).unwrap().unwrap().ends_with('/'))
        .count() as u64;
    assert_eq!(stored_files, files);
    drop(t);
}
