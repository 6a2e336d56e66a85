//! Command-line behaviour that needs no Docker engine: bad input is refused with a clear
//! one-screen error, the documented exit code, and nothing left behind.

mod common;

use common::*;

fn assert_clean_failure(
    out: &std::process::Output,
    code: i32,
    needle: &str,
    output: &std::path::Path,
) {
    assert_eq!(out.status.code(), Some(code), "exit code");
    let err = stderr(out);
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(
        err.lines().count() <= 24,
        "error longer than a screen:\n{err}"
    );
    assert!(!output.exists(), "{} was written", output.display());
    let leftovers: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial") || n.contains(".spool"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn missing_project_directory_is_bad_input() {
    let tmp = tempdir();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(tmp.path().join("no-such-func"))
        .out(&out_zip)
        .run();
    assert_clean_failure(&out, 2, "does not exist", &out_zip);
    assert!(stderr(&out).contains("hint:"));
}

#[test]
fn project_without_requirements_is_bad_input() {
    let tmp = tempdir();
    let proj = tmp.path().join("empty");
    std::fs::create_dir(&proj).unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(&proj).out(&out_zip).run();
    assert_clean_failure(&out, 2, "nothing to build", &out_zip);
}

#[test]
fn unknown_runtime_lists_the_valid_ones() {
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(&proj)
        .runtime("python3.99")
        .out(&out_zip)
        .run();
    assert_clean_failure(&out, 2, "unknown runtime `python3.99`", &out_zip);
    let err = stderr(&out);
    for name in ["python3.9", "python3.10", "python3.12", "custom.debian12"] {
        assert!(err.contains(name), "valid runtime {name} not listed: {err}");
    }
}

#[test]
fn malformed_requirement_names_file_and_line() {
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "numpy\nlxml=>4\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(&proj).out(&out_zip).run();
    assert_clean_failure(&out, 2, "requirements.txt:2:", &out_zip);
}

#[test]
fn unreachable_engine_says_how_to_start_one() {
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    let out_zip = tmp.path().join("layer.zip");
    let out = Build::project(&proj)
        .runtime("python3.9")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", tmp.path().display()),
        )
        .out(&out_zip)
        .run();
    assert_clean_failure(&out, 3, "cannot reach a Docker engine", &out_zip);
    let err = stderr(&out);
    assert!(
        err.contains("dockerd") || err.contains("systemctl start docker"),
        "{err}"
    );
}

#[test]
fn unwritable_output_fails_before_any_container() {
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    // sysfs refuses new files even to root. The engine is unreachable on purpose: the output
    // check must come first, so no container could ever be started.
    let out = Build::project(&proj)
        .runtime("python3.9")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", tmp.path().display()),
        )
        .out("/sys/fclayer-layer.zip")
        .run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not writable"), "{}", stderr(&out));
    assert!(!std::path::Path::new("/sys/fclayer-layer.zip").exists());
}

#[test]
fn output_path_that_is_a_directory_is_refused() {
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    let out = Build::project(&proj)
        .runtime("python3.9")
        .out(tmp.path())
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
}

#[test]
fn runtimes_table_names_debian_glibc_and_build_image() {
    let out = run(fclayer().arg("runtimes"));
    assert!(out.status.success());
    let table = stdout(&out);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}"))
            .to_string()
    };
    assert!(row("python3.9").contains("9 (stretch)") && row("python3.9").contains("2.24"));
    assert!(row("python3.10").contains("10 (buster)") && row("python3.10").contains("2.28"));
    assert!(row("python3.12").contains("11 (bullseye)") && row("python3.12").contains("2.31"));
    assert!(
        row("custom.debian12").contains("12 (bookworm)") && row("custom.debian12").contains("2.36")
    );
    assert!(row("python3.9").contains("aliyunfc/runtime-python3.9:build-3.1.0"));
    assert!(row("python3.9").contains("x86_64") && row("python3.9").contains("python/"));

    let json = run(fclayer().args(["runtimes", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for name in [
        "python3.6",
        "python3.9",
        "python3.10",
        "python3.12",
        "custom",
        "custom.debian10",
        "custom.debian11",
        "custom.debian12",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn help_documents_exit_codes() {
    let out = run(fclayer().arg("--help"));
    let text = stdout(&out);
    for line in [
        "0    success",
        "1    the build failed",
        "2    bad input",
        "3    no Docker engine",
    ] {
        assert!(text.contains(line), "--help lacks {line:?}");
    }
}

#[test]
fn written_layers_get_ordinary_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("python")).unwrap();
    std::fs::write(tree.join("python/m.py"), "x = 1\n").unwrap();
    let zip = tmp.path().join("layer.zip");
    // Like any file the user creates: 0666 less the umask, not a temporary file's 0600.
    let out = run(std::process::Command::new("sh").arg("-c").arg(format!(
        "umask 022 && exec {} pack {} -o {}",
        env!("CARGO_BIN_EXE_fclayer"),
        tree.display(),
        zip.display()
    )));
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&zip).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "layer.zip has mode {mode:o}");
}

#[test]
fn help_documents_the_interrupt_code_and_gc() {
    let text = stdout(&run(fclayer().arg("--help")));
    assert!(text.contains("130  interrupted"), "{text}");
    assert!(text.contains("gc "), "gc not listed: {text}");
    assert!(
        text.contains("completions"),
        "completions not listed: {text}"
    );
    for sub in ["build", "gc"] {
        let text = stdout(&run(fclayer().args([sub, "--help"])));
        assert!(
            text.contains("3    no Docker engine"),
            "{sub} --help: {text}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "_fclayer()"),
        ("zsh", "#compdef fclayer"),
        ("fish", "complete -c fclayer"),
    ] {
        let out = run(fclayer().args(["completions", shell]));
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in ["build", "gc", "base-image", "timeout"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        assert!(stderr(&out).is_empty(), "{shell}: human output mixed in");
    }
    let out = run(fclayer().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid value 'tcsh'"));
}

#[test]
fn ssh_docker_host_is_understood() {
    // An SSH engine nobody serves: the scheme is accepted (the connection fails, exit 3), where an
    // unknown scheme is refused as bad input (exit 2).
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    let out = Build::project(&proj)
        .runtime("python3.9")
        .env("DOCKER_HOST", "ssh://nobody@127.0.0.1:9")
        .out(tmp.path().join("layer.zip"))
        .run();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ssh://nobody@127.0.0.1:9"),
        "{}",
        stderr(&out)
    );
}
