//! End to end, with a real engine and PyPI: the build cache, download caches, project files with
//! several layers built in parallel, --json, provenance manifests, --frozen and --check.

mod common;

use std::path::Path;

use common::*;

const BASE: &str = PYTHON_BASE;

fn build(project: &Path, out: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    Build::python(project)
        .env("FCLAYER_CACHE_DIR", cache)
        .args(extra)
        .out(out)
        .run()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn unchanged_rebuild_is_served_from_the_cache_without_a_container() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let a = tmp.path().join("a.zip");
    let first = build(&project, &a, &cache, &[]);
    assert!(first.status.success());
    assert!(!stderr(&first).contains("cached"));

    let b = tmp.path().join("b.zip");
    let since = next_second();
    let second = build(&project, &b, &cache, &[]);
    let until = now() + 1;
    assert!(second.status.success());
    assert!(stderr(&second).contains(", cached"), "{}", stderr(&second));
    assert_eq!(
        containers_created("fclayer", since, until),
        0,
        "a cache hit started a container"
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(
        b.with_file_name("b.manifest.json").is_file(),
        "no manifest beside a cached layer"
    );

    // --no-cache builds anyway.
    let c = tmp.path().join("c.zip");
    let since = next_second();
    let forced = build(&project, &c, &cache, &["--no-cache"]);
    let until = now() + 1;
    assert!(forced.status.success());
    assert!(!stderr(&forced).contains(", cached"));
    assert!(containers_created("fclayer", since, until) >= 1);

    // Changing any input misses: a comment in requirements.txt, an extra file, the index URL.
    std::fs::write(project.join("requirements.txt"), "six==1.16.0  # pinned\n").unwrap();
    let out = build(&project, &c, &cache, &[]);
    assert!(
        !stderr(&out).contains(", cached"),
        "an edited requirements.txt hit the cache"
    );
    std::fs::write(project.join("notes.txt"), "x").unwrap();
    let out = build(&project, &c, &cache, &[]);
    assert!(
        !stderr(&out).contains(", cached"),
        "a new input file hit the cache"
    );
    let out = Build::python(&project)
        .env("FCLAYER_CACHE_DIR", &cache)
        .env("PIP_INDEX_URL", "https://pypi.org/simple")
        .out(&c)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(", cached"),
        "a new index URL hit the cache"
    );

    // The cache can be listed and emptied.
    let ls = run(fclayer()
        .env("FCLAYER_CACHE_DIR", &cache)
        .args(["cache", "ls", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 4, "{v}");
    let prune = run(fclayer()
        .env("FCLAYER_CACHE_DIR", &cache)
        .args(["cache", "prune", "--all"]));
    assert!(prune.status.success());
    let ls = run(fclayer()
        .env("FCLAYER_CACHE_DIR", &cache)
        .args(["cache", "ls", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert!(v["layers"].as_array().unwrap().is_empty());
    assert!(fclayer_containers().is_empty());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn project_file_builds_every_layer_in_parallel_and_reports_each() {
    require_engine_and(&[BASE, "debian:12"]);
    let tmp = tempdir();
    let root = tmp.path().join("app");
    std::fs::create_dir_all(root.join("deps")).unwrap();
    std::fs::create_dir_all(root.join("tools")).unwrap();
    std::fs::create_dir_all(root.join("broken")).unwrap();
    std::fs::write(root.join("deps/requirements.txt"), "six==1.16.0\n").unwrap();
    std::fs::write(
        root.join("broken/requirements.txt"),
        "fclayer-no-such-package-4f9a1c==1.0\n",
    )
    .unwrap();
    std::fs::write(
        root.join("fclayer.toml"),
        r#"
[[layer]]
name = "deps"
runtime = "python3.9"
source = "deps"
base_image = "debian:11"

[[layer]]
name = "pg"
runtime = "custom.debian12"
source = "tools"
apt = ["libpq5"]
base_image = "debian:12"
output = "out/pg.zip"

[[layer]]
name = "broken"
runtime = "python3.9"
source = "broken"
base_image = "debian:11"
"#,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    let cache = tmp.path().join("cache");
    let out = run(fclayer()
        .env("FCLAYER_CACHE_DIR", &cache)
        .current_dir(&root)
        .args(["build", "-j", "3", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "one layer failed: the exit code must say so"
    );
    let err = stderr(&out);
    assert!(
        err.contains("[deps]") && err.contains("[pg]") && err.contains("[broken]"),
        "{err}"
    );
    assert!(err.contains("2 of 3 layers built"), "{err}");
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let by_name = |n: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("no report for {n}"))
            .clone()
    };
    let deps = by_name("deps");
    assert_eq!(deps["ok"], true);
    for field in [
        "path",
        "sha256",
        "crc64",
        "size",
        "files",
        "cache_hit",
        "seconds",
        "image_id",
        "warnings",
    ] {
        assert!(!deps[field].is_null(), "report lacks {field}: {deps}");
    }
    assert!(root.join("deps.zip").is_file());
    assert!(root.join("out/pg.zip").is_file());
    assert_eq!(by_name("pg")["ok"], true);
    let broken = by_name("broken");
    assert_eq!(broken["ok"], false);
    // The error names the installer (uv, the default) and the requirement it could not find.
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.contains("uv ") && error.contains("fclayer-no-such-package-4f9a1c"),
        "{broken}"
    );
    assert!(!root.join("broken.zip").exists());

    // One layer by name.
    let out = run(fclayer()
        .env("FCLAYER_CACHE_DIR", &cache)
        .current_dir(&root)
        .args(["build", "deps"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(", cached"));
    assert!(!stderr(&out).contains("[pg]"));
    assert!(fclayer_containers().is_empty());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn manifest_records_versions_and_frozen_refuses_a_change() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let zip = tmp.path().join("layer.zip");
    assert!(build(&project, &zip, &cache, &[]).status.success());
    let manifest_path = tmp.path().join("layer.manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(
        manifest["packages"]["python"]["six"], "1.16.0",
        "{manifest}"
    );
    assert_eq!(manifest["runtime"], "python3.9");
    assert!(
        manifest["build_image"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        manifest["inputs"]["requirements.txt"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let digest = manifest["layer"]["sha256"].as_str().unwrap().to_string();

    // Nothing changed: --frozen passes.
    let out = build(&project, &zip, &cache, &["--frozen"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A requirement moves: --frozen refuses and leaves the layer and manifest as they were.
    std::fs::write(project.join("requirements.txt"), "six==1.17.0\n").unwrap();
    let before = std::fs::read(&zip).unwrap();
    let out = build(&project, &zip, &cache, &["--frozen"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("python package six: 1.16.0 → 1.17.0"), "{err}");
    assert_eq!(
        std::fs::read(&zip).unwrap(),
        before,
        "--frozen overwrote the layer"
    );
    let still: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(still["layer"]["sha256"], digest.as_str());
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn check_mode_rebuilds_and_compares_with_the_committed_zip() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let project = python_project(tmp.path(), "six==1.16.0\nidna==3.7\n");
    let zip = tmp.path().join("layer.zip");
    assert!(build(&project, &zip, &cache, &[]).status.success());
    let committed = std::fs::read(&zip).unwrap();

    let since = next_second();
    let out = build(&project, &zip, &cache, &["--check"]);
    let until = now() + 1;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("byte for byte"));
    assert!(
        containers_created("fclayer", since, until) >= 1,
        "--check must rebuild, not use the cache"
    );

    std::fs::write(project.join("requirements.txt"), "six==1.16.0\nidna==3.6\n").unwrap();
    let out = build(&project, &zip, &cache, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gives different bytes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&zip).unwrap(),
        committed,
        "--check touched the committed ZIP"
    );
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("check"))
        .collect();
    assert!(stray.is_empty(), "--check left {stray:?}");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn download_cache_volume_survives_builds_and_serves_pip() {
    // pip's wheelhouse, so with --installer pip (uv's cache: tests/e2e_uv.rs).
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let project = python_project(tmp.path(), "idna==3.7\n");
    let zip = tmp.path().join("layer.zip");
    assert!(
        build(
            &project,
            &zip,
            &cache,
            &["--no-cache", "-v", "--installer", "pip"]
        )
        .status
        .success()
    );
    let volumes = docker(&["volume", "ls", "-q", "--filter", "label=fclayer.cache"]);
    assert!(
        volumes
            .lines()
            .any(|v| v == "fclayer-cache-python3.9-amd64"),
        "{volumes}"
    );
    // The second build finds the wheel in the volume's wheelhouse instead of downloading it,
    // and a changed requirement downloads just that one.
    let out = build(
        &project,
        &zip,
        &cache,
        &["--no-cache", "-v", "--installer", "pip"],
    );
    assert!(out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("File was already downloaded") && log.contains("idna-3.7"),
        "pip downloaded again:\n{log}"
    );
    std::fs::write(project.join("requirements.txt"), "idna==3.7\nsix==1.16.0\n").unwrap();
    // The volume is shared by every python3.9 build: make sure six is not in it yet.
    docker(&[
        "run",
        "--rm",
        "-v",
        "fclayer-cache-python3.9-amd64:/c",
        BASE,
        "sh",
        "-c",
        "rm -f /c/pip/wheelhouse-*/six-*",
    ]);
    let out = build(
        &project,
        &zip,
        &cache,
        &["--no-cache", "-v", "--installer", "pip"],
    );
    assert!(out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("File was already downloaded") && log.contains("idna-3.7"),
        "{log}"
    );
    assert!(
        log.contains("Downloading six-1.16.0"),
        "the new requirement was not downloaded:\n{log}"
    );
    assert!(fclayer_containers().is_empty());
}
