//! Helpers shared by the integration tests. The end-to-end tests drive a real Docker engine with
//! the real `docker` CLI (never through fclayer's own code, so the tool is checked from outside).
//! They are `#[ignore]`d with a reason, so plain `cargo test` shows them as skipped; `make test`
//! runs them with `--include-ignored` after starting an engine, and there they fail, never skip,
//! when the engine is missing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const NEEDS_DOCKER: &str = "needs a Docker engine and base images: run `make test`";

/// The fclayer binary under test.
/// Each test process gets a build cache of its own, so a layer cached by an earlier run (or by
/// the user) never stands in for the build a test means to exercise.
pub fn fclayer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fclayer"));
    c.env_remove("FCLAYER_BASE_IMAGE");
    c.env(
        "FCLAYER_CACHE_DIR",
        std::env::temp_dir().join(format!("fclayer-test-cache-{}", std::process::id())),
    );
    c
}

/// Run and capture, printing the output so a failing test shows what the tool said.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    eprintln!(
        "$ {:?}\n--- exit {:?}\n--- stdout\n{}--- stderr\n{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run the docker CLI; panics (fails the test) when the engine does not answer.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fail loudly unless an engine answers and `image` exists.
pub fn require_engine_and(images: &[&str]) {
    let v = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match v {
        Ok(o) if o.status.success() => {}
        _ => panic!("no Docker engine answers: these tests need one (`make test` starts it)"),
    }
    for image in images {
        let ok = Command::new("docker")
            .args(["image", "inspect", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "base image {image} is missing: run scripts/base-images.sh"
        );
    }
}

/// Containers (any state) carrying fclayer's label.
pub fn fclayer_containers() -> Vec<String> {
    docker(&["ps", "-aq", "--filter", "label=fclayer"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The newest linux/amd64 image of a repository (e.g. fclayer/build-python3.9); the same
/// repository also holds images built for linux/arm64 by the cross-architecture tests.
pub fn newest_image(repo: &str) -> String {
    newest_image_for(repo, "amd64")
}

pub fn newest_image_for(repo: &str, arch: &str) -> String {
    let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", repo]);
    out.lines()
        .find(|image| {
            docker(&["image", "inspect", "--format", "{{.Architecture}}", image]).trim() == arch
        })
        .unwrap_or_else(|| panic!("no {arch} image of {repo}"))
        .to_string()
}

/// A layer ZIP as a tar (for `docker cp -`), keeping modes and symlinks.
pub fn zip_to_tar(zip_path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(zip_path).expect("open zip");
    let mut zip = zip::ZipArchive::new(file).expect("read zip");
    let mut tar = tar::Builder::new(Vec::new());
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).expect("entry");
        let name = f.name().expect("entry name").to_string();
        let mode = f.unix_mode().unwrap_or(0o644);
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode & 0o7777);
        h.set_mtime(0);
        if f.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, name.trim_end_matches('/'), std::io::empty())
                .unwrap();
        } else if mode & 0o170000 == 0o120000 {
            let mut target = String::new();
            f.read_to_string(&mut target).unwrap();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &name, &target).unwrap();
        } else {
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, &name, &data[..]).unwrap();
        }
    }
    tar.into_inner().unwrap()
}

/// Unpack a layer into /opt of a fresh container of `image` (no network), run `cmd` there with
/// `env`, and return its output. The container is removed afterwards.
pub fn run_with_layer(image: &str, zip_path: &Path, env: &[&str], cmd: &[&str]) -> Output {
    let mut args = vec!["create", "--network", "none", "--label", "fclayer-test=1"];
    for e in env {
        args.push("-e");
        args.push(e);
    }
    args.push(image);
    args.extend_from_slice(cmd);
    let id = docker(&args).trim().to_string();
    let tar = zip_to_tar(zip_path);
    let mut cp = Command::new("docker")
        .args(["cp", "-", &format!("{id}:/opt")])
        .stdin(Stdio::piped())
        .spawn()
        .expect("docker cp");
    cp.stdin.take().unwrap().write_all(&tar).unwrap();
    assert!(cp.wait().unwrap().success(), "docker cp into {id} failed");
    let out = Command::new("docker")
        .args(["start", "-a", &id])
        .output()
        .expect("docker start");
    docker(&["rm", "-f", &id]);
    eprintln!(
        "in-container: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Names of a ZIP's entries, in archive order.
pub fn zip_names(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("open zip");
    let zip = zip::ZipArchive::new(file).expect("read zip");
    (0..zip.len())
        .map(|i| {
            zip.name_for_index(i)
                .expect("index")
                .expect("name")
                .to_string()
        })
        .collect()
}

/// A fresh temporary directory for a test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The repository's root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A project folder with the given requirements.txt.
pub fn python_project(dir: &Path, requirements: &str) -> PathBuf {
    let p = dir.join("project");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("requirements.txt"), requirements).unwrap();
    p
}
