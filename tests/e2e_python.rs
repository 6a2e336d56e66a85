//! End to end, against a real Docker engine and real PyPI: Python layers built the way a user
//! builds them, then loaded in a fresh container that has none of the packages.
//!
//! FC's python3.9 runtime is Debian 9; no Debian 9 image can be fetched here, so these build
//! python3.9 layers on a local Debian 11 base (`--base-image debian:11`, which ships Python 3.9),
//! with pip capped at Debian 9's glibc 2.24.

mod common;

use std::io::Read;

use common::*;

const BASE: &str = PYTHON_BASE;

fn build(project: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Build::python(project).args(extra).out(out).run()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn python39_layer_of_numpy_lxml_requests_imports_in_a_fresh_container() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let out_zip = tmp.path().join("layer.zip");
    let out = build(&repo().join("examples/python"), &out_zip, &[]);
    assert!(out.status.success(), "build failed: {}", stderr(&out));

    let names = zip_names(&out_zip);
    assert!(
        names.iter().all(|n| n.starts_with("python/")),
        "entries outside python/"
    );
    assert!(names.contains(&"python/numpy/__init__.py".to_string()));
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("python/lxml/etree.cpython-39-x86_64-linux-gnu"))
    );
    assert!(names.iter().any(|n| n.starts_with("python/requests/")));
    // Byte-code is on by default: every .pyc is the build's own, for Python 3.9, and each sits
    // beside its source (a wheel's own .pyc for 3.9 was replaced, see images/install/bytecode.py).
    let compiled: Vec<&String> = names.iter().filter(|n| n.ends_with(".pyc")).collect();
    assert!(
        compiled.len() > 100,
        "too little byte-code: {}",
        compiled.len()
    );
    for pyc in &compiled {
        assert!(
            pyc.contains("/__pycache__/") && pyc.ends_with(".cpython-39.pyc"),
            "{pyc}"
        );
    }
    let err = stderr(&out);
    assert!(
        err.contains("sha256 ") && err.contains("crc64 "),
        "no digests printed: {err}"
    );
    assert!(
        fclayer_containers().is_empty(),
        "containers left behind: {:?}",
        fclayer_containers()
    );

    // A fresh container of the build image: Python 3.9, none of these packages.
    let image = newest_image("fclayer/build-python3.9");
    let bare = run_with_layer(&image, &out_zip, &[], &["python3.9", "-c", "import numpy"]);
    assert!(
        !bare.status.success(),
        "numpy importable without the layer: the test proves nothing"
    );
    let loaded = run_with_layer(
        &image,
        &out_zip,
        &["PYTHONPATH=/opt/python"],
        &[
            "python3.9",
            "-c",
            "import numpy, lxml.etree, requests; print('numpy', numpy.__version__, numpy.__file__); print('lxml', lxml.etree.LXML_VERSION); print(numpy.arange(6).reshape(2, 3).sum())",
        ],
    );
    assert!(
        loaded.status.success(),
        "imports failed: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let text = String::from_utf8_lossy(&loaded.stdout);
    assert!(text.contains("/opt/python/numpy/__init__.py"), "{text}");
    assert!(
        text.lines().any(|l| l.trim() == "15"),
        "numpy computed wrong: {text}"
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn two_builds_in_fresh_containers_give_identical_bytes() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\nidna==3.7\nlxml==5.3.0\n");
    let a = tmp.path().join("a.zip");
    let b = tmp.path().join("b.zip");
    // --no-cache: both layers come out of their own fresh container, not the build cache.
    let first = build(&project, &a, &["--no-cache"]);
    assert!(first.status.success());
    assert!(stderr(&first).contains("Installing"), "no container ran");
    // A different time zone must not matter either.
    let out = Build::python(&project)
        .env("TZ", "Asia/Shanghai")
        .arg("--no-cache")
        .out(&b)
        .run();
    assert!(out.status.success());
    assert!(stderr(&out).contains("Installing"), "no container ran");
    // The contract covers the byte-code too: both layers carry it, compiled in their own
    // container, and still no byte differs.
    let pyc = zip_names(&a).iter().filter(|n| n.ends_with(".pyc")).count();
    assert!(
        pyc > 20,
        "the layer carries no byte-code to compare: {pyc} .pyc files"
    );
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a.len() > 1_000_000, "suspiciously small layer");
    assert!(a == b, "two builds of the same requirements differ");
}

/// The build container's /opt is a tmpfs (a quarter of the engine's memory; FCLAYER_OPT_MEMORY
/// caps it): a layer built there, one built with /opt on disk (FCLAYER_OPT_ON_DISK=1) and one
/// that outgrew a tiny cap and ran again on disk are the same bytes, and the overflow is said.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn opt_in_memory_on_disk_and_after_outgrowing_memory_give_the_same_bytes() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\nidna==3.7\n");
    let zips: Vec<_> = ["memory", "disk", "outgrown"]
        .iter()
        .map(|how| tmp.path().join(format!("{how}.zip")))
        .collect();
    let memory = Build::python(&project)
        .arg("--no-cache")
        .out(&zips[0])
        .run();
    assert!(memory.status.success(), "{}", stderr(&memory));
    assert!(!stderr(&memory).contains("outgrew"), "{}", stderr(&memory));
    let disk = Build::python(&project)
        .arg("--no-cache")
        .env("FCLAYER_OPT_ON_DISK", "1")
        .out(&zips[1])
        .run();
    assert!(disk.status.success(), "{}", stderr(&disk));
    // idna alone unpacks to more than 64 kB: the install fails for room, and runs again on disk.
    let outgrown = Build::python(&project)
        .arg("--no-cache")
        .env("FCLAYER_OPT_MEMORY", "64k")
        .out(&zips[2])
        .run();
    let err = stderr(&outgrown);
    assert!(outgrown.status.success(), "{err}");
    assert!(
        err.contains("the layer outgrew the memory-backed /opt (65.5 kB)")
            && err.contains("once more with /opt on the container's disk"),
        "{err}"
    );
    let bytes: Vec<Vec<u8>> = zips.iter().map(|z| std::fs::read(z).unwrap()).collect();
    assert!(bytes[0].len() > 100_000, "suspiciously small layer");
    assert!(bytes[0] == bytes[1], "in memory and on disk differ");
    assert!(bytes[0] == bytes[2], "the rerun on disk differs");
    assert!(fclayer_containers().is_empty(), "containers left behind");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn missing_package_shows_the_installers_exit_code_and_log_tail() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six\nfclayer-no-such-package-4f9a1c==1.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = build(&project, &out_zip, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // uv is the default installer; the error names it, and the requirement it could not find.
    assert!(
        err.contains("uv ") && err.contains(" (python3.9) failed (exit code 1)"),
        "{err}"
    );
    assert!(
        err.contains("(no usable distribution or build for fclayer-no-such-package-4f9a1c"),
        "the message does not name the requirement: {err}"
    );
    assert!(
        err.contains("| ") && err.contains("fclayer-no-such-package-4f9a1c"),
        "no log tail: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!out_zip.exists());
    assert!(fclayer_containers().is_empty(), "containers left behind");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "files left beside the output: {leftovers:?}"
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn extra_ca_reaches_pip_but_never_the_layer() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    // The host bundle holds the intercepting proxy's CA; without it pip cannot reach PyPI here.
    let marker = format!("fclayer-ca-marker-{}", std::process::id());
    let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
    bundle.extend_from_slice(format!("\n# {marker}\n").as_bytes());
    let ca = tmp.path().join("corp-ca.pem");
    std::fs::write(&ca, &bundle).unwrap();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::python(&project)
        .env_remove("SSL_CERT_FILE")
        .arg("--ca-cert")
        .arg(&ca)
        .out(&out_zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out_zip).unwrap()).unwrap();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert!(
            !data.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "the CA bundle leaked into {}",
            f.name().unwrap()
        );
    }
    assert!(!stderr(&out).contains(&marker));
}
