//! Faults injected into real builds against a real Docker engine: the installer failing or
//! hanging, SIGINT/SIGTERM/SIGHUP in each phase, the build container killed or removed from
//! outside, the engine stopped mid-run, an unwritable or full output directory, a run killed
//! with SIGKILL (then `fclayer gc`), a second Ctrl-C while the engine hangs the cleanup.
//!
//! The engine-stop test stops the engine in the pid file FCLAYER_TEST_DOCKERD_PIDFILE names
//! (default dockerd's own /var/run/docker.pid) and starts it again the way it was started; with
//! DOCKER_HOST and that variable it can be pointed at a private engine, leaving a shared one
//! alone.
//!
//! After each fault: a clear message, the documented non-zero exit code, nothing of the run left
//! in the engine (found by the run's `fclayer.pid` label, plus the engine's own unlabelled build
//! containers, found by a marker in their command), no new dangling volume, no file at the
//! output path and no temporary beside it; then a later build works. Each case runs a few times
//! and prints how many repetitions passed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const BASE: &str = PYTHON_BASE;
const REPS: usize = 2;

/// A project whose installer never finishes: pip runs the local package's setup.py, which
/// sleeps. Needs no network.
fn slow_python_project(dir: &Path) -> PathBuf {
    let p = python_project(dir, "./slow\n");
    std::fs::create_dir_all(p.join("slow")).unwrap();
    std::fs::write(
        p.join("slow/setup.py"),
        "import time\nprint('fclayer-test: setup.py sleeping', flush=True)\ntime.sleep(600)\n",
    )
    .unwrap();
    p
}

fn python_build(project: &Path, out: &Path) -> Command {
    Build::python(project).out(out).command()
}

fn dockerfile_build(context: &Path, out: &Path) -> Command {
    Build::dockerfile("custom.debian12", context)
        .out(out)
        .command()
}

/// A Dockerfile context. The image's /opt (200 MB of random bytes in one file, and 30 000 small
/// files) makes copying out and packing (whose time goes with the number of entries) take
/// seconds each; its VOLUME gives every container of it an anonymous volume, which must go with
/// the container. The steps are the same every time, so the engine's cache builds it once.
/// A Dockerfile whose /opt holds a `blob_mb` MB file of random bytes and 30,000 small files.
fn big_opt_context(dir: &Path, blob_mb: u32) -> PathBuf {
    let ctx = dir.join("big");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM debian:12\n\
             RUN mkdir -p /opt/big /opt/many && head -c {blob_mb}000000 /dev/urandom >/opt/big/blob \
                 && head -c 15360000 /dev/urandom | split -b 512 -a 4 - /opt/many/f\n\
             VOLUME /var/lib/fclayer-test\n"
        ),
    )
    .unwrap();
    ctx
}

/// A Dockerfile whose second step runs for two minutes, printing `marker` first.
fn slow_image_context(dir: &Path, marker: &str) -> PathBuf {
    let ctx = dir.join("slow-image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM debian:12\nRUN echo {marker} && sleep 120\nRUN mkdir -p /opt/x\n"),
    )
    .unwrap();
    ctx
}

/// What must hold after any fault: nothing of the run `pid` in the engine, no new dangling
/// volume, no engine build container showing `marker`, no layer and no temporary at `out`.
fn assert_nothing_left(
    pid: u32,
    out: &Path,
    volumes_before: &std::collections::BTreeSet<String>,
    marker: Option<&str>,
) {
    assert_eq!(labelled_by(pid), Vec::<String>::new(), "left in the engine");
    if let Some(m) = marker {
        assert_eq!(
            containers_running(m),
            Vec::<String>::new(),
            "build containers left"
        );
    }
    let new_volumes: Vec<_> = dangling_volumes()
        .difference(volumes_before)
        .cloned()
        .collect();
    assert!(new_volumes.is_empty(), "volumes left: {new_volumes:?}");
    assert!(!out.exists(), "{} exists", out.display());
    assert_eq!(
        temporaries_in(out.parent().unwrap()),
        Vec::<String>::new(),
        "temporaries left"
    );
}

/// A later build that needs no network: a Dockerfile build on debian:12.
fn later_offline_build_works() -> String {
    let tmp = tempdir();
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM debian:12\nRUN mkdir -p /opt/bin && cp /bin/true /opt/bin/\n",
    )
    .unwrap();
    let out = tmp.path().join("later.zip");
    let run = run(&mut dockerfile_build(&ctx, &out));
    assert!(run.status.success(), "a later build failed");
    assert!(out.is_file());
    stderr(&run)
}

/// A later build works (python3.9 six: its image is cached by then).
fn later_build_works() -> String {
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let out = tmp.path().join("later.zip");
    let run = run(&mut python_build(&project, &out));
    assert!(run.status.success(), "a later build failed");
    assert!(out.is_file());
    stderr(&run)
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn installer_failure_is_reported_and_leaves_nothing() {
    require_engine_and(&[BASE]);
    repeat("installer fails", REPS, |_| {
        let tmp = tempdir();
        let project = python_project(tmp.path(), "six\nfclayer-no-such-package-4f9a1c==1.0\n");
        let out = tmp.path().join("layer.zip");
        let volumes = dangling_volumes();
        let run = Spawned::start(&mut python_build(&project, &out));
        let pid = run.pid();
        let (code, err) = run.finish(300);
        assert_eq!(code, Some(1));
        assert!(
            err.contains("error: uv ")
                && err.contains(" (python3.9) failed (exit code 1) installing requirements.txt"),
            "{err}"
        );
        assert!(err.contains("| ") && err.contains("fclayer-no-such-package-4f9a1c"));
        assert_nothing_left(pid, &out, &volumes, None);
    });
    later_build_works();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn installer_hanging_past_the_timeout_is_stopped() {
    require_engine_and(&[BASE]);
    repeat("installer hangs past --timeout", REPS, |_| {
        let tmp = tempdir();
        let project = slow_python_project(tmp.path());
        let out = tmp.path().join("layer.zip");
        let volumes = dangling_volumes();
        let started = std::time::Instant::now();
        let mut cmd = python_build(&project, &out);
        cmd.args(["--timeout", "6"]);
        let run = Spawned::start(&mut cmd);
        let pid = run.pid();
        let (code, err) = run.finish(120);
        assert_eq!(code, Some(1));
        assert!(
            err.contains("error: the installer did not finish within 6 s and was stopped"),
            "{err}"
        );
        assert!(err.contains("| fclayer: uv "), "no log tail: {err}");
        assert!(err.contains("hint: raise --timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(60));
        assert_nothing_left(pid, &out, &volumes, None);
    });
    later_build_works();
}

/// The four phases a signal is sent in, and how each is reached.
#[derive(Clone, Copy, Debug)]
enum Phase {
    ImageBuild,
    ContainerRun,
    CopyingOut,
    Packing,
}

impl Phase {
    /// Start a build and wait until it is in this phase. Returns the run and its output path.
    fn enter(self, dir: &Path, marker: &str) -> (Spawned, PathBuf) {
        let out = dir.join("layer.zip");
        let (mut run, needle, settle) = match self {
            Phase::ImageBuild => {
                let ctx = slow_image_context(dir, marker);
                let run = Spawned::start(&mut dockerfile_build(&ctx, &out));
                (run, "Step 2/".to_string(), 1500)
            }
            Phase::ContainerRun => {
                let project = slow_python_project(dir);
                let run = Spawned::start(&mut python_build(&project, &out));
                (run, "Installing with ".to_string(), 2000)
            }
            Phase::CopyingOut => {
                let ctx = big_opt_context(dir, 200);
                let run = Spawned::start(&mut dockerfile_build(&ctx, &out));
                (run, "Copying out /opt".to_string(), 400)
            }
            Phase::Packing => {
                // Writing the ordered ZIP only copies compressed bytes (a 200 MB tree takes
                // 0.2 s): a bigger blob keeps that phase open long enough to be hit.
                let ctx = big_opt_context(dir, 1000);
                let run = Spawned::start(&mut dockerfile_build(&ctx, &out));
                (run, format!("Packing {}", out.display()), 100)
            }
        };
        assert!(
            run.wait_for(&needle, 600),
            "never reached {self:?} ({needle}):\n{}",
            run.stderr_now()
        );
        std::thread::sleep(Duration::from_millis(settle));
        (run, out)
    }

    /// The line that shows the phase already ended (the signal came too late to test it).
    fn ended(self, stderr: &str) -> bool {
        match self {
            Phase::ImageBuild => stderr.contains("Step 3/"),
            Phase::ContainerRun => stderr.contains("Copying out"),
            Phase::CopyingOut => stderr.contains("     Packing"),
            Phase::Packing => stderr.contains("in path order:"),
        }
    }
}

fn signal_in(phase: Phase) {
    let images = if matches!(phase, Phase::ContainerRun) {
        vec![BASE]
    } else {
        vec!["debian:12"]
    };
    require_engine_and(&images);
    for (sig, name) in [
        ("INT", "SIGINT (Ctrl-C)"),
        ("TERM", "SIGTERM"),
        ("HUP", "SIGHUP"),
    ] {
        repeat(&format!("SIG{sig} during {phase:?}"), REPS, |i| {
            let tmp = tempdir();
            let marker = format!("fclayer-fault-{}-{sig}-{i}", std::process::id());
            let volumes = dangling_volumes();
            let (fc, out) = phase.enter(tmp.path(), &marker);
            let pid = fc.pid();
            fc.signal(sig);
            let at_signal = fc.stderr_now();
            let (code, err) = fc.finish(90);
            assert!(
                !phase.ended(&at_signal),
                "the signal came after {phase:?} ended"
            );
            assert_eq!(code, Some(130), "exit code");
            assert!(
                err.contains(&format!("error: interrupted by {name}")),
                "{err}"
            );
            assert_nothing_left(pid, &out, &volumes, Some(&marker));
        });
    }
    later_build_works();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn signals_during_the_image_build_leave_nothing() {
    signal_in(Phase::ImageBuild);
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn signals_during_the_container_run_leave_nothing() {
    signal_in(Phase::ContainerRun);
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn signals_while_copying_out_leave_nothing() {
    signal_in(Phase::CopyingOut);
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn signals_while_packing_leave_nothing() {
    signal_in(Phase::Packing);
}

/// The one container a run has while it installs.
fn container_of(pid: u32) -> String {
    let ids = docker(&["ps", "-q", "--filter", &format!("label=fclayer.pid={pid}")]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 1, "expected one running container: {ids:?}");
    ids[0].to_string()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn container_killed_or_removed_from_outside_is_reported() {
    require_engine_and(&[BASE]);
    // `docker rm -f` kills the container first, so the run usually sees the kill; if it only
    // sees the container gone, it says that.
    for (how, args, messages) in [
        (
            "killed",
            &["kill"][..],
            &[
                " (python3.9) was stopped (killed by SIGKILL (exit 137)) installing requirements.txt",
            ][..],
        ),
        (
            "removed",
            &["rm", "-f"][..],
            &[
                " (python3.9) was stopped (killed by SIGKILL (exit 137)) installing requirements.txt",
                "error: the build container was removed by something outside fclayer while it ran",
            ][..],
        ),
    ] {
        repeat(&format!("container {how} from outside"), REPS, |_| {
            let tmp = tempdir();
            let volumes = dangling_volumes();
            let (mut fc, out) = Phase::ContainerRun.enter(tmp.path(), "");
            let pid = fc.pid();
            let id = container_of(pid);
            let mut a = args.to_vec();
            a.push(&id);
            docker(&a);
            assert!(fc.wait_for("error:", 60));
            let (code, err) = fc.finish(60);
            assert_eq!(code, Some(1), "exit code");
            assert!(messages.iter().any(|m| err.contains(m)), "{err}");
            assert!(err.contains("outside fclayer"), "no hint: {err}");
            assert_nothing_left(pid, &out, &volumes, None);
        });
    }
    later_build_works();
}

/// Restarts the Docker engine when dropped, if it does not answer: a failing test must never
/// leave the machine without one. The engine is restarted the way it was started: for CI's
/// (scripts/ensure-engine.sh) that is `setsid dockerd >/tmp/dockerd.log 2>&1 &`.
struct EngineGuard {
    argv: Vec<String>,
    log: PathBuf,
}

impl EngineGuard {
    /// The engine to stop: the pid in FCLAYER_TEST_DOCKERD_PIDFILE (default dockerd's own
    /// /var/run/docker.pid), its command line read from /proc.
    fn new() -> (EngineGuard, u32) {
        let pidfile = std::env::var("FCLAYER_TEST_DOCKERD_PIDFILE")
            .unwrap_or_else(|_| "/var/run/docker.pid".into());
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("cannot read {pidfile}: {e}"))
            .trim()
            .parse()
            .expect("a pid");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("dockerd's cmdline");
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert!(
            argv.first().is_some_and(|a| a.ends_with("dockerd")),
            "{pidfile} names pid {pid}, which is not dockerd: {argv:?}"
        );
        let log =
            std::env::var("FCLAYER_TEST_DOCKERD_LOG").unwrap_or_else(|_| "/tmp/dockerd.log".into());
        (
            EngineGuard {
                argv,
                log: log.into(),
            },
            pid,
        )
    }

    fn answers() -> bool {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stop the engine and wait until its process is gone.
    fn stop(pid: u32) {
        send_signal(pid, "TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "dockerd {pid} did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Start the engine again (if it does not answer) and wait until it does.
    fn start(&self) {
        if Self::answers() {
            return;
        }
        let quoted: Vec<String> = self
            .argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let line = format!(
            "setsid {} >'{}' 2>&1 </dev/null &",
            quoted.join(" "),
            self.log.display()
        );
        let ok = Command::new("sh")
            .args(["-c", &line])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not start dockerd: {line}");
        for _ in 0..120 {
            if Self::answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "dockerd did not answer within 60 s; see {}",
            self.log.display()
        );
    }
}

impl Drop for EngineGuard {
    fn drop(&mut self) {
        self.start();
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn engine_stopped_mid_run_is_reported_and_cleaned_up_by_the_next_run() {
    require_engine_and(&[BASE, "debian:12"]);
    for phase in [Phase::ContainerRun, Phase::CopyingOut] {
        repeat(&format!("engine stopped during {phase:?}"), REPS, |_| {
            let (guard, dockerd) = EngineGuard::new();
            let tmp = tempdir();
            let volumes = dangling_volumes();
            let (fc, out) = phase.enter(tmp.path(), "");
            let pid = fc.pid();
            EngineGuard::stop(dockerd);
            let (code, err) = fc.finish(120);
            guard.start();
            drop(guard);
            assert_eq!(code, Some(3), "exit code");
            assert!(err.contains("stopped answering"), "{err}");
            assert!(err.contains("fclayer gc"), "no word of gc: {err}");
            assert!(!out.exists());
            assert_eq!(temporaries_in(tmp.path()), Vec::<String>::new());
            // The engine kept what it could not be asked to remove; the next build removes it.
            let later = later_offline_build_works();
            assert!(
                labelled_by(pid).is_empty(),
                "the next build left the dead run's objects: {:?}",
                labelled_by(pid)
            );
            assert!(
                later.contains("left by earlier runs that were killed"),
                "{later}"
            );
            let new_volumes: Vec<_> = dangling_volumes().difference(&volumes).cloned().collect();
            assert!(new_volumes.is_empty(), "volumes left: {new_volumes:?}");
        });
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn unwritable_output_directory_fails_before_the_engine() {
    require_engine_and(&[BASE]);
    repeat("output directory unwritable", REPS, |_| {
        let tmp = tempdir();
        let project = python_project(tmp.path(), "six\n");
        let dir = tmp.path().join("ro");
        std::fs::create_dir(&dir).unwrap();
        let _mount = Mount::tmpfs(&dir, "size=1m,ro");
        let out = dir.join("layer.zip");
        let volumes = dangling_volumes();
        let run = Spawned::start(&mut python_build(&project, &out));
        let pid = run.pid();
        let (code, err) = run.finish(60);
        assert_eq!(code, Some(2), "exit code");
        assert!(
            err.contains("error: output path is not writable: cannot write to"),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
        assert!(!err.contains("Resolving"), "the engine was used: {err}");
        assert_nothing_left(pid, &out, &volumes, None);
    });
}

/// A tmpfs mounted for the test, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, options: &str) -> Mount {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mount -t tmpfs -o {options} failed (these tests run as root)"
        );
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn full_disk_at_the_output_is_reported_and_leaves_nothing() {
    require_engine_and(&["debian:12"]);
    // Random bytes do not compress, so the spool and the ZIP are each as big as the blob: 8 MB
    // fills a 2 MB disk while copying out; 5 MB fits an 8 MB disk once, then fills it while
    // the ZIP is written.
    for (disk, blob, step) in [
        ("2m", 8_000_000, "copying out"),
        ("8m", 5_000_000, "packing"),
    ] {
        repeat(&format!("output disk full while {step}"), REPS, |_| {
            let tmp = tempdir();
            let ctx = tmp.path().join("ctx");
            std::fs::create_dir(&ctx).unwrap();
            std::fs::write(
                ctx.join("Dockerfile"),
                format!(
                    "FROM debian:12\nRUN mkdir -p /opt/data && head -c {blob} /dev/urandom >/opt/data/blob\n"
                ),
            )
            .unwrap();
            let dir = tmp.path().join("small");
            std::fs::create_dir(&dir).unwrap();
            let _mount = Mount::tmpfs(&dir, &format!("size={disk}"));
            let out = dir.join("layer.zip");
            let volumes = dangling_volumes();
            let run = Spawned::start(&mut dockerfile_build(&ctx, &out));
            let pid = run.pid();
            let (code, err) = run.finish(300);
            assert_eq!(code, Some(1), "exit code");
            assert!(
                err.contains("to the layer: No space left on device"),
                "{err}"
            );
            assert!(
                err.contains("hint: the disk holding the output path is full"),
                "{err}"
            );
            if step == "packing" {
                assert!(err.contains("     Packing"), "filled too early: {err}");
            }
            assert!(!err.contains("ZipWriter"), "a library's own message: {err}");
            assert_nothing_left(pid, &out, &volumes, None);
            let used: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
            assert!(used.is_empty(), "files left on the full disk: {used:?}");
        });
    }
    later_build_works();
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn gc_removes_what_a_sigkilled_run_left() {
    require_engine_and(&[BASE, "debian:12"]);
    for phase in [Phase::ContainerRun, Phase::CopyingOut] {
        repeat(&format!("SIGKILL during {phase:?}, then gc"), REPS, |_| {
            let tmp = tempdir();
            let volumes = dangling_volumes();
            let (fc, out) = phase.enter(tmp.path(), "");
            let pid = fc.pid();
            fc.signal("KILL");
            let (code, _) = fc.finish(30);
            assert_eq!(code, None, "SIGKILL ends the process");
            let left = labelled_by(pid);
            assert!(
                !left.is_empty(),
                "nothing left to collect: the test proves nothing"
            );
            if matches!(phase, Phase::CopyingOut) {
                assert!(
                    left.iter().any(|l| l.starts_with("image ")),
                    "the temporary image should be left: {left:?}"
                );
            }

            let gc = run_gc(&[]);
            assert!(gc.status.success(), "gc failed");
            let report = stderr(&gc);
            assert!(
                report.contains(&format!("(run of pid {pid}, gone)")),
                "{report}"
            );
            assert!(report.contains("Removed container"), "{report}");
            if matches!(phase, Phase::CopyingOut) {
                assert!(report.contains("Removed image fclayer-tmp/"), "{report}");
            }
            assert_eq!(labelled_by(pid), Vec::<String>::new(), "gc left some");
            let new_volumes: Vec<_> = dangling_volumes().difference(&volumes).cloned().collect();
            assert!(new_volumes.is_empty(), "volumes left: {new_volumes:?}");
            // The half-written temporaries of the killed run go with the next build to the
            // same path, which sees their owner is gone.
            assert!(!out.exists(), "a layer was written");
            let project = python_project(tmp.path(), "six==1.16.0\n");
            let again = run(&mut python_build(&project, &out));
            assert!(again.status.success(), "a later build failed");
            assert_eq!(temporaries_in(tmp.path()), Vec::<String>::new());
        });
    }
}

/// Sends SIGCONT to a frozen dockerd when dropped, so a failing test never leaves it stopped.
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        send_signal(self.0, "CONT");
    }
}

/// A second Ctrl-C skips a cleanup that hangs on an engine that does not answer: dockerd is
/// frozen (SIGSTOP) after the build container started, so the first Ctrl-C's cleanup waits; the
/// second ends the run at once, saying `fclayer gc` removes what is left, and once the engine
/// answers again gc does.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_second_ctrl_c_skips_a_cleanup_the_engine_does_not_answer() {
    require_engine_and(&[BASE]);
    let (_, dockerd) = EngineGuard::new();
    repeat(
        "second SIGINT while the engine hangs the cleanup",
        REPS,
        |_| {
            let tmp = tempdir();
            let volumes = dangling_volumes();
            let (mut fc, out) = Phase::ContainerRun.enter(tmp.path(), "");
            let pid = fc.pid();
            let container = container_of(pid);
            send_signal(dockerd, "STOP");
            let thaw = Thaw(dockerd);
            fc.signal("INT");
            assert!(
                fc.wait_for("a second Ctrl-C skips this", 30),
                "no word of the cleanup after the first Ctrl-C:\n{}",
                fc.stderr_now()
            );
            // The cleanup cannot finish while the engine is frozen.
            std::thread::sleep(Duration::from_millis(1500));
            assert!(
                !fc.stderr_now().contains("cleanup skipped"),
                "the run ended on its own"
            );
            let second = std::time::Instant::now();
            fc.signal("INT");
            let (code, err) = fc.finish(30);
            let took = second.elapsed();
            drop(thaw);
            assert_eq!(code, Some(130), "exit code: {err}");
            assert!(
                took < Duration::from_secs(10),
                "the second Ctrl-C took {took:?} to end the run"
            );
            assert!(
                err.contains("error: interrupted by SIGINT (Ctrl-C)"),
                "{err}"
            );
            assert!(
                err.contains(
                    "cleanup skipped after SIGINT (Ctrl-C); `fclayer gc` removes what this run left"
                ),
                "{err}"
            );
            assert!(!out.exists(), "a layer was written");
            assert_eq!(temporaries_in(tmp.path()), Vec::<String>::new());
            // What the skipped cleanup left is there, and gc removes it.
            let left = labelled_by(pid);
            assert!(
                left.iter().any(|l| l.contains(&container[..12])),
                "the build container should be left: {left:?}"
            );
            let gc = run_gc(&[]);
            assert!(gc.status.success(), "gc failed");
            assert!(
                stderr(&gc).contains(&format!("(run of pid {pid}, gone)")),
                "{}",
                stderr(&gc)
            );
            assert_nothing_left(pid, &out, &volumes, None);
        },
    );
    later_build_works();
}

fn run_gc(extra: &[&str]) -> std::process::Output {
    run(fclayer().arg("gc").args(extra))
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn gc_keeps_what_a_live_run_uses() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let (live, out) = Phase::ContainerRun.enter(tmp.path(), "");
    let pid = live.pid();
    let gc = run_gc(&[]);
    assert!(gc.status.success());
    assert!(
        stderr(&gc).contains("of runs still going"),
        "{}",
        stderr(&gc)
    );
    assert_eq!(
        labelled_by(pid).len(),
        1,
        "gc removed a live run's container"
    );
    assert!(!live.stderr_now().contains("error:"), "the live run failed");
    live.signal("INT");
    let (code, _) = live.finish(60);
    assert_eq!(code, Some(130));
    assert!(labelled_by(pid).is_empty());
    assert!(!out.exists());
}
