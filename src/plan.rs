//! Arguments + project files + runtime table → a validated `BuildPlan`. Everything a user can get
//! wrong is caught here, before a Docker engine is contacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::BuildArgs;
use crate::error::{Error, IoContext, Result};
use crate::project::{self, LayerDecl, ProjectFile};
use crate::runtime::python::Installer;
use crate::runtime::{self, Arch, Kind, Runtime, pyformats};
use crate::secrets::passthrough_env;

/// Everything a build needs, checked.
#[derive(Debug)]
pub struct BuildPlan {
    /// The layer's name, for progress lines and reports.
    pub name: String,
    pub project: PathBuf,
    pub runtime: &'static Runtime,
    /// Where the runtime choice came from, for the user: "--runtime", "fclayer.toml", "default".
    pub runtime_from: &'static str,
    pub mode: Mode,
    pub output: PathBuf,
    /// Base of the build image; FC's official build image unless overridden.
    pub base_image: String,
    pub ca: Option<CaBundle>,
    /// Host environment passed to the installer (proxies, package indexes).
    pub env: Vec<(String, String)>,
    /// Values never to print or store (credentials found in `env`).
    pub secrets: Vec<String>,
    pub timeout: Duration,
    pub max_size: u64,
    /// The target: `linux/amd64` for FC, unless --platform says otherwise.
    pub arch: Arch,
    pub platform: &'static str,
    /// Keep a layer that fails the ELF check (the findings are still shown).
    pub allow_incompatible: bool,
    /// Look up and store the build in the build cache.
    pub use_cache: bool,
    /// Refuse a build whose manifest differs from the one beside the output.
    pub frozen: bool,
    /// Build everything on the target platform, under emulation when it is not the engine's.
    pub emulate: bool,
    /// Base of the fetch image that cross-platform builds run on the engine's own platform.
    pub native_base: String,
    /// Python layers get hash-based byte-code (images/install/bytecode.py).
    pub bytecode: bool,
    /// --slim: images/install/slim.py after the installers, then verify's checks on the ZIP.
    pub slim: bool,
    /// What installs a Python layer's requirements (`--installer`, else uv where it works).
    pub python_installer: Installer,
    /// The Node.js major a custom runtime's function brings (`--node`, `node = "18"`).
    pub node: Option<String>,
    /// The Python layer's input: the file read and, for a lock, its pins and the generated
    /// requirements file (None when the layer has no Python).
    pub python: Option<pyformats::PythonInput>,
}

/// How the layer's contents are made.
#[derive(Debug)]
pub enum Mode {
    /// fclayer's installers, in this order, in one container of the runtime's build image.
    Install {
        kinds: Vec<Kind>,
        /// Debian packages for the apt step (`--apt` and apt.txt).
        apt: Vec<String>,
    },
    /// The user's own Dockerfile; the layer is the built image's `/opt`.
    Dockerfile(DockerfileSpec),
}

#[derive(Debug)]
pub struct DockerfileSpec {
    pub dockerfile: PathBuf,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
}

impl Mode {
    pub fn kinds(&self) -> &[Kind] {
        match self {
            Mode::Install { kinds, .. } => kinds,
            Mode::Dockerfile(_) => &[],
        }
    }

    /// The Debian packages of the apt step (none in Dockerfile mode).
    pub fn apt(&self) -> &[String] {
        match self {
            Mode::Install { apt, .. } => apt,
            Mode::Dockerfile(_) => &[],
        }
    }
}

/// What a plan takes from the host's environment, read once (`Host::from_process`) so that a
/// plan can be made in a test without changing the process's environment.
#[derive(Debug, Default, Clone)]
pub struct Host {
    /// The passthrough variables that are set (proxies, package indexes: `passthrough_env`)...
    pub env: Vec<(String, String)>,
    /// ...and the credentials inside them.
    pub secrets: Vec<String>,
    /// SSL_CERT_FILE when set: the CA bundle when --ca-cert is not given.
    pub ssl_cert_file: Option<PathBuf>,
    /// The variables a project's `.npmrc` may ask for, set and not empty: only npm's
    /// conventional names (NPM_*, NODE_AUTH_*), so a project file cannot read any other.
    pub npm_vars: BTreeMap<String, String>,
}

impl Host {
    pub fn from_process() -> Host {
        let (env, secrets) = passthrough_env();
        let npm_vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, v)| npm_var(k) && !v.is_empty())
            .collect();
        Host {
            env,
            secrets,
            ssl_cert_file: std::env::var_os("SSL_CERT_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            npm_vars,
        }
    }
}

/// Whether a `.npmrc` may take `${var}` from the host: npm's conventional names only.
fn npm_var(var: &str) -> bool {
    var.starts_with("NPM_") || var.starts_with("NODE_AUTH_")
}

/// Extra CA certificates for the installer's TLS.
#[derive(Debug)]
pub struct CaBundle {
    pub pem: Vec<u8>,
}

/// One layer to build: the command line merged with its `[[layer]]` entry, if any.
#[derive(Debug, Default, Clone)]
pub struct LayerSpec {
    /// The layer's name (its project file entry, else the project folder's name).
    pub name: String,
    pub project: PathBuf,
    pub output: PathBuf,
    /// The runtime asked for, and who asked ("--runtime" or "fclayer.toml").
    pub runtime: Option<(String, &'static str)>,
    /// Restrict the build to this kind (a project file's `kind`).
    pub kind: Option<Kind>,
    pub apt: Vec<String>,
    pub dockerfile: Option<PathBuf>,
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub base_image: Option<String>,
    pub platform: Option<String>,
    /// Publish after a successful build (`--publish`, or the layer's `publish` table).
    pub publish: Option<crate::publish::PublishDecl>,
    /// Compile Python byte-code into the layer (`--no-bytecode`, `bytecode = false`).
    pub bytecode: bool,
    /// `--slim` (or `slim = true`).
    pub slim: bool,
    /// `--installer` (or `installer = "pip"`).
    pub installer: Option<Installer>,
    /// `--node MAJOR` (or `node = "MAJOR"`).
    pub node: Option<String>,
    /// Python: `--requirements` (or `requirements`), relative to the project.
    pub requirements: Option<PathBuf>,
    /// Python: `--with` and `--extras` (or `groups`, `extras`).
    pub python_selection: pyformats::Selection,
}

/// The layers a `fclayer build` command line names: one project folder, every layer of a
/// project file, or one layer of ./fclayer.toml by name.
pub fn layer_specs(args: &BuildArgs) -> Result<Vec<LayerSpec>> {
    let arg = &args.project;
    let from_cli = |project: PathBuf| -> LayerSpec {
        let name = project
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "layer".into());
        LayerSpec {
            name,
            project,
            output: args
                .output
                .clone()
                .unwrap_or_else(|| PathBuf::from("layer.zip")),
            runtime: args.runtime.clone().map(|r| (r, "--runtime")),
            kind: None,
            apt: args.apt.clone(),
            dockerfile: args.dockerfile.clone(),
            build_args: args.build_args.clone(),
            target: args.target.clone(),
            base_image: args.base_image.clone(),
            platform: args.platform.clone(),
            publish: crate::publish::build_decl(args.publish.as_deref(), None),
            bytecode: !args.no_bytecode,
            slim: args.slim,
            installer: args.installer,
            node: args.node.clone(),
            requirements: args.requirements.clone(),
            python_selection: pyformats::Selection {
                groups: args.with_groups.clone(),
                extras: args.extras.clone(),
            },
        }
    };
    // A layer of ./fclayer.toml by name comes first: a layer's folder is often named like it.
    let here = Path::new(".");
    let name = arg
        .to_str()
        .filter(|n| !n.contains('/') && *n != "." && *n != "..");
    let local = match name {
        Some(_) => ProjectFile::load(here)?,
        None => None,
    };
    if let (Some(name), Some(file)) = (name, &local)
        && file.layers.iter().any(|l| l.name.as_deref() == Some(name))
    {
        return file_specs(args, here, file, Some(name));
    }
    if arg.is_dir() {
        return match ProjectFile::load(arg)? {
            Some(file) => file_specs(args, arg, &file, None),
            None => Ok(vec![from_cli(arg.clone())]),
        };
    }
    if let (Some(name), Some(file)) = (name, &local) {
        let names: Vec<&str> = file
            .layers
            .iter()
            .filter_map(|l| l.name.as_deref())
            .collect();
        return Err(Error::input(format!(
            "`{name}` is neither a folder nor a layer of ./{}",
            project::PROJECT_FILE
        ))
        .with_details([format!("layers declared there: {}", names.join(", "))]));
    }
    if arg.exists() {
        return Err(
            Error::input(format!("{} is not a directory", arg.display()))
                .with_hint("give the project's folder, not a file in it"),
        );
    }
    Err(Error::input(format!("project directory {} does not exist", arg.display())).with_hint(
        "give the folder that holds the project's requirements.txt, package.json, pom.xml, composer.json or apt.txt",
    ))
}

/// The layers of a project file (all, or the one named `only`), command-line flags overriding
/// the file's settings.
fn file_specs(
    args: &BuildArgs,
    dir: &Path,
    file: &ProjectFile,
    only: Option<&str>,
) -> Result<Vec<LayerSpec>> {
    let path = dir.join(project::PROJECT_FILE);
    if file.layers.is_empty() {
        return Err(
            Error::input(format!("{} declares no [[layer]]", path.display()))
                .with_hint("add a [[layer]] table with at least a `runtime`, or remove the file"),
        );
    }
    let several = file.layers.len() > 1;
    if several && only.is_none() && args.output.is_some() {
        return Err(Error::input(format!(
            "-o names one output, but {} declares {} layers",
            path.display(),
            file.layers.len()
        ))
        .with_hint(
            "set each layer's `output` in the file, or build one layer: fclayer build NAME",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, decl) in file.layers.iter().enumerate() {
        let name = match (&decl.name, several) {
            (Some(n), _) => n.clone(),
            (None, false) => "layer".to_string(),
            (None, true) => {
                return Err(Error::input(format!(
                    "{}: layer {} has no `name` (needed when a file declares several)",
                    path.display(),
                    i + 1
                )));
            }
        };
        if !seen.insert(name.clone()) {
            return Err(Error::input(format!(
                "{}: two layers are named `{name}`",
                path.display()
            )));
        }
        if only.is_some_and(|o| o != name) {
            continue;
        }
        out.push(merge(args, dir, decl, name, several)?);
    }
    Ok(out)
}

/// One `[[layer]]` entry of the project file in `dir`, with the command line's flags over it.
fn merge(
    args: &BuildArgs,
    dir: &Path,
    decl: &LayerDecl,
    name: String,
    several: bool,
) -> Result<LayerSpec> {
    let kind = match &decl.kind {
        None => None,
        Some(k) => Some(Kind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            Error::input(format!(
                "{}: layer `{name}` has kind `{k}`; expected one of {}",
                dir.join(project::PROJECT_FILE).display(),
                kinds.join(", ")
            ))
        })?),
    };
    let project = dir.join(decl.source.clone().unwrap_or_else(|| PathBuf::from(".")));
    let output = match (&args.output, &decl.output) {
        (Some(o), _) => o.clone(),
        (None, Some(o)) => dir.join(o),
        (None, None) if several => dir.join(format!("{name}.zip")),
        (None, None) => PathBuf::from("layer.zip"),
    };
    let mut apt = decl.apt.clone();
    apt.extend(args.apt.iter().cloned());
    let mut build_args: Vec<String> = decl
        .build_args
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    build_args.extend(args.build_args.iter().cloned());
    Ok(LayerSpec {
        name,
        project,
        output,
        runtime: match (&args.runtime, &decl.runtime) {
            (Some(r), _) => Some((r.clone(), "--runtime")),
            (None, Some(r)) => Some((r.clone(), "fclayer.toml")),
            (None, None) => None,
        },
        kind,
        apt,
        dockerfile: args
            .dockerfile
            .clone()
            .or_else(|| decl.dockerfile.as_ref().map(|d| dir.join(d))),
        build_args,
        target: args.target.clone().or_else(|| decl.target.clone()),
        base_image: args.base_image.clone().or_else(|| decl.base_image.clone()),
        platform: args.platform.clone().or_else(|| decl.platform.clone()),
        publish: crate::publish::build_decl(args.publish.as_deref(), decl.publish.as_ref()),
        bytecode: !args.no_bytecode && decl.bytecode.unwrap_or(true),
        slim: args.slim || decl.slim.unwrap_or(false),
        installer: args.installer.or(decl.installer),
        node: args.node.clone().or_else(|| decl.node.clone()),
        requirements: args
            .requirements
            .clone()
            .or_else(|| decl.requirements.clone()),
        python_selection: pyformats::Selection {
            groups: merged(&decl.groups, &args.with_groups),
            extras: merged(&decl.extras, &args.extras),
        },
    })
}

/// The file's list, then the command line's additions, each name once.
fn merged(file: &[String], flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in file.iter().chain(flags) {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

impl BuildPlan {
    /// Check one layer's spec against its project, the runtime table and what it takes from
    /// the `host` (see `Host::from_process`).
    pub fn new(spec: &LayerSpec, args: &BuildArgs, host: &Host) -> Result<BuildPlan> {
        let project = &spec.project;
        if !project.is_dir() {
            return Err(Error::input(format!(
                "project directory {} of layer `{}` does not exist",
                project.display(),
                spec.name
            ))
            .with_hint("check the layer's `source` in fclayer.toml"));
        }
        let chosen = match &spec.runtime {
            Some((name, from)) => Some((Runtime::lookup(name)?, *from)),
            None => None,
        };
        let (mode, runtime, runtime_from) = mode_and_runtime(spec, chosen)?;
        let arch = match &spec.platform {
            None => Arch::X86_64,
            Some(p) => Arch::parse(p)?,
        };
        let python = python_input(spec, &mode, runtime, arch)?;
        let ca = ca_bundle(args.ca_cert.as_deref(), host.ssl_cert_file.as_deref())?;
        let (env, mut secrets) = installer_host_env(project, host);
        // The logins of a lock's private indexes (pyformats::index).
        secrets.extend(python.iter().flat_map(|p| p.secrets.iter().cloned()));
        let base_image = spec
            .base_image
            .clone()
            .unwrap_or_else(|| runtime.fc_build_image.to_string());
        Ok(BuildPlan {
            name: spec.name.clone(),
            project: project.clone(),
            runtime,
            runtime_from,
            mode,
            output: spec.output.clone(),
            base_image,
            ca,
            env,
            secrets,
            timeout: Duration::from_secs(args.timeout.max(1)),
            max_size: args.max_size,
            arch,
            platform: arch.platform(),
            allow_incompatible: args.allow_incompatible,
            use_cache: !(args.no_cache || args.check),
            frozen: args.frozen,
            emulate: args.emulate,
            native_base: args.native_base.clone(),
            bytecode: spec.bytecode,
            slim: spec.slim,
            python_installer: crate::runtime::python::installer(runtime, spec.installer),
            node: spec.node.clone(),
            python,
        })
    }
}

/// The Python input of an installer build (None without Python): the detected or named file,
/// read and, for a lock, converted for the target. Python options without Python are refused.
fn python_input(
    spec: &LayerSpec,
    mode: &Mode,
    runtime: &'static Runtime,
    arch: Arch,
) -> Result<Option<pyformats::PythonInput>> {
    let sel = &spec.python_selection;
    if !mode.kinds().contains(&Kind::Python) {
        if spec.requirements.is_some() || !sel.groups.is_empty() || !sel.extras.is_empty() {
            return Err(Error::input(
                "--requirements, --with and --extras apply to Python layers, and this layer has no Python",
            )
            .with_hint("leave them out, or build the folder that holds the Python project"));
        }
        return Ok(None);
    }
    let target = pyformats::Target { runtime, arch };
    pyformats::read(&spec.project, spec.requirements.as_deref(), sel, &target).map(Some)
}

/// How the layer is made and for which runtime: the one chosen (and who chose it), else the
/// default for what the project holds.
fn mode_and_runtime(
    spec: &LayerSpec,
    chosen: Option<(&'static Runtime, &'static str)>,
) -> Result<(Mode, &'static Runtime, &'static str)> {
    let project = &spec.project;
    if let Some(dockerfile) = &spec.dockerfile {
        refuse_installer_options(spec)?;
        let df = dockerfile_spec(project, dockerfile, &spec.build_args, &spec.target)?;
        let (rt, from) = chosen.unwrap_or_else(|| (default_for(Kind::Apt), "default"));
        return Ok((Mode::Dockerfile(df), rt, from));
    }
    let (kinds, apt) = install_kinds(
        project,
        &spec.apt,
        spec.kind,
        chosen.map(|c| c.0),
        spec.requirements.is_some(),
    )?;
    let (rt, from) = chosen.unwrap_or_else(|| {
        // The language decides; system packages alone get the default custom runtime.
        let lead = kinds.iter().copied().find(|k| *k != Kind::Apt);
        (default_for(lead.unwrap_or(Kind::Apt)), "default")
    });
    for kind in &kinds {
        if !rt.supports(*kind) {
            return Err(Error::input(format!(
                "runtime {} cannot load a {kind} layer ({} found in {})",
                rt.name,
                kind.project_file(),
                project.display()
            ))
            .with_hint(format!(
                "choose a runtime with {}: {}",
                kind.installer(),
                Runtime::supporting(*kind).join(", ")
            )));
        }
    }
    if kinds.contains(&Kind::Node) {
        runtime::node::check_for_runtime(project, rt, spec.node.as_deref())?;
    }
    Ok((Mode::Install { kinds, apt }, rt, from))
}

/// `slim` and `bytecode = false` act on what fclayer's installers put in /opt; a Dockerfile
/// layer's /opt is the image's, so they would be ignored. (The flags conflict in clap; this is
/// the fclayer.toml keys.)
fn refuse_installer_options(spec: &LayerSpec) -> Result<()> {
    let key = match (spec.slim, spec.bytecode) {
        (true, _) => "slim = true",
        (_, false) => "bytecode = false",
        _ => return Ok(()),
    };
    Err(Error::input(format!(
        "layer {}: `{key}` cannot be used with `dockerfile`: fclayer does not change what a Dockerfile puts in /opt",
        spec.name
    ))
    .with_hint(
        "remove the key, or do it in the Dockerfile (e.g. pip's --no-compile, deleting tests/ folders)",
    ))
}

/// The host variables the installer gets, and the values never to print: the passthrough
/// variables, plus what the project's `.npmrc` names as `${VAR}` (npm needs VAR set where it
/// runs). The project's own files add secrets but never variables of their choosing.
fn installer_host_env(project: &Path, host: &Host) -> (Vec<(String, String)>, Vec<String>) {
    let (mut env, mut secrets) = (host.env.clone(), host.secrets.clone());
    let (in_files, npmrc_vars) = crate::secrets::file_secrets(project);
    secrets.extend(in_files);
    for var in npmrc_vars {
        if !npm_var(&var) {
            continue;
        }
        if let Some(value) = host.npm_vars.get(&var)
            && !env.iter().any(|(k, _)| *k == var)
        {
            secrets.push(value.clone());
            env.push((var, value.clone()));
        }
    }
    (env, secrets)
}

fn default_for(kind: Kind) -> &'static Runtime {
    Runtime::find(runtime::default_runtime(kind)).expect("default runtimes exist (tested)")
}

/// The kinds the project's files call for; a pyproject.toml that declares dependencies, or
/// `--requirements FILE` (`python_named`) whatever the file is called, makes a Python layer.
fn detected_kinds(project: &Path, python_named: bool) -> Vec<Kind> {
    let mut kinds = project::detect_kinds(project);
    let python = python_named || pyformats::declares_dependencies(project);
    if python && !kinds.contains(&Kind::Python) {
        kinds.push(Kind::Python);
        kinds.sort();
    }
    kinds
}

/// The kinds the project's files (and --apt) call for, each manifest checked. With a runtime
/// chosen, only the languages it can load count; without one, two languages are ambiguous.
fn install_kinds(
    project: &Path,
    apt_flags: &[String],
    only: Option<Kind>,
    runtime: Option<&'static Runtime>,
    python_named: bool,
) -> Result<(Vec<Kind>, Vec<String>)> {
    let mut kinds = detected_kinds(project, python_named);
    if let Some(only) = only {
        kinds.retain(|k| *k == only || *k == Kind::Apt);
        if only != Kind::Apt && !kinds.contains(&only) {
            return Err(Error::input(format!(
                "the layer's kind is {only}, but {} has no {}",
                project.display(),
                only.project_file()
            )));
        }
    }
    if !apt_flags.is_empty() && !kinds.contains(&Kind::Apt) {
        kinds.insert(0, Kind::Apt);
    }
    let languages: Vec<Kind> = kinds.iter().copied().filter(|k| *k != Kind::Apt).collect();
    if languages.len() > 1 {
        match runtime {
            Some(rt) => kinds.retain(|k| *k == Kind::Apt || rt.supports(*k)),
            None => {
                let names: Vec<&str> = languages.iter().map(|k| k.project_file()).collect();
                return Err(Error::input(format!(
                    "{} holds files of several kinds ({}): fclayer cannot tell which layer to build",
                    project.display(),
                    names.join(", ")
                ))
                .with_hint(format!(
                    "choose the runtime with --runtime, e.g. --runtime {} or --runtime {}",
                    runtime::default_runtime(languages[0]),
                    runtime::default_runtime(languages[1])
                )));
            }
        }
    }
    if kinds.is_empty() {
        let wanted: Vec<&str> = Kind::ALL.iter().map(|k| k.project_file()).collect();
        return Err(Error::input(format!(
            "nothing to build in {}: no {}, and no --apt packages",
            project.display(),
            wanted.join(", ")
        ))
        .with_hint(
            "add a requirements.txt (or package.json, pom.xml, composer.json) listing what the layer should hold, or give --apt PKG or --dockerfile FILE",
        ));
    }
    let mut apt = Vec::new();
    for kind in &kinds {
        let file = project.join(kind.project_file());
        match kind {
            Kind::Apt => {
                if file.is_file() {
                    apt.extend(runtime::apt::read_apt_list(&file)?);
                }
                for p in apt_flags {
                    runtime::apt::check_apt_name(p).map_err(|why| {
                        Error::input(format!("--apt {p}: {why}"))
                            .with_hint("give Debian package names, e.g. --apt postgresql-client")
                    })?;
                    if !apt.contains(p) {
                        apt.push(p.clone());
                    }
                }
            }
            // Python's input is chosen and read with the runtime known (`python_input`).
            Kind::Python => {}
            _ => (kind.language().check)(&file)?,
        }
    }
    Ok((kinds, apt))
}

fn dockerfile_spec(
    project: &Path,
    dockerfile: &Path,
    args: &[String],
    target: &Option<String>,
) -> Result<DockerfileSpec> {
    // A relative --dockerfile is looked up from the current directory, then in the context.
    let found = if dockerfile.is_file() {
        dockerfile.to_path_buf()
    } else if project.join(dockerfile).is_file() {
        project.join(dockerfile)
    } else {
        return Err(Error::input(format!(
            "Dockerfile {} does not exist",
            dockerfile.display()
        ))
        .with_hint("give the path of the Dockerfile to build, e.g. --dockerfile Dockerfile"));
    };
    let mut build_args = Vec::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| Error::input(format!("--build-arg {arg}: expected KEY=VALUE")))?;
        if k.is_empty() {
            return Err(Error::input(format!(
                "--build-arg {arg}: the name is empty"
            )));
        }
        build_args.push((k.to_string(), v.to_string()));
    }
    Ok(DockerfileSpec {
        dockerfile: found,
        build_args,
        target: target.clone(),
    })
}

/// The CA bundle for the installer: `--ca-cert`, else the host's SSL_CERT_FILE when set.
fn ca_bundle(flag: Option<&Path>, ssl_cert_file: Option<&Path>) -> Result<Option<CaBundle>> {
    let (path, from_env) = match (flag, ssl_cert_file) {
        (Some(p), _) => (p.to_path_buf(), false),
        (None, Some(p)) => (p.to_path_buf(), true),
        (None, None) => return Ok(None),
    };
    let pem = std::fs::read(&path)
        .at("read the CA certificates in", &path)
        .map_err(|e| {
            let what = if from_env {
                "SSL_CERT_FILE"
            } else {
                "--ca-cert"
            };
            e.context(what)
        })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::input(format!(
            "{} holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` line)",
            path.display()
        ))
        .with_hint(
            "give a PEM file of CA certificates, such as /etc/ssl/certs/ca-certificates.crt",
        ));
    }
    Ok(Some(CaBundle { pem }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plan for the example Python project (`args` after `fclayer build PROJECT`), with
    /// these host variables (`SSL_CERT_FILE`, `NPM_*`; the rest are passthrough variables).
    pub(crate) fn plan_for(args: &[&str], host: &[(&str, &str)]) -> BuildPlan {
        try_plan(&example("python"), args, host).unwrap()
    }

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name)
    }

    pub(crate) fn try_plan(
        project: &Path,
        args: &[&str],
        host: &[(&str, &str)],
    ) -> Result<BuildPlan> {
        use clap::Parser;
        let mut argv = vec!["fclayer", "build", project.to_str().unwrap()];
        argv.extend(args);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("arguments parse");
        let crate::cli::Command::Build(args) = cli.command else {
            unreachable!("a build command line")
        };
        let mut h = Host::default();
        for (k, v) in host {
            match *k {
                "SSL_CERT_FILE" => h.ssl_cert_file = Some(PathBuf::from(v)),
                k if npm_var(k) => {
                    h.npm_vars.insert(k.to_string(), v.to_string());
                }
                k => h.env.push((k.to_string(), v.to_string())),
            }
        }
        let spec = layer_specs(&args)?.remove(0);
        BuildPlan::new(&spec, &args, &h)
    }

    #[test]
    fn a_plan_takes_runtime_platform_and_flags_from_the_command_line() {
        let plan = plan_for(
            &[
                "--runtime",
                "python3.9",
                "--platform",
                "linux/arm64",
                "--no-cache",
            ],
            &[],
        );
        assert_eq!(plan.runtime.name, "python3.9");
        assert_eq!(plan.runtime_from, "--runtime");
        assert_eq!((plan.arch, plan.platform), (Arch::Aarch64, "linux/arm64"));
        assert!(!plan.use_cache);
        assert_eq!(plan.mode.kinds(), [Kind::Python]);
        assert!(plan.env.is_empty() && plan.secrets.is_empty() && plan.ca.is_none());
    }

    #[test]
    fn the_python_installer_is_uv_unless_asked_or_python36() {
        let plan = plan_for(&["--runtime", "python3.9"], &[]);
        assert_eq!(plan.python_installer, Installer::Uv);
        let plan = plan_for(&["--runtime", "python3.9", "--installer", "pip"], &[]);
        assert_eq!(plan.python_installer, Installer::Pip);
        let plan = plan_for(&["--runtime", "python3.6"], &[]);
        assert_eq!(plan.python_installer, Installer::Pip);
        let plan = plan_for(&["--runtime", "python3.6", "--installer", "uv"], &[]);
        assert_eq!(plan.python_installer, Installer::Uv);
    }

    #[test]
    fn without_a_runtime_the_project_decides() {
        let plan = plan_for(&["--apt", "libxml2"], &[]);
        assert_eq!(plan.runtime.name, runtime::default_runtime(Kind::Python));
        assert_eq!(plan.runtime_from, "default");
        assert_eq!(plan.mode.kinds(), [Kind::Apt, Kind::Python]);
        assert_eq!(plan.mode.apt(), ["libxml2"]);
    }

    #[test]
    fn bad_runtime_platform_and_language_are_refused_before_any_engine() {
        let py = example("python");
        let e = try_plan(&py, &["--runtime", "python9"], &[]).unwrap_err();
        assert!(e.details[0].contains("python3.9"), "{:?}", e.details);
        let e = try_plan(&py, &["--platform", "linux/s390x"], &[]).unwrap_err();
        assert_eq!(e.message, "unknown platform `linux/s390x`");
        let e = try_plan(&py, &["--runtime", "nodejs20"], &[]).unwrap_err();
        assert!(
            e.message
                .starts_with("runtime nodejs20 cannot load a python layer")
        );
        assert!(e.hint.unwrap().contains("python3.9"));
    }

    #[test]
    fn python_inputs_come_from_flags_and_the_project_file() {
        let dir = tempfile::tempdir().unwrap();
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pyformats/uv");
        for f in ["uv.lock", "pyproject.toml"] {
            std::fs::copy(fx.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(
            dir.path().join("fclayer.toml"),
            "[[layer]]\nruntime = \"python3.9\"\ngroups = [\"dev\"]\n",
        )
        .unwrap();
        let plan = try_plan(dir.path(), &[], &[]).unwrap();
        let py = plan.python.as_ref().unwrap();
        assert_eq!(py.selection.groups, ["dev"]);
        assert!(py.pins.iter().any(|p| p.name == "pytest"));
        std::fs::remove_file(dir.path().join("fclayer.toml")).unwrap();
        let plan = try_plan(dir.path(), &["--runtime", "python3.12"], &[]).unwrap();
        let py = plan.python.as_ref().unwrap();
        assert_eq!(py.file, "uv.lock");
        assert!(
            !py.pins
                .iter()
                .any(|p| p.name == "pytest" || p.name == "tomli")
        );
        let e = try_plan(
            dir.path(),
            &["--runtime", "python3.9", "--extras", "nope"],
            &[],
        );
        assert!(e.unwrap_err().message.contains("no extra `nope`"));
        let e = try_plan(
            &example("python"),
            &["--runtime", "python3.9", "--with", "dev"],
            &[],
        );
        assert!(
            e.unwrap_err()
                .message
                .contains("selects a dependency group")
        );
    }

    #[test]
    fn host_variables_come_from_the_host_given() {
        let plan = plan_for(
            &["--runtime", "python3.9"],
            &[
                ("PIP_INDEX_URL", "https://idx"),
                ("NPM_TOKEN", "t0ken-not-asked"),
            ],
        );
        assert_eq!(plan.env, [("PIP_INDEX_URL".into(), "https://idx".into())]);
        assert!(
            !plan.secrets.iter().any(|s| s == "t0ken-not-asked"),
            "no .npmrc asks for NPM_TOKEN"
        );
        let missing = "/nonexistent/fclayer-test-ca.pem";
        let e = try_plan(&example("python"), &[], &[("SSL_CERT_FILE", missing)]).unwrap_err();
        assert!(e.message.contains("SSL_CERT_FILE"), "{}", e.message);
    }
}
