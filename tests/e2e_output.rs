//! What the user sees, against a real engine: named steps in order with their time and a
//! summary line; plain text off a terminal; colour and bars on one (but no colour with NO_COLOR,
//! nothing but text with TERM=dumb); `--quiet` prints errors only; `--verbose` streams the
//! installer's output while it runs.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const BASE: &str = PYTHON_BASE;

fn build(project: &Path, out: &Path) -> Command {
    Build::python(project).out(out).command()
}

/// Any ANSI escape sequence.
fn has_escape(text: &str) -> bool {
    text.contains('\x1b')
}

/// An SGR (colour) sequence: ESC [ digits/semicolons m.
fn has_colour(text: &str) -> bool {
    text.match_indices("\x1b[").any(|(i, _)| {
        let rest = &text[i + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_build_names_its_steps_in_order_and_ends_with_a_summary() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = run(&mut build(&project, &out_zip));
    assert!(out.status.success());
    assert!(stdout(&out).is_empty(), "human output on stdout");
    let err = stderr(&out);
    assert!(!has_escape(&err), "escape codes off a terminal: {err:?}");
    // Each step starts with a line and ends with one that gives its time.
    let mut at = 0;
    for verb in [
        "Building",
        "Resolving",
        "build image fclayer/build-python3.9:",
        "Installing",
        "Copying out",
        "Packing",
        "Checking",
        "Finished",
    ] {
        let found = err[at..]
            .find(verb)
            .unwrap_or_else(|| panic!("{verb} missing or out of order:\n{err}"));
        at += found + verb.len();
    }
    for verb in [
        "Resolving",
        "Installing",
        "Copying out",
        "Packing",
        "Checking",
    ] {
        let done = err
            .lines()
            .find(|l| l.trim_start().starts_with(verb) && l.ends_with(" s)"))
            .unwrap_or_else(|| panic!("{verb} has no end line with its time:\n{err}"));
        assert!(done.contains(": "), "{done}");
    }
    let summary = err.lines().last().unwrap();
    let size = std::fs::metadata(&out_zip).unwrap().len();
    assert!(summary.trim_start().starts_with("Finished "), "{summary}");
    assert!(
        summary.contains(&out_zip.display().to_string()),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{}.", size / 1000)),
        "size: {summary}"
    );
    assert!(summary.contains(" files, sha256 "), "{summary}");
    let sha = summary.split("sha256 ").nth(1).unwrap();
    assert!(
        sha[..64].bytes().all(|b| b.is_ascii_hexdigit()),
        "{summary}"
    );
    assert!(summary.ends_with(" s)"), "no time: {summary}");
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn quiet_prints_only_errors() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let ok = run(build(&project, &out_zip).arg("--quiet"));
    assert!(ok.status.success());
    assert!(stderr(&ok).is_empty() && stdout(&ok).is_empty());

    let bad = python_project(tmp.path(), "fclayer-no-such-package-4f9a1c==1.0\n");
    let failed = run(build(&bad, &tmp.path().join("bad.zip")).arg("--quiet"));
    assert_eq!(failed.status.code(), Some(1));
    let err = stderr(&failed);
    // uv is the default installer (its version in its name: "uv 0.13.9 (python3.9)").
    assert!(
        err.starts_with("error: uv ") && err.contains(" (python3.9) failed"),
        "{err}"
    );
    assert!(
        err.contains("last lines of the build log:"),
        "no log tail: {err}"
    );
    assert!(
        !err.contains("Installing"),
        "status lines with --quiet: {err}"
    );
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn verbose_streams_the_installer_output_while_it_runs() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "./slow\n");
    std::fs::create_dir(project.join("slow")).unwrap();
    std::fs::write(
        project.join("slow/setup.py"),
        "import time\ntime.sleep(600)\n",
    )
    .unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let mut fc = Spawned::start(build(&project, &out_zip).arg("--verbose"));
    // The install script's line arrives while uv still runs (the setup.py it builds sleeps for
    // ten minutes).
    assert!(fc.wait_for("  | fclayer: uv ", 120), "{}", fc.stderr_now());
    assert!(
        fc.child.try_wait().unwrap().is_none(),
        "fclayer already ended"
    );
    fc.signal("INT");
    let (code, _) = fc.finish(60);
    assert_eq!(code, Some(130));
}

/// Run under a pseudo-terminal (util-linux `script`), returning everything it printed.
fn on_a_terminal(cmd: &str, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("script");
    c.args(["-qec", cmd, "/dev/null"]).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("script (util-linux)");
    assert!(out.status.success(), "{cmd} failed under script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn a_terminal_gets_colour_and_bars_unless_told_otherwise() {
    require_engine_and(&[BASE]);
    let tmp = tempdir();
    let project = python_project(tmp.path(), "six==1.16.0\n");
    let cmd = format!(
        "{} build --runtime python3.9 --base-image {BASE} {} -o {}",
        env!("CARGO_BIN_EXE_fclayer"),
        project.display(),
        tmp.path().join("layer.zip").display()
    );
    let tty = on_a_terminal(&cmd, &[("TERM", "xterm")]);
    assert!(has_colour(&tty), "no colour on a terminal");
    assert!(tty.contains("\x1b[2K"), "no bar redrawn on a terminal");
    assert!(tty.contains("Finished"));

    let no_color = on_a_terminal(&cmd, &[("TERM", "xterm"), ("NO_COLOR", "1")]);
    assert!(!has_colour(&no_color), "colour despite NO_COLOR");
    assert!(no_color.contains("Finished"));

    let dumb = on_a_terminal(&cmd, &[("TERM", "dumb")]);
    assert!(!has_escape(&dumb), "escape codes with TERM=dumb");
    assert!(dumb.contains("Finished"));
}
