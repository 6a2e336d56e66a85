//! `fclayer inspect` and `fclayer stack`, through the library and the binary: what they report
//! about real and crafted layer ZIPs, how FC's "first layer wins" rule is applied, and that bad
//! input is refused with exit code 2 and a hint, never a panic.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fclayer::error::Kind;
use fclayer::layer::digest::Digests;
use fclayer::layer::inspect::{self, LinkStatus, Node, Role};
use fclayer::layer::pack::{PackOptions, default_mtime};
use fclayer::layer::stack;
use fclayer::layer::{DEFAULT_MAX_SIZE, pack_dir};
use zip::write::SimpleFileOptions;

const BIN: &str = env!("CARGO_BIN_EXE_fclayer");

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn opts() -> PackOptions {
    PackOptions {
        mtime: default_mtime(),
        ..PackOptions::default()
    }
}

/// Files (path, content) and symlinks (path, target) written under `root`; files in bin/ are
/// executable, as in a real layer.
fn tree(root: &Path, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    for (p, data) in files {
        let full = root.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, data).unwrap();
        if p.starts_with("bin/") {
            fs::set_permissions(&full, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    for (p, target) in links {
        let full = root.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, full).unwrap();
    }
}

/// Pack a tree with our packer into `dir/name.zip`.
fn layer(dir: &Path, name: &str, files: &[(&str, &[u8])], links: &[(&str, &str)]) -> PathBuf {
    let root = dir.join(format!("{name}-tree"));
    fs::create_dir_all(&root).unwrap();
    tree(&root, files, links);
    let out = dir.join(format!("{name}.zip"));
    pack_dir(&root, &out, opts(), DEFAULT_MAX_SIZE).unwrap();
    out
}

enum Raw<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    /// Written as made on Windows: no Unix mode at all.
    DosFile(&'a str, &'a [u8]),
}

/// A ZIP our packer would refuse to write (escaping links, no folder entries, odd names), the
/// way other tools make them.
fn foreign_zip(path: &Path, entries: &[Raw<'_>]) {
    let mut z = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let unix = SimpleFileOptions::default().unix_permissions(0o644);
    for e in entries {
        match e {
            Raw::File(p, d) => {
                z.start_file(*p, unix).unwrap();
                z.write_all(d).unwrap();
            }
            Raw::Dir(p) => z.add_directory(*p, unix.unix_permissions(0o755)).unwrap(),
            Raw::Link(p, t) => z.add_symlink(*p, *t, unix).unwrap(),
            Raw::DosFile(p, d) => {
                z.start_file(*p, SimpleFileOptions::default().system(zip::System::Dos))
                    .unwrap();
                z.write_all(d).unwrap();
            }
        }
    }
    z.finish().unwrap();
}

fn fclayer(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(BIN);
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// inspect

#[test]
fn inspect_names_every_runtime_folder_with_its_sizes() {
    let t = tmp();
    let zip = layer(
        t.path(),
        "all",
        &[
            ("python/numpy/__init__.py", &[b'a'; 1000]),
            ("python/six.py", &[b'b'; 500]),
            ("nodejs/node_modules/lodash/index.js", &[b'c'; 300]),
            ("java/lib/guava.jar", &[b'd'; 700]),
            ("php/vendor/autoload.php", &[b'e'; 200]),
            ("bin/ffmpeg", &[b'f'; 4000]),
            ("lib/libavcodec.so.59", &[b'g'; 9000]),
            ("etc/fonts.conf", &[b'h'; 100]),
        ],
        &[("lib/libavcodec.so", "libavcodec.so.59")],
    );
    let r = inspect::inspect(&zip, 10).unwrap();
    assert_eq!(
        r.runtimes,
        [
            Role::Python,
            Role::Nodejs,
            Role::Java,
            Role::Php,
            Role::Path,
            Role::LdLibraryPath
        ]
    );
    let folder = |name: &str| r.folders.iter().find(|f| f.name == name).unwrap();
    let cases = [
        ("python", Role::Python, 2, 1500),
        ("nodejs", Role::Nodejs, 1, 300),
        ("java", Role::Java, 1, 700),
        ("php", Role::Php, 1, 200),
        ("bin", Role::Path, 1, 4000),
        ("lib", Role::LdLibraryPath, 1, 9000),
        ("etc", Role::Other, 1, 100),
    ];
    for (name, role, files, size) in cases {
        let f = folder(name);
        assert_eq!(
            (f.role, f.files, f.unpacked_size),
            (role, files, size),
            "{name}"
        );
        assert_eq!(f.kind, Node::Dir);
        // Runs of one byte deflate to almost nothing.
        assert!(
            f.compressed_size < size / 5,
            "{name}: {}",
            f.compressed_size
        );
    }
    assert_eq!(folder("lib").symlinks, 1);
    assert_eq!(r.folders.len(), cases.len());
    assert_eq!((r.files, r.symlinks), (8, 1));
    // python, python/numpy, nodejs, nodejs/node_modules, nodejs/node_modules/lodash, java,
    // java/lib, php, php/vendor, bin, lib, etc.
    assert_eq!(r.dirs, 12);
    assert_eq!(r.unpacked_size, 15_800);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn inspect_digests_and_size_are_those_of_the_file() {
    let t = tmp();
    let zip = layer(t.path(), "d", &[("python/x.py", b"print(1)\n")], &[]);
    let bytes = fs::read(&zip).unwrap();
    let want = Digests::of_bytes(&bytes);
    let r = inspect::inspect(&zip, 10).unwrap();
    assert_eq!(r.zip_size, bytes.len() as u64);
    assert_eq!(r.sha256, want.sha256);
    assert_eq!(r.crc64, want.crc64.to_string());
}

#[test]
fn inspect_lists_the_n_largest_files_biggest_first() {
    let t = tmp();
    let zip = layer(
        t.path(),
        "big",
        &[
            ("python/a.py", &[1u8; 10]),
            ("python/big.so", &[2u8; 50_000]),
            ("lib/mid.so", &[3u8; 20_000]),
            ("lib/small.so", &[4u8; 5_000]),
        ],
        &[],
    );
    let r = inspect::inspect(&zip, 3).unwrap();
    let got: Vec<(&str, u64)> = r
        .largest
        .iter()
        .map(|f| (f.path.as_str(), f.size))
        .collect();
    assert_eq!(
        got,
        [
            ("python/big.so", 50_000),
            ("lib/mid.so", 20_000),
            ("lib/small.so", 5_000)
        ]
    );
    assert!(
        r.largest
            .iter()
            .all(|f| f.compressed_size > 0 && f.compressed_size < f.size)
    );
    assert!(inspect::inspect(&zip, 0).unwrap().largest.is_empty());
}

#[test]
fn inspect_follows_every_symlink_and_flags_dangling_and_escaping_ones() {
    let t = tmp();
    let zip = t.path().join("links.zip");
    foreign_zip(
        &zip,
        &[
            Raw::File("lib/libz.so.1.2.13", b"elf"),
            Raw::Link("lib/libz.so.1", "libz.so.1.2.13"),
            Raw::Link("lib/libz.so", "libz.so.1"),
            Raw::Link("bin/abs", "/opt/lib/libz.so"),
            Raw::Link("bin/dangling", "../lib/libmissing.so"),
            Raw::Link("bin/etc", "/etc/passwd"),
            Raw::Link("bin/climb", "../../../root"),
            Raw::Link("python/up", ".."),
            // Looks inside lexically; through python/up it leaves /opt.
            Raw::Link("python/sneaky", "up/../../etc/shadow"),
            Raw::Link("x", "y"),
            Raw::Link("y", "x"),
        ],
    );
    let r = inspect::inspect(&zip, 10).unwrap();
    let link = |p: &str| r.links.iter().find(|l| l.path == p).unwrap();
    let cases = [
        ("lib/libz.so.1", LinkStatus::Ok, Some("lib/libz.so.1.2.13")),
        ("lib/libz.so", LinkStatus::Ok, Some("lib/libz.so.1.2.13")),
        ("bin/abs", LinkStatus::Ok, Some("lib/libz.so.1.2.13")),
        (
            "bin/dangling",
            LinkStatus::Dangling,
            Some("lib/libmissing.so"),
        ),
        ("bin/etc", LinkStatus::Escapes, None),
        ("bin/climb", LinkStatus::Escapes, None),
        ("python/up", LinkStatus::Ok, Some("")),
        ("python/sneaky", LinkStatus::Escapes, None),
        ("x", LinkStatus::Loop, None),
    ];
    for (p, status, to) in cases {
        let l = link(p);
        assert_eq!((l.status, l.resolves_to.as_deref()), (status, to), "{p}");
    }
    assert_eq!(link("bin/etc").target, "/etc/passwd");
    assert_eq!(r.links.len(), 10, "every symlink is listed");
    assert_eq!(r.symlinks, 10);

    let o = fclayer(&[&"inspect", &zip]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("bin/etc -> /etc/passwd  (ESCAPES /opt)"),
        "{out}"
    );
    assert!(
        out.contains("python/sneaky -> up/../../etc/shadow  (ESCAPES /opt)"),
        "{out}"
    );
    assert!(
        out.contains("bin/dangling -> ../lib/libmissing.so  (DANGLING: /opt/lib/libmissing.so"),
        "{out}"
    );
    assert!(out.contains("lib/libz.so -> libz.so.1"), "{out}");
}

#[test]
fn inspect_reads_zips_made_by_other_tools() {
    let t = tmp();
    let zip = t.path().join("foreign.zip");
    foreign_zip(
        &zip,
        &[
            // No folder entries at all, a `./` prefix, a Windows entry, a duplicate and an
            // absolute path that unzip would not put where it says.
            Raw::File("./python/requests/__init__.py", b"x = 1\n"),
            Raw::DosFile("python/requests/api.py", b"def get(): pass\n"),
            Raw::File("/etc/cron.d/evil", b"* * * * * root sh\n"),
            Raw::File("bin/tool", b"#!/bin/sh\n"),
            Raw::Dir("python/"),
        ],
    );
    let r = inspect::inspect(&zip, 5).unwrap();
    assert_eq!(r.files, 3);
    assert_eq!(
        r.dirs, 3,
        "python, python/requests and bin are implied folders"
    );
    assert_eq!(r.runtimes, [Role::Python, Role::Path]);
    let all = r.warnings.join("\n");
    assert!(all.contains("/etc/cron.d/evil"), "{all}");
    assert!(
        all.contains("bin/tool"),
        "not-executable file in bin/ not flagged: {all}"
    );
}

#[test]
fn inspect_warns_when_nothing_is_where_a_runtime_looks() {
    let t = tmp();
    let zip = layer(
        t.path(),
        "flat",
        &[
            ("numpy/__init__.py", b"" as &[u8]),
            ("numpy-1.26.4.dist-info/METADATA", b"Name: numpy"),
            ("nodejs/index.js", b""),
        ],
        &[],
    );
    let r = inspect::inspect(&zip, 5).unwrap();
    assert!(r.runtimes.is_empty(), "{:?}", r.runtimes);
    assert!(r.folders.iter().all(|f| f.role == Role::Other));
    let all = r.warnings.join("\n");
    assert!(all.contains("put them under python/"), "{all}");
    assert!(all.contains("nodejs/ has no node_modules/"), "{all}");
    let o = fclayer(&[&"inspect", &zip]);
    assert!(stdout(&o).contains("no runtime folder"), "{}", stdout(&o));
}

#[test]
fn inspect_json_is_the_report_on_stdout() {
    let t = tmp();
    let zip = layer(
        t.path(),
        "j",
        &[("python/a.py", b"a" as &[u8]), ("lib/libx.so.1", b"elf")],
        &[("lib/libx.so", "libx.so.1")],
    );
    let o = fclayer(&[&"inspect", &zip, &"--json", &"--top", &"1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let want = Digests::of_bytes(&fs::read(&zip).unwrap());
    assert_eq!(v["sha256"], want.sha256);
    assert_eq!(v["crc64"], want.crc64.to_string());
    assert_eq!(v["files"], 2);
    assert_eq!(v["symlinks"], 1);
    assert_eq!(
        v["runtimes"],
        serde_json::json!(["python", "ld_library_path"])
    );
    assert_eq!(v["largest"].as_array().unwrap().len(), 1);
    assert_eq!(v["links"][0]["path"], "lib/libx.so");
    assert_eq!(v["links"][0]["status"], "ok");
    assert_eq!(v["folders"][0]["name"], "lib");
    assert_eq!(v["folders"][0]["role"], "ld_library_path");
}

#[test]
fn inspect_human_output_fits_one_screen() {
    let t = tmp();
    // A typical Python layer: hundreds of files in a few packages, a library chain.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for pkg in ["numpy", "pandas", "pytz", "dateutil", "six"] {
        for i in 0..120 {
            files.push((format!("python/{pkg}/m{i}.py"), vec![b'x'; 100 + i * 37]));
        }
    }
    files.push(("lib/libgfortran.so.5.0.0".into(), vec![7; 30_000]));
    let files_ref: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let zip = layer(
        t.path(),
        "typical",
        &files_ref,
        &[("lib/libgfortran.so.5", "libgfortran.so.5.0.0")],
    );
    let o = fclayer(&[&"inspect", &zip]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().count() <= 40,
        "{} lines:\n{out}",
        out.lines().count()
    );
    assert!(out.lines().all(|l| l.chars().count() <= 120), "{out}");
    for needle in [
        "sha256",
        "crc64",
        "FOLDER",
        "python/",
        "Python",
        "LARGEST FILES",
        "SYMLINKS",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    assert!(stderr(&o).is_empty(), "data goes to stdout: {}", stderr(&o));
}

fn assert_bad_input(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(err.contains("hint:"), "no hint: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn inspect_refuses_bad_input_with_exit_2_and_a_hint() {
    let t = tmp();
    let missing = t.path().join("nope.zip");
    assert_bad_input(&fclayer(&[&"inspect", &missing]), "No such file");
    assert_bad_input(&fclayer(&[&"inspect", &t.path()]), "is a directory");
    let text = t.path().join("requirements.txt");
    fs::write(&text, "numpy\n").unwrap();
    assert_bad_input(&fclayer(&[&"inspect", &text]), "not a readable ZIP");
    let empty = t.path().join("empty.zip");
    fs::write(&empty, "").unwrap();
    assert_bad_input(
        &fclayer(&[&"inspect", &empty, &"--json"]),
        "not a readable ZIP",
    );
    // A download cut short: the central directory is gone.
    let good = layer(t.path(), "g", &[("python/a.py", &[b'a'; 5000])], &[]);
    let bytes = fs::read(&good).unwrap();
    let cut = t.path().join("cut.zip");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(&fclayer(&[&"inspect", &cut]), "cut.zip");

    let e = inspect::inspect(&missing, 10).unwrap_err();
    assert_eq!(e.kind, Kind::BadInput);
}

// ---------------------------------------------------------------------------------------------
// stack

#[test]
fn stack_first_layer_wins_and_every_shadowed_file_is_listed() {
    let t = tmp();
    let a = layer(
        t.path(),
        "a",
        &[
            ("python/six.py", b"six 1.16" as &[u8]),
            ("python/a.py", b"a"),
        ],
        &[],
    );
    let b = layer(
        t.path(),
        "b",
        &[
            ("python/six.py", b"six 1.15, older" as &[u8]),
            ("python/b.py", b"b"),
            ("lib/libx.so", b"elf"),
        ],
        &[],
    );
    let c = layer(
        t.path(),
        "c",
        &[("python/six.py", b"six 1.16" as &[u8])],
        &[],
    );
    let r = stack::stack(&[a.clone(), b.clone(), c.clone()]).unwrap();
    assert_eq!(r.shadowed.len(), 1);
    let s = &r.shadowed[0];
    assert_eq!(
        (s.path.as_str(), s.winner, s.hidden.clone()),
        ("python/six.py", 1, vec![2, 3])
    );
    assert!(!s.identical, "#2's six.py differs");
    assert_eq!(s.kind, Node::File);
    let provides: Vec<u64> = r.layers.iter().map(|l| l.provides).collect();
    assert_eq!(provides, [2, 2, 0]);
    let shadowed: Vec<u64> = r.layers.iter().map(|l| l.shadowed).collect();
    assert_eq!(shadowed, [0, 1, 1]);
    assert_eq!(r.merged.files, 4);
    assert_eq!(r.merged.dirs, 2);
    assert_eq!(r.merged.unpacked_size, 8 + 1 + 1 + 3);
    assert_eq!(r.layers[0].provides_size, 9);
    assert!(r.conflicts.is_empty());

    // Reversed, the other copy wins.
    let r = stack::stack(&[c.clone(), b, a]).unwrap();
    let s = &r.shadowed[0];
    assert_eq!((s.winner, s.hidden.clone()), (1, vec![2, 3]));
    assert_eq!(r.layers[0].provides, 1);

    // A copy hidden only by an identical one is harmless duplication.
    let r = stack::stack(&[
        c,
        layer(t.path(), "c2", &[("python/six.py", b"six 1.16")], &[]),
    ])
    .unwrap();
    assert!(r.shadowed[0].identical);
}

#[test]
fn stack_reports_what_the_runtime_sees_where_a_directory_meets_a_file() {
    let t = tmp();
    // #1 has lib as a symlink to lib64; #2 has a real lib/ with three files in it.
    let a = layer(
        t.path(),
        "a",
        &[
            ("lib64/libssl.so.3", b"elf" as &[u8]),
            ("python/x", b"a file"),
        ],
        &[("lib", "lib64")],
    );
    let b = layer(
        t.path(),
        "b",
        &[
            ("lib/libcrypto.so.3", b"elf" as &[u8]),
            ("lib/libz.so.1", b"elf"),
            ("lib/sub/libq.so", b"elf"),
            ("python/x/__init__.py", b"pkg"),
        ],
        &[],
    );
    let r = stack::stack(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(r.conflicts.len(), 2, "{:#?}", r.conflicts);
    let lib = &r.conflicts[0];
    assert_eq!(lib.path, "lib");
    assert_eq!((lib.winner, &lib.winner_kind), (1, &Node::Symlink));
    assert_eq!(lib.winner_target.as_deref(), Some("lib64"));
    assert_eq!(lib.losers.len(), 1);
    // lib, lib/sub and the three files.
    assert_eq!(
        (
            lib.losers[0].layer,
            &lib.losers[0].kind,
            lib.losers[0].hidden_entries
        ),
        (2, &Node::Dir, 5)
    );
    assert!(
        lib.runtime_sees
            .contains("/opt/lib is #1's symlink (-> lib64)"),
        "{}",
        lib.runtime_sees
    );
    let x = &r.conflicts[1];
    assert_eq!(
        (x.path.as_str(), &x.winner_kind, x.losers[0].hidden_entries),
        ("python/x", &Node::File, 2)
    );
    assert_eq!(r.layers[1].hidden_by_conflicts, 7);
    assert_eq!(r.layers[1].provides, 0);
    assert!(r.shadowed.is_empty());

    // The other way round, the directory wins and the file and symlink are what is hidden.
    let r = stack::stack(&[b, a]).unwrap();
    let lib = r.conflicts.iter().find(|c| c.path == "lib").unwrap();
    assert_eq!(
        (
            &lib.winner_kind,
            &lib.losers[0].kind,
            lib.losers[0].hidden_entries
        ),
        (&Node::Dir, &Node::Symlink, 1)
    );
    assert!(
        lib.runtime_sees.contains("/opt/lib is #1's directory"),
        "{}",
        lib.runtime_sees
    );
    assert_eq!(
        r.layers[1].provides, 1,
        "only lib64/libssl.so.3 of #2 is visible"
    );
}

#[test]
fn stack_resolves_links_across_layers() {
    let t = tmp();
    // On its own, #1's link dangles; #2 provides its target.
    let a = layer(
        t.path(),
        "a",
        &[("bin/.keep", b"" as &[u8])],
        &[("bin/convert", "../lib/magick")],
    );
    let b = layer(t.path(), "b", &[("lib/magick", b"#!/bin/sh" as &[u8])], &[]);
    let alone = inspect::inspect(&a, 5).unwrap();
    assert_eq!(alone.links[0].status, LinkStatus::Dangling);
    let r = stack::stack(&[a.clone(), b]).unwrap();
    assert!(r.broken_links.is_empty(), "{:?}", r.broken_links);
    let r = stack::stack(&[a]).unwrap();
    assert_eq!(r.broken_links.len(), 1);
    assert_eq!(r.broken_links[0].path, "bin/convert");
}

#[test]
fn stack_refuses_more_than_five_layers() {
    let t = tmp();
    let one = layer(t.path(), "one", &[("python/a.py", b"a" as &[u8])], &[]);
    let six: Vec<&dyn AsRef<std::ffi::OsStr>> =
        std::iter::once(&"stack" as &dyn AsRef<std::ffi::OsStr>)
            .chain(std::iter::repeat_n(&one as &dyn AsRef<std::ffi::OsStr>, 6))
            .collect();
    let o = fclayer(&six);
    assert_bad_input(&o, "FC allows at most 5 layers per function");
    assert!(stderr(&o).contains("6 layers"), "{}", stderr(&o));
    let e = stack::stack(&vec![one.clone(); 6]).unwrap_err();
    assert_eq!(e.kind, Kind::BadInput);
    // Five is allowed (and the same ZIP five times is warned about, not refused).
    let r = stack::stack(&vec![one; 5]).unwrap();
    assert_eq!(r.layers.len(), 5);
    assert!(
        r.warnings.iter().any(|w| w.contains("same file")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn stack_output_human_and_json() {
    let t = tmp();
    let a = layer(
        t.path(),
        "a",
        &[("python/six.py", b"new" as &[u8])],
        &[("lib", "python")],
    );
    let b = layer(
        t.path(),
        "b",
        &[("python/six.py", b"old" as &[u8]), ("lib/libz.so", b"elf")],
        &[],
    );
    let o = fclayer(&[&"stack", &a, &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "/opt from 2 layers",
        "SHADOWED: 1 paths",
        "python/six.py",
        "#1 wins over #2",
        "CONFLICTS",
        "/opt/lib is #1's symlink (-> python)",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    assert!(out.lines().count() <= 40, "{out}");

    let o = fclayer(&[&"stack", &a, &b, &"--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);
    assert_eq!(v["layers"][0]["index"], 1);
    assert_eq!(v["shadowed"][0]["path"], "python/six.py");
    assert_eq!(v["shadowed"][0]["winner"], 1);
    assert_eq!(v["shadowed"][0]["hidden"], serde_json::json!([2]));
    assert_eq!(v["conflicts"][0]["path"], "lib");
    assert_eq!(v["conflicts"][0]["losers"][0]["kind"], "dir");
    assert_eq!(v["merged"]["files"], 1);
}

#[test]
fn stack_refuses_bad_input_with_exit_2_and_a_hint() {
    let t = tmp();
    let a = layer(t.path(), "a", &[("python/a.py", b"a" as &[u8])], &[]);
    let missing = t.path().join("missing.zip");
    assert_bad_input(&fclayer(&[&"stack", &a, &missing]), "missing.zip");
    let text = t.path().join("notes.txt");
    fs::write(&text, "hello").unwrap();
    assert_bad_input(&fclayer(&[&"stack", &text, &a]), "not a readable ZIP");
    assert_bad_input(&fclayer(&[&"stack", &t.path(), &a]), "is a directory");
}
