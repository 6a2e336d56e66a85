//! Build images: find or pull the base, build the runtime's Dockerfile on it through the API,
//! and reuse the result when it exists. The image is tagged by a hash of everything that makes it
//! (Dockerfile and scripts, base image ID, platform), so a changed recipe or base builds anew and
//! an unchanged one is never rebuilt.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bollard::models::ImageInspect;
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{Engine, LABEL, is_not_found, normalize_arch, short, short_id};

use crate::console::{Console, Step};
use crate::error::{Error, Result};
use crate::images::Context;
use crate::units::human_bytes;

/// A build image ready to run.
#[derive(Clone, Debug)]
pub struct BuildImage {
    pub tag: String,
    pub id: String,
    pub base: String,
    /// The base image's ID: the build image's identity follows from it.
    pub base_id: String,
}

/// Build-args Docker treats as predefined: passed to RUN steps, never recorded in the history.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
];

impl Engine {
    /// Inspect an image; `None` if the engine does not have it.
    pub async fn image(&self, name: &str) -> Result<Option<ImageInspect>> {
        match self.docker.inspect_image(name).await {
            Ok(i) => Ok(Some(i)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.lost(&e)),
        }
    }

    /// Make sure `name` is present for `platform`, pulling it if needed.
    pub async fn ensure_base(
        &self,
        name: &str,
        platform: &str,
        console: &Console,
    ) -> Result<ImageInspect> {
        let step = console.step("Resolving", format!("base image {name} ({platform})"));
        if let Some(found) = self.image(name).await? {
            check_platform(name, &found, platform)?;
            step.done(format!(
                "found {}",
                short_id(found.id.as_deref().unwrap_or(""))
            ));
            return Ok(found);
        }
        step.update(
            format!("base image {name}: pulling"),
            Some("not on this engine: pulling"),
        );
        let opts = CreateImageOptions {
            from_image: Some(name.to_string()),
            platform: platform.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => {}
                // A 5xx while pulling is the registry's answer relayed by the engine (e.g. DNS),
                // not the engine going away; only a broken connection is.
                Err(e @ bollard::errors::Error::DockerResponseServerError { .. })
                | Err(e @ bollard::errors::Error::DockerStreamError { .. }) => {
                    return Err(Error::input(format!(
                        "base image {name} is not on this engine and cannot be pulled: {}",
                        short(&e)
                    ))
                    .with_hint(format!(
                        "pull it where a registry is reachable and move it here (`docker save {name} | docker load`), \
                         or give a local image with --base-image (scripts/base-images.sh makes Debian ones with debootstrap)"
                    )));
                }
                Err(e) => return Err(self.lost(&e).context(format!("pulling {name}"))),
            }
        }
        let found = self.image(name).await?.ok_or_else(|| {
            Error::engine(format!("{name} was pulled but the engine cannot find it"))
        })?;
        check_platform(name, &found, platform)?;
        step.done(format!(
            "pulled {}",
            short_id(found.id.as_deref().unwrap_or(""))
        ));
        Ok(found)
    }

    /// Find or build the image made from `context` on `base` for `platform`. Only inspects
    /// when the image exists: a cache hit later must not start a container.
    pub async fn ensure_build_image(
        &self,
        repo: &str,
        context: Context,
        base: &str,
        platform: &str,
        console: &Console,
    ) -> Result<BuildImage> {
        let base_image = self.ensure_base(base, platform, console).await?;
        let base_id = base_image.id.unwrap_or_default();
        let mut key = Sha256::new();
        for part in [context.hash.as_str(), base, &base_id, platform] {
            key.update(part.as_bytes());
            key.update([0]);
        }
        let tag = format!("{repo}:{}", &hex::encode(key.finalize())[..16]);
        let found = |found: ImageInspect| BuildImage {
            tag: tag.clone(),
            id: found.id.unwrap_or_default(),
            base: base.to_string(),
            base_id: base_id.clone(),
        };

        if let Some(image) = self.image(&tag).await? {
            console.status("Reusing", format!("build image {tag}"));
            return Ok(found(image));
        }
        // Another fclayer process may be building the same image: wait for it, then reuse.
        let _lock = crate::paths::lock(&format!("image-{}", tag.replace(['/', ':'], "_"))).await;
        if let Some(image) = self.image(&tag).await? {
            console.status("Reusing", format!("build image {tag}"));
            return Ok(found(image));
        }
        // Its RUN steps run on the target platform: the engine must be able to.
        self.probe_platform(platform, base, console).await?;
        self.build(&tag, context, base, platform, console).await?;
        let image = self.image(&tag).await?.ok_or_else(|| {
            Error::engine(format!("{tag} was built but the engine cannot find it"))
        })?;
        check_platform(&tag, &image, platform)?;
        Ok(found(image))
    }

    async fn build(
        &self,
        tag: &str,
        context: Context,
        base: &str,
        platform: &str,
        console: &Console,
    ) -> Result<()> {
        let step = console.step("Building", format!("image {tag} on {base}"));
        let mut buildargs = proxy_args();
        buildargs.insert("BASE_IMAGE".to_string(), base.to_string());
        let mut labels =
            HashMap::from([(LABEL.to_string(), env!("CARGO_PKG_VERSION").to_string())]);
        labels.insert("fclayer.base".to_string(), base.to_string());
        let spec = ImageBuild {
            tag,
            context: context.tar,
            dockerfile: "Dockerfile".to_string(),
            buildargs,
            labels,
            target: None,
            platform,
        };
        if let Err(failure) = self.run_build(spec, &step, console).await? {
            drop(step);
            return Err(failure
                .into_error(format!("building image {tag} failed"))
                .with_hint(format!(
                    "the base image {base} may lack what the build image needs (apt sources, network); \
                     `fclayer runtimes` lists each runtime's Dockerfile under images/"
                )));
        }
        step.done("built");
        Ok(())
    }

    /// Build the user's Dockerfile from `context` (the project folder, .dockerignore honoured,
    /// in which the Dockerfile is named `dockerfile`). Returns the image's temporary tag; the
    /// run's cleanup removes the image.
    pub async fn build_user_image(
        &self,
        context: Vec<u8>,
        dockerfile: String,
        spec: UserDockerfile<'_>,
        platform: &str,
        console: &Console,
    ) -> Result<String> {
        let tag = format!("fclayer-tmp/{}:latest", self.cleanup().run_id());
        let step = console.step(
            "Building",
            format!(
                "{} ({} context)",
                spec.path.display(),
                human_bytes(context.len() as u64)
            ),
        );
        let mut buildargs = proxy_args();
        buildargs.extend(spec.build_args.iter().cloned());
        self.cleanup().add_image(&tag);
        let build = ImageBuild {
            tag: &tag,
            context,
            dockerfile,
            buildargs,
            labels: self.labels(),
            target: spec.target.map(str::to_string),
            platform,
        };
        if let Err(failure) = self.run_build(build, &step, console).await? {
            drop(step);
            return Err(failure
                .into_error(format!("{} failed", spec.path.display()))
                .with_hint(
                    "fix the failing step; `docker build` of the same Dockerfile shows the same error",
                ));
        }
        step.done("built");
        Ok(tag)
    }

    /// Send a build to the engine and follow it. The outer error is the engine failing; the
    /// inner one is the build failing (a step's error, with the log tail).
    async fn run_build(
        &self,
        spec: ImageBuild<'_>,
        step: &Step,
        console: &Console,
    ) -> Result<std::result::Result<(), BuildFailure>> {
        let opts = BuildImageOptions {
            dockerfile: spec.dockerfile,
            t: Some(spec.tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(spec.buildargs),
            labels: Some(spec.labels),
            platform: spec.platform.to_string(),
            target: spec.target.unwrap_or_default(),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .build_image(opts, None, Some(bollard::body_full(spec.context.into())));
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut current_step = String::new();
        while let Some(item) = stream.next().await {
            let message = match item {
                Ok(info) => match info.error_detail {
                    Some(detail) => detail.message.unwrap_or_default(),
                    None => {
                        if let Some(text) = info.stream {
                            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                                if let Some(named) = step_line(line) {
                                    step.update(
                                        format!("{}: {}", spec.tag, step_counter(&named)),
                                        (!console.verbose()).then_some(named.as_str()),
                                    );
                                    current_step = named;
                                }
                                self.track_build_container(line);
                                console.container_line(line);
                                push_tail(&mut tail, line);
                            }
                        }
                        continue;
                    }
                },
                Err(bollard::errors::Error::DockerStreamError { error }) => error,
                Err(e @ bollard::errors::Error::DockerResponseServerError { status_code, .. })
                    if status_code < 500 =>
                {
                    short(&e)
                }
                Err(e) => return Err(self.lost(&e)),
            };
            return Ok(Err(BuildFailure {
                at: current_step,
                message: message.trim().to_string(),
                tail: tail.into_iter().collect(),
            }));
        }
        Ok(Ok(()))
    }
}

impl Engine {
    /// The legacy builder runs each `RUN` step in a container of its own, unlabelled. It
    /// announces each one ("Running in ID") and its removal; the run's cleanup removes any still
    /// there when the build is interrupted, rather than trusting the engine to cancel the build
    /// when the client goes away.
    fn track_build_container(&self, line: &str) {
        let line = line.trim();
        if let Some(id) = line.strip_prefix("---> Running in ") {
            self.cleanup().add_container(id.trim());
        } else if let Some(id) = line.strip_prefix("Removing intermediate container ") {
            self.cleanup().forget_container(id.trim());
        }
    }
}

/// The user's Dockerfile build, as the plan gives it.
#[derive(Clone, Copy, Debug)]
pub struct UserDockerfile<'a> {
    /// The Dockerfile as the user named it, for messages.
    pub path: &'a Path,
    /// `--build-arg`s, in the user's order.
    pub build_args: &'a [(String, String)],
    /// The stage to build (`--target`).
    pub target: Option<&'a str>,
}

/// One image build to send to the engine.
struct ImageBuild<'a> {
    tag: &'a str,
    context: Vec<u8>,
    dockerfile: String,
    buildargs: HashMap<String, String>,
    labels: HashMap<String, String>,
    target: Option<String>,
    platform: &'a str,
}

/// A build whose step failed.
struct BuildFailure {
    /// The "Step N/M : ..." line that failed (empty if none started).
    at: String,
    message: String,
    tail: Vec<String>,
}

impl BuildFailure {
    fn into_error(self, what: String) -> Error {
        let at = if self.at.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.at)
        };
        Error::build(format!("{what}{at}: {}", self.message)).with_details(
            std::iter::once("last lines of the image build:".to_string())
                .chain(self.tail.into_iter().map(|l| format!("| {l}"))),
        )
    }
}

/// Host proxy settings as predefined build args (used by RUN steps, kept out of the history).
fn proxy_args() -> HashMap<String, String> {
    PROXY_ARGS
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v)))
        .collect()
}

/// A line announcing a build step, in Docker's words: Docker's legacy builder prints "Step 2/4 :
/// RUN ...", buildah (Podman's /build) "STEP 2/4: RUN ...".
fn step_line(line: &str) -> Option<String> {
    if line.starts_with("Step ") {
        return Some(line.to_string());
    }
    let rest = line.strip_prefix("STEP ")?;
    let (counter, what) = rest.split_once(": ")?;
    let (n, m) = counter.split_once('/')?;
    (n.bytes().all(|b| b.is_ascii_digit()) && m.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("Step {counter} : {what}"))
}

/// "Step 2/4 : RUN ..." → "step 2/4".
fn step_counter(line: &str) -> String {
    line.split_whitespace()
        .nth(1)
        .map_or_else(String::new, |n| format!("step {n}"))
}

pub(crate) fn push_tail(tail: &mut VecDeque<String>, line: &str) {
    const KEEP: usize = 25;
    if tail.len() == KEEP {
        tail.pop_front();
    }
    tail.push_back(line.to_string());
}

/// Refuse an image recorded for another platform than the one asked for.
fn check_platform(name: &str, image: &ImageInspect, platform: &str) -> Result<()> {
    let want_arch = platform.split('/').nth(1).unwrap_or("amd64");
    let arch = image.architecture.as_deref().unwrap_or("");
    let os = image.os.as_deref().unwrap_or("linux");
    if os != "linux" || normalize_arch(arch) != want_arch {
        return Err(Error::input(format!(
            "image {name} is {os}/{arch}, but this build targets {platform}"
        ))
        .with_hint(format!(
            "use a {platform} image (docker pull --platform {platform} ...)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_counter_reads_docker_step_lines() {
        assert_eq!(step_counter("Step 2/4 : RUN sh x"), "step 2/4");
    }

    #[test]
    fn buildah_step_lines_read_as_dockers() {
        assert_eq!(
            step_line("STEP 3/4: RUN echo x && exit 3").as_deref(),
            Some("Step 3/4 : RUN echo x && exit 3")
        );
        assert_eq!(
            step_line("Step 1/2 : FROM debian:12").as_deref(),
            Some("Step 1/2 : FROM debian:12")
        );
        assert_eq!(step_line("STEP ahead: nothing"), None);
        assert_eq!(step_line("Successfully built 0123"), None);
    }

    #[test]
    fn platform_mismatch_is_refused() {
        let img = ImageInspect {
            architecture: Some("arm64".into()),
            os: Some("linux".into()),
            ..Default::default()
        };
        assert!(check_platform("x", &img, "linux/amd64").is_err());
        assert!(check_platform("x", &img, "linux/arm64").is_ok());
    }
}
