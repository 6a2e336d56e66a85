//! `fclayer build …` as the tests spell it: one builder instead of the same eight to twelve
//! lines in every end-to-end test, so the runtime, the base image and the output path have one
//! spelling. The command line it makes is the one a user would type:
//! `fclayer build --runtime R [--base-image B] [--dockerfile F] [args…] PROJECT [-o OUT]`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The base image of the Python tests: Debian 11 ships Python 3.9, the interpreter of FC's
/// python3.9 (whose own image, Debian 9, cannot be pulled here).
pub const PYTHON_BASE: &str = "debian:11";

pub struct Build {
    runtime: Option<String>,
    base: Option<String>,
    dockerfile: Option<PathBuf>,
    project: Option<PathBuf>,
    out: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
}

impl Build {
    /// `fclayer build PROJECT` with nothing else: the runtime and the rest come from the project.
    pub fn project(project: impl AsRef<Path>) -> Build {
        Build {
            runtime: None,
            base: None,
            dockerfile: None,
            project: Some(project.as_ref().to_path_buf()),
            out: None,
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
        }
    }

    /// `fclayer build` with no project argument (the current directory or a fclayer.toml).
    pub fn here() -> Build {
        Build {
            project: None,
            ..Build::project(Path::new("."))
        }
    }

    /// A layer for `runtime` built on `base`.
    pub fn on(runtime: &str, base: &str, project: &Path) -> Build {
        Build::project(project).runtime(runtime).base(base)
    }

    /// The Python layer most tests build: python3.9 on Debian 11.
    pub fn python(project: &Path) -> Build {
        Build::on("python3.9", PYTHON_BASE, project)
    }

    /// Dockerfile mode: the image built from `context/Dockerfile`, its /opt is the layer.
    pub fn dockerfile(runtime: &str, context: &Path) -> Build {
        let mut b = Build::project(context).runtime(runtime);
        b.dockerfile = Some(context.join("Dockerfile"));
        b
    }

    pub fn runtime(mut self, runtime: &str) -> Build {
        self.runtime = Some(runtime.into());
        self
    }

    pub fn base(mut self, base: &str) -> Build {
        self.base = Some(base.into());
        self
    }

    /// `--dockerfile` as given (a name relative to the project, or a path).
    pub fn dockerfile_arg(mut self, dockerfile: impl AsRef<Path>) -> Build {
        self.dockerfile = Some(dockerfile.as_ref().to_path_buf());
        self
    }

    pub fn out(mut self, zip: impl AsRef<Path>) -> Build {
        self.out = Some(zip.as_ref().to_path_buf());
        self
    }

    /// Options placed before the project argument, in order.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Build {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Build
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Build {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Build {
        self.env_remove.push(key.as_ref().to_os_string());
        self
    }

    /// The command, for tests that spawn it or change it further.
    pub fn command(self) -> Command {
        let mut c = super::fclayer();
        for key in self.env_remove {
            c.env_remove(key);
        }
        c.envs(self.env).arg("build");
        if let Some(r) = self.runtime {
            c.args(["--runtime", &r]);
        }
        if let Some(b) = self.base {
            c.args(["--base-image", &b]);
        }
        if let Some(d) = self.dockerfile {
            c.arg("--dockerfile").arg(d);
        }
        c.args(self.args);
        if let Some(p) = self.project {
            c.arg(p);
        }
        if let Some(o) = self.out {
            c.arg("-o").arg(o);
        }
        c
    }

    /// Run it, printing what the tool said (see `common::run`).
    pub fn run(self) -> Output {
        super::run(&mut self.command())
    }
}
