//! End to end, against a real Docker engine and real PyPI: Python layers built from the project
//! formats users keep (uv.lock, poetry.lock, Pipfile.lock, pylock.toml, a bare pyproject.toml),
//! each for python3.9 on `PYTHON_BASE`. A layer must hold exactly the lock's pins for that
//! runtime (read from the ZIP's dist-info folders), no dev dependency and not the project itself,
//! and import in a fresh container; a stale lock or a tampered hash fails with one clear error
//! and leaves neither a ZIP nor a container. The fixtures were written by uv, Poetry and pipenv
//! (tests/fixtures/pyformats).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A copy of a fixture project (builds must not write beside the committed files).
fn project(tmp: &Path, fixture: &str) -> PathBuf {
    let from = repo().join("tests/fixtures/pyformats").join(fixture);
    let to = tmp.join(fixture);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// `name==version` of every distribution in the layer, from its `python/*.dist-info/` folders,
/// names normalised (PEP 503).
fn dists(zip: &Path) -> Vec<String> {
    let mut out: Vec<String> = zip_names(zip)
        .iter()
        .filter_map(|n| {
            n.strip_prefix("python/")?
                .strip_suffix(".dist-info/METADATA")
        })
        .filter_map(|d| d.rsplit_once('-'))
        .map(|(n, v)| format!("{}=={v}", n.to_lowercase().replace(['_', '.'], "-")))
        .collect();
    out.sort();
    out
}

/// The layer imports `modules` in a fresh container of the build image (none of them is there
/// without it).
fn imports(zip: &Path, modules: &str) {
    let image = newest_image("fclayer/build-python3.9");
    let code = format!("import {modules}; print('imported', '{modules}')");
    let bare = run_with_layer(&image, zip, &[], &["python3.9", "-c", &code]);
    assert!(
        !bare.status.success(),
        "{modules} importable without the layer"
    );
    let loaded = run_with_layer(
        &image,
        zip,
        &["PYTHONPATH=/opt/python"],
        &["python3.9", "-c", &code],
    );
    assert!(
        loaded.status.success(),
        "{modules} does not import from the layer"
    );
}

fn no_containers_left() {
    assert!(
        fclayer_containers().is_empty(),
        "containers left behind: {:?}",
        fclayer_containers()
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn uv_lock_layer_holds_the_pins_imports_and_rebuilds_to_the_same_bytes() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let dir = project(tmp.path(), "uv");
    // A requirements.txt beside the lock is not read, and the build says so.
    std::fs::write(dir.join("requirements.txt"), "requests\n").unwrap();
    let a = tmp.path().join("a.zip");
    let out = Build::python(&dir).out(&a).run();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Reading uv.lock: 2 pinned packages with their hashes for python3.9 on x86_64; not read: requirements.txt"),
        "{err}"
    );
    // tomli is locked for Python < 3.11 only; pytest is the dev group; fc-uv-demo the project.
    assert_eq!(dists(&a), ["six==1.17.0", "tomli==2.5.0"]);
    no_containers_left();
    imports(&a, "six, tomli");
    // The same lock, built again without the cache, and with --frozen against the lock's pins.
    let b = tmp.path().join("b.zip");
    let out = Build::python(&dir).args(["--no-cache"]).out(&b).run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "two builds differ"
    );
    let out = Build::python(&dir).args(["--frozen"]).out(&b).run();
    assert!(
        out.status.success(),
        "--frozen refused a build of the lock: {}",
        stderr(&out)
    );
    // --with dev adds pytest and what it needs for 3.9.
    let dev = tmp.path().join("dev.zip");
    let out = Build::python(&dir).args(["--with", "dev"]).out(&dev).run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        dists(&dev).contains(&"pytest==8.4.2".to_string()),
        "{:?}",
        dists(&dev)
    );
    no_containers_left();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn poetry_pipfile_pylock_and_pyproject_layers_hold_what_they_declare() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "poetry",
            "poetry.lock",
            &[
                "certifi==2026.10.19.post1",
                "charset-normalizer==3.5.3",
                "idna==3.20",
                "requests==2.32.5",
                "tomli==2.5.0",
                "urllib3==2.6.3",
            ],
            "requests, tomli",
        ),
        (
            "pipenv",
            "Pipfile.lock",
            &["attrs==26.1.0", "six==1.17.0"],
            "attrs, six",
        ),
        (
            "pylock",
            "pylock.toml",
            &["six==1.17.0", "tomli==2.5.0"],
            "six, tomli",
        ),
        ("pyproject", "pyproject.toml", &[], "six, tomli"),
    ];
    for (fixture, file, pins, modules) in cases {
        let dir = project(tmp.path(), fixture);
        let zip = tmp.path().join(format!("{fixture}.zip"));
        let out = Build::python(&dir).out(&zip).run();
        assert!(out.status.success(), "{fixture}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("Reading {file}")),
            "{fixture}: {}",
            stderr(&out)
        );
        let got = dists(&zip);
        if pins.is_empty() {
            // Resolved at build time: the declared names for 3.9 on Linux, and not colorama
            // (declared for Windows only).
            let names: Vec<&str> = got.iter().map(|d| d.split("==").next().unwrap()).collect();
            assert_eq!(names, ["six", "tomli"], "{fixture}");
        } else {
            assert_eq!(
                got, pins,
                "{fixture}: the layer is not the lock's pins for python3.9"
            );
        }
        imports(&zip, modules);
    }
    no_containers_left();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_stale_lock_or_a_tampered_hash_fails_once_and_leaves_nothing() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    // A dependency added to pyproject.toml after `uv lock`: refused before any container.
    let stale = project(tmp.path(), "uv");
    let py = std::fs::read_to_string(stale.join("pyproject.toml")).unwrap();
    std::fs::write(
        stale.join("pyproject.toml"),
        py.replace("\"six>=1.16\",", "\"six>=1.16\",\n    \"idna\","),
    )
    .unwrap();
    let zip = tmp.path().join("stale.zip");
    let out = Build::python(&stale).out(&zip).run();
    assert_eq!(out.status.code(), Some(2), "bad input exits 2");
    let err = stderr(&out);
    assert!(
        err.contains("uv.lock is out of date with") && err.contains("idna"),
        "{err}"
    );
    assert!(err.contains("run `uv lock`"), "{err}");
    assert!(
        !err.contains("Installing"),
        "a container started for a stale lock: {err}"
    );
    assert!(!zip.exists());
    // Every hash of six replaced: pip refuses the download, and the error says so.
    let tampered = project(tmp.path(), "pipenv");
    let lock = std::fs::read_to_string(tampered.join("Pipfile.lock")).unwrap();
    let lock = lock
        .replace(
            "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
            &"0".repeat(64),
        )
        .replace(
            "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
            &"1".repeat(64),
        );
    std::fs::write(tampered.join("Pipfile.lock"), lock).unwrap();
    let zip = tmp.path().join("tampered.zip");
    let out = Build::python(&tampered)
        .args(["--no-cache"])
        .out(&zip)
        .run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the hash Pipfile.lock gives for six==1.17.0 does not match"),
        "{err}"
    );
    // One error of fclayer's (the installer's own log lines, quoted below it, may say error too).
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error: {err}"
    );
    assert!(!zip.exists(), "a ZIP was written");
    assert!(
        temporaries_in(tmp.path()).is_empty(),
        "{:?}",
        temporaries_in(tmp.path())
    );
    no_containers_left();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_uv_lock_for_linux_arm64_is_fetched_natively_with_its_fork_for_the_runtime() {
    const ARM_BASE: &str = "debian:12-arm64";
    require_engine_and(&[ARM_BASE, "debian:12"]);
    let tmp = tempdir();
    let dir = project(tmp.path(), "uv-fork");
    let zip = tmp.path().join("arm.zip");
    let since = next_second();
    let out = Build::on("custom.debian12", ARM_BASE, &dir)
        .args(["--platform", "linux/arm64"])
        .out(&zip)
        .run();
    let until = now() + 1;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        containers_created("fclayer.platform=linux/arm64", since, until),
        0,
        "an arm64 container ran for a wheel-only lock"
    );
    // Python 3.11 (Debian 12) gets the fork uv locked for 3.11, not 3.9's or 3.12's.
    assert_eq!(dists(&zip), ["numpy==2.4.6"]);
    assert!(
        zip_names(&zip)
            .iter()
            .any(|n| n.contains("aarch64-linux-gnu.so"))
    );
    no_containers_left();
}

/// A private index served on this machine (tests/support/index_server.py) behind basic auth,
/// reached by the build containers through the engine's bridge. Killed when dropped.
struct PrivateIndex {
    child: std::process::Child,
    url: String,
    sha256: String,
    dir: PathBuf,
}

impl PrivateIndex {
    fn start(dir: &Path, user: &str, password: &str) -> PrivateIndex {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .arg(repo().join("tests/support/index_server.py"))
            .args([dir.to_str().unwrap(), user, password])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 starts the index server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let (port, sha256) = line.trim().split_once(' ').expect("PORT SHA256");
        let gateway = docker(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
        ]);
        PrivateIndex {
            child,
            url: format!("http://{}:{port}/simple", gateway.trim()),
            sha256: sha256.to_string(),
            dir: dir.to_path_buf(),
        }
    }

    /// The requests it answered: (path, status).
    fn requests(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect()
    }
}

impl Drop for PrivateIndex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_lock_from_a_private_index_gets_its_login_and_shows_it_nowhere() {
    require_engine_and(&[PYTHON_BASE]);
    let tmp = tempdir();
    let served = tmp.path().join("index");
    std::fs::create_dir_all(&served).unwrap();
    let user = format!("robot-{}", std::process::id());
    let password = format!("pw-{}-{}", std::process::id(), next_second());
    let index = PrivateIndex::start(&served, &user, &password);
    // A uv project whose only dependency is on the private index, as `uv lock` writes it.
    let dir = tmp.path().join("private");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"fclayer-private==1.0\"]\n\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"{}\"\n",
            index.url
        ),
    )
    .unwrap();
    let files = index.url.trim_end_matches("/simple");
    std::fs::write(
        dir.join("uv.lock"),
        format!(
            "version = 1\nrevision = 3\nrequires-python = \">=3.9\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = {{ virtual = \".\" }}\ndependencies = [\n    {{ name = \"fclayer-private\" }},\n]\n\n[package.metadata]\nrequires-dist = [{{ name = \"fclayer-private\", specifier = \"==1.0\" }}]\n\n[[package]]\nname = \"fclayer-private\"\nversion = \"1.0\"\nsource = {{ registry = \"{}\" }}\nwheels = [\n    {{ url = \"{files}/files/fclayer_private-1.0-py3-none-any.whl\", hash = \"sha256:{}\" }},\n]\n",
            index.url, index.sha256
        ),
    )
    .unwrap();

    // Without the login: the index refuses, the build fails naming it, and leaves nothing.
    let zip = tmp.path().join("private.zip");
    let out = Build::python(&dir).out(&zip).run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&index.url), "the index is not named: {err}");
    assert!(!zip.exists(), "a ZIP was left");
    no_containers_left();
    assert!(
        index.requests().iter().all(|(_, s)| s == "401"),
        "{:?}",
        index.requests()
    );

    // With uv's variables for the index named `corp`: installed from there, with pip and uv.
    for installer in ["uv", "pip"] {
        let out = Build::python(&dir)
            .args(["--installer", installer, "--no-cache"])
            .env("UV_INDEX_CORP_USERNAME", &user)
            .env("UV_INDEX_CORP_PASSWORD", &password)
            .out(&zip)
            .run();
        let (err, said) = (stderr(&out), stdout(&out));
        assert!(out.status.success(), "{installer}: {err}");
        assert!(
            err.contains(&format!(
                "1 pinned package with their hashes for python3.9 on x86_64, from {} (login from the environment)",
                index.url
            )),
            "{err}"
        );
        assert_eq!(dists(&zip), ["fclayer-private==1.0"], "{installer}");
        // The login reached the index...
        assert!(
            index
                .requests()
                .iter()
                .any(|(p, s)| p.ends_with(".whl") && s == "200"),
            "{installer}: the wheel was never served: {:?}",
            index.requests()
        );
        // ...and nothing else: not what fclayer printed, the layer, or the manifest.
        let manifest = std::fs::read(zip.with_file_name("private.manifest.json")).unwrap();
        let layer = zip_to_tar(&zip);
        for (what, hay) in [
            ("stderr", err.as_bytes()),
            ("stdout", said.as_bytes()),
            ("the manifest", &manifest[..]),
            ("the layer", &layer[..]),
        ] {
            let found = hay
                .windows(password.len())
                .any(|w| w == password.as_bytes());
            assert!(!found, "{installer}: the password is in {what}");
        }
        no_containers_left();
    }
    imports(&zip, "fclayer_private");
}
