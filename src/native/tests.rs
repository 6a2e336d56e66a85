//! `check_zip` on small ZIPs written here from synthetic ELF files: resolution, version rules,
//! machine checks and the report's shape, without a compiler.

use std::io::Write;

use object::elf as e;
use zip::write::SimpleFileOptions;

use super::synth::Spec;
use super::*;

enum Member<'a> {
    File(&'a str, Vec<u8>),
    Link(&'a str, &'a str),
}
use Member::{File, Link};

fn layer(members: Vec<Member<'_>>) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
    let opts = SimpleFileOptions::default().unix_permissions(0o755);
    for m in members {
        match m {
            File(name, data) => {
                zip.start_file(name, opts).unwrap();
                zip.write_all(&data).unwrap();
            }
            Link(name, target) => zip.add_symlink(name, target, opts).unwrap(),
        }
    }
    zip.finish().unwrap();
    file
}

fn check(members: Vec<Member<'_>>, runtime: &str, platform: Option<&str>) -> Report {
    let zip = layer(members);
    check_zip(zip.path(), &Target::named(runtime, platform).unwrap()).unwrap()
}

fn findings<'r>(r: &'r Report, path: &str) -> &'r [Finding] {
    &r.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in report: {r:#?}"))
        .findings
}

#[test]
fn glibc_versions_newer_than_the_runtime_fail() {
    let so = Spec::x86_64()
        .requires("libm.so.6", &["GLIBC_2.29"])
        .build();
    let mut so2 = Spec::x86_64();
    so2.verneed = vec![(
        "libc.so.6".into(),
        vec![
            "GLIBC_2.2.5".into(),
            "GLIBC_2.34".into(),
            "GLIBC_2.33".into(),
        ],
    )];
    let members = || {
        vec![
            File("python/a.so", so.clone()),
            File("python/b.so", so2.build()),
        ]
    };
    let r = check(members(), "python3.12", None);
    assert!(!r.passed());
    let b = findings(&r, "python/b.so");
    assert_eq!(b.len(), 1, "{b:?}");
    let Finding::VersionTooNew {
        library,
        family,
        versions,
        needs,
        runtime_has,
    } = &b[0]
    else {
        panic!("{b:?}")
    };
    assert_eq!(library, "libc.so.6");
    assert_eq!(*family, Family::Glibc);
    // Only the versions above 2.31, lowest first; the highest is what it needs.
    assert_eq!(versions, &["GLIBC_2.33", "GLIBC_2.34"]);
    assert_eq!(needs.to_string(), "2.34");
    assert_eq!(runtime_has.to_string(), "2.31");
    assert_eq!(
        b[0].message(),
        "needs GLIBC_2.33, GLIBC_2.34 (libc.so.6); the runtime has glibc 2.31"
    );
    // GLIBC_2.29 fits Debian 11 (2.31) but not Debian 10 (2.28).
    assert!(findings(&r, "python/a.so").is_empty());
    let r = check(members(), "python3.10", None);
    assert_eq!(findings(&r, "python/a.so").len(), 1);
    assert!(check(members(), "custom.debian12", None).passed());
}

#[test]
fn libstdcxx_levels_are_checked_per_family() {
    let so = Spec::x86_64()
        .needs("libstdc++.so.6")
        .requires("libstdc++.so.6", &["GLIBCXX_3.4.29", "CXXABI_1.3.13"])
        .build();
    let r = check(vec![File("lib/libcxx.so", so.clone())], "python3.12", None);
    let f = findings(&r, "lib/libcxx.so");
    let fams: Vec<Family> = f
        .iter()
        .filter_map(|f| match f {
            Finding::VersionTooNew { family, .. } => Some(*family),
            _ => None,
        })
        .collect();
    assert_eq!(fams, [Family::Glibcxx, Family::Cxxabi], "{f:?}");
    assert!(check(vec![File("lib/libcxx.so", so)], "custom.debian12", None).passed());
}

#[test]
fn a_libstdcxx_carried_in_the_layer_decides_by_its_own_definitions() {
    let user = Spec::x86_64()
        .needs("libstdc++.so.6")
        .requires("libstdc++.so.6", &["GLIBCXX_3.4.30"])
        .build();
    let bundled = Spec::x86_64()
        .soname("libstdc++.so.6")
        .defines(&["GLIBCXX_3.4", "GLIBCXX_3.4.29", "GLIBCXX_3.4.30"])
        .build();
    let old_bundled = Spec::x86_64()
        .soname("libstdc++.so.6")
        .defines(&["GLIBCXX_3.4", "GLIBCXX_3.4.21"])
        .build();
    let r = check(
        vec![
            File("lib/libstdc++.so.6.0.30", bundled),
            Link("lib/libstdc++.so.6", "libstdc++.so.6.0.30"),
            File("python/x.so", user.clone()),
        ],
        "python3.9",
        None,
    );
    assert!(r.passed(), "{r:#?}");
    let r = check(
        vec![
            File("lib/libstdc++.so.6", old_bundled),
            File("python/x.so", user),
        ],
        "python3.9",
        None,
    );
    let f = findings(&r, "python/x.so");
    assert!(
        matches!(f, [Finding::VersionNotDefined { versions, path, .. }]
            if versions == &["GLIBCXX_3.4.30"] && path == "lib/libstdc++.so.6"),
        "{f:?}"
    );
}

#[test]
fn wrong_machines_are_named_and_nothing_else_is_checked() {
    let mut i386 = Spec::shared(e::EM_386);
    i386.is_64 = false;
    let members = || {
        vec![
            File(
                "lib/libarm.so",
                Spec::aarch64().needs("libnotthere.so.1").build(),
            ),
            File("lib/lib32.so", i386.build()),
        ]
    };
    let r = check(members(), "python3.9", None);
    let arm = findings(&r, "lib/libarm.so");
    assert_eq!(arm.len(), 1, "no missing-library noise: {arm:?}");
    assert_eq!(arm[0].message(), "aarch64 ELF in an x86_64 runtime");
    assert_eq!(
        findings(&r, "lib/lib32.so")[0].message(),
        "32-bit i386 ELF in an x86_64 runtime"
    );
    let r = check(members(), "python3.9", Some("linux/arm64"));
    let arm = findings(&r, "lib/libarm.so");
    assert!(
        matches!(arm, [Finding::MissingLibrary { library, .. }] if library == "libnotthere.so.1"),
        "{arm:?}"
    );
    assert!(r.notes.iter().any(|n| n.contains("FC runtimes are x86_64")));
}

#[test]
fn needed_libraries_resolve_through_opt_lib_and_symlinks() {
    let user = Spec::x86_64().needs("libnotthere.so.1").build();
    let dep = Spec::x86_64().soname("libnotthere.so.1").build();
    let r = check(vec![File("bin/tool", user.clone())], "python3.12", None);
    let f = findings(&r, "bin/tool");
    let Finding::MissingLibrary {
        library,
        searched,
        elsewhere,
    } = &f[0]
    else {
        panic!("{f:?}")
    };
    assert_eq!(library, "libnotthere.so.1");
    assert_eq!(searched[0], "/opt/lib");
    assert!(searched[1].contains("runtime"), "{searched:?}");
    assert!(elsewhere.is_empty());

    let r = check(
        vec![
            File("bin/tool", user.clone()),
            File("lib/libnotthere.so.1.0.0", dep.clone()),
            Link("lib/libnotthere.so.1", "libnotthere.so.1.0.0"),
        ],
        "python3.12",
        None,
    );
    assert!(r.passed(), "{r:#?}");
    // Off the search path: still missing, but the report says where the file is.
    let r = check(
        vec![
            File("bin/tool", user),
            File("python/pkg.libs/libnotthere.so.1", dep),
        ],
        "python3.12",
        None,
    );
    let f = findings(&r, "bin/tool");
    assert!(
        f[0].message()
            .contains("the layer has /opt/python/pkg.libs/libnotthere.so.1"),
        "{}",
        f[0].message()
    );
}

#[test]
fn runpath_and_rpath_expand_origin_inside_the_layer() {
    let ext = Spec::x86_64()
        .needs("libdep.so.1")
        .runpath("$ORIGIN/../foo.libs")
        .build();
    let dep = Spec::x86_64().soname("libdep.so.1").build();
    let ok = check(
        vec![
            File("python/foo/_ext.so", ext.clone()),
            File("python/foo.libs/libdep.so.1", dep.clone()),
        ],
        "python3.9",
        None,
    );
    assert!(ok.passed(), "{ok:#?}");
    let bad = check(vec![File("python/foo/_ext.so", ext)], "python3.9", None);
    let f = findings(&bad, "python/foo/_ext.so");
    let Finding::MissingLibrary { searched, .. } = &f[0] else {
        panic!("{f:?}")
    };
    assert!(
        searched.contains(&"/opt/python/foo.libs".to_string()),
        "{searched:?}"
    );

    // DT_RPATH is ignored when DT_RUNPATH is present, as ld.so does.
    let both = Spec::x86_64()
        .needs("libdep.so.1")
        .rpath("$ORIGIN/../foo.libs")
        .runpath("/opt/nowhere")
        .build();
    let r = check(
        vec![
            File("python/foo/_ext.so", both),
            File("python/foo.libs/libdep.so.1", dep.clone()),
        ],
        "python3.9",
        None,
    );
    assert!(!r.passed());
    let rpath_only = Spec::x86_64()
        .needs("libdep.so.1")
        .rpath("/opt/python/foo.libs")
        .build();
    let r = check(
        vec![
            File("bin/x", rpath_only),
            File("python/foo.libs/libdep.so.1", dep),
        ],
        "python3.9",
        None,
    );
    assert!(r.passed(), "{r:#?}");
}

#[test]
fn rpath_is_inherited_by_what_a_file_loads_as_auditwheel_expects() {
    // numpy's layout: the extension has DT_RPATH=$ORIGIN/../../numpy.libs; openblas there needs
    // gfortran, which needs quadmath, none of them with a search path of their own.
    let ext = Spec::x86_64()
        .needs("libopenblas-ab.so")
        .rpath("$ORIGIN/../../numpy.libs")
        .build();
    let openblas = Spec::x86_64().needs("libgfortran-cd.so.5").build();
    let gfortran = Spec::x86_64().needs("libquadmath-ef.so.0").build();
    let quadmath = Spec::x86_64().build();
    let members = |ext: Vec<u8>| {
        vec![
            File("python/numpy/core/_umath.so", ext),
            File("python/numpy.libs/libopenblas-ab.so", openblas.clone()),
            File("python/numpy.libs/libgfortran-cd.so.5", gfortran.clone()),
            File("python/numpy.libs/libquadmath-ef.so.0", quadmath.clone()),
        ]
    };
    let r = check(members(ext), "python3.9", None);
    assert!(r.passed(), "{r:#?}");

    // With DT_RUNPATH instead, the folder serves the extension's own needs only.
    let ext = Spec::x86_64()
        .needs("libopenblas-ab.so")
        .runpath("$ORIGIN/../../numpy.libs")
        .build();
    let r = check(members(ext), "python3.9", None);
    assert!(findings(&r, "python/numpy/core/_umath.so").is_empty());
    let f = findings(&r, "python/numpy.libs/libopenblas-ab.so");
    assert!(
        matches!(f, [Finding::MissingLibrary { library, .. }] if library == "libgfortran-cd.so.5"),
        "{f:?}"
    );
    assert!(!findings(&r, "python/numpy.libs/libgfortran-cd.so.5").is_empty());
}

#[test]
fn interpreters_other_than_glibcs_fail() {
    let musl = Spec::x86_64()
        .interpreter("/lib/ld-musl-x86_64.so.1")
        .needs("libc.musl-x86_64.so.1")
        .build();
    let glibc = Spec::x86_64()
        .interpreter("/lib64/ld-linux-x86-64.so.2")
        .build();
    let r = check(
        vec![File("bin/musl", musl), File("bin/ok", glibc)],
        "custom.debian12",
        None,
    );
    let f = findings(&r, "bin/musl");
    assert!(matches!(f[0], Finding::Interpreter { .. }), "{f:?}");
    assert!(matches!(f[1], Finding::MissingLibrary { .. }), "{f:?}");
    assert!(findings(&r, "bin/ok").is_empty());
}

#[test]
fn libpython_is_a_note_not_a_failure() {
    let ext = Spec::x86_64().needs("libpython3.9.so.1.0").build();
    let r = check(vec![File("python/x.so", ext)], "python3.9", None);
    assert!(r.passed(), "{r:#?}");
    assert!(r.files[0].notes[0].contains("runtime's Python 3.9"));
}

#[test]
fn custom_runtimes_are_told_to_set_ld_library_path() {
    let user = Spec::x86_64().needs("libdep.so.1").build();
    let dep = Spec::x86_64().soname("libdep.so.1").build();
    let members = || {
        vec![
            File("bin/tool", user.clone()),
            File("lib/libdep.so.1", dep.clone()),
        ]
    };
    let r = check(members(), "custom.debian11", None);
    assert!(r.passed());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("LD_LIBRARY_PATH=/opt/lib") && n.contains("lib/libdep.so.1")),
        "{:?}",
        r.notes
    );
    assert!(check(members(), "python3.12", None).notes.is_empty());
}

#[test]
fn non_elf_members_relocatables_and_broken_files_are_counted_apart() {
    let mut rel = Spec::aarch64();
    rel.e_type = e::ET_REL;
    let mut broken = Spec::x86_64().build();
    broken.truncate(40);
    let r = check(
        vec![
            File("python/a.py", b"print('hi')\n".to_vec()),
            File("python/tiny", b"\x7fE".to_vec()),
            File("python/empty", Vec::new()),
            File("python/x.o", rel.build()),
            File("lib/broken.so", broken),
            Link("lib/dangling.so", "nowhere.so"),
        ],
        "python3.12",
        None,
    );
    assert_eq!(r.members, 6);
    assert_eq!(r.elf_skipped, 1, "a relocatable aarch64 .o is never loaded");
    assert_eq!(r.elf_checked, 1);
    assert!(matches!(
        findings(&r, "lib/broken.so")[0],
        Finding::Unreadable { .. }
    ));
    assert!(!r.passed());
    // A file that could not be parsed has no ELF facts in the JSON, only its finding.
    let v = serde_json::to_value(&r.files[0]).unwrap();
    assert_eq!(v["path"], "lib/broken.so");
    assert_eq!(v["findings"][0]["kind"], "unreadable");
    assert!(v.get("machine").is_none(), "{v}");
}

#[test]
fn wheels_are_checked_with_the_elf_files() {
    let wheel = "Wheel-Version: 1.0\nTag: cp39-cp39-manylinux_2_28_x86_64\n";
    let members = || {
        vec![File(
            "python/foo-1.0.dist-info/WHEEL",
            wheel.as_bytes().to_vec(),
        )]
    };
    let r = check(members(), "python3.9", None);
    assert_eq!(r.wheels_checked, 1);
    assert_eq!(r.wheels.len(), 1);
    assert_eq!(r.wheels[0].wheel, "foo-1.0");
    assert!(!r.passed());
    assert!(r.hint().contains("glibc 2.24"), "{}", r.hint());
    assert!(check(members(), "custom.debian12", None).passed());

    let wheel = "Wheel-Version: 1.0\nTag: cp310-cp310-manylinux2014_x86_64\n";
    let r = check(
        vec![File(
            "python/bar-2.0.dist-info/WHEEL",
            wheel.as_bytes().to_vec(),
        )],
        "python3.9",
        None,
    );
    assert!(
        r.hint().contains("wheels built for Python 3.9"),
        "{}",
        r.hint()
    );
}

#[test]
fn the_report_serialises_with_tagged_findings() {
    let r = check(
        vec![File("lib/libarm.so", Spec::aarch64().build())],
        "python3.9",
        None,
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["target"]["runtime"], "python3.9");
    assert_eq!(v["target"]["glibc"], "2.24");
    assert_eq!(v["files"][0]["path"], "lib/libarm.so");
    assert_eq!(v["files"][0]["machine"], "aarch64");
    assert_eq!(v["files"][0]["requires"]["glibc"], "2.17");
    assert_eq!(v["files"][0]["findings"][0]["kind"], "wrong_machine");
    assert_eq!(v["files"][0]["findings"][0]["found"], "aarch64");
    assert!(r.hint().contains("linux/amd64"), "{}", r.hint());
}

#[test]
fn an_unreadable_zip_is_bad_input() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"not a zip").unwrap();
    let t = Target::named("python3.9", None).unwrap();
    let e = check_zip(f.path(), &t).unwrap_err();
    assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
}
