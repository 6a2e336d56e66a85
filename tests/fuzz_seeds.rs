//! The fuzzers' seed corpus, made here rather than checked in as blobs: for each target in
//! `fuzz/`, small crafted inputs of the kinds that once broke (or could break) a reader: a valid
//! layer, deep names, `..` and absolute names, links out of the layer, ELF files with DT_NEEDED,
//! RPATH and version needs, tar streams cut short or holding devices.
//!
//! `FCLAYER_FUZZ_SEEDS=DIR cargo test --test fuzz_seeds` writes them to DIR/<target>/ (what
//! `make fuzz` does); without it, the test still makes them and runs each through its entry point,
//! so no seed ever panics the code it feeds.

#[path = "fixtures/elf/synth.rs"]
mod synth;

use std::io::Write;
use std::path::PathBuf;

/// A ZIP of `(name, content, unix mode)` entries, stored.
fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut out));
        for (name, data, mode) in entries {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(*mode);
            if mode & 0o170000 == 0o120000 {
                w.add_symlink(*name, std::str::from_utf8(data).unwrap(), opts)
                    .unwrap();
            } else if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap();
    }
    out
}

/// A tar stream of `(name, type, content or link target)`; `end` adds the end-of-archive blocks.
fn tar_of(entries: &[(&str, tar::EntryType, &[u8])], end: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o755);
        // Names written raw, `..` included (`append_data` would refuse them).
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        if kind.is_symlink() || kind.is_hard_link() {
            h.set_link_name_literal(std::str::from_utf8(data).unwrap())
                .unwrap();
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        } else {
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
    }
    let mut out = b.into_inner().unwrap();
    if !end {
        out.truncate(out.len() - 1024);
    }
    out
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use tar::EntryType as T;
    let x86 = synth::Spec::x86_64();
    let ext = x86
        .clone()
        .needs("libfoo.so.1")
        .rpath("$ORIGIN/../../lib")
        .requires("libc.so.6", &["GLIBC_2.2.5", "GLIBC_2.34"])
        .build();
    let lib = x86
        .clone()
        .soname("libfoo.so.1")
        .defines(&["FOO_1"])
        .build();
    let runpath = x86
        .clone()
        .needs("libbar.so")
        .runpath("/opt/lib:$ORIGIN")
        .build();
    let arm = synth::Spec::aarch64().build();
    let deep = format!("{}f", "d/".repeat(400));
    let mut out = vec![
        (
            "zip_reader",
            "layer.zip",
            zip_of(&[
                ("python/", b"", 0o40755),
                ("python/six.py", b"import sys\n", 0o100644),
                ("python/link.py", b"six.py", 0o120777),
                ("lib/libfoo.so.1", &lib, 0o100755),
                ("python/ext.so", &ext, 0o100755),
            ]),
        ),
        ("zip_reader", "deep.zip", zip_of(&[(deep.as_str(), b"x", 0o100644)])),
        (
            "zip_reader",
            "escapes.zip",
            zip_of(&[
                ("../evil", b"x", 0o100644),
                ("/abs", b"x", 0o100644),
                ("python/up", b"../../etc", 0o120777),
                ("python/\x1b]0;title\x07", b"x", 0o100644),
            ]),
        ),
        ("zip_reader", "empty.zip", zip_of(&[])),
        ("elf_gate", "needs-rpath.so", ext.clone()),
        ("elf_gate", "soname-verdef.so", lib.clone()),
        ("elf_gate", "runpath.so", runpath),
        ("elf_gate", "aarch64.so", arm),
        (
            "elf_gate",
            "i386.so",
            synth::Spec::shared(object::elf::EM_386).build(),
        ),
        (
            "tar_validator",
            "layer.tar",
            tar_of(
                &[
                    ("opt/python/", T::Directory, b""),
                    ("opt/python/a.py", T::Regular, b"a = 1\n"),
                    ("opt/python/l.py", T::Symlink, b"a.py"),
                    ("opt/python/h.py", T::Link, b"opt/python/a.py"),
                ],
                true,
            ),
        ),
        (
            "tar_validator",
            "escape.tar",
            tar_of(
                &[
                    ("opt/../../etc/passwd", T::Regular, b"root"),
                    ("opt/python/up", T::Symlink, b"../../../etc"),
                    ("opt/python/dev", T::Char, b""),
                ],
                true,
            ),
        ),
        (
            "tar_validator",
            "cut.tar",
            tar_of(&[("opt/python/a.py", T::Regular, b"a = 1\n")], false),
        ),
        (
            "project_files",
            "requirements.txt",
            b"six==1.16.0\nnumpy>=1.24 ; python_version >= \"3.8\"\n-i https://pypi.org/simple\n--find-links ./wheels\nrequests[socks]\n".to_vec(),
        ),
        (
            "project_files",
            "package.json",
            br#"{"name":"f","dependencies":{"left-pad":"1.3.0"},"devDependencies":{}}"#.to_vec(),
        ),
        (
            "project_files",
            "composer.json",
            br#"{"require":{"php":">=7.2","monolog/monolog":"^2"}}"#.to_vec(),
        ),
        (
            "project_files",
            "pom.xml",
            b"<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion><groupId>g</groupId><artifactId>a</artifactId><version>1</version><dependencies><dependency><groupId>x</groupId><artifactId>y</artifactId><version>2</version></dependency></dependencies></project>".to_vec(),
        ),
        (
            "project_files",
            "apt.txt",
            b"# tools\nlibxml2\nimagemagick=8:6.9.11.60+dfsg-1.3\n".to_vec(),
        ),
        (
            "project_files",
            "fclayer.toml",
            b"[[layer]]\nname = \"deps\"\nruntime = \"python3.10\"\nsource = \"src\"\noutput = \"deps.zip\"\napt = [\"libxml2\"]\n[layer.build_args]\nA = \"b\"\n".to_vec(),
        ),
    ];
    // The ELF files as layers too, so the ZIP target starts from the gate's paths.
    out.push((
        "zip_reader",
        "runpath-layer.zip",
        zip_of(&[("lib/librun.so", &out[6].2, 0o100755)]),
    ));
    out
}

#[test]
fn seeds_are_small_and_feed_their_targets() {
    let dir = std::env::var_os("FCLAYER_FUZZ_SEEDS").map(PathBuf::from);
    for (target, name, data) in seeds() {
        assert!(
            data.len() < 100_000,
            "{target}/{name} is {} bytes",
            data.len()
        );
        match target {
            "zip_reader" => fclayer::fuzzing::zip_reader(&data),
            "elf_gate" => fclayer::fuzzing::elf_gate(&data),
            "tar_validator" => fclayer::fuzzing::tar_validator(&data),
            "project_files" => fclayer::fuzzing::project_files(&data),
            other => panic!("no target {other}"),
        }
        if let Some(dir) = &dir {
            let d = dir.join(target);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), &data).unwrap();
        }
    }
}
