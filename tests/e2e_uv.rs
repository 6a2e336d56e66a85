//! End to end, against a real Docker engine and real PyPI: uv as the Python installer.
//!
//! - `--installer pip` (here through fclayer.toml's `installer`) still builds a layer that imports.
//! - The glibc cap holds with uv: python3.9 is Debian 9 (glibc 2.24) while the build runs on
//!   Debian 11 (2.31), and uv has no manylinux_2_24 target: a wheel that exists only as
//!   manylinux_2_28 is never taken (an older manylinux2014 one is), and alone it fails clearly.
//! - uv's download cache lives in fclayer's cache volume: a second build downloads nothing.
//! - pip's PIP_INDEX_URL reaches uv: PyPI's simple index named that way builds, a bogus one
//!   fails with a clear error.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::*;
use sha2::{Digest, Sha256};

/// A pure-Python wheel `fclayer_glibc-VERSION-py3-none-TAG.whl` in `dir`, as a wheelhouse
/// holds one: it imports as `fclayer_glibc` and says its version.
fn wheel(dir: &Path, version: &str, tag: &str) {
    let dist = format!("fclayer_glibc-{version}.dist-info");
    let files = [
        (
            "fclayer_glibc/__init__.py".to_string(),
            format!("VERSION = '{version}'\n"),
        ),
        (
            format!("{dist}/METADATA"),
            format!("Metadata-Version: 2.1\nName: fclayer-glibc\nVersion: {version}\n"),
        ),
        (
            format!("{dist}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: fclayer-test\nRoot-Is-Purelib: false\nTag: py3-none-{tag}\n"
            ),
        ),
    ];
    let mut record = String::new();
    let path = dir.join(format!("fclayer_glibc-{version}-py3-none-{tag}.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for (name, body) in &files {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
        let digest = base64_urlsafe(&Sha256::digest(body.as_bytes()));
        record.push_str(&format!("{name},sha256={digest},{}\n", body.len()));
    }
    record.push_str(&format!("{dist}/RECORD,,\n"));
    zip.start_file(format!("{dist}/RECORD"), opts).unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
}

/// RECORD's hash encoding: urlsafe base64 without padding.
fn base64_urlsafe(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn read_entry(zip: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut z.by_name(name).expect(name), &mut text).unwrap();
    text
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn uv_never_takes_a_wheel_for_a_newer_glibc_than_the_runtimes() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    // Only a local wheelhouse, no index: 1.0 exists only for glibc 2.28, 0.9 for 2.17.
    let project = python_project(
        tmp.path(),
        "--no-index\n--find-links ./wheelhouse\nfclayer-glibc\n",
    );
    let house = project.join("wheelhouse");
    std::fs::create_dir_all(&house).unwrap();
    wheel(&house, "1.0", "manylinux_2_28_x86_64");
    wheel(&house, "0.9", "manylinux_2_17_x86_64");
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::python(&project).out(&out_zip).run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Installing with uv "), "{err}");
    let names = zip_names(&out_zip);
    assert!(
        names.contains(&"python/fclayer_glibc-0.9.dist-info/METADATA".to_string()),
        "uv took the manylinux_2_28 wheel for Debian 9: {names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("fclayer_glibc-1.0")));
    assert!(
        !names.iter().any(|n| n.ends_with("/.lock")),
        "uv's lock file is in the layer"
    );
    assert_eq!(
        read_entry(&out_zip, "python/fclayer_glibc-0.9.dist-info/INSTALLER").trim(),
        "uv"
    );

    // 1.0 alone: refused with the requirement named, and nothing written.
    std::fs::write(
        project.join("requirements.txt"),
        "--no-index\n--find-links ./wheelhouse\nfclayer-glibc==1.0\n",
    )
    .unwrap();
    let refused = tmp.path().join("refused.zip");
    let out = Build::python(&project).out(&refused).run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(no usable distribution or build for fclayer-glibc==1.0"),
        "{err}"
    );
    assert!(err.contains("glibc 2.24"), "the hint names the cap: {err}");
    assert!(!refused.exists());
    assert!(fclayer_containers().is_empty(), "containers left behind");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn pip_is_still_there_when_the_project_file_asks_for_it() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    std::fs::write(
        project.join("fclayer.toml"),
        "[[layer]]\nname = \"six\"\nruntime = \"python3.9\"\ninstaller = \"pip\"\noutput = \"six.zip\"\n",
    )
    .unwrap();
    let out = Build::project(&project).base(PYTHON_BASE).run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Installing with pip (python3.9)"), "{err}");
    let zip = project.join("six.zip");
    assert_eq!(
        read_entry(&zip, "python/six-1.16.0.dist-info/INSTALLER").trim(),
        "pip"
    );
    let manifest = std::fs::read_to_string(project.join("six.manifest.json")).unwrap();
    assert!(
        manifest.contains("python (pip (python3.9))"),
        "the manifest does not name pip: {manifest}"
    );
    let image = newest_image("fclayer/build-python3.9");
    let loaded = run_with_layer(
        &image,
        &zip,
        &["PYTHONPATH=/opt/python"],
        &["python3.9", "-c", "import six; print(six.__version__)"],
    );
    assert!(
        String::from_utf8_lossy(&loaded.stdout).trim() == "1.16.0",
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn uvs_download_cache_is_kept_and_pips_index_url_reaches_uv() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "tomli==2.0.1\n");
    // Start cold for this one package: remove its wheels from uv's cache in fclayer's volume
    // (only them: the volume is shared with other builds).
    let clean = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-v",
            "fclayer-cache-python3.9-amd64:/c",
            PYTHON_BASE,
        ])
        .args(["sh", "-c", "rm -rf /c/uv/wheels-v*/pypi/tomli"])
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", stderr(&clean));
    let build = |out: &str| {
        Build::python(&project)
            .arg("--verbose")
            .arg("--no-cache")
            .env("PIP_INDEX_URL", "https://pypi.org/simple")
            .out(tmp.path().join(out))
            .run()
    };
    let first = build("a.zip");
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("index https://pypi.org/simple"),
        "PIP_INDEX_URL did not reach uv: {err}"
    );
    assert!(
        err.contains("Prepared 1 package"),
        "nothing downloaded: {err}"
    );
    let second = build("b.zip");
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    assert!(
        !err.contains("Prepared "),
        "the second build downloaded again: {err}"
    );
    assert!(err.contains("+ tomli==2.0.1"), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("a.zip")).unwrap(),
        std::fs::read(tmp.path().join("b.zip")).unwrap(),
        "two uv builds gave different bytes"
    );

    // A bogus index through PIP_INDEX_URL: uv uses it (and fails), the error is fclayer's.
    let bogus = Build::python(&project)
        .arg("--no-cache")
        .env("PIP_INDEX_URL", "https://127.0.0.1:9/simple")
        .out(tmp.path().join("c.zip"))
        .run();
    let err = stderr(&bogus);
    assert_eq!(bogus.status.code(), Some(1), "{err}");
    assert!(err.contains("(python3.9) failed"), "{err}");
    assert!(err.contains("127.0.0.1:9"), "the index is not named: {err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!tmp.path().join("c.zip").exists());
    assert!(fclayer_containers().is_empty(), "containers left behind");
}
