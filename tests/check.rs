//! `fclayer check` from the outside: real shared objects compiled here by the host's gcc/g++
//! (Debian 12, glibc 2.36, GCC 12), packed with `fclayer pack`, checked against runtimes of
//! older and newer Debian releases. Each fixture's premise (which symbol versions it carries)
//! is first confirmed with readelf, so a toolchain change cannot quietly void a test.
//! The aarch64 file comes from `fixtures/elf/synth.rs` (no cross compiler needed).

mod common;
#[path = "fixtures/elf/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A layer folder being put together, and where it gets packed.
struct Layer {
    tmp: tempfile::TempDir,
}

impl Layer {
    fn new() -> Layer {
        let tmp = tempdir();
        std::fs::create_dir(tmp.path().join("layer")).unwrap();
        Layer { tmp }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }

    fn src(&self) -> PathBuf {
        let p = self.tmp.path().join("src");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Compile `source` into `rel` (a path inside the layer) with the given compiler and flags.
    fn compile(&self, compiler: &str, rel: &str, source: &str, flags: &[&str]) -> PathBuf {
        let ext = if compiler == "g++" { "cc" } else { "c" };
        let name = rel.replace('/', "_");
        let src = self.src().join(format!("{name}.{ext}"));
        std::fs::write(&src, source).unwrap();
        let out = self.root().join(rel);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let status = Command::new(compiler)
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .args(flags)
            .status()
            .unwrap_or_else(|e| panic!("{compiler} is needed for these tests: {e}"));
        assert!(status.success(), "{compiler} failed on {rel}");
        out
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.root().join(rel)).unwrap();
    }

    /// Pack the folder with `fclayer pack` into a fresh ZIP.
    fn pack(&self, name: &str) -> PathBuf {
        let zip = self.tmp.path().join(name);
        let out = run(fclayer().arg("pack").arg(self.root()).arg("-o").arg(&zip));
        assert!(out.status.success(), "pack failed");
        zip
    }
}

fn check(zip: &Path, runtime: &str, extra: &[&str]) -> Output {
    run(fclayer()
        .arg("check")
        .arg(zip)
        .args(["--runtime", runtime])
        .args(extra))
}

/// The symbol versions readelf lists in a file's .gnu.version_r.
fn required_versions(path: &Path) -> Vec<String> {
    let out = Command::new("readelf")
        .arg("-V")
        .arg(path)
        .output()
        .expect("readelf (binutils) is needed for these tests");
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find(".gnu.version_r")
        .expect("no .gnu.version_r section");
    text[start..]
        .split_whitespace()
        .filter_map(|w| {
            let v = w.trim_start_matches("Name:");
            (v.starts_with("GLIBC") || v.starts_with("CXXABI")).then(|| v.to_string())
        })
        .collect()
}

fn assert_fails(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "exit code");
    let text = format!("{}{}", stdout(out), stderr(out));
    for n in needles {
        assert!(text.contains(n), "output lacks {n:?}");
    }
    assert!(stdout(out).contains("FAILED"), "no verdict on stdout");
}

fn assert_passes(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "exit code");
    assert!(stdout(out).contains("PASSED"), "no verdict on stdout");
}

const NEW_GLIBC: &str = r#"
#include <pthread.h>
static void *run(void *a) { return a; }
int start(void) { pthread_t t; if (pthread_create(&t, 0, run, 0)) return -1; return pthread_join(t, 0); }
"#;

const OLD_GLIBC: &str = r#"
#include <string.h>
int len(const char *s) { return (int)strlen(s); }
"#;

#[test]
fn a_glibc_2_34_library_fails_on_debian_11_and_passes_on_debian_12() {
    let layer = Layer::new();
    let so = layer.compile("gcc", "lib/libnew.so", NEW_GLIBC, &[]);
    // glibc 2.34 moved pthread_create into libc under a new version.
    assert!(
        required_versions(&so).contains(&"GLIBC_2.34".to_string()),
        "premise: {:?}",
        required_versions(&so)
    );
    let zip = layer.pack("layer.zip");

    for runtime in ["python3.12", "custom.debian11"] {
        let out = check(&zip, runtime, &[]);
        assert_fails(
            &out,
            &[
                "FAIL  lib/libnew.so: needs GLIBC_2.34 (libc.so.6); the runtime has glibc 2.31",
                &format!("fclayer build --runtime {runtime}"),
                "supports glibc 2.31",
            ],
        );
        // The error names the offending file.
        assert!(stderr(&out).contains("  lib/libnew.so"), "{runtime}");
    }
    assert_passes(&check(&zip, "custom.debian12", &[]));
}

#[test]
fn a_library_with_only_old_symbols_passes_on_debian_9() {
    let layer = Layer::new();
    let so = layer.compile("gcc", "lib/libold.so", OLD_GLIBC, &[]);
    let versions = required_versions(&so);
    assert!(
        versions
            .iter()
            .all(|v| v == "GLIBC_2.2.5" || v == "GLIBC_2.4"),
        "premise: {versions:?}"
    );
    let zip = layer.pack("layer.zip");
    for runtime in ["python3.9", "python3", "custom", "nodejs8"] {
        let out = check(&zip, runtime, &[]);
        assert_passes(&out);
        assert!(stdout(&out).contains("Checked 1 ELF file"), "{runtime}");
    }
}

#[test]
fn a_cxx_library_needing_glibcxx_3_4_29_fails_on_debian_11() {
    let layer = Layer::new();
    let so = layer.compile(
        "g++",
        "python/fmt/_fmt.so",
        r#"
#include <charconv>
extern "C" int fmt(char *buf, int len, double v) {
  auto r = std::to_chars(buf, buf + len, v);
  return (int)(r.ptr - buf);
}
"#,
        &["-std=c++17"],
    );
    // std::to_chars(double) arrived in GCC 11's libstdc++ (GLIBCXX_3.4.29); Debian 11 has GCC 10.
    assert!(
        required_versions(&so).contains(&"GLIBCXX_3.4.29".to_string()),
        "premise: {:?}",
        required_versions(&so)
    );
    let zip = layer.pack("layer.zip");
    let out = check(&zip, "python3.12", &[]);
    assert_fails(
        &out,
        &[
            "FAIL  python/fmt/_fmt.so: needs GLIBCXX_3.4.29 (libstdc++.so.6); the runtime has GLIBCXX 3.4.28",
        ],
    );
    assert_passes(&check(&zip, "custom.debian12", &[]));
}

#[test]
fn a_missing_library_fails_until_the_layer_carries_it_in_lib() {
    let layer = Layer::new();
    let src = layer.src();
    // Build the dependency outside the layer first, to link against.
    std::fs::write(src.join("there.c"), "int there(void) { return 1; }\n").unwrap();
    let dep = src.join("libnotthere.so.1");
    assert!(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libnotthere.so.1", "-o"])
            .arg(&dep)
            .arg(src.join("there.c"))
            .status()
            .unwrap()
            .success()
    );
    let link = format!("-L{}", src.display());
    layer.compile(
        "gcc",
        "lib/libneeds.so",
        "int there(void);\nint use(void) { return there(); }\n",
        &[&link, "-l:libnotthere.so.1"],
    );
    let zip = layer.pack("missing.zip");
    let out = check(&zip, "python3.9", &[]);
    assert_fails(
        &out,
        &[
            "FAIL  lib/libneeds.so: needs libnotthere.so.1, not found (looked in /opt/lib, \
             the runtime's libraries (Debian 9))",
            "put the missing libraries in the layer's lib/",
        ],
    );

    layer.write("lib/libnotthere.so.1", &std::fs::read(&dep).unwrap());
    let zip = layer.pack("present.zip");
    let out = check(&zip, "python3.9", &[]);
    assert_passes(&out);
    assert!(stdout(&out).contains("Checked 2 ELF files"));
}

#[test]
fn a_runpath_origin_folder_beside_the_package_satisfies_its_needs() {
    let layer = Layer::new();
    let dep = layer.compile(
        "gcc",
        "python/foo.libs/libnotthere.so.1",
        "int there(void) { return 1; }\n",
        &["-Wl,-soname,libnotthere.so.1"],
    );
    let libs = format!("-L{}", dep.parent().unwrap().display());
    let ext = layer.compile(
        "gcc",
        "python/foo/_ext.so",
        "int there(void);\nint use(void) { return there(); }\n",
        &[
            &libs,
            "-l:libnotthere.so.1",
            "-Wl,-rpath,$ORIGIN/../foo.libs",
        ],
    );
    // Debian 12's linker writes DT_RUNPATH (new dtags), as auditwheel-repaired wheels have.
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&ext)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dynamic.stdout).contains("RUNPATH"));

    let zip = layer.pack("with-libs.zip");
    assert_passes(&check(&zip, "python3.9", &[]));

    layer.remove("python/foo.libs/libnotthere.so.1");
    let zip = layer.pack("without-libs.zip");
    assert_fails(
        &check(&zip, "python3.9", &[]),
        &["needs libnotthere.so.1", "/opt/python/foo.libs"],
    );
}

#[test]
fn an_aarch64_library_fails_on_x86_64_and_passes_for_linux_arm64() {
    let layer = Layer::new();
    layer.write("lib/libarm.so", &synth::Spec::aarch64().build());
    let zip = layer.pack("layer.zip");
    let out = check(&zip, "python3.9", &[]);
    assert_fails(
        &out,
        &[
            "FAIL  lib/libarm.so: aarch64 ELF in an x86_64 runtime",
            "build on the runtime's image for linux/amd64 (`fclayer build --runtime python3.9`)",
        ],
    );
    let out = check(&zip, "python3.9", &["--platform", "linux/arm64"]);
    assert_passes(&out);
    assert!(stdout(&out).contains("FC runtimes are x86_64"));
}

#[test]
fn an_x86_64_library_in_an_arm64_layer_fails_for_linux_arm64() {
    // The mirror image of the case above, built by the host's own compiler: what an x86_64
    // laptop would ship by mistake in a layer for an ARM runtime.
    let layer = Layer::new();
    layer.compile("gcc", "lib/libhost.so", OLD_GLIBC, &[]);
    let zip = layer.pack("layer.zip");
    let out = check(&zip, "custom.debian12", &["--platform", "linux/arm64"]);
    assert_fails(
        &out,
        &["lib/libhost.so", "x86_64 ELF in an aarch64 runtime"],
    );
    assert_passes(&check(&zip, "custom.debian12", &[]));
}

#[test]
fn a_wheel_tagged_for_a_newer_glibc_fails_on_debian_9_and_passes_on_debian_12() {
    let layer = Layer::new();
    layer.write(
        "python/foo-1.0.dist-info/WHEEL",
        b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.43.0)\nRoot-Is-Purelib: false\n\
          Tag: cp39-cp39-manylinux_2_28_x86_64\n",
    );
    layer.write("python/foo/__init__.py", b"");
    let zip = layer.pack("layer.zip");
    let out = check(&zip, "python3.9", &[]);
    assert_fails(
        &out,
        &[
            "FAIL  python/foo-1.0.dist-info/WHEEL: wheel foo-1.0 (tag cp39-cp39-manylinux_2_28_x86_64): \
             needs glibc 2.28, the runtime has glibc 2.24",
            "supports glibc 2.24",
        ],
    );
    assert_passes(&check(&zip, "custom.debian12", &[]));
}

#[test]
fn json_reports_are_data_on_stdout_and_still_fail() {
    let layer = Layer::new();
    layer.compile("gcc", "lib/libnew.so", NEW_GLIBC, &[]);
    layer.compile("gcc", "lib/libold.so", OLD_GLIBC, &[]);
    let zip = layer.pack("layer.zip");
    let out = check(&zip, "python3.10", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["passed"], false);
    assert_eq!(v["elf_checked"], 2);
    assert_eq!(v["target"]["runtime"], "python3.10");
    assert_eq!(v["target"]["glibc"], "2.28");
    let files = v["files"].as_array().unwrap();
    let new = files.iter().find(|f| f["path"] == "lib/libnew.so").unwrap();
    assert_eq!(new["machine"], "x86_64");
    assert_eq!(new["needed"][0], "libc.so.6");
    assert_eq!(new["requires"]["glibc"], "2.34");
    assert_eq!(new["findings"][0]["kind"], "version_too_new");
    assert_eq!(new["findings"][0]["needs"], "2.34");
    let old = files.iter().find(|f| f["path"] == "lib/libold.so").unwrap();
    assert_eq!(old["findings"].as_array().unwrap().len(), 0);

    let out = check(&zip, "custom.debian12", &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["passed"], true);
}

#[test]
fn bad_runtime_platform_or_file_is_bad_input() {
    let layer = Layer::new();
    layer.write("python/a.py", b"");
    let zip = layer.pack("layer.zip");

    let out = check(&zip, "python2.7", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown runtime `python2.7`"));
    assert!(stderr(&out).contains("valid runtimes:"));

    let out = check(&zip, "python3.9", &["--platform", "linux/s390x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown platform `linux/s390x`"));

    let out = check(&layer.tmp.path().join("nothere.zip"), "python3.9", &[]);
    assert_eq!(out.status.code(), Some(2));

    let not_zip = layer.tmp.path().join("not.zip");
    std::fs::write(&not_zip, b"hello").unwrap();
    let out = check(&not_zip, "python3.9", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a readable ZIP"));

    // A layer with no native code passes, and says what it looked at.
    let out = check(&zip, "python3.9", &[]);
    assert_passes(&out);
    assert!(stdout(&out).contains("Checked 0 ELF files and 0 wheels among "));
}
