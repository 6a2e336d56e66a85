//! Finding a local engine when nothing names one, the way the laptop tools set themselves up, and
//! telling which engine answered.
//!
//! With no DOCKER_HOST and no Docker context, the Docker CLI only tries `/var/run/docker.sock`.
//! Docker Desktop (since 4.13, unless asked), Colima, OrbStack, Rancher Desktop, rootless Docker
//! and Podman listen elsewhere and leave that path absent or dead, so a user who can run their
//! engine would still see "cannot reach a Docker engine". fclayer looks in each engine's own place,
//! in a fixed order, and takes the first socket that answers a ping. A socket that is there but
//! does not answer (a stopped VM leaves its socket file behind) is skipped and reported.
//!
//! Where to look is rooted in HOME, XDG_RUNTIME_DIR, TMPDIR and the system root `/`. The system
//! root can be moved with `FCLAYER_TEST_SYSTEM_ROOT`, for tests only: it lets a test put an engine
//! at `<root>/var/run/docker.sock` or nowhere, whatever the machine it runs on has at
//! `/var/run/docker.sock`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use serde::Serialize;

/// A place an engine may listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Who puts a socket there, e.g. "Colima (profile default)".
    pub what: String,
    pub path: PathBuf,
}

/// The folders the places are rooted in.
#[derive(Clone, Debug)]
pub struct Roots {
    pub home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub tmpdir: Option<PathBuf>,
    /// `/`, or the test's stand-in for it.
    pub system: PathBuf,
    pub uid: u32,
}

impl Roots {
    pub fn from_env() -> Roots {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Roots {
            home: var("HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            tmpdir: var("TMPDIR"),
            system: var("FCLAYER_TEST_SYSTEM_ROOT").unwrap_or_else(|| PathBuf::from("/")),
            uid: current_uid(),
        }
    }
}

/// This process's user id: the owner of /proc/self on Linux (where /run/user/UID is looked at);
/// elsewhere, HOME's owner.
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .or_else(|_| std::fs::metadata(std::env::var_os("HOME").unwrap_or_default()))
        .map_or(0, |m| m.uid())
}

/// The places to try, in order: the standard socket first (what the Docker CLI would use), then
/// the laptop engines, then rootless and rootful engines of this machine.
pub fn candidates(roots: &Roots) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut add = |what: &str, path: PathBuf| {
        if !out.iter().any(|c| c.path == path) {
            out.push(Candidate {
                what: what.to_string(),
                path,
            });
        }
    };
    let sys = &roots.system;
    add("the standard socket", sys.join("var/run/docker.sock"));
    if let Some(home) = &roots.home {
        add("Docker Desktop", home.join(".docker/run/docker.sock"));
        add(
            "Docker Desktop (Linux)",
            home.join(".docker/desktop/docker.sock"),
        );
        add(
            "Colima (profile default)",
            home.join(".colima/default/docker.sock"),
        );
        for (profile, path) in subdirs_with(&home.join(".colima"), "docker.sock") {
            add(&format!("Colima (profile {profile})"), path);
        }
        // Colima before 0.4 kept one socket at the top.
        add("Colima", home.join(".colima/docker.sock"));
        add("OrbStack", home.join(".orbstack/run/docker.sock"));
        add("Rancher Desktop", home.join(".rd/docker.sock"));
        for (instance, path) in subdirs_with(&home.join(".lima"), "sock/docker.sock") {
            add(&format!("Lima (instance {instance})"), path);
        }
    }
    let user_run = sys.join(format!("run/user/{}", roots.uid));
    for run in roots.xdg_runtime_dir.iter().chain([&user_run]) {
        add("rootless Docker", run.join("docker.sock"));
        add("rootless Podman", run.join("podman/podman.sock"));
    }
    add("Podman (rootful)", sys.join("run/podman/podman.sock"));
    // Podman machine on macOS: one API socket per machine under $TMPDIR, and the link
    // podman-mac-helper keeps.
    if let Some(tmp) = &roots.tmpdir {
        for (name, path) in files_like(&tmp.join("podman"), "-api.sock") {
            add(&format!("Podman machine ({name})"), path);
        }
    }
    if let Some(home) = &roots.home {
        add(
            "Podman machine",
            home.join(".local/share/containers/podman/machine/podman.sock"),
        );
    }
    out
}

/// `dir/*/<rel>` that exist, by folder name (sorted, so the order does not depend on the disk).
fn subdirs_with(dir: &Path, rel: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join(rel),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();
    found.sort();
    found
}

/// `dir/<name><suffix>` files, by name.
fn files_like(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(suffix)?.to_string();
            Some((stem, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// What was found at each place tried.
#[derive(Debug)]
pub enum Probe {
    Absent,
    /// There, but it did not answer (why).
    Silent(String),
}

/// The first place whose engine answers, with the client; else every place and what was there.
pub async fn first_answering(
    places: &[Candidate],
) -> std::result::Result<(Candidate, Docker), Vec<(Candidate, Probe)>> {
    let mut tried = Vec::new();
    for place in places {
        if std::fs::symlink_metadata(&place.path).is_err() {
            tried.push((place.clone(), Probe::Absent));
            continue;
        }
        match ping(&place.path).await {
            Ok(docker) => return Ok((place.clone(), docker)),
            Err(why) => tried.push((place.clone(), Probe::Silent(why))),
        }
    }
    Err(tried)
}

async fn ping(path: &Path) -> std::result::Result<Docker, String> {
    let path = path.to_string_lossy();
    let docker =
        Docker::connect_with_unix(&path, 120, API_DEFAULT_VERSION).map_err(|e| super::short(&e))?;
    // A socket left by a stopped VM refuses at once; one whose engine hangs must not hold the
    // search up for long.
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(super::short(&e)),
        Err(_) => Err("no answer within 3 s".into()),
    }
}

/// The error's list of places: one line per place that exists, and the absent ones in one line.
pub fn describe_tried(tried: &[(Candidate, Probe)]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut absent = Vec::new();
    for (c, probe) in tried {
        match probe {
            Probe::Absent => absent.push(c.path.display().to_string()),
            Probe::Silent(why) => lines.push(format!(
                "{} ({}): there, but {why}",
                c.path.display(),
                c.what
            )),
        }
    }
    if !absent.is_empty() {
        lines.push(format!("no socket at: {}", absent.join(", ")));
    }
    lines
}

/// How to start an engine, for the error when none answers.
pub const START_HINT: &str = "start an engine: Linux `sudo systemctl start docker` (or `dockerd &`), \
    rootless Podman `systemctl --user start podman.socket`, rootful `sudo systemctl start podman.socket`; \
    macOS Docker Desktop (open it), `colima start`, OrbStack (open it) or `podman machine start`; \
    or point DOCKER_HOST at a running engine";

/// Which engine answered: Docker Engine or Podman, its version and the API version in use.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// "Docker" or "Podman".
    pub name: String,
    pub version: String,
    pub api: String,
}

impl Identity {
    /// From `/version`: Podman names its component "Podman Engine"; Docker names its "Engine".
    pub fn from_version(v: &bollard::models::SystemVersion) -> Identity {
        let podman = v
            .components
            .iter()
            .flatten()
            .find(|c| c.name.eq_ignore_ascii_case("Podman Engine"));
        match podman {
            Some(c) => Identity {
                name: "Podman".into(),
                version: c.version.clone(),
                api: v.api_version.clone().unwrap_or_default(),
            },
            None => Identity {
                name: "Docker".into(),
                version: v.version.clone().unwrap_or_default(),
                api: v.api_version.clone().unwrap_or_default(),
            },
        }
    }

    pub fn is_podman(&self) -> bool {
        self.name == "Podman"
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (API {})", self.name, self.version, self.api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> Roots {
        Roots {
            home: Some(dir.join("home")),
            xdg_runtime_dir: Some(dir.join("xdg")),
            tmpdir: Some(dir.join("tmp")),
            system: dir.join("sys"),
            uid: 1000,
        }
    }

    #[test]
    fn looks_in_each_engines_own_place_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        for p in [
            "home/.colima/work/docker.sock",
            "home/.colima/default/docker.sock",
            "home/.lima/docker/sock/docker.sock",
            "tmp/podman/podman-machine-default-api.sock",
        ] {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let got: Vec<String> = candidates(&r)
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c.what,
                    c.path.strip_prefix(dir.path()).unwrap().display()
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "the standard socket=sys/var/run/docker.sock",
                "Docker Desktop=home/.docker/run/docker.sock",
                "Docker Desktop (Linux)=home/.docker/desktop/docker.sock",
                "Colima (profile default)=home/.colima/default/docker.sock",
                "Colima (profile work)=home/.colima/work/docker.sock",
                "Colima=home/.colima/docker.sock",
                "OrbStack=home/.orbstack/run/docker.sock",
                "Rancher Desktop=home/.rd/docker.sock",
                "Lima (instance docker)=home/.lima/docker/sock/docker.sock",
                "rootless Docker=xdg/docker.sock",
                "rootless Podman=xdg/podman/podman.sock",
                "rootless Docker=sys/run/user/1000/docker.sock",
                "rootless Podman=sys/run/user/1000/podman/podman.sock",
                "Podman (rootful)=sys/run/podman/podman.sock",
                "Podman machine (podman-machine-default)=tmp/podman/podman-machine-default-api.sock",
                "Podman machine=home/.local/share/containers/podman/machine/podman.sock",
            ]
        );
    }

    #[tokio::test]
    async fn a_dead_socket_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        // A socket file nobody listens on: what a stopped VM leaves.
        let dead = dir.path().join("home/.colima/default/docker.sock");
        std::fs::create_dir_all(dead.parent().unwrap()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        let tried = first_answering(&candidates(&r)).await.unwrap_err();
        let lines = describe_tried(&tried);
        assert!(
            lines[0].starts_with(&format!(
                "{} (Colima (profile default)): there, but",
                dead.display()
            )),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("no socket at: "), "{lines:?}");
        assert!(lines[1].contains(".orbstack/run/docker.sock"), "{lines:?}");
    }

    #[test]
    fn podman_is_told_from_docker_by_its_component() {
        let v: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Version":"4.3.1","ApiVersion":"1.41","Components":[{"Name":"Podman Engine","Version":"4.3.1"}]}"#,
        )
        .unwrap();
        assert_eq!(
            Identity::from_version(&v).to_string(),
            "Podman 4.3.1 (API 1.41)"
        );
        let v: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Version":"20.10.24+dfsg1","ApiVersion":"1.41","Components":[{"Name":"Engine","Version":"20.10.24+dfsg1"}]}"#,
        )
        .unwrap();
        assert_eq!(Identity::from_version(&v).name, "Docker");
    }
}
