//! End to end, against a real Docker engine and real PyPI/npm: byte-code and `--slim`.
//!
//! - A Python layer carries hash-based byte-code for the runtime's Python, and a read-only /opt
//!   (FC's) imports from it instead of compiling; `--no-bytecode` ships none.
//! - `fclayer inspect` names the byte-code's Python; `fclayer check` warns for another runtime.
//! - `--slim` removes what it reports, strips only what no tool patched, and the layer loads.
//! - The strip pitfall: slim.py, run in the build image with a library passed through
//!   `patchelf --set-rpath` and one in a `*.libs/` folder, leaves both byte for byte as they were
//!   and strips the untouched copy, which still loads.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// Unpack the layer into a host folder and run `cmd` in a fresh container of `image` with that
/// folder as a read-only /opt and a read-only root, no network: what FC gives a function.
fn run_read_only(image: &str, zip: &Path, env: &[&str], cmd: &[&str]) -> Output {
    let dir = tempdir();
    tar::Archive::new(&zip_to_tar(zip)[..])
        .unpack(dir.path())
        .expect("unpack the layer");
    let mount = format!("{}:/opt:ro", dir.path().display());
    let mut args = vec![
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        "--label",
        "fclayer-test=1",
        "-v",
        &mount,
    ];
    for e in env {
        args.extend(["-e", e]);
    }
    args.push(image);
    args.extend_from_slice(cmd);
    let out = Command::new("docker")
        .args(&args)
        .output()
        .expect("docker run");
    eprintln!(
        "read-only run: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Unpack the layer, delete its byte-code and compile it again with images/install/bytecode.py
/// in a fresh container of `image`, `jobs` processes at a time: CRC-32 of every .pyc, by path.
fn recompile(image: &str, zip: &Path, jobs: &str) -> std::collections::BTreeMap<String, u32> {
    let dir = tempdir();
    tar::Archive::new(&zip_to_tar(zip)[..])
        .unpack(dir.path())
        .expect("unpack the layer");
    let opt = format!("{}:/opt", dir.path().display());
    let install = format!(
        "{}:/fclayer/install:ro",
        repo().join("images/install").display()
    );
    let script = format!(
        "find /opt/python -name __pycache__ -prune -exec rm -rf {{}} + && \
         python3.9 /fclayer/install/bytecode.py /opt/python {jobs} >&2 && \
         python3.9 -c 'import os, zlib; [print(os.path.relpath(os.path.join(t, f), \"/opt\"), \
         zlib.crc32(open(os.path.join(t, f), \"rb\").read())) for t, _, fs in os.walk(\"/opt\") \
         for f in fs if f.endswith(\".pyc\")]'"
    );
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--label",
            "fclayer-test=1",
        ])
        .args(["-v", &opt, "-v", &install, image, "sh", "-c", &script])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "bytecode.py with {jobs} process(es) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (path, crc) = line.rsplit_once(' ').expect("path crc");
            (path.to_string(), crc.parse().expect("crc"))
        })
        .collect()
}

fn pyc_names(zip: &Path) -> Vec<String> {
    zip_names(zip)
        .into_iter()
        .filter(|n| n.ends_with(".pyc"))
        .collect()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn byte_code_is_the_runtimes_hash_based_and_used_from_a_read_only_opt() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\nidna==3.7\nlxml==5.3.0\n");
    let zip = tmp.path().join("layer.zip");
    let out = Build::python(&project).arg("--no-cache").out(&zip).run();
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("byte-code:") && stderr(&out).contains("Python 3.9"),
        "the build does not say what it compiled: {}",
        stderr(&out)
    );

    // Every source file has its byte-code beside it, where Python 3.9 looks.
    let names = zip_names(&zip);
    let sources: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("python/idna/") && n.ends_with(".py"))
        .collect();
    assert!(!sources.is_empty());
    for py in sources {
        let (dir, file) = py.rsplit_once('/').unwrap();
        let pyc = format!(
            "{dir}/__pycache__/{}.cpython-39.pyc",
            file.trim_end_matches(".py")
        );
        assert!(names.contains(&pyc), "{py} has no {pyc}");
    }

    // inspect reads the magic numbers; check warns when they are not the runtime's Python.
    let inspected = run(fclayer().arg("inspect").arg(&zip).arg("--json"));
    let report: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let bc = &report["bytecode"];
    assert_eq!(bc["files"], bc["pythons"]["3.9"], "{bc}");
    assert_eq!(bc["files"], bc["hash_based"], "{bc}");
    assert!(bc["files"].as_u64().unwrap() > 10, "{bc}");
    let text = stdout(&run(fclayer().arg("inspect").arg(&zip)));
    assert!(text.contains("byte-code Python 3.9"), "{text}");
    let same = run(fclayer()
        .args(["check", "--runtime", "python3.9"])
        .arg(&zip));
    assert!(same.status.success());
    assert!(
        !stdout(&same).contains("byte-code for Python"),
        "{}",
        stdout(&same)
    );
    let other = run(fclayer()
        .args(["check", "--runtime", "custom.debian12"])
        .arg(&zip));
    assert!(
        stdout(&other)
            .contains("are byte-code for Python 3.9, but custom.debian12 runs Python 3.11"),
        "no warning for byte-code of another Python: {}",
        stdout(&other)
    );

    // From a read-only /opt, Python 3.9 takes the code objects from the layer's .pyc files
    // (`-v` says where each module's code came from) and the imports work.
    let image = newest_image("fclayer/build-python3.9");
    let loaded = run_read_only(
        &image,
        &zip,
        &["PYTHONPATH=/opt/python"],
        &[
            "python3.9",
            "-v",
            "-c",
            "import six, idna, lxml.etree; print(idna.encode('ドメイン.テスト'))",
        ],
    );
    assert!(
        loaded.status.success(),
        "imports failed from a read-only /opt"
    );
    let log = String::from_utf8_lossy(&loaded.stderr);
    assert!(
        log.contains("code object from '/opt/python/idna/__pycache__/core.cpython-39.pyc'"),
        "idna.core was not loaded from its byte-code"
    );
    assert!(
        !log.contains("could not create '/opt/python"),
        "Python tried to write byte-code: some .pyc is missing or not accepted"
    );

    // The bytes do not depend on how many processes compile: bytecode.py run again on the same
    // sources in the same image with 1 process and with 5 gives the layer's .pyc byte for byte.
    let layer_pycs = pyc_crcs(&zip);
    for jobs in ["1", "5"] {
        assert_eq!(
            recompile(&image, &zip, jobs),
            layer_pycs,
            "byte-code compiled with {jobs} process(es) differs from the layer's"
        );
    }

    // --no-bytecode: no .pyc at all (none of these wheels ships any).
    let plain = tmp.path().join("plain.zip");
    let out = Build::python(&project)
        .arg("--no-bytecode")
        .out(&plain)
        .run();
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    assert_eq!(pyc_names(&plain), Vec::<String>::new());
    let text = stdout(&run(fclayer().arg("inspect").arg(&plain)));
    assert!(text.contains("byte-code none"), "{text}");
    assert!(fclayer_containers().is_empty(), "containers left behind");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn bytecode_false_in_the_project_file_ships_none() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let deps = python_project(&tmp.path().join("deps"), "six==1.16.0\n");
    assert!(deps.ends_with("deps/project"));
    std::fs::write(
        tmp.path().join("fclayer.toml"),
        "[[layer]]\nname = \"deps\"\nruntime = \"python3.9\"\nsource = \"deps/project\"\nbase_image = \"debian:11\"\noutput = \"deps.zip\"\nbytecode = false\n",
    )
    .unwrap();
    let out = Build::project(tmp.path()).run();
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    let zip = tmp.path().join("deps.zip");
    let names = zip_names(&zip);
    assert!(names.contains(&"python/six.py".to_string()), "{names:?}");
    assert_eq!(pyc_names(&zip), Vec::<String>::new());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn slim_removes_what_it_reports_strips_unpatched_debug_info_and_still_loads() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    // numpy: tests/ folders, *.pyi stubs and auditwheel's numpy.libs (patched: never stripped).
    // markupsafe from source: Debian's Python compiles extensions with -g, so its _speedups
    // carries debug sections that --strip-debug may remove.
    let project = python_project(
        tmp.path(),
        "numpy==2.0.2\n--no-binary markupsafe\nmarkupsafe==2.1.5\n",
    );
    let full = tmp.path().join("full.zip");
    let slim = tmp.path().join("slim.zip");
    let out = Build::python(&project).out(&full).run();
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    let out = Build::python(&project).arg("--slim").out(&slim).run();
    let err = stderr(&out);
    assert!(out.status.success(), "slim build failed: {err}");
    assert!(
        err.contains("python-tests:") && err.contains("python-stubs:"),
        "{err}"
    );
    assert!(
        err.contains("strip-debug: 1 files"),
        "markupsafe was not stripped: {err}"
    );
    assert!(
        err.contains("the slim layer loads"),
        "no load check ran: {err}"
    );

    let (full_names, slim_names) = (zip_names(&full), zip_names(&slim));
    assert!(
        full_names
            .iter()
            .any(|n| n.starts_with("python/numpy/_core/tests/"))
    );
    assert!(
        !slim_names.iter().any(|n| n.contains("/tests/")),
        "a tests/ folder is left"
    );
    assert!(
        !slim_names.iter().any(|n| n.ends_with(".pyi")),
        "a stub is left"
    );
    assert!(full_names.iter().any(|n| n.ends_with("/ndarrayobject.h")));
    assert!(
        !slim_names.iter().any(|n| n.ends_with(".h")),
        "a C header is left"
    );
    // numpy.testing is reachable from numpy's own __init__: it stays.
    assert!(
        slim_names
            .iter()
            .any(|n| n.starts_with("python/numpy/testing/"))
    );
    // The vendored, patched OpenBLAS is in both, byte for byte.
    let blas = |zip: &Path| -> (String, u32) {
        let name = zip_names(zip)
            .into_iter()
            .find(|n| n.starts_with("python/numpy.libs/libscipy_openblas"))
            .unwrap();
        let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        let crc = z.by_name(&name).unwrap().crc32();
        (name, crc)
    };
    assert_eq!(blas(&full), blas(&slim), "numpy.libs was modified");
    assert!(
        std::fs::metadata(&slim).unwrap().len() < std::fs::metadata(&full).unwrap().len(),
        "slim is not smaller"
    );
    // The manifest records what --slim removed, rule by rule, and the byte-code; the full
    // layer's records no slimming.
    let read_manifest = |zip: &Path| -> serde_json::Value {
        let path = fclayer::manifest::path_for(zip);
        serde_json::from_slice(&std::fs::read(&path).expect("manifest beside the ZIP")).unwrap()
    };
    let (full_manifest, slim_manifest) = (read_manifest(&full), read_manifest(&slim));
    assert!(full_manifest.get("slim").is_none(), "{full_manifest}");
    let record = &slim_manifest["slim"];
    assert!(
        record["rules"]["python-tests"]["files"].as_u64().unwrap() > 10,
        "{record}"
    );
    assert_eq!(record["rules"]["strip-debug"]["files"], 1, "{record}");
    // Every byte removed is some rule's.
    let rules: u64 = record["rules"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(rules, record["removed"].as_u64().unwrap(), "{record}");
    assert!(
        record["not_stripped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("numpy.libs/")),
        "{record}"
    );
    for manifest in [&full_manifest, &slim_manifest] {
        assert!(
            manifest["bytecode"]
                .as_str()
                .unwrap()
                .contains("Python 3.9"),
            "{manifest}"
        );
    }

    let image = newest_image("fclayer/build-python3.9");
    let loaded = run_read_only(
        &image,
        &slim,
        &["PYTHONPATH=/opt/python"],
        &[
            "python3.9",
            "-c",
            "import numpy, markupsafe, markupsafe._speedups; print(numpy.linalg.inv(numpy.eye(3)).sum(), markupsafe.escape('<a>'))",
        ],
    );
    assert!(loaded.status.success(), "the slim layer does not import");
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("3.0 &lt;a&gt;"));
    assert!(fclayer_containers().is_empty(), "containers left behind");
}

/// The pitfall of aws-sdk-pandas #884: strip on a patchelf'ed library breaks its load. slim.py
/// runs here in the build image with its own strip and patchelf from Debian's mirror.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn slim_never_strips_a_library_patchelf_modified_or_vendored_in_a_libs_folder() {
    require_engine_and(&[PYTHON_BASE]);
    // The image exists once any python3.9 build ran; build one if not.
    let tmp = tempdir();
    if docker(&["images", "-q", "fclayer/build-python3.9"])
        .trim()
        .is_empty()
    {
        let project = python_project(tmp.path(), "six==1.16.0\n");
        let out = Build::python(&project).out(tmp.path().join("x.zip")).run();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let image = newest_image("fclayer/build-python3.9");
    let script = std::fs::read_to_string(repo().join("images/install/slim.py")).unwrap();
    std::fs::write(tmp.path().join("slim.py"), script).unwrap();
    let body = r#"set -e
apt-get update -qq >/dev/null && apt-get install -y -qq patchelf >/dev/null
mkdir -p /opt/python/pkg /opt/python/pkg.libs /opt/python/patched
printf 'int answer(void) { return 42; }\n' >/tmp/a.c
gcc -g -O1 -shared -fPIC -o /opt/python/pkg/libplain.so /tmp/a.c
cp /opt/python/pkg/libplain.so /opt/python/pkg.libs/libvendored.so
cp /opt/python/pkg/libplain.so /opt/python/patched/libpatched.so
patchelf --set-rpath '$ORIGIN/a/very/long/run/path/that/does/not/fit/in/the/old/dynstr/at/all' /opt/python/patched/libpatched.so
sha256sum /opt/python/pkg.libs/libvendored.so /opt/python/patched/libpatched.so >/tmp/before
size_before=$(stat -c %s /opt/python/pkg/libplain.so)
python3.9 /work/slim.py /opt cpython-39
sha256sum -c /tmp/before
echo "plain: $size_before -> $(stat -c %s /opt/python/pkg/libplain.so)"
for f in /opt/python/pkg/libplain.so /opt/python/pkg.libs/libvendored.so /opt/python/patched/libpatched.so; do
  python3.9 -c "import ctypes, sys; print('loads', sys.argv[1], ctypes.CDLL(sys.argv[1]).answer())" "$f"
done
"#;
    std::fs::write(tmp.path().join("t.sh"), body).unwrap();
    let mount = format!("{}:/work:ro", tmp.path().display());
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--label",
            "fclayer-test=1",
            "-v",
            &mount,
            &image,
            "sh",
            "/work/t.sh",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("libvendored.so: OK") && text.contains("libpatched.so: OK"),
        "{text}"
    );
    assert!(
        text.contains("not stripped: python/pkg.libs/libvendored.so: in a *.libs folder"),
        "{text}"
    );
    assert!(
        text.contains("not stripped: python/patched/libpatched.so:"),
        "the patchelf'ed copy was not recognised: {text}"
    );
    assert!(
        text.contains("strip-debug 1 "),
        "the plain copy was not stripped: {text}"
    );
    let plain = text
        .lines()
        .find_map(|l| l.strip_prefix("plain: "))
        .unwrap();
    let (before, after) = plain.split_once(" -> ").unwrap();
    assert!(
        after.trim().parse::<u64>().unwrap() < before.trim().parse::<u64>().unwrap(),
        "{plain}"
    );
    assert_eq!(
        text.matches(" 42").count(),
        3,
        "a library does not load: {text}"
    );
}

/// CRC-32 of every .pyc in the layer, by path.
fn pyc_crcs(zip: &Path) -> std::collections::BTreeMap<String, u32> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    pyc_names(zip)
        .into_iter()
        .map(|n| {
            let crc = z.by_name(&n).unwrap().crc32();
            (n, crc)
        })
        .collect()
}

/// A linux/arm64 layer fetched natively on this x86_64 host: the fetch image's python3 is Debian
/// 12's 3.11, custom.debian12's own version, so it compiles natively. With a fetch image on
/// Debian 11 (python3 is 3.9) the byte-code is compiled under emulation in the target's build
/// image instead, and comes out byte for byte the same.
#[test]
#[ignore = "needs a Docker engine, QEMU binfmt and base images: run `make test`"]
fn cross_builds_carry_byte_code_of_the_runtimes_python() {
    require_engine_and(&["debian:12-arm64", "debian:12", "debian:11"]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\nidna==3.7\n");
    let native = tmp.path().join("native.zip");
    let out = Build::on("custom.debian12", "debian:12-arm64", &project)
        .args(["--platform", "linux/arm64", "--no-cache"])
        .out(&native)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Compiling byte-code"),
        "{}",
        stderr(&out)
    );
    let emulated = tmp.path().join("emulated.zip");
    let out = Build::on("custom.debian12", "debian:12-arm64", &project)
        .args([
            "--platform",
            "linux/arm64",
            "--no-cache",
            "--native-base",
            "debian:11",
        ])
        .out(&emulated)
        .run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Compiling byte-code under emulation"), "{err}");
    for zip in [&native, &emulated] {
        let report: serde_json::Value =
            serde_json::from_slice(&run(fclayer().arg("inspect").arg(zip).arg("--json")).stdout)
                .unwrap();
        let bc = &report["bytecode"];
        // six.py and idna's 8 modules.
        assert!(bc["files"].as_u64().unwrap() >= 9, "{bc}");
        assert_eq!(bc["files"], bc["pythons"]["3.11"], "{bc}");
    }
    assert_eq!(
        pyc_crcs(&native),
        pyc_crcs(&emulated),
        "native and emulated byte-code differ"
    );
    assert!(fclayer_containers().is_empty(), "containers left behind");
}

/// A Node.js layer with an addon compiled by node-gyp through node-pre-gyp (bcrypt: no prebuilt
/// binary is reachable here): --slim drops the build folder once the addon is in place, and the
/// addon still hashes and verifies.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn slim_node_layer_drops_node_pre_gyp_leftovers_and_the_addon_still_works() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = tmp.path().join("api");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{ "name": "api", "version": "1.0.0", "dependencies": { "bcrypt": "5.1.1" } }"#,
    )
    .unwrap();
    let zip = tmp.path().join("slim.zip");
    let out = Build::on("nodejs18", "debian:12", &project)
        .arg("--slim")
        .out(&zip)
        .run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("node-pre-gyp-staging:"), "{err}");
    let names = zip_names(&zip);
    assert!(
        !names.iter().any(|n| n.contains("/build-tmp-napi-")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("bcrypt/lib/binding/napi-v3/bcrypt_lib.node"))
    );
    let image = newest_image("fclayer/build-nodejs18");
    let out = run_read_only(
        &image,
        &zip,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &[
            "node",
            "-e",
            "const b = require('bcrypt'); console.log(b.compareSync('x', b.hashSync('x', 4)))",
        ],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
}
