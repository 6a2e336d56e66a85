//! Helpers shared by the integration tests. The end-to-end tests drive a real Docker engine with
//! the real `docker` CLI (never through fclayer's own code, so the tool is checked from outside).
//! They are `#[ignore]`d with a reason, so plain `cargo test` shows them as skipped; `make test`
//! runs them with `--include-ignored` after starting an engine, and there they fail, never skip,
//! when the engine is missing.
//!
//! The engine under test is the one DOCKER_HOST names (else the local socket), for fclayer and
//! for the `docker` CLI alike. `FCLAYER_TEST_ENGINE=podman` says it must be Podman (`make
//! test-podman` sets both, see scripts/podman.sh): every test then checks that Podman answers,
//! so a run meant for Podman never passes on Docker by mistake, and the leftover checks also look
//! at Podman's build containers (buildah's, which the Docker API does not list).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod build;
#[allow(unused_imports)] // each test binary uses its own part of common
pub use build::{Build, PYTHON_BASE};

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
    cli_stdout(Command::new("docker"), "docker", args)
}

/// Run an engine CLI (`docker`, `podman --url …`) with `args`; its stdout, or a failed test.
fn cli_stdout(mut cmd: Command, name: &str, args: &[&str]) -> String {
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} CLI: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Which engine the tests must be talking to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestEngine {
    Docker,
    Podman,
}

/// FCLAYER_TEST_ENGINE: `docker` (the default) or `podman`.
pub fn test_engine() -> TestEngine {
    match std::env::var("FCLAYER_TEST_ENGINE").as_deref() {
        Err(_) | Ok("") | Ok("docker") => TestEngine::Docker,
        Ok("podman") => TestEngine::Podman,
        Ok(other) => panic!("FCLAYER_TEST_ENGINE={other}: expected docker or podman"),
    }
}

/// The `podman` CLI, talking to the engine under test (the socket DOCKER_HOST names).
pub fn podman(args: &[&str]) -> String {
    let host = std::env::var("DOCKER_HOST").expect("DOCKER_HOST names the Podman socket");
    let mut cmd = Command::new("podman");
    cmd.arg("--url").arg(&host);
    cli_stdout(cmd, "podman", args)
}

/// Fail loudly unless the engine under test answers (and is the kind FCLAYER_TEST_ENGINE names)
/// and `image` exists.
pub fn require_engine_and(images: &[&str]) {
    let v = Command::new("docker")
        .args([
            "version",
            "--format",
            "{{range .Server.Components}}{{.Name}};{{end}}",
        ])
        .output();
    let components = match v {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => panic!("no Docker engine answers: these tests need one (`make test` starts it)"),
    };
    let is_podman = components.split(';').any(|c| c == "Podman Engine");
    match test_engine() {
        TestEngine::Podman => assert!(
            is_podman,
            "FCLAYER_TEST_ENGINE=podman, but the engine at DOCKER_HOST={:?} is not Podman ({components}): \
             `make test-podman` starts one (scripts/podman.sh)",
            std::env::var("DOCKER_HOST").ok()
        ),
        TestEngine::Docker => assert!(
            !is_podman,
            "the engine under test is Podman: set FCLAYER_TEST_ENGINE=podman for it"
        ),
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

/// For the tests written for Podman: FCLAYER_TEST_ENGINE=podman and Podman answering.
pub fn require_podman(images: &[&str]) {
    assert_eq!(
        test_engine(),
        TestEngine::Podman,
        "this test is for Podman: run it with FCLAYER_TEST_ENGINE=podman and DOCKER_HOST at a \
         Podman service (`make test-podman` does)"
    );
    require_engine_and(images);
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

/// A running fclayer whose stderr is collected as it comes, so a test can wait for a step to
/// start before it injects a fault.
pub struct Spawned {
    pub child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Spawned {
    pub fn start(cmd: &mut Command) -> Spawned {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fclayer");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Spawned {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_now(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait until stderr holds `needle`; false if the process ended or `secs` passed first.
    pub fn wait_for(&mut self, needle: &str, secs: u64) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if self.stderr_now().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.stderr_now().contains(needle);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Send a signal by name (INT, TERM, KILL, ...).
    pub fn signal(&self, name: &str) {
        send_signal(self.pid(), name);
    }

    /// Wait for the exit (SIGKILL after `secs`, failing the test); returns the exit code (None
    /// when a signal ended it) and everything printed on stderr.
    pub fn finish(mut self, secs: u64) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "fclayer did not exit within {secs} s:\n{}",
                    self.stderr_now()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let err = self.stderr_now();
        eprintln!("--- fclayer exit {:?}\n{err}", status.code());
        (status.code(), err)
    }
}

pub fn send_signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -s {name} {pid} failed");
}

/// Containers and images that the fclayer process `pid` labelled, in any state.
pub fn labelled_by(pid: u32) -> Vec<String> {
    let filter = format!("label=fclayer.pid={pid}");
    let mut out: Vec<String> = docker(&["ps", "-aq", "--filter", &filter])
        .lines()
        .map(|id| format!("container {id}"))
        .collect();
    out.extend(
        docker(&["images", "-aq", "--filter", &filter])
            .lines()
            .map(|id| format!("image {id}")),
    );
    out
}

/// Containers (any state) whose command holds `marker`: the engine's own build containers,
/// which carry no label of fclayer's. On Podman the image builder is buildah: it runs every step
/// of a build in one working container per stage, which the Docker API does not list and whose
/// listed command is `buildah`, not the step's. So on Podman every buildah container counts (the
/// end-to-end tests run one at a time: any of them is the running test's).
pub fn containers_running(marker: &str) -> Vec<String> {
    let mut found: Vec<String> =
        docker(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"])
            .lines()
            .filter(|l| l.contains(marker))
            .map(str::to_string)
            .collect();
    if test_engine() == TestEngine::Podman {
        found.extend(
            podman(&[
                "ps",
                "-a",
                "--external",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Command}} {{.Image}}",
            ])
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("buildah"))
            .map(|l| format!("buildah {l}")),
        );
    }
    found
}

/// Anonymous volumes (64 hex digits, as the engine names them) that no container uses: what a
/// container removed without its volumes leaves. Named volumes are someone's on purpose.
pub fn dangling_volumes() -> std::collections::BTreeSet<String> {
    docker(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .lines()
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect()
}

/// Files in `dir` that a layer being written leaves beside its target.
pub fn temporaries_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".partial") || n.ends_with(".spool"))
                .collect()
        })
        .unwrap_or_default()
}

/// Run `body` `times` times, counting the repetitions that pass; prints the count and fails
/// the test unless all passed.
pub fn repeat(case: &str, times: usize, mut body: impl FnMut(usize)) {
    let mut passed = 0;
    for i in 0..times {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(i)));
        match r {
            Ok(()) => passed += 1,
            Err(_) => eprintln!("case {case}: repetition {} failed", i + 1),
        }
    }
    // Straight to the process's stderr, past the test harness's capture: the counts belong in
    // the CI log whether the test passes or not.
    let _ = writeln!(
        std::io::stderr(),
        "case {case}: {passed}/{times} repetitions passed"
    );
    assert_eq!(passed, times, "case {case}: {passed}/{times} passed");
}

/// Seconds since the Unix epoch, for `docker events --since/--until`.
/// The start of the next whole second, for an events window that must not hold what a build
/// just before it did: the engine's event times are whole seconds, and a build that takes under
/// one (a warm uv install) would otherwise share its last second with the window.
pub fn next_second() -> u64 {
    let start = now();
    while now() == start {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    now()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Containers created between two Unix times whose labels match `label` (`fclayer`, or
/// `fclayer.platform=linux/arm64`), from the engine's own events.
///
/// On Podman (4.3) the `docker` CLI gets no events for a time window, and the engine's label
/// filter matches `key=value` only, so the `podman` CLI reads the window and the labels are
/// matched here.
pub fn containers_created(label: &str, since: u64, until: u64) -> usize {
    let (since, until) = (since.to_string(), until.to_string());
    if test_engine() == TestEngine::Podman {
        return podman(&[
            "events",
            "--stream=false",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--format",
            "{{.ID}} {{range $k, $v := .Attributes}}{{$k}}={{$v}};{{end}}",
        ])
        .lines()
        .filter(|l| {
            let attrs = l.split_once(' ').map_or("", |(_, a)| a);
            attrs.split(';').any(|kv| match label.split_once('=') {
                Some(_) => kv == label,
                None => kv.split_once('=').is_some_and(|(k, _)| k == label),
            })
        })
        .count();
    }
    docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.ID}}",
    ])
    .lines()
    .count()
}
