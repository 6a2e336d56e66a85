//! Cross-platform builds that fetch for the target natively and emulate only what must be
//! compiled. This host is x86_64, so the mirrored case is tested: target linux/arm64 from a locally
//! bootstrapped arm64 Debian 12, with QEMU binfmt (an ARM laptop building FC's amd64 layers takes
//! the same path). Which containers ran on which platform is read from the engine's events: every
//! container fclayer creates carries a `fclayer.platform` label.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

const ARM_BASE: &str = "debian:12-arm64";

/// Containers fclayer created for `platform` between two Unix times.
fn created_for(platform: &str, since: u64, until: u64) -> usize {
    containers_created(&format!("fclayer.platform={platform}"), since, until)
}

fn build_arm(project: &Path, out: &Path, runtime: &str) -> (std::process::Output, usize, usize) {
    let since = next_second();
    let result = Build::on(runtime, ARM_BASE, project)
        .args(["--platform", "linux/arm64"])
        .out(out)
        .run();
    let until = now() + 1;
    (
        result,
        created_for("linux/arm64", since, until),
        created_for("linux/amd64", since, until),
    )
}

fn verify_arm(zip: &Path, runtime: &str, extra: &[&str]) -> std::process::Output {
    run(fclayer()
        .args([
            "verify",
            "--runtime",
            runtime,
            "--platform",
            "linux/arm64",
            "--base-image",
            ARM_BASE,
        ])
        .args(extra)
        .arg(zip))
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn wheel_only_requirements_for_arm64_start_no_arm64_container() {
    require_engine_and(&[ARM_BASE, "debian:12"]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "numpy\nlxml\n");
    let zip = tmp.path().join("arm.zip");
    let (out, arm, amd) = build_arm(&project, &zip, "custom.debian12");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(arm, 0, "an arm64 container ran for wheel-only requirements");
    assert!(amd >= 1, "the native fetch container is not in the events");
    let err = stderr(&out);
    assert!(
        err.contains("from wheels natively; none built under emulation"),
        "{err}"
    );
    assert!(
        zip_names(&zip)
            .iter()
            .any(|n| n.contains("aarch64-linux-gnu.so")),
        "no aarch64 extension modules in the layer"
    );
    // The build's gate passed for arm64; the layer fails it for FC's x86_64.
    let check = run(fclayer()
        .args(["check", "--runtime", "custom.debian12"])
        .arg(&zip));
    assert_eq!(check.status.code(), Some(1));
    let verified = verify_arm(
        &zip,
        "custom.debian12",
        &["--import", "numpy", "--import", "lxml.etree"],
    );
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).contains("PASS  import   lxml.etree"));
    assert!(fclayer_containers().is_empty());
}

/// A source distribution whose only file of substance is a C extension: no wheel exists for it
/// anywhere, so it must be compiled for the target.
fn c_extension_sdist(dir: &Path) {
    let setup = "from setuptools import setup, Extension\n\
                 setup(name='fclayer-cext', version='1.0', ext_modules=[Extension('fclayer_cext', ['hello.c'])])\n";
    let hello = "#include <Python.h>\n\
                 static PyObject *hello(PyObject *s, PyObject *a) { return PyUnicode_FromString(\"hello from C\"); }\n\
                 static PyMethodDef m[] = {{\"hello\", hello, METH_NOARGS, 0}, {0}};\n\
                 static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"fclayer_cext\", 0, -1, m};\n\
                 PyMODINIT_FUNC PyInit_fclayer_cext(void) { return PyModule_Create(&d); }\n";
    let pkg_info = "Metadata-Version: 2.1\nName: fclayer-cext\nVersion: 1.0\n";
    let file = std::fs::File::create(dir.join("fclayer_cext-1.0.tar.gz")).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in [
        ("setup.py", setup),
        ("hello.c", hello),
        ("PKG-INFO", pkg_info),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, format!("fclayer_cext-1.0/{name}"), body.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn source_only_requirement_is_built_under_emulation_and_the_rest_natively() {
    require_engine_and(&[ARM_BASE, "debian:12"]);
    let tmp = tempdir();
    let project = python_project(
        tmp.path(),
        "--find-links ./wheelhouse\nfclayer-cext==1.0\nsix==1.16.0\n",
    );
    let wheelhouse = project.join("wheelhouse");
    std::fs::create_dir(&wheelhouse).unwrap();
    c_extension_sdist(&wheelhouse);
    let zip = tmp.path().join("mixed.zip");
    let (out, arm, amd) = build_arm(&project, &zip, "custom.debian12");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no aarch64 wheel for fclayer-cext==1.0: building under emulation"),
        "{err}"
    );
    assert!(
        err.contains("1 built under emulation: fclayer-cext==1.0"),
        "{err}"
    );
    assert!(arm >= 1, "nothing ran under emulation");
    assert!(
        amd >= 2,
        "the native install did not run before and after the wheel build"
    );
    let names = zip_names(&zip);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("python/fclayer_cext") && n.contains("aarch64")),
        "{names:?}"
    );
    assert!(names.contains(&"python/six.py".to_string()));

    let verified = verify_arm(
        &zip,
        "custom.debian12",
        &["--import", "fclayer_cext", "--import", "six"],
    );
    assert!(verified.status.success(), "{}", stderr(&verified));
    let ran = run_with_layer(
        &newest_image_for("fclayer/build-custom.debian12", "arm64"),
        &zip,
        &["PYTHONPATH=/opt/python"],
        &[
            "python3",
            "-c",
            "import fclayer_cext; print(fclayer_cext.hello())",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "hello from C");
    assert!(fclayer_containers().is_empty());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn node_per_platform_binaries_natively_and_install_scripts_under_emulation() {
    require_engine_and(&[ARM_BASE, "debian:12"]);
    let tmp = tempdir();
    // esbuild's binary is a per-platform optional package: npm picks @esbuild/linux-arm64.
    let api = tmp.path().join("api");
    std::fs::create_dir(&api).unwrap();
    std::fs::write(
        api.join("package.json"),
        r#"{"name": "api", "version": "1.0.0", "dependencies": {"esbuild": "0.24.0"}}"#,
    )
    .unwrap();
    let zip = tmp.path().join("esbuild.zip");
    let (out, arm, _) = build_arm(&api, &zip, "nodejs18");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        arm, 0,
        "an arm64 container ran for a package with prebuilt binaries"
    );
    let names = zip_names(&zip);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/@esbuild/linux-arm64/")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/@esbuild/linux-x64/"))
    );

    // A package that compiles with node-gyp needs the target: the Node.js install is emulated.
    let native = tmp.path().join("native");
    std::fs::create_dir(&native).unwrap();
    std::fs::write(
        native.join("package.json"),
        r#"{"name": "native", "version": "1.0.0", "dependencies": {"bcrypt": "5.1.1", "esbuild": "0.24.0"}}"#,
    )
    .unwrap();
    let zip2 = tmp.path().join("bcrypt.zip");
    let (out, arm, _) = build_arm(&native, &zip2, "nodejs18");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Node.js goes under emulation: bcrypt"),
        "{err}"
    );
    assert!(
        arm >= 1,
        "the install script did not run on the target platform"
    );

    // Both load in an emulated arm64 container.
    let image = newest_image_for("fclayer/build-nodejs18", "arm64");
    let script = "console.log(require('esbuild').transformSync('let x: number = 1', {loader: 'ts'}).code.trim()); \
                  const b = require('bcrypt'); console.log(b.compareSync('pw', b.hashSync('pw', 4)))";
    let ran = run_with_layer(
        &image,
        &zip2,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &["node", "-e", script],
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "let x = 1;\ntrue"
    );
    let ran = run_with_layer(
        &image,
        &zip,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &["node", "-e", "console.log(require('esbuild').version)"],
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "0.24.0");
    assert!(fclayer_containers().is_empty());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn emulate_flag_forces_the_fully_emulated_path() {
    require_engine_and(&[ARM_BASE, "debian:12"]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let zip = tmp.path().join("emulated.zip");
    let since = next_second();
    let out = Build::on("custom.debian12", ARM_BASE, &project)
        .args(["--emulate", "--platform", "linux/arm64"])
        .out(&zip)
        .run();
    let until = now() + 1;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(created_for("linux/arm64", since, until) >= 1);
    assert_eq!(
        created_for("linux/amd64", since, until),
        0,
        "--emulate still fetched natively"
    );
    assert!(zip_names(&zip).contains(&"python/six.py".to_string()));
}
