//! End to end, with a real engine: the ELF gate on layers built for real, the smoke test in a
//! runtime container, and cross-architecture builds (this host is x86_64 with QEMU binfmt, so the
//! cross path is exercised by targeting linux/arm64 from a locally bootstrapped arm64 base).

mod common;

use common::*;

/// A Dockerfile-mode project whose image compiles `source` into /opt/lib/libnew.so on Debian 12.
fn c_library_project(dir: &std::path::Path, source: &str) -> std::path::PathBuf {
    let ctx = dir.join("clib");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("new.c"), source).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM debian:12\n\
         RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null\n\
         COPY new.c /src/new.c\n\
         RUN mkdir -p /opt/lib && gcc -shared -fPIC -O2 -o /opt/lib/libnew.so /src/new.c\n",
    )
    .unwrap();
    ctx
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn gate_flags_a_glibc_2_34_symbol_for_debian11_and_accepts_it_for_debian12() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    // pthread_create moved into libc proper in glibc 2.34: linking on Debian 12 versions it so.
    let ctx = c_library_project(
        tmp.path(),
        "#include <pthread.h>\nstatic void *run(void *a) { return a; }\nint spawn(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }\n",
    );
    let build = |runtime: &str, out: &std::path::Path, extra: &[&str]| {
        Build::project(&ctx)
            .runtime(runtime)
            .dockerfile_arg("Dockerfile")
            .args(extra)
            .out(out)
            .run()
    };
    let rejected = tmp.path().join("d11.zip");
    let out = build("custom.debian11", &rejected, &[]);
    assert_eq!(out.status.code(), Some(1), "the gate let it through");
    let err = stderr(&out);
    assert!(
        err.contains("FAIL  lib/libnew.so: needs GLIBC_2.34"),
        "{err}"
    );
    assert!(err.contains("the runtime has glibc 2.31"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(
        !rejected.exists(),
        "a layer that fails the gate was written"
    );

    let accepted = tmp.path().join("d12.zip");
    let out = build("custom.debian12", &accepted, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Checking"), "no check step shown");

    // The user can accept the finding explicitly; the findings are still shown.
    let kept = tmp.path().join("kept.zip");
    let out = build("custom.debian11", &kept, &["--allow-incompatible"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("GLIBC_2.34"));
    assert!(kept.exists());
    // And `fclayer check` says the same about the kept layer.
    let check = run(fclayer()
        .args(["check", "--runtime", "python3.12"])
        .arg(&kept));
    assert_eq!(check.status.code(), Some(1));
    assert!(stdout(&check).contains("lib/libnew.so"));
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn wheel_for_a_newer_glibc_is_caught_by_the_gate_and_avoided_by_the_installer() {
    require_engine_and(&["debian:11"]);
    let tmp = tempdir();
    // Plain pip on Debian 11 (glibc 2.31) takes cryptography's manylinux_2_28 wheel, which
    // cannot load on the python3.9 runtime's Debian 9 (glibc 2.24).
    let ctx = tmp.path().join("plainpip");
    std::fs::create_dir_all(&ctx).unwrap();
    // The user's own recipe must trust the intercepting proxy by itself: its CA is copied in.
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", ctx.join("ca.pem")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM debian:11\n\
         RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip >/dev/null\n\
         COPY ca.pem /ca.pem\n\
         RUN PIP_CERT=/ca.pem pip3 install -q --no-compile --target /opt/python 'cryptography==44.0.2'\n",
    )
    .unwrap();
    let bad = tmp.path().join("plain.zip");
    let out = Build::project(&ctx)
        .runtime("python3.9")
        .dockerfile_arg("Dockerfile")
        .out(&bad)
        .run();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the gate missed a manylinux_2_28 wheel"
    );
    let err = stderr(&out);
    assert!(err.contains("manylinux_2_28"), "{err}");
    assert!(err.contains("cryptography"), "{err}");
    assert!(!bad.exists());

    // fclayer's own pip run is told the runtime's glibc and takes a wheel that loads.
    let project = python_project(tmp.path(), "cryptography==44.0.2\n");
    let good = tmp.path().join("good.zip");
    let out = Build::python(&project).out(&good).run();
    assert!(out.status.success(), "{}", stderr(&out));
    let wheel = zip_names(&good)
        .into_iter()
        .find(|n| n.starts_with("python/cryptography-44.0.2.dist-info/WHEEL"))
        .expect("WHEEL file");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&good).unwrap()).unwrap();
    let mut tags = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(&wheel).unwrap(), &mut tags).unwrap();
    assert!(
        !tags.contains("manylinux_2_28"),
        "the installer took a glibc 2.28 wheel:\n{tags}"
    );
    assert!(
        tags.contains("manylinux_2_17") || tags.contains("manylinux2014"),
        "{tags}"
    );
    let check = run(fclayer()
        .args(["check", "--runtime", "python3.9"])
        .arg(&good));
    assert!(check.status.success(), "{}", stdout(&check));
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn smoke_test_reports_a_broken_import_and_passes_a_good_layer() {
    require_engine_and(&["debian:11"]);
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("python/goodpkg")).unwrap();
    std::fs::create_dir_all(tree.join("python/brokenpkg")).unwrap();
    std::fs::write(tree.join("python/goodpkg/__init__.py"), "VALUE = 42\n").unwrap();
    std::fs::write(
        tree.join("python/brokenpkg/__init__.py"),
        "import fclayer_not_there\n",
    )
    .unwrap();
    std::fs::write(tree.join("python/single.py"), "X = 1\n").unwrap();
    let zip = tmp.path().join("layer.zip");
    assert!(
        run(fclayer().arg("pack").arg(&tree).arg("-o").arg(&zip))
            .status
            .success()
    );

    let out = run(fclayer()
        .args([
            "verify",
            "--runtime",
            "python3.9",
            "--base-image",
            "debian:11",
        ])
        .arg(&zip));
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(report.contains("PASS  import   goodpkg"), "{report}");
    assert!(report.contains("PASS  import   single"), "{report}");
    assert!(
        report.contains(
            "FAIL  import   brokenpkg: ModuleNotFoundError: No module named 'fclayer_not_there'"
        ),
        "{report}"
    );
    assert!(fclayer_containers().is_empty());

    // Naming modules limits the test to them.
    let out = run(fclayer()
        .args([
            "verify",
            "--runtime",
            "python3.9",
            "--base-image",
            "debian:11",
            "--import",
            "goodpkg",
        ])
        .arg(&zip));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("brokenpkg"));
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn arm64_layer_builds_under_emulation_passes_the_arm64_gate_and_loads() {
    require_engine_and(&["debian:12-arm64"]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "markupsafe==2.1.5\n");
    let zip = tmp.path().join("arm.zip");
    let out = Build::on("custom.debian12", "debian:12-arm64", &project)
        .args(["--platform", "linux/arm64"])
        .out(&zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("emulation"),
        "emulation not announced"
    );
    let so = zip_names(&zip)
        .into_iter()
        .find(|n| n.starts_with("python/markupsafe/_speedups") && n.ends_with(".so"))
        .expect("compiled extension in the layer");
    assert!(so.contains("aarch64"), "{so}");

    let arm = run(fclayer()
        .args([
            "check",
            "--runtime",
            "custom.debian12",
            "--platform",
            "linux/arm64",
        ])
        .arg(&zip));
    assert!(arm.status.success(), "{}", stdout(&arm));
    let x86 = run(fclayer()
        .args(["check", "--runtime", "custom.debian12"])
        .arg(&zip));
    assert_eq!(x86.status.code(), Some(1));
    assert!(
        stdout(&x86).contains("aarch64 ELF in an x86_64 runtime"),
        "{}",
        stdout(&x86)
    );

    let verify = run(fclayer()
        .args([
            "verify",
            "--runtime",
            "custom.debian12",
            "--platform",
            "linux/arm64",
            "--base-image",
            "debian:12-arm64",
        ])
        .arg(&zip));
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stdout(&verify).contains("PASS  import   markupsafe"));
    assert!(fclayer_containers().is_empty());
}

/// Turns the QEMU aarch64 handler off for the duration of a test, and always back on.
struct BinfmtOff(&'static str);

impl BinfmtOff {
    fn new() -> BinfmtOff {
        let path = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
        std::fs::write(path, "0").expect("disable the qemu-aarch64 binfmt handler (needs root)");
        BinfmtOff(path)
    }
}

impl Drop for BinfmtOff {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0, "1");
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn without_emulation_an_arm64_build_stops_with_how_to_enable_it() {
    require_engine_and(&["debian:12-arm64"]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six\n");
    let zip = tmp.path().join("arm.zip");
    let build = |extra: &[&str]| {
        let _off = BinfmtOff::new();
        Build::on("custom.debian12", "debian:12-arm64", &project)
            .args(["--platform", "linux/arm64"])
            .args(extra)
            .out(&zip)
            .run()
    };
    // Wheel-only requirements need no emulation at all (they are fetched natively), so force
    // the emulated path: it is what a source-only requirement, apt or an install script takes.
    let out = build(&["--emulate"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot run linux/arm64 containers"), "{err}");
    assert!(
        err.contains("qemu-user-static") && err.contains("Rosetta"),
        "{err}"
    );
    assert!(!zip.exists());
    // And without --emulate, wheels for arm64 are fetched natively: no emulator needed at all.
    let native = build(&[]);
    assert!(native.status.success(), "{}", stderr(&native));
    assert!(zip_names(&zip).contains(&"python/six.py".to_string()));
    assert!(fclayer_containers().is_empty());
}
