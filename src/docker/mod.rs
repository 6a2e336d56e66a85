//! The only code that talks to the Docker engine. Methods are named for what fclayer needs:
//! make sure a build image exists, run a container to completion, stream a path out of it.
//!
//! 1. `Engine::connect` reads DOCKER_HOST the way the Docker CLI does, negotiates the API version
//!    (Engine 20.10 speaks 1.41) and says how to start an engine when none answers.
//! 2. Everything crosses into and out of containers through the archive API (PUT/GET
//!    `/containers/{id}/archive`): no bind mounts, so outputs belong to the calling user and a
//!    remote engine works the same as a local one.
//! 3. Every container fclayer creates carries the labels of [`owner`] and is registered with the
//!    run's [`Cleanup`], which removes it on success, failure and Ctrl-C; `fclayer gc` (and the
//!    start of every build) finds leftovers of killed runs by label and removes those whose
//!    process is gone.

pub mod cleanup;
pub mod context;
pub mod discover;
pub mod gc;
pub mod image;
pub mod owner;
pub mod platform;
mod remove;
pub mod run;
pub mod volume;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

pub use cleanup::Cleanup;

use crate::error::{Error, Kind, Result};

pub use owner::{LABEL, LABEL_HOST, LABEL_OWNER, LABEL_PID, LABEL_RUN};

/// Set (to anything but 0) to keep every build container's /opt on its disk, not in memory.
pub const OPT_ON_DISK: &str = "FCLAYER_OPT_ON_DISK";

/// The size cap of a memory-backed /opt instead of a quarter of the engine's memory: bytes, or
/// with a k, m or g suffix (powers of 1024).
pub const OPT_MEMORY: &str = "FCLAYER_OPT_MEMORY";

/// `12345`, `64k`, `512m`, `2g`.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, shift) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 10),
        'm' => (&t[..t.len() - 1], 20),
        'g' => (&t[..t.len() - 1], 30),
        _ => (&t[..], 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A connection to one Docker engine, and the cleanup registry of this run.
#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    host: String,
    /// Docker or Podman, and versions.
    identity: discover::Identity,
    /// Where the engine was found by looking (no DOCKER_HOST, no Docker context).
    found: Option<discover::Candidate>,
    cleanup: Arc<Cleanup>,
    /// What `probe_platform` found, per platform: asked once per run.
    pub(crate) probed: Arc<std::sync::Mutex<HashMap<String, platform::Execution>>>,
    /// The size cap of a build container's memory-backed /opt (see `RunSpec::hold`), asked of
    /// the engine once per run; `Some(None)` when it does not say how much memory it has.
    pub(crate) opt_memory: Arc<tokio::sync::OnceCell<Option<u64>>>,
}

impl Engine {
    /// Connect to the engine the Docker CLI would use: DOCKER_HOST (with DOCKER_TLS_VERIFY and
    /// DOCKER_CERT_PATH for TLS), else the current Docker context (DOCKER_CONTEXT, or
    /// `currentContext` in ~/.docker/config.json), else the first local socket that answers
    /// among the places engines listen (`discover`). Then check it answers.
    pub async fn connect(cleanup: Arc<Cleanup>) -> Result<Engine> {
        let env_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let context = match env_host {
            Some(_) => None,
            None => context::current()?,
        };
        let mut found = None;
        let (host, connected) = match (&env_host, &context) {
            (Some(h), _) => (h.clone(), Docker::connect_with_defaults()),
            (None, Some(c)) => (c.host.clone(), c.connect()),
            (None, None) => {
                let (place, docker) = look_for_engine().await?;
                let host = format!("unix://{}", place.path.display());
                found = Some(place);
                (host, Ok(docker))
            }
        };
        let docker = connected.map_err(|e| match e {
            bollard::errors::Error::UnsupportedURISchemeError { .. } => {
                Error::input(format!("cannot use the Docker host {host}: {e}")).with_hint(
                    "DOCKER_HOST takes unix://PATH, tcp://HOST:PORT, https://HOST:PORT or ssh://USER@HOST",
                )
            }
            bollard::errors::Error::CertPathError { .. } => Error::input(format!(
                "cannot read the TLS certificates for {host}: {e}"
            ))
            .with_hint(
                "DOCKER_CERT_PATH (or the context's TLS folder) must hold ca.pem, cert.pem and key.pem",
            ),
            other => unreachable_engine(&host, &other),
        })?;
        // Requests such as waiting for a container last as long as the build; fclayer applies
        // its own --timeout, so the client's must not cut them off first.
        let docker = docker.with_timeout(Duration::from_secs(24 * 3600));
        // An engine that accepts the connection but never answers (stopping, or hung) must not
        // hang the build: the handshake gets a deadline of its own.
        let handshake = async {
            let docker = docker
                .negotiate_version()
                .await
                .map_err(|e| unreachable_engine(&host, &e))?;
            docker
                .ping()
                .await
                .map_err(|e| unreachable_engine(&host, &e))?;
            let version = docker
                .version()
                .await
                .map_err(|e| unreachable_engine(&host, &e))?;
            Ok::<_, Error>((docker, discover::Identity::from_version(&version)))
        };
        let (docker, identity) = tokio::time::timeout(Duration::from_secs(30), handshake)
            .await
            .map_err(|_| {
                Error::engine(format!(
                    "the Docker engine at {host} accepted the connection but did not answer within 30 s"
                ))
                .with_hint("check the engine (`docker info`); restart it if it hangs")
            })??;
        Ok(Engine {
            docker,
            host,
            identity,
            found,
            cleanup,
            probed: Arc::default(),
            opt_memory: Arc::default(),
        })
    }

    /// Docker or Podman, its version and the API version.
    pub fn identity(&self) -> &discover::Identity {
        &self.identity
    }

    /// What found the engine, for the run's first line: `None` when DOCKER_HOST or a Docker
    /// context named it, or it is at the standard socket (what every Docker client uses).
    pub fn found_by_looking(&self) -> Option<String> {
        let place = self.found.as_ref()?;
        (place.what != "the standard socket").then(|| {
            format!(
                "{} at {} ({}), found by looking: no DOCKER_HOST or Docker context",
                self.identity,
                place.path.display(),
                place.what
            )
        })
    }

    pub fn cleanup(&self) -> &Arc<Cleanup> {
        &self.cleanup
    }

    /// The labels every container (and temporary image) of this run carries.
    pub(crate) fn labels(&self) -> HashMap<String, String> {
        let me = self.cleanup.process();
        HashMap::from([
            (LABEL.to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (LABEL_RUN.to_string(), self.cleanup.run_id().to_string()),
            (LABEL_PID.to_string(), me.pid.to_string()),
            (LABEL_HOST.to_string(), me.host.clone()),
            (LABEL_OWNER.to_string(), me.label()),
        ])
    }

    /// How many CPUs the engine has (1 when it does not say).
    pub async fn cpus(&self) -> usize {
        self.docker
            .info()
            .await
            .ok()
            .and_then(|i| i.ncpu)
            .map_or(1, |n| n.max(1) as usize)
    }

    /// How large a build container's memory-backed /opt may grow: a quarter of the engine's
    /// memory (an engine VM of 8 GiB gives 2 GiB, more than FC's 500 MB zipped layer unpacks to
    /// in practice), or FCLAYER_OPT_MEMORY. `None` when the engine does not say, or
    /// FCLAYER_OPT_ON_DISK is set: then /opt stays on the container's disk.
    pub async fn opt_memory(&self) -> Option<u64> {
        if std::env::var_os(OPT_ON_DISK).is_some_and(|v| !v.is_empty() && v != "0") {
            return None;
        }
        if let Some(size) = std::env::var(OPT_MEMORY).ok().and_then(|v| parse_size(&v)) {
            return Some(size.max(4096));
        }
        *self
            .opt_memory
            .get_or_init(|| async {
                let total = self.docker.info().await.ok()?.mem_total?;
                u64::try_from(total)
                    .ok()
                    .map(|t| t / 4)
                    .filter(|t| *t >= 64 << 20)
            })
            .await
    }

    /// The engine's own platform, e.g. `linux/amd64`.
    pub async fn native_platform(&self) -> Result<String> {
        let v = self.docker.version().await.map_err(|e| self.lost(&e))?;
        let os = v.os.unwrap_or_else(|| "linux".into());
        let arch = v.arch.unwrap_or_else(|| "amd64".into());
        Ok(format!("{os}/{}", normalize_arch(&arch)))
    }

    /// An error for an API call: the engine refusing the request (a 4xx/5xx with a message) is a
    /// build error about `what`; anything else means the engine went away.
    pub(crate) fn api_error(&self, e: &bollard::errors::Error, what: &str) -> Error {
        match e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                Error::build(format!("{what}: {}", message.trim()))
            }
            other => self.lost(other).context(what),
        }
    }

    /// An error for a request that failed in a way that means the engine went away.
    pub(crate) fn lost(&self, e: &bollard::errors::Error) -> Error {
        Error::engine(format!(
            "the Docker engine at {} stopped answering: {}",
            self.host,
            short(e)
        ))
        .with_hint(LOST_HINT)
    }

    /// An error met mid-run, read again in the light of the engine's state: when the engine no
    /// longer answers, that is the cause (exit code 3), whatever the symptom was (a broken
    /// stream, a truncated archive).
    pub async fn explain(&self, e: Error) -> Error {
        if matches!(e.kind, Kind::Engine | Kind::Interrupted) {
            return e;
        }
        if self.answers().await {
            e
        } else {
            Error::engine(format!(
                "the Docker engine at {} stopped answering",
                self.host
            ))
            .with_details([e.message])
            .with_hint(LOST_HINT)
        }
    }

    /// Whether the engine still answers (within 5 s).
    pub async fn answers(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.docker.ping()).await,
            Ok(Ok(_))
        )
    }
}

const LOST_HINT: &str = "check that the engine is running (`docker info`); once it is back, \
    `fclayer gc` removes what this run left (the next build does too), then run the build again";

/// Map Go/Docker architecture spellings to the platform's: x86_64 → amd64, aarch64 → arm64.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// No DOCKER_HOST and no Docker context: the first socket that answers among the places the
/// laptop engines and Podman listen, or an error listing where fclayer looked.
async fn look_for_engine() -> Result<(discover::Candidate, Docker)> {
    let places = discover::candidates(&discover::Roots::from_env());
    discover::first_answering(&places).await.map_err(|tried| {
        Error::engine(
            "no Docker engine answers here: DOCKER_HOST is not set, no Docker context is selected, \
             and no socket in the usual places answered",
        )
        .with_details(discover::describe_tried(&tried))
        .with_hint(discover::START_HINT)
    })
}

fn unreachable_engine(host: &str, e: &bollard::errors::Error) -> Error {
    Error::engine(format!(
        "cannot reach a Docker engine at {host}: {}",
        short(e)
    ))
    .with_hint(
        "start one (`sudo systemctl start docker`, or `sudo dockerd &`; Docker Desktop: open it), \
         or point DOCKER_HOST at a running engine",
    )
}

/// The short form of a container or image ID, as `docker ps` shows it: `sha256:0123456789abcdef…`
/// → `0123456789ab`.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// bollard's error text without the request plumbing.
pub(crate) fn short(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError { message, .. } => message.trim().to_string(),
        E::DockerStreamError { error } => error.trim().to_string(),
        other => {
            let mut s = other.to_string();
            let mut innermost = s.clone();
            let mut src = std::error::Error::source(other);
            while let Some(inner) = src {
                let t = inner.to_string();
                if !s.contains(&t) {
                    s = format!("{s}: {t}");
                }
                innermost = t;
                src = inner.source();
            }
            // The HTTP client's layers say nothing a user can act on; the socket's error does.
            if s.contains("client error (Connect)") {
                let why = innermost
                    .find(" (os error")
                    .map_or(innermost.as_str(), |i| &innermost[..i]);
                return format!("cannot connect: {why}");
            }
            s
        }
    }
}

/// Whether a bollard error is a 404 (no such image/container).
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_memory_sizes_parse() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size(" 2G "), Some(2 << 30));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn short_ids_are_twelve_characters_without_the_digest_name() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
    }
}
