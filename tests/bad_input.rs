//! Bad input, as one table: every case must end with a clear error (what, where, and for files
//! the line and what was expected), the documented exit code, a message that fits on a screen,
//! and nothing left behind (no layer, no temporary file). The cases that need no engine run with
//! DOCKER_HOST pointing at a socket that does not exist, which proves they fail before any engine
//! is contacted; the few that need one (a base image that cannot be pulled, a build over the
//! size budget) are below, ignored unless `make test` runs them.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use common::*;

/// One row of the table. `setup` gets a fresh directory and returns the arguments.
struct Case {
    name: &'static str,
    setup: fn(&Path) -> Vec<OsString>,
    code: i32,
    /// Every one must be in stderr.
    says: &'static [&'static str],
    /// The error carries a `hint:` line saying what to do.
    hint: bool,
    /// Run as an unprivileged user (root reads any file, so "unreadable" needs another user).
    unprivileged: bool,
    /// Extra environment.
    env: &'static [(&'static str, &'static str)],
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn p(path: &Path) -> OsString {
    path.as_os_str().to_owned()
}

/// `build` of `dir` into `dir/../layer.zip` plus `extra` arguments.
fn build(dir: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut a = os(&["build"]);
    a.extend(os(extra));
    a.push(p(dir));
    a.push("-o".into());
    a.push(p(&dir.parent().unwrap().join("layer.zip")));
    a
}

fn project_with(dir: &Path, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let proj = dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    for (name, data) in files {
        std::fs::write(proj.join(name), data).unwrap();
    }
    proj
}

const CASES: &[Case] = &[
    Case {
        name: "project directory missing",
        setup: |d| build(&d.join("no-such-func"), &[]),
        code: 2,
        says: &["project directory", "no-such-func does not exist"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "project is a file",
        setup: |d| {
            std::fs::write(d.join("requirements.txt"), "six\n").unwrap();
            build(&d.join("requirements.txt"), &[])
        },
        code: 2,
        says: &["requirements.txt is not a directory"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "nothing to build",
        setup: |d| build(&project_with(d, &[("README.md", b"hi")]), &[]),
        code: 2,
        says: &[
            "nothing to build in",
            "no apt.txt, requirements.txt, package.json",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "requirements.txt unreadable",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            set_mode(&proj.join("requirements.txt"), 0o000);
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &["cannot read", "requirements.txt: Permission denied"],
        hint: true,
        unprivileged: true,
        env: &[],
    },
    Case {
        name: "requirements.txt not UTF-8",
        setup: |d| {
            build(
                &project_with(d, &[("requirements.txt", b"six\n\xff\xfe\n")]),
                &[],
            )
        },
        code: 2,
        says: &["requirements.txt:2: not UTF-8 text (byte 0xff)"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "requirements.txt malformed",
        setup: |d| {
            build(
                &project_with(d, &[("requirements.txt", b"numpy\nlxml=>4\n")]),
                &[],
            )
        },
        code: 2,
        says: &[
            "requirements.txt:2: `lxml=>4` is not a valid requirement",
            "expected a version operator",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "package.json malformed",
        setup: |d| {
            let json = b"{\n  \"name\": \"api\",\n  \"dependencies\": {\"a\": \"1\"\n}\n";
            build(&project_with(d, &[("package.json", json)]), &[])
        },
        code: 2,
        says: &["package.json:5:", "not valid JSON"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "package.json dependencies not an object",
        setup: |d| {
            let json = b"{\"dependencies\": [\"left-pad\"]}";
            build(&project_with(d, &[("package.json", json)]), &[])
        },
        code: 2,
        says: &["package.json: `dependencies` must be an object of package names to versions"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "two Node.js lockfiles and no packageManager to choose",
        setup: |d| {
            let files: &[(&str, &[u8])] = &[
                ("package.json", b"{\"dependencies\": {\"ms\": \"2.1.3\"}}"),
                ("package-lock.json", b"{\"lockfileVersion\": 3}"),
                ("yarn.lock", b"# yarn lockfile v1\n"),
            ];
            build(&project_with(d, files), &["--runtime", "nodejs18"])
        },
        code: 2,
        says: &[
            "lockfiles of several package managers: package-lock.json, yarn.lock",
            "packageManager",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "Yarn berry with Plug'n'Play",
        setup: |d| {
            let files: &[(&str, &[u8])] = &[
                ("package.json", b"{\"packageManager\": \"yarn@4.18.1\"}"),
                ("yarn.lock", b"__metadata:\n  version: 8\n"),
                (".yarnrc.yml", b"nodeLinker: pnp\n"),
            ];
            build(&project_with(d, files), &["--runtime", "nodejs18"])
        },
        code: 2,
        says: &[
            ".yarnrc.yml sets nodeLinker: pnp",
            "nodeLinker: node-modules",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "a packageManager the runtime's Node.js cannot run",
        setup: |d| {
            let files: &[(&str, &[u8])] = &[
                ("package.json", b"{\"packageManager\": \"pnpm@9.15.9\"}"),
                ("pnpm-lock.yaml", b"lockfileVersion: '9.0'\n"),
            ];
            build(&project_with(d, files), &["--runtime", "nodejs16"])
        },
        code: 2,
        says: &[
            "pnpm 9.15.9 needs Node.js 18.12 or later; nodejs16 runs Node.js 16.15.1",
            "pnpm@8",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "a custom runtime's package.json names no Node.js",
        setup: |d| {
            let files: &[(&str, &[u8])] =
                &[("package.json", b"{\"dependencies\": {\"ms\": \"2.1.3\"}}")];
            build(&project_with(d, files), &["--runtime", "custom.debian12"])
        },
        code: 2,
        says: &[
            "custom.debian12 brings no Node.js of its own",
            "names no engines.node",
            "--node 18",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "pom.xml malformed",
        setup: |d| {
            let pom = b"<project>\n  <dependencies>\n</project>\n";
            build(&project_with(d, &[("pom.xml", pom)]), &[])
        },
        code: 2,
        says: &[
            "pom.xml:3:",
            "not well-formed XML",
            "expected 'dependencies' tag",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "composer.json malformed",
        setup: |d| {
            let json = b"{\"require\": {\"monolog/monolog\": \"^3\",}}";
            build(&project_with(d, &[("composer.json", json)]), &[])
        },
        code: 2,
        says: &["composer.json:1:", "not valid JSON", "trailing comma"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "fclayer.toml unknown key",
        setup: |d| {
            let toml = b"[[layer]]\nname = \"deps\"\nruntim = \"python3.9\"\n";
            let proj = project_with(d, &[("requirements.txt", b"six\n"), ("fclayer.toml", toml)]);
            build(&proj, &[])
        },
        code: 2,
        says: &[
            "fclayer.toml:3:1:",
            "unknown field `runtim`",
            "expected one of",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "fclayer.toml wrong type",
        setup: |d| {
            let toml = b"[[layer]]\nruntime = 3\n";
            let proj = project_with(d, &[("requirements.txt", b"six\n"), ("fclayer.toml", toml)]);
            build(&proj, &[])
        },
        code: 2,
        says: &[
            "fclayer.toml:2:11:",
            "invalid type: integer `3`, expected a string",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "apt.txt bad package name",
        setup: |d| {
            let apt = b"# tools\ncurl Bad_Name\n";
            build(&project_with(d, &[("apt.txt", apt)]), &[])
        },
        code: 2,
        says: &["apt.txt:2: `Bad_Name` is not a Debian package name"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--apt bad package name",
        setup: |d| build(&project_with(d, &[]), &["--apt", "Not A Package"]),
        code: 2,
        says: &["--apt Not A Package: is not a Debian package name"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "unknown runtime",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            build(&proj, &["--runtime", "python3.99"])
        },
        code: 2,
        says: &[
            "unknown runtime `python3.99`",
            "valid runtimes: ",
            "python3.9",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "unknown platform",
        setup: |d| {
            std::fs::write(d.join("layer.zip.in"), b"").unwrap();
            let mut a = os(&[
                "check",
                "--runtime",
                "python3.9",
                "--platform",
                "linux/s390x",
            ]);
            a.push(p(&d.join("layer.zip.in")));
            a
        },
        code: 2,
        says: &["unknown platform `linux/s390x`"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "runtime cannot load the project's kind",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            build(&proj, &["--runtime", "nodejs18"])
        },
        code: 2,
        says: &["runtime nodejs18 cannot load a python layer"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "two kinds and no runtime",
        setup: |d| {
            let proj = project_with(
                d,
                &[
                    ("requirements.txt", b"six\n"),
                    ("package.json", b"{\"name\": \"x\"}"),
                ],
            );
            build(&proj, &[])
        },
        code: 2,
        says: &["holds files of several kinds", "--runtime"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "conflicting flags: --dockerfile and --apt",
        setup: |d| {
            build(
                &project_with(d, &[]),
                &["--dockerfile", "Dockerfile", "--apt", "curl"],
            )
        },
        code: 2,
        says: &["the argument '--dockerfile <FILE>' cannot be used with '--apt <PKG>'"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "conflicting flags: --dockerfile and --slim",
        setup: |d| {
            build(
                &project_with(d, &[("Dockerfile", b"FROM debian:12\n")]),
                &["--dockerfile", "Dockerfile", "--slim"],
            )
        },
        code: 2,
        says: &["'--dockerfile <FILE>' cannot be used with '--slim'"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "fclayer.toml bytecode = false with a dockerfile",
        setup: |d| {
            let toml =
                b"[[layer]]\nname = \"tools\"\ndockerfile = \"Dockerfile\"\nbytecode = false\n";
            let proj = project_with(
                d,
                &[("Dockerfile", b"FROM debian:12\n"), ("fclayer.toml", toml)],
            );
            build(&proj, &[])
        },
        code: 2,
        says: &[
            "layer tools: `bytecode = false` cannot be used with `dockerfile`",
            "does not change what a Dockerfile puts in /opt",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "conflicting flags: --verbose and --quiet",
        setup: |d| {
            build(
                &project_with(d, &[("requirements.txt", b"six\n")]),
                &["-v", "-q"],
            )
        },
        code: 2,
        says: &["'--verbose' cannot be used with '--quiet'"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--build-arg without --dockerfile",
        setup: |d| build(&project_with(d, &[]), &["--build-arg", "X=1"]),
        code: 2,
        says: &[
            "required arguments were not provided",
            "--dockerfile <FILE>",
        ],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--build-arg malformed",
        setup: |d| {
            let proj = project_with(d, &[("Dockerfile", b"FROM debian:12\n")]);
            build(
                &proj,
                &["--dockerfile", "Dockerfile", "--build-arg", "NOVALUE"],
            )
        },
        code: 2,
        says: &["--build-arg NOVALUE: expected KEY=VALUE"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "Dockerfile missing",
        setup: |d| build(&project_with(d, &[]), &["--dockerfile", "Dockerfile.nope"]),
        code: 2,
        says: &["Dockerfile Dockerfile.nope does not exist"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--ca-cert missing",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            build(
                &proj,
                &["--runtime", "python3.9", "--ca-cert", "/no/such/ca.pem"],
            )
        },
        code: 2,
        says: &["--ca-cert: cannot read the CA certificates in /no/such/ca.pem"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--ca-cert not PEM",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            std::fs::write(d.join("ca.pem"), b"not a certificate\n").unwrap();
            let ca = d.join("ca.pem");
            build(
                &proj,
                &["--runtime", "python3.9", "--ca-cert", ca.to_str().unwrap()],
            )
        },
        code: 2,
        says: &["ca.pem holds no PEM certificate"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "output path is a directory",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            std::fs::create_dir(d.join("out")).unwrap();
            let mut a = os(&["build", "--runtime", "python3.9"]);
            a.push(p(&proj));
            a.push("-o".into());
            a.push(p(&d.join("out")));
            a
        },
        code: 2,
        says: &["out is a directory"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "output directory missing",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            let mut a = os(&["build", "--runtime", "python3.9"]);
            a.push(p(&proj));
            a.push("-o".into());
            a.push(p(&d.join("no/such/dir/layer.zip")));
            a
        },
        code: 2,
        says: &["output directory", "no/such/dir does not exist"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "layer over the size budget",
        setup: |d| {
            let tree = d.join("opt/python");
            std::fs::create_dir_all(&tree).unwrap();
            // Bytes that do not compress (xorshift), so the ZIP is as big as they are.
            let mut x = 0x2545_f491_4f6c_dd1d_u64;
            let noise: Vec<u8> = (0..20_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            std::fs::write(tree.join("blob.bin"), noise).unwrap();
            let mut a = os(&["pack", "--max-size", "1000"]);
            a.push(p(&d.join("opt")));
            a.push("-o".into());
            a.push(p(&d.join("layer.zip")));
            a
        },
        code: 1,
        says: &[
            "over the budget of 1.0 kB",
            "largest files:",
            "python/blob.bin",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "hostile project: symlink to an absolute path outside",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            std::os::unix::fs::symlink("/etc/passwd", proj.join("passwd")).unwrap();
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &["passwd is a symlink to /etc/passwd, outside the project"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "hostile Dockerfile context: relative symlink climbing out",
        setup: |d| {
            let proj = project_with(d, &[("Dockerfile", b"FROM debian:12\nCOPY . /src\n")]);
            std::fs::create_dir(proj.join("conf")).unwrap();
            std::os::unix::fs::symlink("../../../../../etc/shadow", proj.join("conf/shadow"))
                .unwrap();
            build(
                &proj,
                &["--runtime", "custom.debian12", "--dockerfile", "Dockerfile"],
            )
        },
        code: 2,
        says: &["shadow is a symlink to ../../../../../etc/shadow, outside the project"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "hostile project: symlinked folder outside",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            std::os::unix::fs::symlink("/root", proj.join("home")).unwrap();
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &["home is a symlink to /root, outside the project"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "DOCKER_HOST with an unknown scheme",
        setup: |d| {
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &["cannot use the Docker host ftp://engine:21"],
        hint: true,
        unprivileged: false,
        env: &[("DOCKER_HOST", "ftp://engine:21")],
    },
    Case {
        name: "--timeout not a number",
        setup: |d| {
            build(
                &project_with(d, &[("requirements.txt", b"six\n")]),
                &["--timeout", "soon"],
            )
        },
        code: 2,
        says: &["invalid value 'soon' for '--timeout <SECS>'"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "check of a file that is not a ZIP",
        setup: |d| {
            std::fs::write(d.join("layer.zip.txt"), b"hello").unwrap();
            let mut a = os(&["check", "--runtime", "python3.9"]);
            a.push(p(&d.join("layer.zip.txt")));
            a
        },
        code: 2,
        says: &["layer.zip.txt is not a readable ZIP file"],
        hint: false,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "uv.lock out of date with pyproject.toml",
        setup: |d| {
            let fx = repo().join("tests/fixtures/pyformats/uv");
            let lock = std::fs::read(fx.join("uv.lock")).unwrap();
            let py = std::fs::read_to_string(fx.join("pyproject.toml")).unwrap();
            let py = py.replace("\"six>=1.16\",", "\"six>=1.16\", \"idna\",");
            let proj = project_with(d, &[("uv.lock", &lock), ("pyproject.toml", py.as_bytes())]);
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &[
            "uv.lock is out of date with",
            "not in the lock: idna",
            "run `uv lock`",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "Pipfile.lock out of date with Pipfile",
        setup: |d| {
            let fx = repo().join("tests/fixtures/pyformats/pipenv");
            let lock = std::fs::read(fx.join("Pipfile.lock")).unwrap();
            let pipfile = std::fs::read_to_string(fx.join("Pipfile")).unwrap();
            let pipfile = pipfile.replace("six = \"*\"", "six = \"*\"\nidna = \"*\"");
            let proj = project_with(
                d,
                &[("Pipfile.lock", &lock), ("Pipfile", pipfile.as_bytes())],
            );
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &[
            "Pipfile.lock is out of date with",
            "Pipfile changed after the lock was written",
            "run `pipenv lock`",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "poetry.lock malformed",
        setup: |d| {
            let py = b"[project]\nname = \"x\"\nversion = \"1\"\ndependencies = [\"six\"]\n";
            let lock = b"[[package]]\nname = \"six\"\nversion = 1.17\n";
            let proj = project_with(d, &[("poetry.lock", lock), ("pyproject.toml", py)]);
            build(&proj, &["--runtime", "python3.9"])
        },
        code: 2,
        says: &["poetry.lock:3:"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "pylock.toml pin with no wheel for the runtime and no sdist",
        setup: |d| {
            let lock = b"lock-version = \"1.0\"\ncreated-by = \"test\"\n\n[[packages]]\nname = \"fastlib\"\nversion = \"1.0\"\nwheels = [{ name = \"fastlib-1.0-cp39-cp39-manylinux_2_28_x86_64.whl\", url = \"https://example.invalid/fastlib-1.0-cp39-cp39-manylinux_2_28_x86_64.whl\", hashes = { sha256 = \"00\" } }]\n";
            build(
                &project_with(d, &[("pylock.toml", lock)]),
                &["--runtime", "python3.9"],
            )
        },
        code: 2,
        says: &[
            "fastlib==1.0 has no wheel for python3.9 on x86_64 (CPython 3.9, glibc 2.24)",
            "cp39-cp39-manylinux_2_28_x86_64",
        ],
        hint: true,
        unprivileged: false,
        env: &[],
    },
    Case {
        name: "--requirements outside the project",
        setup: |d| {
            std::fs::write(d.join("other.txt"), "six\n").unwrap();
            let proj = project_with(d, &[("requirements.txt", b"six\n")]);
            let other = d.join("other.txt");
            build(
                &proj,
                &[
                    "--runtime",
                    "python3.9",
                    "--requirements",
                    other.to_str().unwrap(),
                ],
            )
        },
        code: 2,
        says: &["other.txt is outside the project folder"],
        hint: true,
        unprivileged: false,
        env: &[],
    },
];

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Every file below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn bad_input_table() {
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    // Folders that must outlive the command they serve.
    let mut keep = Vec::new();
    for case in CASES {
        let tmp = tempdir();
        let dir = tmp.path();
        let args = (case.setup)(dir);
        let before = tree(dir);
        let mut cmd = if case.unprivileged && running_as_root() {
            // The binary and the test's folder must be reachable by that user: the checkout may
            // sit below a folder only root can enter, so the binary runs from a copy.
            set_mode(dir, 0o755);
            let bin = tempdir();
            set_mode(bin.path(), 0o755);
            let copy = bin.path().join("fclayer");
            std::fs::copy(env!("CARGO_BIN_EXE_fclayer"), &copy).unwrap();
            set_mode(&copy, 0o755);
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&copy);
            keep.push(bin);
            c
        } else {
            fclayer()
        };
        // Nothing here may reach an engine: one that does not exist proves it never did.
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}/no-engine.sock", dir.display()),
        );
        for (k, v) in case.env {
            cmd.env(k, v);
        }
        cmd.args(&args);
        let out = run(&mut cmd);
        let err = stderr(&out);
        let first = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .to_string();
        rows.push(format!(
            "{:<56} exit {:<4} {first}",
            case.name,
            out.status.code().map_or("-".into(), |c| c.to_string())
        ));
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!(
                "exit {:?}, wanted {}",
                out.status.code(),
                case.code
            ));
        }
        for needle in case.says {
            if !err.contains(needle) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if case.hint && !err.contains("hint: ") {
            problems.push("no hint".into());
        }
        if err.lines().count() > 24 {
            problems.push("error longer than a screen".into());
        }
        if !stdout(&out).is_empty() {
            problems.push("data on stdout".into());
        }
        if err.contains("panicked") {
            problems.push("panic".into());
        }
        // Nothing left behind: the folder holds exactly what the case put there.
        let after = tree(dir);
        if after != before {
            let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
            problems.push(format!("left behind: {new:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{err}", case.name, problems.join("; ")));
        }
    }
    let mut log = std::io::stderr();
    let _ = writeln!(log, "bad input: {} cases", CASES.len());
    for row in &rows {
        let _ = writeln!(log, "  {row}");
    }
    assert!(CASES.len() >= 15);
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

/// A base image that is not on the engine and cannot be pulled (no registry answers): bad input,
/// said as such, with how to provide it.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn base_image_that_cannot_be_pulled() {
    require_engine_and(&[]);
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six\n");
    let out_zip = tmp.path().join("layer.zip");
    let before = tree(tmp.path());
    let fc = Spawned::start(
        fclayer()
            .args(["build", "--runtime", "python3.9", "--base-image"])
            .arg("fclayer-test/no-such-base:1")
            .arg(&proj)
            .arg("-o")
            .arg(&out_zip),
    );
    let pid = fc.pid();
    let (code, err) = fc.finish(180);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(
            "error: base image fclayer-test/no-such-base:1 is not on this engine and cannot be pulled"
        ),
        "{err}"
    );
    assert!(
        err.contains("docker save fclayer-test/no-such-base:1 | docker load"),
        "{err}"
    );
    assert!(err.contains("--base-image"), "{err}");
    assert_eq!(tree(tmp.path()), before, "files left behind");
    assert_eq!(labelled_by(pid), Vec::<String>::new());
}

/// A build whose layer is over --max-size: refused, nothing written, nothing left.
#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn build_over_the_size_budget() {
    require_engine_and(&["debian:11"]);
    let tmp = tempdir();
    let proj = python_project(tmp.path(), "six==1.16.0\n");
    let out_zip = tmp.path().join("layer.zip");
    let before = tree(tmp.path());
    let fc = Spawned::start(
        fclayer()
            .args([
                "build",
                "--runtime",
                "python3.9",
                "--base-image",
                "debian:11",
                "--max-size",
                "1000",
            ])
            .arg(&proj)
            .arg("-o")
            .arg(&out_zip),
    );
    let pid = fc.pid();
    let (code, err) = fc.finish(300);
    assert_eq!(code, Some(1));
    assert!(err.contains("over the budget of 1.0 kB"), "{err}");
    assert!(
        err.contains("python/six.py"),
        "largest files not named: {err}"
    );
    assert_eq!(tree(tmp.path()), before, "files left behind");
    assert_eq!(labelled_by(pid), Vec::<String>::new());
}
