//! End to end against Podman's Docker-compatible API: what differs from Docker Engine and is not
//! covered by running the other end-to-end files against Podman (`make test-podman` runs a subset
//! of those too, with FCLAYER_TEST_ENGINE=podman and DOCKER_HOST at the rootful service that
//! scripts/podman.sh starts).
//!
//! - the manifest and `--json` name the engine;
//! - Podman before 4.6 ignores the platform a container is created for, so fclayer's own check
//!   of the image's architecture is what refuses an image of another machine;
//! - Ctrl-C and SIGKILL then `fclayer gc` leave nothing in Podman's store, also of buildah's
//!   containers (a Dockerfile build), which the Docker API does not list;
//! - with no DOCKER_HOST and no Docker context, fclayer finds an engine at a laptop engine's
//!   socket (a Podman service listening at `$HOME/.colima/default/docker.sock`) and says so, and
//!   lists where it looked when nothing answers;
//! - rootless Podman, as a normal user: a Python build and verify, the ZIP owned by that user.
//!
//! Every test here is named `on_podman_…` (or `on_rootless_podman_…`): `make test` runs these
//! files against Podman only and skips those names in its Docker run.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A Dockerfile context whose /opt holds one program.
fn small_dockerfile(dir: &Path, extra: &str) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM debian:12\n{extra}RUN mkdir -p /opt/bin && cp /bin/true /opt/bin/\n"),
    )
    .unwrap();
    ctx
}

fn dockerfile_build(ctx: &Path, out: &Path) -> Command {
    let mut c = fclayer();
    c.args(["build", "--runtime", "custom.debian12", "--dockerfile"])
        .arg(ctx.join("Dockerfile"))
        .arg(ctx)
        .arg("-o")
        .arg(out);
    c
}

/// Podman's own version, from the engine under test.
fn podman_version() -> String {
    podman(&["version", "--format", "{{.Server.Version}}"])
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs Podman and base images: run `make test-podman`"]
fn on_podman_the_manifest_and_json_name_the_engine() {
    require_podman(&["debian:12"]);
    let tmp = tempdir();
    let ctx = small_dockerfile(tmp.path(), "");
    let out_zip = tmp.path().join("layer.zip");
    let out = run(dockerfile_build(&ctx, &out_zip).arg("--json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let version = podman_version();
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("--json");
    let engine = &report[0]["engine"];
    assert_eq!(engine["name"], "Podman", "{report}");
    assert_eq!(engine["version"], version.as_str(), "{report}");
    assert!(
        engine["api"].as_str().is_some_and(|a| a.starts_with("1.")),
        "{report}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("layer.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(&manifest["engine"], engine, "{manifest}");
    assert!(fclayer_containers().is_empty(), "containers left");
    assert_eq!(zip_names(&out_zip), ["bin/", "bin/true"]);
}

/// Podman 4.3 creates a container from the local image of that name whatever platform is asked
/// for (the platform parameter is read from 4.6 on): fclayer's check of the image's recorded
/// architecture is what stops an arm64 image from running an amd64 build.
#[test]
#[ignore = "needs Podman and base images: run `make test-podman`"]
fn on_podman_an_image_of_another_architecture_is_refused() {
    require_podman(&["debian:12-arm64"]);
    let arch = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Architecture}}",
        "debian:12-arm64",
    ]);
    assert_eq!(arch.trim(), "arm64", "the test needs an arm64 image");
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let since = next_second();
    let out = run(fclayer()
        .args([
            "build",
            "--runtime",
            "custom.debian12",
            "--base-image",
            "debian:12-arm64",
        ])
        .arg(&project)
        .arg("-o")
        .arg(&out_zip));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("image debian:12-arm64 is linux/arm64, but this build targets linux/amd64"),
        "{}",
        stderr(&out)
    );
    assert!(!out_zip.exists());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        containers_created("fclayer", since, now()),
        0,
        "a container was created"
    );

    // verify's own image choice is checked the same way.
    std::fs::create_dir_all(tmp.path().join("tree/bin")).unwrap();
    std::fs::copy("/bin/true", tmp.path().join("tree/bin/true")).unwrap();
    let zip = tmp.path().join("pack.zip");
    assert!(
        run(fclayer()
            .arg("pack")
            .arg(tmp.path().join("tree"))
            .arg("-o")
            .arg(&zip))
        .status
        .success()
    );
    let out = run(fclayer()
        .args([
            "verify",
            "--runtime",
            "custom.debian12",
            "--image",
            "debian:12-arm64",
        ])
        .arg(&zip));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is linux/arm64"), "{}", stderr(&out));
    assert!(fclayer_containers().is_empty(), "containers left");
}

/// Ctrl-C while buildah runs a Dockerfile step, and while the installer runs in a container:
/// exit 130 at once and nothing of the run left in Podman's store (labelled objects, buildah's
/// working container, any new image, dangling volumes), nor beside the output.
///
/// Podman 4.3 does not stop a build's running step when its client goes away (Docker's legacy
/// builder lets fclayer remove the step's container): buildah finishes that step, then drops
/// the build without committing or tagging anything. So for the image build the test waits for
/// the step (a short sleep) to end, and then nothing may be left at all.
#[test]
#[ignore = "needs Podman and base images: run `make test-podman`"]
fn on_podman_ctrl_c_leaves_nothing() {
    require_podman(&["debian:12", "debian:11"]);
    let all_images = || -> std::collections::BTreeSet<String> {
        docker(&["images", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    };
    for case in ["image build", "install"] {
        let tmp = tempdir();
        let marker = format!("fclayer-podman-{}-{}", std::process::id(), case.len());
        let volumes = dangling_volumes();
        let images = all_images();
        let out_zip = tmp.path().join("layer.zip");
        let mut cmd = if case == "image build" {
            let ctx = small_dockerfile(tmp.path(), &format!("RUN echo {marker} && sleep 20\n"));
            let mut c = dockerfile_build(&ctx, &out_zip);
            c.arg("--verbose");
            c
        } else {
            let project = python_project(tmp.path(), "./slow\n");
            std::fs::create_dir_all(project.join("slow")).unwrap();
            std::fs::write(
                project.join("slow/setup.py"),
                format!("import time\nprint('{marker}', flush=True)\ntime.sleep(600)\n"),
            )
            .unwrap();
            let mut c = fclayer();
            c.args([
                "build",
                "--runtime",
                "python3.9",
                "--base-image",
                "debian:11",
                "--verbose",
            ])
            .arg(&project)
            .arg("-o")
            .arg(&out_zip);
            c
        };
        let mut fc = Spawned::start(&mut cmd);
        // The image build: the marker printed by the step itself (--verbose output), not the
        // step line naming it. The install: pip has started (it hides setup.py's output).
        let printed = if case == "image build" {
            format!("| {marker}")
        } else {
            "Installing with ".to_string()
        };
        assert!(
            fc.wait_for(&printed, 600),
            "{case}: never reached {printed}:\n{}",
            fc.stderr_now()
        );
        std::thread::sleep(Duration::from_millis(2000));
        if case == "image build" {
            assert!(
                !containers_running(&marker).is_empty(),
                "buildah's working container is not listed: the leftover check would prove nothing"
            );
        }
        let pid = fc.pid();
        let signalled = std::time::Instant::now();
        fc.signal("INT");
        let (code, err) = fc.finish(120);
        assert_eq!(code, Some(130), "{case}: {err}");
        assert!(
            err.contains("error: interrupted by SIGINT (Ctrl-C)"),
            "{err}"
        );
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "{case}: the run took {:?} to end after Ctrl-C",
            signalled.elapsed()
        );
        assert_eq!(
            labelled_by(pid),
            Vec::<String>::new(),
            "{case}: left in Podman"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !containers_running(&marker).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(
            containers_running(&marker),
            Vec::<String>::new(),
            "{case}: build containers left a minute after the step's end"
        );
        let new_images: Vec<_> = all_images().difference(&images).cloned().collect();
        assert!(new_images.is_empty(), "{case}: images left: {new_images:?}");
        assert_eq!(
            labelled_by(pid),
            Vec::<String>::new(),
            "{case}: left in Podman"
        );
        let new_volumes: Vec<_> = dangling_volumes().difference(&volumes).cloned().collect();
        assert!(
            new_volumes.is_empty(),
            "{case}: volumes left: {new_volumes:?}"
        );
        assert!(!out_zip.exists());
        assert_eq!(temporaries_in(tmp.path()), Vec::<String>::new());
    }
}

/// SIGKILL leaves the run's container and temporary image in Podman's store; `fclayer gc` finds
/// them by label, sees their process is gone and removes them.
#[test]
#[ignore = "needs Podman and base images: run `make test-podman`"]
fn on_podman_gc_removes_what_a_sigkilled_run_left() {
    require_podman(&["debian:12"]);
    let tmp = tempdir();
    // /opt large enough that copying it out takes a moment: the run is killed while its
    // container and temporary image exist.
    let ctx = small_dockerfile(
        tmp.path(),
        "RUN mkdir -p /opt/data && head -c 300000000 /dev/urandom > /opt/data/blob\n",
    );
    let out_zip = tmp.path().join("layer.zip");
    let mut fc = Spawned::start(&mut dockerfile_build(&ctx, &out_zip));
    assert!(
        fc.wait_for("Copying out /opt", 600),
        "never copied out:\n{}",
        fc.stderr_now()
    );
    let pid = fc.pid();
    fc.signal("KILL");
    let (code, _) = fc.finish(30);
    assert_eq!(code, None, "SIGKILL ends the process");
    let left = labelled_by(pid);
    assert!(
        left.iter().any(|l| l.starts_with("container "))
            && left.iter().any(|l| l.starts_with("image ")),
        "the container and the temporary image should be left: {left:?}"
    );
    let gc = run(fclayer().arg("gc"));
    assert!(gc.status.success(), "gc failed");
    let report = stderr(&gc);
    assert!(
        report.contains(&format!("(run of pid {pid}, gone)")),
        "{report}"
    );
    assert!(report.contains("Removed container"), "{report}");
    // Podman names the temporary image docker.io/fclayer-tmp/… (its compat API qualifies
    // short names).
    assert!(
        report
            .lines()
            .any(|l| l.trim_start().starts_with("Removed image") && l.contains("fclayer-tmp/")),
        "{report}"
    );
    assert_eq!(labelled_by(pid), Vec::<String>::new(), "gc left some");
}

/// A second Podman service on the same store, listening where Colima puts its socket under a
/// temporary HOME; stopped when dropped.
struct Service {
    child: std::process::Child,
}

impl Service {
    fn start(socket: &Path) -> Service {
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let log_path = socket.with_extension("log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new("podman");
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(std::process::Stdio::null())
            .stderr(log);
        if let Ok(conf) = std::env::var("FCLAYER_TEST_PODMAN_CONF") {
            assert!(
                Path::new(&conf).is_file(),
                "FCLAYER_TEST_PODMAN_CONF={conf} does not exist"
            );
            cmd.env("CONTAINERS_CONF", conf);
        }
        let child = cmd.spawn().expect("podman system service");
        let mut s = Service { child };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            let ended = s.child.try_wait().unwrap();
            assert!(
                ended.is_none() && std::time::Instant::now() < deadline,
                "podman system service on {} did not start ({ended:?}): {}",
                socket.display(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fclayer with nothing naming an engine: no DOCKER_HOST, no Docker context, HOME and
/// XDG_RUNTIME_DIR in `root`, and the system paths (/var/run/docker.sock, /run/podman) moved
/// there too, so the machine's own engines are out of sight.
fn looking(root: &Path) -> Command {
    let mut c = fclayer();
    c.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", root.join("home/.docker"))
        .env("HOME", root.join("home"))
        .env("XDG_RUNTIME_DIR", root.join("xdg"))
        .env("TMPDIR", root.join("tmp"))
        .env("FCLAYER_TEST_SYSTEM_ROOT", root.join("sys"));
    for d in ["home", "xdg", "tmp", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    c
}

#[test]
#[ignore = "needs Podman and base images: run `make test-podman`"]
fn on_podman_an_engine_is_found_where_laptop_engines_listen() {
    require_podman(&[]);
    let tmp = tempdir();
    let root = tmp.path();

    // Nothing anywhere: the error lists the places and how to start an engine.
    let out = run(looking(root).arg("gc"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    for place in [
        "sys/var/run/docker.sock",
        "home/.docker/run/docker.sock",
        "home/.colima/default/docker.sock",
        "home/.orbstack/run/docker.sock",
        "home/.rd/docker.sock",
        "xdg/docker.sock",
        "xdg/podman/podman.sock",
        "sys/run/podman/podman.sock",
    ] {
        assert!(
            err.contains(&root.join(place).display().to_string()),
            "{place} not listed:\n{err}"
        );
    }
    assert!(
        err.contains("colima start") && err.contains("podman machine start"),
        "{err}"
    );

    // A socket file nobody answers on (a stopped VM leaves one) is passed over, and a live
    // engine at Colima's default profile is taken and named on the first line.
    let dead = root.join("home/.docker/run/docker.sock");
    std::fs::create_dir_all(dead.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let socket = root.join("home/.colima/default/docker.sock");
    let _service = Service::start(&socket);
    let out = run(looking(root).arg("gc"));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or("");
    assert!(first.trim_start().starts_with("Engine "), "{err}");
    assert!(
        first.contains(&format!("Podman {}", podman_version()))
            && first.contains(&socket.display().to_string())
            && first.contains("(Colima (profile default))"),
        "{first}"
    );

    // The standard socket, when it answers, comes first and needs no line.
    let standard = root.join("sys/var/run/docker.sock");
    std::fs::create_dir_all(standard.parent().unwrap()).unwrap();
    let _standard = Service::start(&standard);
    let out = run(looking(root).arg("gc"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Engine "), "{}", stderr(&out));
}

/// Rootless Podman: fclayer run by a normal user against the user's own service at
/// `$XDG_RUNTIME_DIR/podman/podman.sock`, found by looking, builds a Python layer that the user
/// owns, and verify loads it. scripts/podman.sh rootless sets the user and the service up and
/// names them in FCLAYER_TEST_ROOTLESS_USER; where rootless Podman cannot run, that script
/// fails with the reason and `make test-podman` stops there.
#[test]
#[ignore = "needs rootless Podman: run `make test-podman`"]
fn on_rootless_podman_a_normal_user_builds_and_verifies_a_python_layer() {
    let user = std::env::var("FCLAYER_TEST_ROOTLESS_USER").unwrap_or_else(|_| {
        panic!(
            "FCLAYER_TEST_ROOTLESS_USER is not set: rootless Podman was not set up \
             (`scripts/podman.sh rootless` does it, or says why it cannot run here)"
        )
    });
    let uid: u32 = String::from_utf8(
        Command::new("id")
            .args(["-u", &user])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .expect("the rootless user exists");
    let home = format!("/home/{user}");
    let xdg = format!("/run/user/{uid}");
    assert!(
        Path::new(&format!("{xdg}/podman/podman.sock")).exists(),
        "no rootless Podman socket at {xdg}/podman/podman.sock"
    );
    let tmp = tempdir();
    let work = tmp.path().join("work");
    let project = python_project(&work, "six==1.16.0\nidna==3.7\n");
    let chown = Command::new("chown")
        .args(["-R", &format!("{user}:")])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let out_zip = work.join("layer.zip");
    let as_user = |args: &[&str], env: &[(&str, String)]| {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--", "env", "-i"])
            .arg(format!("HOME={home}"))
            .arg(format!("XDG_RUNTIME_DIR={xdg}"))
            .arg(format!("PATH={}", std::env::var("PATH").unwrap()))
            .arg(format!(
                "FCLAYER_CACHE_DIR={}",
                work.join("cache").display()
            ))
            .arg(format!("TMPDIR={}", work.display()));
        for (k, v) in env {
            c.arg(format!("{k}={v}"));
        }
        // The proxy and its CA, as for every build here.
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "SSL_CERT_FILE",
        ] {
            if let Ok(v) = std::env::var(k) {
                c.arg(format!("{k}={v}"));
            }
        }
        c.arg(env!("CARGO_BIN_EXE_fclayer")).args(args);
        run(&mut c)
    };
    // No DOCKER_HOST: found at $XDG_RUNTIME_DIR/podman/podman.sock. The system paths are moved
    // away, so the machine's Docker (root's) is not what answers.
    let empty_system = tmp.path().join("sys");
    std::fs::create_dir_all(&empty_system).unwrap();
    let zip_arg = out_zip.display().to_string();
    let project_arg = project.display().to_string();
    let out = as_user(
        &[
            "build",
            "--runtime",
            "python3.9",
            "--base-image",
            "debian:11",
            &project_arg,
            "-o",
            &zip_arg,
        ],
        &[(
            "FCLAYER_TEST_SYSTEM_ROOT",
            empty_system.display().to_string(),
        )],
    );
    assert!(
        out.status.success(),
        "rootless build failed: {}",
        stderr(&out)
    );
    let first = stderr(&out).lines().next().unwrap_or("").to_string();
    assert!(
        first.contains("Podman") && first.contains("(rootless Podman)"),
        "{first}"
    );
    let meta = std::fs::metadata(&out_zip).unwrap();
    assert_eq!(meta.uid(), uid, "the ZIP belongs to {user}");
    let manifest = work.join("layer.manifest.json");
    assert_eq!(std::fs::metadata(&manifest).unwrap().uid(), uid);
    let names = zip_names(&out_zip);
    assert!(names.contains(&"python/six.py".to_string()), "{names:?}");
    assert!(
        names.contains(&"python/idna/__init__.py".to_string()),
        "{names:?}"
    );

    let out = as_user(
        &[
            "verify",
            "--runtime",
            "python3.9",
            "--base-image",
            "debian:11",
            &zip_arg,
        ],
        &[("DOCKER_HOST", format!("unix://{xdg}/podman/podman.sock"))],
    );
    assert!(
        out.status.success(),
        "rootless verify failed: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("PASS  import   six"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("PASS  import   idna"),
        "{}",
        stdout(&out)
    );

    // Nothing of fclayer's left in the user's store.
    let left = Command::new("podman")
        .args(["--url", &format!("unix://{xdg}/podman/podman.sock")])
        .args(["ps", "-aq", "--filter", "label=fclayer"])
        .output()
        .unwrap();
    assert!(left.status.success());
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "containers left"
    );
}
