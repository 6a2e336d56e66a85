//! Where fclayer writes, and what it prints, when the paths and files around it are hostile or
//! just odd (issue 13): an output that is a device or a FIFO, an output inside the folder being
//! packed, a user's file named like a temporary, stdout closed or on a full disk, a cache folder
//! holding odd names, FIFOs and sizes past 2^64, `-j` out of range, a file that changes while it
//! is packed. No engine needed.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A small folder to pack.
fn tree(root: &Path) {
    fs::create_dir_all(root.join("python/pkg")).unwrap();
    fs::write(root.join("python/pkg/__init__.py"), b"x = 1\n").unwrap();
    fs::write(root.join("python/six.py"), "import sys\n".repeat(200)).unwrap();
}

/// Run with a deadline: a command that blocks (on a FIFO) fails the test instead of hanging it.
fn run_within(cmd: &mut Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mknod_char(path: &Path) {
    // A copy of /dev/null (1, 3): what `-o` replaced before.
    let ok = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mknod (the tests run as root)");
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

// ---------------------------------------------------------------------------------------------
// Outputs that are not regular files

#[test]
fn pack_and_build_refuse_an_output_that_is_a_device_fifo_socket_or_directory() {
    let t = tempdir();
    let src = t.path().join("src");
    tree(&src);
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    let dev = out.join("null");
    mknod_char(&dev);
    let fifo = out.join("pipe.zip");
    mkfifo(&fifo);
    let sock = out.join("sock.zip");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let dir = out.join("folder.zip");
    fs::create_dir(&dir).unwrap();
    let project = python_project(t.path(), "six==1.16.0\n");
    let before = names_in(&out);
    for (target, what) in [
        (&dev, "is a character device"),
        (&fifo, "is a FIFO"),
        (&sock, "is a socket"),
        (&dir, "is a directory"),
    ] {
        for cmd in ["pack", "build"] {
            let mut c = fclayer();
            match cmd {
                "pack" => c.arg("pack").arg(&src),
                _ => c
                    .arg("build")
                    .arg(&project)
                    .args(["--runtime", "python3.9"]),
            };
            // No engine is needed to refuse: point at none, so nothing can start.
            c.env("DOCKER_HOST", "unix:///nonexistent.sock");
            let o = run_within(c.arg("-o").arg(target), 20);
            let err = stderr(&o);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{cmd} -o {}: {err}",
                target.display()
            );
            assert!(err.contains(what), "{cmd}: {err}");
            assert!(err.contains("hint:"), "{cmd}: {err}");
            assert!(!err.contains("panicked"), "{err}");
            // Refused before any step starts.
            assert!(!err.contains("Packing"), "{err}");
            assert_eq!(
                err.lines().filter(|l| l.starts_with("error")).count(),
                1,
                "{err}"
            );
        }
    }
    assert!(fs::metadata(&dev).unwrap().file_type().is_char_device());
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::metadata(&sock).unwrap().file_type().is_socket());
    assert!(fs::metadata(&dir).unwrap().is_dir());
    assert_eq!(names_in(&out), before, "temporaries or files appeared");
}

// ---------------------------------------------------------------------------------------------
// The output inside the folder being packed

fn zip_entry_names(path: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

#[test]
fn packing_into_the_packed_folder_leaves_the_output_and_temporaries_out() {
    let t = tempdir();
    let src = t.path().join("src");
    tree(&src);
    // A user's own files with temporary-like names are content, and stay content.
    fs::write(src.join("python/notes.spool"), b"mine").unwrap();
    fs::write(src.join(".layer.zip.x.partial"), b"mine").unwrap();
    let out = src.join("layer.zip");
    let mut bytes = Vec::new();
    for _ in 0..3 {
        let o = run(fclayer().arg("pack").arg(&src).arg("-o").arg(&out));
        assert!(o.status.success(), "{}", stderr(&o));
        bytes.push(fs::read(&out).unwrap());
    }
    assert_eq!(
        bytes[0], bytes[1],
        "second pack differs: it packed the first"
    );
    assert_eq!(bytes[1], bytes[2]);
    let names = zip_entry_names(&out);
    assert!(!names.iter().any(|n| n.ends_with("layer.zip")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains(".fclayer-")),
        "a temporary was packed: {names:?}"
    );
    assert!(
        names.contains(&"python/notes.spool".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&".layer.zip.x.partial".to_string()),
        "{names:?}"
    );
    // From inside the folder, with a relative -o, the same.
    let o = run(fclayer()
        .current_dir(&src)
        .args(["pack", ".", "-o", "layer.zip"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(&out).unwrap(), bytes[0]);
}

#[test]
fn a_users_file_named_like_a_temporary_survives_a_pack_beside_it() {
    let t = tempdir();
    let src = t.path().join("src");
    tree(&src);
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    let mine = [
        ".layer.zip.notes.spool",
        ".layer.zip.abc123.partial",
        ".layer.zip.fclayer-abc123-0123456789abcdef.spool",
    ];
    for n in mine {
        fs::write(out.join(n), b"my own file").unwrap();
    }
    // And a FIFO of such a name: the sweep must not open it (that would block).
    mkfifo(&out.join(".layer.zip.fclayer-x-0123456789abcdef.partial"));
    let o = run_within(
        fclayer()
            .arg("pack")
            .arg(&src)
            .arg("-o")
            .arg(out.join("layer.zip")),
        30,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for n in mine {
        assert_eq!(fs::read(out.join(n)).unwrap(), b"my own file", "{n}");
    }
    assert_eq!(names_in(&out).len(), mine.len() + 2, "{:?}", names_in(&out));
}

// ---------------------------------------------------------------------------------------------
// stdout closed or full

/// stdout a pipe whose reading end is already closed: the first write gets EPIPE, every time.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

fn dev_full() -> Stdio {
    Stdio::from(
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// Every command that prints to stdout without an engine, with what it needs.
fn stdout_commands(t: &Path) -> Vec<(String, Command)> {
    let src = t.join("src");
    tree(&src);
    let zip = t.join("layer.zip");
    let o = run(fclayer().arg("pack").arg(&src).arg("-o").arg(&zip));
    assert!(o.status.success());
    let cache = t.join("cache");
    fs::create_dir_all(&cache).unwrap();
    let z = zip.to_str().unwrap();
    let list: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["--version"],
        vec!["pack", "--help"],
        vec!["runtimes"],
        vec!["runtimes", "--json"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["inspect", z],
        vec!["inspect", z, "--json"],
        vec!["stack", z, z],
        vec!["stack", z, "--json"],
        vec!["check", z, "-r", "python3.10"],
        vec!["check", z, "-r", "python3.10", "--json"],
        vec!["cache", "ls"],
        vec!["cache", "ls", "--json"],
    ];
    let mut out: Vec<(String, Command)> = list
        .into_iter()
        .map(|args| {
            let mut c = fclayer();
            c.args(&args)
                .env("FCLAYER_CACHE_DIR", &cache)
                .env("DOCKER_HOST", "unix:///nonexistent.sock");
            (args.join(" "), c)
        })
        .collect();
    let mut c = fclayer();
    c.arg("pack")
        .arg(&src)
        .arg("-o")
        .arg(t.join("again.zip"))
        .arg("--json");
    out.push(("pack --json".into(), c));
    out
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let t = tempdir();
    for (name, mut cmd) in stdout_commands(t.path()) {
        let o = cmd
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // What ripgrep does: exit 0, nothing on stderr about it.
        assert_eq!(o.status.code(), Some(0), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!err.contains("pipe"), "{name}: {err}");
    }
}

#[test]
fn a_full_disk_on_stdout_is_an_error_line_for_every_command() {
    let t = tempdir();
    for (name, mut cmd) in stdout_commands(t.path()) {
        let o = cmd
            .stdout(dev_full())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(
            err.contains("error: cannot write the output to stdout: No space left on device"),
            "{name}: {err}"
        );
        assert!(err.contains("hint:"), "{name}: {err}");
    }
}

#[test]
fn runtimes_piped_into_head_ends_quietly() {
    // The shell pipeline the issue names; `head` exits after 100 bytes of a ~3 kB table.
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg("\"$0\" runtimes | head -c 100 >/dev/null; \"$0\" runtimes --json | head -c 10 >/dev/null; echo \"${PIPESTATUS:-}\"")
        .arg(env!("CARGO_BIN_EXE_fclayer"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The build cache folder

fn cache_entry(dir: &Path, key: &str, size: u64, project: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(format!("{key}.zip")), b"zip").unwrap();
    let meta = serde_json::json!({
        "key": key, "runtime": "python3.9", "platform": "linux/amd64", "project": project,
        "sha256": "s", "crc64": "1", "size": size, "files": 1, "dirs": 0, "symlinks": 0,
        "unpacked_size": 1, "top_level": [], "manifest": null,
    });
    fs::write(dir.join(format!("{key}.json")), meta.to_string()).unwrap();
}

#[test]
fn cache_ls_and_prune_survive_odd_keys_fifos_control_characters_and_huge_sizes() {
    let t = tempdir();
    let root = t.path().join("cache");
    let dir = root.join("builds-v1");
    cache_entry(&dir, "short", 10, "\x1b]0;pwned\x07\x1b[2J");
    cache_entry(&dir, "0123456789a\u{e9}tail", 10, "p");
    cache_entry(&dir, "huge1", u64::MAX, "p");
    cache_entry(&dir, "huge2", u64::MAX, "p");
    for huge in ["huge1", "huge2"] {
        // Least recently used, so pruning to 100 bytes takes them and only them.
        fs::File::options()
            .write(true)
            .open(dir.join(format!("{huge}.zip")))
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }
    fs::write(dir.join("fifo.zip"), b"zip").unwrap();
    mkfifo(&dir.join("fifo.json"));
    let ls = |json: bool| {
        let mut c = fclayer();
        c.args(["cache", "ls"])
            .env("FCLAYER_CACHE_DIR", &root)
            .env("DOCKER_HOST", "unix:///nonexistent.sock");
        if json {
            c.arg("--json");
        }
        run_within(&mut c, 20)
    };
    let o = ls(false);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
    assert!(text.contains("0123456789a\u{e9}"), "{text}");
    assert!(text.starts_with("4 cached layers"), "{text}");
    let o = ls(true);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 4);

    // 2 × (2^64 - 1) + 20 bytes: a wrapping total read 18 bytes and nothing was pruned.
    let mut c = fclayer();
    c.args(["cache", "prune", "--max-size", "100"])
        .env("FCLAYER_CACHE_DIR", &root);
    let o = run_within(&mut c, 20);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!dir.join("huge1.zip").exists() && !dir.join("huge2.zip").exists());
    assert!(dir.join("short.zip").exists(), "pruned more than needed");
}

// ---------------------------------------------------------------------------------------------
// -j

#[test]
fn jobs_out_of_range_are_refused_at_once() {
    let t = tempdir();
    let src = t.path().join("src");
    tree(&src);
    for j in [
        "0",
        "257",
        "10000000",
        "18446744073709551615",
        "99999999999999999999999",
    ] {
        for cmd in ["pack", "build"] {
            let start = Instant::now();
            let o = run(fclayer()
                .arg(cmd)
                .arg(&src)
                .args(["-j", j, "-o"])
                .arg(t.path().join("x.zip")));
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd} -j {j}: {err}");
            assert!(
                err.contains("--jobs") && err.contains("from 1 to 256"),
                "{err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(5));
        }
    }
    let o = run(fclayer()
        .arg("pack")
        .arg(&src)
        .args(["-j", "256", "-o"])
        .arg(t.path().join("x.zip")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names_in(t.path()), ["src", "x.zip"]);
}

// ---------------------------------------------------------------------------------------------
// A file that changes while it is read

#[test]
fn a_file_whose_size_lies_is_named_as_changed_not_as_a_stopped_engine() {
    // sysfs files say they hold 4096 bytes and read as a few: to the packer, exactly a file that
    // shrank between its size and its read (`layer::pack`'s unit tests change real files).
    let sys = Path::new("/sys/kernel/mm/transparent_hugepage");
    assert!(
        sys.is_dir(),
        "this test needs {} (Linux sysfs)",
        sys.display()
    );
    let t = tempdir();
    let out = t.path().join("x.zip");
    let o = run(fclayer().arg("pack").arg(sys).arg("-o").arg(&out));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("changed while it was being packed"), "{err}");
    assert!(
        err.contains("/sys/kernel/mm/transparent_hugepage/"),
        "{err}"
    );
    assert!(!err.contains("engine"), "{err}");
    assert!(!out.exists());
    assert!(names_in(t.path()).is_empty(), "{:?}", names_in(t.path()));
}
