//! End to end, against a real Docker engine and the real npm registry and Debian mirror: Node.js,
//! system-package and Dockerfile layers, each then used in a fresh container that has only the
//! layer at /opt. (Java and PHP are in e2e_java_php.rs.)
//!
//! Node.js: FC's nodejs18 runtime is Debian 10, which cannot be fetched here; Debian 12's own
//! Node.js is 18 too, so the layer is built on a local Debian 12 base (same Node ABI).

mod common;

use common::*;

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn node_layer_with_a_pure_package_and_a_native_addon_loads() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = tmp.path().join("api");
    std::fs::create_dir(&project).unwrap();
    // bcrypt's prebuilt binaries live on GitHub, which is unreachable here: node-gyp compiles it
    // in the build container, against the image's Node headers.
    std::fs::write(
        project.join("package.json"),
        r#"{"name": "api", "version": "1.0.0", "dependencies": {"bcrypt": "5.1.1", "is-number": "7.0.0"}, "devDependencies": {"left-pad": "1.3.0"}}"#,
    )
    .unwrap();
    let out_zip = tmp.path().join("node-layer.zip");
    let out = Build::on("nodejs18", "debian:12", &project)
        .out(&out_zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    let names = zip_names(&out_zip);
    assert!(names.contains(&"nodejs/package.json".to_string()));
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/is-number/"))
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/bcrypt/") && n.ends_with(".node")),
        "no compiled addon in the layer"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/left-pad/")),
        "a dev dependency was installed"
    );
    assert!(fclayer_containers().is_empty(), "containers left behind");

    let image = newest_image("fclayer/build-nodejs18");
    let script = "const b = require('bcrypt'); const h = b.hashSync('pw', 4); \
                  console.log('bcrypt', b.compareSync('pw', h), 'is-number', require('is-number')(7))";
    let ran = run_with_layer(
        &image,
        &out_zip,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &["node", "-e", script],
    );
    assert!(ran.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "bcrypt true is-number true"
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn apt_layer_runs_psql_with_only_missing_libraries() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = tmp.path().join("tools");
    std::fs::create_dir(&project).unwrap();
    let out_zip = tmp.path().join("pg.zip");
    let out = Build::on("custom.debian12", "debian:12", &project)
        .args(["--apt", "postgresql-client"])
        .out(&out_zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    let names = zip_names(&out_zip);
    assert!(names.contains(&"bin/psql".to_string()), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("lib/libpq.so.5")),
        "{names:?}"
    );

    // An independent oracle for "the runtime already has it": the loader cache of the image the
    // layer was built in (Debian 12 with custom.debian12's Python, a superset of the runtime).
    let image = newest_image("fclayer/build-custom.debian12");
    let base_libs = docker(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "ldconfig -p | awk 'NR>1 {print $1}'",
    ]);
    let base: std::collections::HashSet<&str> = base_libs.lines().map(str::trim).collect();
    for lib in names
        .iter()
        .filter_map(|n| n.strip_prefix("lib/"))
        .filter(|n| !n.is_empty())
    {
        assert!(
            !base.contains(lib),
            "lib/{lib} duplicates a library the runtime has"
        );
    }
    // SONAME chains stay links.
    let listing = String::from_utf8_lossy(
        &std::process::Command::new("unzip")
            .arg("-Z")
            .arg(&out_zip)
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('l') && l.contains("lib/libpq.so.5")),
        "libpq.so.5 is not stored as a symlink:\n{listing}"
    );

    let bare = run_with_layer(&image, &out_zip, &[], &["sh", "-c", "command -v psql"]);
    assert!(
        !bare.status.success(),
        "psql exists without the layer: the test proves nothing"
    );
    let ran = run_with_layer(
        &image,
        &out_zip,
        &["LD_LIBRARY_PATH=/opt/lib", "PATH=/opt/bin:/usr/bin:/bin"],
        &["psql", "--version"],
    );
    assert!(ran.status.success(), "psql does not run from the layer");
    assert!(String::from_utf8_lossy(&ran.stdout).contains("psql (PostgreSQL)"));
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn dockerfile_layer_of_a_compiled_program_runs() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let ctx = tmp.path().join("chrome");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello from the layer\"); return 0; }\n",
    )
    .unwrap();
    std::fs::write(ctx.join("junk.bin"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(ctx.join(".dockerignore"), "*.bin\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM debian:12\n\
         RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null\n\
         COPY . /src\n\
         RUN test ! -e /src/junk.bin\n\
         ARG GREETING_BIN=hello\n\
         RUN mkdir -p /opt/bin && gcc -O2 -o /opt/bin/$GREETING_BIN /src/hello.c\n",
    )
    .unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::dockerfile("custom.debian12", &ctx)
        .args(["--build-arg", "GREETING_BIN=greet"])
        .out(&out_zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(zip_names(&out_zip), vec!["bin/", "bin/greet"]);
    assert!(fclayer_containers().is_empty(), "containers left behind");
    let tmp_images = docker(&["images", "-q", "fclayer-tmp/*"]);
    assert!(
        tmp_images.trim().is_empty(),
        "temporary image left: {tmp_images}"
    );
    let ran = run_with_layer("debian:12", &out_zip, &[], &["/opt/bin/greet"]);
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "hello from the layer"
    );
}

/// Build `dockerfile` (the only file of its context) for custom.debian12; the build must fail
/// with exit 1, write nothing and leave no container or temporary image. Returns stderr.
fn failing_dockerfile_build(dockerfile: &str) -> String {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    std::fs::write(tmp.path().join("Dockerfile"), dockerfile).unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(tmp.path())
        .runtime("custom.debian12")
        .dockerfile_arg("Dockerfile")
        .out(&out_zip)
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_zip.exists());
    assert!(fclayer_containers().is_empty());
    assert!(docker(&["images", "-q", "fclayer-tmp/*"]).trim().is_empty());
    stderr(&out)
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn dockerfile_failing_at_a_step_names_it_and_leaves_nothing() {
    let err = failing_dockerfile_build(
        "FROM debian:12\nRUN echo preparing\nRUN echo about to fail && exit 3\nRUN mkdir /opt/x\n",
    );
    assert!(err.contains("at Step 3/"), "failing step not named: {err}");
    assert!(err.contains("exit 3"), "failing command not shown: {err}");
    assert!(err.contains("about to fail"), "no log tail: {err}");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn dockerfile_image_without_opt_is_refused() {
    let err = failing_dockerfile_build("FROM debian:12\nRUN rm -rf /opt\n");
    assert!(err.contains("has no /opt"), "{err}");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn missing_npm_and_apt_packages_fail_clearly() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = tmp.path().join("api");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name": "api", "version": "1.0.0", "dependencies": {"fclayer-no-such-package-4f9a1c": "1.0.0"}}"#,
    )
    .unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::on("nodejs18", "debian:12", &project)
        .out(&out_zip)
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("npm (Node.js 18) failed"), "{err}");
    assert!(err.contains("fclayer-no-such-package-4f9a1c"), "{err}");
    assert!(!out_zip.exists());

    let tools = tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let out = Build::on("custom.debian12", "debian:12", &tools)
        .args(["--apt", "fclayer-no-such-package"])
        .out(&out_zip)
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("apt (Debian 12 (bookworm)) failed"), "{err}");
    assert!(
        err.contains("Unable to locate package fclayer-no-such-package"),
        "{err}"
    );
    assert!(!out_zip.exists());
    assert!(fclayer_containers().is_empty());
}

#[test]
fn two_kinds_of_project_without_runtime_asks_to_choose() {
    let tmp = tempdir();
    let project = tmp.path().join("mixed");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("requirements.txt"), "six\n").unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name": "x", "version": "1.0.0"}"#,
    )
    .unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(&project).out(&out_zip).run();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("several kinds"), "{err}");
    assert!(err.contains("--runtime"), "{err}");
    assert!(!out_zip.exists());
}
