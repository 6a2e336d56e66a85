//! End to end, against a real Docker engine and the real npm registry: Node.js projects as users
//! have them (the lockfiles are in tests/fixtures/node/). sharp with npm (whose per-platform
//! packages npm 9 installs for musl too), pnpm with sharp, Yarn classic and Yarn berry: each
//! layer is used in a fresh container with only the layer at /opt, and holds exactly the
//! locked versions and no dev dependencies.
//!
//! Like e2e_kinds.rs, nodejs18 is built on a local Debian 12 base: Debian 12's own Node.js is
//! 18 (with npm 9.2, which has no --libc).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// A copy of a fixture project in `tmp` (builds must not write into the repository).
fn fixture(tmp: &Path, name: &str) -> PathBuf {
    let from = repo().join("tests/fixtures/node").join(name);
    let to = tmp.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// The `node` packages of the manifest beside a layer.
fn manifest_packages(zip: &Path) -> BTreeMap<String, String> {
    let path = zip.with_extension("manifest.json");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["packages"]["node"]
        .as_object()
        .expect("node packages in the manifest")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// Resize a 64x48 image made in memory to 16 pixels wide with sharp from the layer.
const RESIZE: &str = "const sharp = require('sharp'); \
    sharp({create: {width: 64, height: 48, channels: 3, background: 'red'}}).png().toBuffer() \
    .then(b => sharp(b).resize(16).png().toBuffer({resolveWithObject: true})) \
    .then(r => console.log('resized', r.info.width, r.info.height, r.info.format))";

fn run_node(zip: &Path, script: &str) -> String {
    let image = newest_image("fclayer/build-nodejs18");
    let ran = run_with_layer(
        &image,
        zip,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &["node", "-e", script],
    );
    assert!(ran.status.success(), "node failed in the fresh container");
    String::from_utf8_lossy(&ran.stdout).trim().to_string()
}

fn no_musl(names: &[String]) {
    assert!(
        !names.iter().any(|n| n.contains("linuxmusl")),
        "a musl package is in the layer"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/@img/sharp-linux-x64/")),
        "sharp's glibc binary is missing"
    );
}

/// Regression (issue 14, "broken today"): `{"dependencies": {"sharp": "^0.33.5"}}` failed the
/// ELF gate because npm 9 installed @img/sharp-linuxmusl-x64 beside @img/sharp-linux-x64.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn npm_sharp_layer_drops_the_musl_binaries_and_resizes_an_image() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "npm-sharp");
    let zip = tmp.path().join("sharp.zip");
    let out = Build::on("nodejs18", "debian:12", &project).out(&zip).run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "removed @img/sharp-linuxmusl-x64 0.33.5 (libc musl: not for linux/x64 glibc)"
        ),
        "the removal was not said: {err}"
    );
    no_musl(&zip_names(&zip));
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    assert_eq!(run_node(&zip, RESIZE), "resized 16 12 png");
}

/// Whether the lockfile pins `name` at `version`, in npm's, pnpm's, Yarn 1's or berry's form.
fn locked(lock: &str, name: &str, version: &str) -> bool {
    if let Ok(npm) = serde_json::from_str::<serde_json::Value>(lock) {
        return npm["packages"][format!("node_modules/{name}")]["version"] == version;
    }
    let pnpm = [format!("{name}@{version}:"), format!("'{name}@{version}':")];
    let berry = format!("resolution: \"{name}@npm:{version}\"");
    if pnpm.iter().any(|k| lock.lines().any(|l| l.trim() == k)) || lock.contains(&berry) {
        return true;
    }
    // Yarn 1: an entry whose header names the package, then `version "X"`.
    let mut in_entry = false;
    for line in lock.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_entry = line
                .split(", ")
                .any(|spec| spec.trim_matches('"').starts_with(&format!("{name}@")));
        } else if in_entry && line.trim() == format!("version \"{version}\"") {
            return true;
        }
    }
    false
}

/// Every package in the manifest is at its locked version; the direct dependencies are there
/// and the dev dependency (left-pad) is not; the lockfile is in the layer beside package.json.
fn holds_exactly_the_lock(zip: &Path, project: &Path, lockfile: &str, direct: &[&str]) {
    let lock = std::fs::read_to_string(project.join(lockfile)).unwrap();
    let packages = manifest_packages(zip);
    for (name, version) in &packages {
        assert!(
            locked(&lock, name, version),
            "{name} {version} is not what {lockfile} pins"
        );
    }
    for name in direct {
        assert!(packages.contains_key(*name), "{name} missing: {packages:?}");
    }
    assert!(
        !packages.contains_key("left-pad"),
        "a dev dependency was installed"
    );
    let names = zip_names(zip);
    assert!(
        names.contains(&format!("nodejs/{lockfile}")),
        "no {lockfile} in the layer"
    );
    assert!(names.contains(&"nodejs/package.json".to_string()));
    assert!(
        !names.iter().any(|n| n.contains("node_modules/.pnpm/")
            || n.ends_with("/.modules.yaml")
            || n.ends_with("/.yarn-state.yml")
            || n.ends_with("/.yarn-integrity")),
        "package-manager bookkeeping in the layer"
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn pnpm_layer_with_sharp_is_flat_locked_and_resizes_an_image() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "pnpm");
    let zip = tmp.path().join("pnpm.zip");
    let out = Build::on("nodejs18", "debian:12", &project).out(&zip).run();
    assert!(out.status.success(), "{}", stderr(&out));
    holds_exactly_the_lock(&zip, &project, "pnpm-lock.yaml", &["sharp", "is-number"]);
    let names = zip_names(&zip);
    no_musl(&names);
    // The hoisted layout: sharp is a folder of its own, not a link into a store.
    assert!(names.contains(&"nodejs/node_modules/sharp/package.json".to_string()));
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    // Again without the build cache, from pnpm's now warm store: the same bytes (a store with
    // pnpm's side-effects cache turned a .bin link into a file).
    let again = tmp.path().join("again.zip");
    let out = Build::on("nodejs18", "debian:12", &project)
        .arg("--no-cache")
        .out(&again)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read(&zip).unwrap() == std::fs::read(&again).unwrap(),
        "two pnpm builds differ"
    );
    let script = format!("{RESIZE}; console.log('is-number', require('is-number')(7))");
    assert_eq!(run_node(&zip, &script), "is-number true\nresized 16 12 png");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn yarn_classic_and_berry_layers_hold_the_locked_versions() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    for (name, pm) in [
        ("yarn-classic", "yarn 1.22.22"),
        ("yarn-berry", "yarn 4.18.1"),
    ] {
        let project = fixture(tmp.path(), name);
        let zip = tmp.path().join(format!("{name}.zip"));
        let out = Build::on("nodejs18", "debian:12", &project)
            .arg("--verbose")
            .out(&zip)
            .run();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains(&format!("fclayer: {pm}")),
            "{name} did not run {pm}"
        );
        holds_exactly_the_lock(&zip, &project, "yarn.lock", &["ms", "is-number"]);
        assert!(
            !zip_names(&zip).iter().any(|n| n.ends_with(".yarnrc.yml")),
            "yarn settings (which may hold tokens) in the layer"
        );
        let left = fclayer_containers();
        assert!(left.is_empty(), "containers left behind: {left:?}");
        let script = "console.log(require('ms')('2h'), require('is-number')(7))";
        assert_eq!(run_node(&zip, script), "7200000 true");
    }
}

/// The arm64 target: npm on the engine's own platform picks sharp's linux-arm64 glibc packages
/// (no install script needs the target), and the layer resizes an image under emulation.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn npm_sharp_layer_for_arm64_is_fetched_natively_and_resizes_under_emulation() {
    require_engine_and(&["debian:12-arm64", "debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "npm-sharp");
    let zip = tmp.path().join("sharp-arm64.zip");
    let out = Build::on("nodejs18", "debian:12-arm64", &project)
        .args(["--platform", "linux/arm64"])
        .out(&zip)
        .run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("no package needs the target platform"),
        "{err}"
    );
    let names = zip_names(&zip);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("nodejs/node_modules/@img/sharp-linux-arm64/")),
        "sharp's arm64 binary is missing"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.contains("linuxmusl") || n.contains("-x64/")),
        "a package for another libc or cpu is in the layer"
    );
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    // verify makes (or reuses) the arm64 build image and requires every package there.
    let verified = run(fclayer()
        .args([
            "verify",
            "--runtime",
            "nodejs18",
            "--platform",
            "linux/arm64",
        ])
        .args(["--base-image", "debian:12-arm64"])
        .arg(&zip));
    assert!(verified.status.success(), "{}", stderr(&verified));
    let image = newest_image_for("fclayer/build-nodejs18", "arm64");
    let ran = run_with_layer(
        &image,
        &zip,
        &["NODE_PATH=/opt/nodejs/node_modules"],
        &[
            "node",
            "-e",
            &format!("{RESIZE}; console.log(process.arch)"),
        ],
    );
    assert!(ran.status.success(), "node failed under emulation");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "arm64\nresized 16 12 png"
    );
}

/// package.json's `packageManager: npm@10.9.2` on nodejs18, whose Debian 12 image has npm 9: that
/// npm runs the install (from the download cache's tool folder, never the layer).
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn packagemanager_npm_version_runs_the_install() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "npm-pinned");
    let zip = tmp.path().join("npm-pinned.zip");
    let out = Build::on("nodejs18", "debian:12", &project)
        .args(["--verbose", "--no-cache"])
        .out(&zip)
        .run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(", npm 10.9.2"),
        "npm 10.9.2 did not run: {err}"
    );
    assert!(
        err.contains("Installing with npm 10.9.2 (Node.js 18)"),
        "{err}"
    );
    holds_exactly_the_lock(&zip, &project, "package-lock.json", &["ms"]);
    assert!(
        !zip_names(&zip)
            .iter()
            .any(|n| n.contains("npm-10.9.2") || n.contains("/npm/bin/")),
        "the npm tool is in the layer"
    );
    assert_eq!(
        run_node(&zip, "console.log(require('ms')('1d'))"),
        "86400000"
    );
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// The arm64 target for pnpm and Yarn, from the engine's own platform without emulation: pnpm 9
/// through package.json's pnpm.supportedArchitectures (in the install's copy only), Yarn 1 with
/// every platform's optional packages and those for another os, cpu or libc removed after, Yarn
/// berry through supportedArchitectures in .yarnrc.yml. Each layer holds sharp's linux-arm64
/// glibc packages and no other platform's, the lock's versions, and the project's own files.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn pnpm_and_yarn_layers_for_arm64_are_fetched_natively() {
    require_engine_and(&["debian:12-arm64", "debian:12"]);
    let tmp = tempdir();
    for (name, lockfile, pm, sharp) in [
        ("pnpm", "pnpm-lock.yaml", "pnpm 9.15.9", true),
        ("yarn-classic-sharp", "yarn.lock", "yarn 1.22.22", true),
        ("yarn-berry", "yarn.lock", "yarn 4.18.1", false),
    ] {
        let project = fixture(tmp.path(), name);
        let zip = tmp.path().join(format!("{name}-arm64.zip"));
        let out = Build::on("nodejs18", "debian:12-arm64", &project)
            .args(["--platform", "linux/arm64", "--verbose"])
            .out(&zip)
            .run();
        let err = stderr(&out);
        assert!(out.status.success(), "{name}: {err}");
        assert!(err.contains(&format!("fclayer: {pm}")), "{name}: {err}");
        assert!(
            err.contains("no package needs the target platform")
                && !err.contains("goes under emulation"),
            "{name} was not fetched natively: {err}"
        );
        let names = zip_names(&zip);
        if sharp {
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with("nodejs/node_modules/@img/sharp-linux-arm64/")),
                "{name}: sharp's arm64 binary is missing"
            );
            let other: Vec<&String> = names
                .iter()
                .filter(|n| {
                    n.starts_with("nodejs/node_modules/@img/sharp-")
                        && !n.starts_with("nodejs/node_modules/@img/sharp-linux-arm64/")
                        && !n.starts_with("nodejs/node_modules/@img/sharp-libvips-linux-arm64/")
                })
                .collect();
            assert!(
                other.is_empty(),
                "{name}: another platform's packages: {other:?}"
            );
        }
        // The project's own package.json (not the install's edited copy) and its lockfile.
        let layer_file = |path: &str| -> Vec<u8> {
            let mut z = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut z.by_name(path).unwrap(), &mut out).unwrap();
            out
        };
        for file in ["package.json", lockfile] {
            assert_eq!(
                layer_file(&format!("nodejs/{file}")),
                std::fs::read(project.join(file)).unwrap(),
                "{name}: the layer's {file} is not the project's"
            );
        }
        let direct: &[&str] = if sharp {
            &["sharp"]
        } else {
            &["ms", "is-number"]
        };
        holds_exactly_the_lock(&zip, &project, lockfile, direct);
        let left = fclayer_containers();
        assert!(left.is_empty(), "containers left behind: {left:?}");
    }
}

/// custom.debian12 brings no Node.js: the layer is built for the major engines.node names
/// (Debian 12's own Node.js 18 here), and the output says the function must bring it.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn custom_debian12_node_layer_is_built_for_the_engines_node_major() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "custom-engines");
    let zip = tmp.path().join("custom.zip");
    let out = Build::on("custom.debian12", "debian:12", &project)
        .out(&zip)
        .run();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("custom.debian12 has no Node.js: this layer is for Node.js 18, which the function must bring"),
        "{err}"
    );
    assert!(err.contains("/opt/nodejs18/bin"), "{err}");
    let packages = manifest_packages(&zip);
    assert_eq!(packages.get("ms").map(String::as_str), Some("2.1.3"));
    assert!(
        !packages.contains_key("left-pad"),
        "a dev dependency was installed"
    );
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    assert_eq!(run_node(&zip, "console.log(require('ms')('1m'))"), "60000");
}

/// A pnpm-lock.yaml out of date with package.json: pnpm's frozen install refuses it, and the
/// error names pnpm, its lockfile and pnpm's reason; no layer is left.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn pnpm_lockfile_out_of_date_fails_naming_pnpm_and_leaves_nothing() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let project = fixture(tmp.path(), "pnpm");
    let pj = project.join("package.json");
    let text = std::fs::read_to_string(&pj).unwrap();
    std::fs::write(
        &pj,
        text.replace("\"is-number\"", "\"ms\": \"2.1.3\",\n    \"is-number\""),
    )
    .unwrap();
    let zip = tmp.path().join("stale.zip");
    let out = Build::on("nodejs18", "debian:12", &project).out(&zip).run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: pnpm 9.15.9 (Node.js 18) failed"),
        "{err}"
    );
    assert!(err.contains("ERR_PNPM_OUTDATED_LOCKFILE"), "{err}");
    assert!(err.contains("that pnpm-lock.yaml matches it"), "{err}");
    assert!(!zip.exists(), "a layer was left");
    let left = fclayer_containers();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}
