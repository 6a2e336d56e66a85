//! Docker contexts, read the way the Docker CLI reads them, so `docker context use remote` points
//! fclayer at the same engine as `docker`:
//!
//! - the context is DOCKER_CONTEXT, else `currentContext` in `$DOCKER_CONFIG/config.json`
//!   (default `~/.docker`); "default" means the local socket;
//! - its endpoint is `contexts/meta/<sha256(name)>/meta.json` → `Endpoints.docker.Host`;
//! - its TLS material, if any, is `contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`.

use std::path::PathBuf;

use bollard::{API_DEFAULT_VERSION, Docker};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A context's engine endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    pub host: String,
    /// Folder holding ca.pem, cert.pem and key.pem, when the context uses TLS.
    pub tls: Option<PathBuf>,
}

fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

/// The context the Docker CLI would use, unless it is the default (local) one.
pub fn current() -> Result<Option<Context>> {
    match config_dir() {
        Some(dir) => current_in(&dir, std::env::var("DOCKER_CONTEXT").ok()),
        None => Ok(None),
    }
}

/// `current`, given the Docker config folder and DOCKER_CONTEXT's value.
fn current_in(dir: &std::path::Path, env_context: Option<String>) -> Result<Option<Context>> {
    let name = match env_context.filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
                return Ok(None);
            };
            let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Error::input(format!(
                    "{}:{}: not valid JSON: {e}",
                    dir.join("config.json").display(),
                    e.line()
                ))
            })?;
            match config["currentContext"].as_str() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => return Ok(None),
            }
        }
    };
    if name == "default" {
        return Ok(None);
    }
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_path = dir.join("contexts/meta").join(&id).join("meta.json");
    let meta: serde_json::Value = std::fs::read_to_string(&meta_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            Error::input(format!(
                "Docker context `{name}` is selected but {} cannot be read",
                meta_path.display()
            ))
            .with_hint("`docker context ls` lists the contexts; `docker context use default` selects the local engine")
        })?;
    let host = meta["Endpoints"]["docker"]["Host"]
        .as_str()
        .ok_or_else(|| Error::input(format!("Docker context `{name}` has no docker endpoint")))?
        .to_string();
    let tls = dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls.join("ca.pem").is_file().then_some(tls);
    Ok(Some(Context { name, host, tls }))
}

impl Context {
    pub fn connect(&self) -> std::result::Result<Docker, bollard::errors::Error> {
        match &self.tls {
            Some(dir) => Docker::connect_with_ssl(
                &self.host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                120,
                API_DEFAULT_VERSION,
            ),
            None => Docker::connect_with_host(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context_like_the_docker_cli() {
        let dir = tempfile::tempdir().unwrap();
        let id = hex::encode(Sha256::digest(b"remote"));
        let meta = dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let tls = dir.path().join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext": "remote"}"#,
        )
        .unwrap();
        let c = current_in(dir.path(), None).unwrap().unwrap();
        assert_eq!(c.host, "tcp://10.0.0.5:2376");
        assert_eq!(c.tls.as_deref(), Some(tls.as_path()));
        assert_eq!(
            current_in(dir.path(), Some("default".into())).unwrap(),
            None
        );
        let e = current_in(dir.path(), Some("missing".into())).unwrap_err();
        assert!(e.message.contains("missing"), "{}", e.message);
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        assert_eq!(current_in(dir.path(), None).unwrap(), None);
    }
}
