//! Arguments + project files + runtime table → a validated `BuildPlan`. Everything a user can get
//! wrong is caught here, before a Docker engine is contacted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::BuildArgs;
use crate::error::{Error, IoContext, Result};
use crate::project::{self, ProjectFile};
use crate::runtime::{self, Kind, Runtime};

/// Everything a build needs, checked.
#[derive(Debug)]
pub struct BuildPlan {
    pub project: PathBuf,
    pub runtime: &'static Runtime,
    /// Where the runtime choice came from, for the user: "--runtime", "fclayer.toml", "default".
    pub runtime_from: &'static str,
    pub kind: Kind,
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
    pub platform: &'static str,
}

/// Extra CA certificates for the installer's TLS.
#[derive(Debug)]
pub struct CaBundle {
    pub source: PathBuf,
    pub pem: Vec<u8>,
}

/// Host variables handed to build containers when set: proxies (Docker API clients do not get
/// them injected the way the docker CLI does) and package-index settings.
const PASSTHROUGH: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
];

impl BuildPlan {
    pub fn new(args: &BuildArgs) -> Result<BuildPlan> {
        let project = &args.project;
        if !project.exists() {
            return Err(Error::input(format!(
                "project directory {} does not exist",
                project.display()
            ))
            .with_hint("give the folder that holds requirements.txt: fclayer build ./my-func"));
        }
        if !project.is_dir() {
            return Err(
                Error::input(format!("{} is not a directory", project.display()))
                    .with_hint("give the folder that holds requirements.txt, not the file itself"),
            );
        }
        let decl = ProjectFile::load(project)?
            .and_then(|f| (f.layers.len() == 1).then(|| f.layers[0].clone()))
            .unwrap_or_default();

        let kinds = project::detect_kinds(project);
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                let wanted: Vec<&str> = Kind::ALL.iter().map(|k| k.manifest()).collect();
                return Err(Error::input(format!(
                    "no {} in {}: nothing to build",
                    wanted.join(" or "),
                    project.display()
                ))
                .with_hint("add a requirements.txt listing the packages the layer should hold"));
            }
            many => {
                let names: Vec<String> = many.iter().map(|k| k.manifest().to_string()).collect();
                return Err(Error::input(format!(
                    "{} holds files of several kinds ({}); fclayer cannot tell which layer to build",
                    project.display(),
                    names.join(", ")
                ))
                .with_hint("choose with --runtime, or split the project"));
            }
        };

        let (name, runtime_from) = match (&args.runtime, &decl.runtime) {
            (Some(r), _) => (r.clone(), "--runtime"),
            (None, Some(r)) => (r.clone(), "fclayer.toml"),
            (None, None) => (default_runtime(kind).to_string(), "default"),
        };
        let runtime = Runtime::find(&name).ok_or_else(|| unknown_runtime(&name))?;
        if !runtime.supports(kind) {
            return Err(Error::input(format!(
                "runtime {} cannot load a {kind} layer",
                runtime.name
            )));
        }
        match kind {
            Kind::Python => project::check_requirements(&project.join(kind.manifest()))?,
        }

        let ca = ca_bundle(args.ca_cert.as_deref())?;
        let (env, secrets) = passthrough_env();
        let base_image = args
            .base_image
            .clone()
            .or(decl.base_image)
            .unwrap_or_else(|| runtime.fc_build_image.to_string());
        Ok(BuildPlan {
            project: project.clone(),
            runtime,
            runtime_from,
            kind,
            output: args.output.clone(),
            base_image,
            ca,
            env,
            secrets,
            timeout: Duration::from_secs(args.timeout.max(1)),
            max_size: args.max_size,
            platform: runtime.platform(),
        })
    }
}

pub fn default_runtime(kind: Kind) -> &'static str {
    match kind {
        Kind::Python => runtime::DEFAULT_PYTHON_RUNTIME,
    }
}

pub fn unknown_runtime(name: &str) -> Error {
    Error::input(format!("unknown runtime `{name}`"))
        .with_details([format!("valid runtimes: {}", Runtime::names().join(", "))])
        .with_hint("`fclayer runtimes` shows each runtime's Debian release and glibc")
}

/// The CA bundle for the installer: `--ca-cert`, else SSL_CERT_FILE when set.
fn ca_bundle(flag: Option<&Path>) -> Result<Option<CaBundle>> {
    let (path, from_env) = match flag {
        Some(p) => (p.to_path_buf(), false),
        None => match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
            Some(p) => (PathBuf::from(p), true),
            None => return Ok(None),
        },
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
    Ok(Some(CaBundle { source: path, pem }))
}

/// Host variables for the installer, and the credentials inside them.
fn passthrough_env() -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut secrets = Vec::new();
    for name in PASSTHROUGH {
        if let Ok(value) = std::env::var(name)
            && !value.is_empty()
        {
            secrets.extend(url_credentials(&value));
            env.push((name.to_string(), value));
        }
    }
    (env, secrets)
}

/// Passwords (and tokens used as user names) in `scheme://user:pass@host` URLs of a value.
pub fn url_credentials(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in value.split([' ', ',']) {
        let Some((_, rest)) = part.split_once("://") else {
            continue;
        };
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((_, pass)) if !pass.is_empty() => out.push(pass.to_string()),
                // A lone token as the user name (common for private indexes).
                None if userinfo.len() >= 8 => out.push(userinfo.to_string()),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_in_urls() {
        assert_eq!(
            url_credentials("https://user:s3cret@pypi.example.com/simple"),
            vec!["s3cret"]
        );
        assert_eq!(
            url_credentials("https://tok_abcdef123@pkgs.example.com/simple"),
            vec!["tok_abcdef123"]
        );
        assert!(url_credentials("http://proxy:3128").is_empty());
    }

    #[test]
    fn unknown_runtime_lists_valid_ones() {
        let e = unknown_runtime("python9");
        assert!(e.details[0].contains("python3.9"));
        assert!(e.details[0].contains("custom.debian12"));
    }
}
