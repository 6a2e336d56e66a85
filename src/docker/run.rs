//! Running a build container to completion: create it (labelled, for an explicit platform),
//! upload its inputs through the archive API, start it, follow its log, wait for it within the
//! timeout, then stream a path back out as a tar.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, KillContainerOptions, LogsOptions,
    UploadToContainerOptions,
};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};

use super::image::push_tail;
use super::{Engine, is_not_found, short};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::secrets::Masker;
// Where build.rs takes the masker for the manifest's environment from.
pub use crate::secrets::mask_secrets;

/// What a build container runs.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    pub image: String,
    pub platform: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// No network at all (smoke tests).
    pub network_disabled: bool,
    /// Named volumes to mount: (volume, path in the container).
    pub volumes: Vec<(String, String)>,
    /// The installer's container: after a successful install it stays up (entry.sh waits), so
    /// /opt is copied out of the running container, and `remove` stops it gracefully. On the
    /// way out entry.sh deletes /opt while it is still only in memory: stopping a container
    /// writes its files to disk, and deleting written files is what makes removing a stopped
    /// one slow (a second per ~1,500 files on a disk mounted with `discard`).
    ///
    /// A holding container's /opt is a tmpfs (`Engine::opt_memory` caps it): the installers
    /// write the layer into memory, which took 0.10 s for numpy + lxml + requests where the
    /// container's overlay disk took 1.65 s here, and removing the container deletes nothing
    /// on disk. The engine's archive API cannot read a tmpfs (moby #22020), so /opt is copied
    /// out by `tar` run in the container (`export`).
    pub hold: bool,
    /// Keep a holding container's /opt on its disk all the same (the layer outgrew memory).
    pub opt_on_disk: bool,
}

/// What entry.sh prints when it holds (followed by the container's own token, so no installer
/// output can fake it).
const HOLD_MARKER: &str = "fclayer: holding /opt for copy-out ";

/// How a container ended.
#[derive(Debug)]
pub struct Exit {
    pub code: i64,
    /// The kernel's OOM killer ended it (the engine records this).
    pub oom: bool,
    /// The last lines of its output, secrets masked.
    pub tail: Vec<String>,
    /// Every line, when asked for (`run_collect`).
    pub lines: Vec<String>,
}

impl Exit {
    /// "exit code 1", or "killed by SIGKILL (exit 137)" for codes above 128.
    pub fn describe(&self) -> String {
        describe_code(self.code)
    }
}

pub fn describe_code(code: i64) -> String {
    if code > 128 && code < 160 {
        let sig = code - 128;
        let name = match sig {
            4 => "SIGILL",
            6 => "SIGABRT",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            15 => "SIGTERM",
            _ => "a signal",
        };
        format!("killed by {name} (exit {code})")
    } else {
        format!("exit code {code}")
    }
}

/// A container this run created. Removed by `remove()` or, failing that, by the run's cleanup.
pub struct Container {
    engine: Engine,
    pub id: String,
    /// The line entry.sh prints once the install succeeded and it holds (see `RunSpec::hold`).
    hold: Option<String>,
    /// Its /opt is a tmpfs (see `RunSpec::hold`).
    opt_in_memory: bool,
}

impl Engine {
    pub async fn create_container(&self, spec: &RunSpec) -> Result<Container> {
        let mut labels = self.labels();
        // Which platform it runs: lets a test (or a user) see from the engine's events whether
        // a build ran anything under emulation.
        labels.insert("fclayer.platform".to_string(), spec.platform.clone());
        let mut env = spec.env.clone();
        let hold = spec.hold.then(|| {
            let token = hold_token();
            env.push(format!("FCLAYER_HOLD={token}"));
            format!("{HOLD_MARKER}{token}")
        });
        let opt_memory = match spec.hold && !spec.opt_on_disk {
            true => self.opt_memory().await,
            false => None,
        };
        if opt_memory.is_some() {
            env.push("FCLAYER_OPT_IN_MEMORY=1".into());
        }
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.cmd.clone()),
            env: Some(env),
            working_dir: spec.workdir.clone(),
            labels: Some(labels),
            network_disabled: spec.network_disabled.then_some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(HostConfig {
                network_mode: spec.network_disabled.then(|| "none".to_string()),
                mounts: (!spec.volumes.is_empty()).then(|| {
                    spec.volumes
                        .iter()
                        .map(|(volume, target)| Mount {
                            typ: Some(MountType::VOLUME),
                            source: Some(volume.clone()),
                            target: Some(target.clone()),
                            ..Default::default()
                        })
                        .collect()
                }),
                // exec: installers run what they install (npm's install scripts, node-gyp).
                tmpfs: opt_memory.map(|size| {
                    HashMap::from([(
                        "/opt".to_string(),
                        format!("rw,exec,nosuid,nodev,mode=755,size={size}"),
                    )])
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: None,
            platform: spec.platform.clone(),
        };
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError { status_code, .. }
                    if status_code < 500 =>
                {
                    Error::build(format!(
                        "cannot create a container from {}: {}",
                        spec.image,
                        short(&e)
                    ))
                }
                other => self.lost(&other),
            })?;
        self.cleanup().add_container(&created.id);
        Ok(Container {
            engine: self.clone(),
            id: created.id,
            hold,
            opt_in_memory: opt_memory.is_some(),
        })
    }
}

impl Container {
    pub fn short_id(&self) -> &str {
        super::short_id(&self.id)
    }

    /// Unpack a tar archive at `path` inside the (created, not yet started) container.
    pub async fn upload(&self, path: &str, tar: Vec<u8>) -> Result<()> {
        let opts = UploadToContainerOptions {
            path: path.to_string(),
            ..Default::default()
        };
        self.engine
            .docker
            .upload_to_container(&self.id, Some(opts), bollard::body_full(Bytes::from(tar)))
            .await
            .map_err(|e| {
                self.engine
                    .api_error(&e, "cannot copy the inputs into the build container")
            })
    }

    /// Unpack a tar stream at `path` inside the (created, not yet started) container.
    pub async fn upload_stream(
        &self,
        path: &str,
        tar: impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static,
    ) -> Result<()> {
        let opts = UploadToContainerOptions {
            path: path.to_string(),
            ..Default::default()
        };
        self.engine
            .docker
            .upload_to_container(&self.id, Some(opts), bollard::body_try_stream(tar))
            .await
            .map_err(|e| {
                self.engine
                    .api_error(&e, "cannot copy the layer into the container")
            })
    }

    /// Start the container, follow its output and wait for it to exit, at most `timeout`.
    /// `mask` lists strings (credentials) never to print.
    pub async fn run(&self, timeout: Duration, console: &Console, mask: &[String]) -> Result<Exit> {
        self.run_with(timeout, console, mask, Keep::Tail).await
    }

    /// Like `run`, keeping every line of output (for scripts whose output is their result).
    pub async fn run_collect(&self, timeout: Duration, console: &Console) -> Result<Exit> {
        self.run_with(timeout, console, &[], Keep::All).await
    }

    async fn run_with(
        &self,
        timeout: Duration,
        console: &Console,
        mask: &[String],
        keep: Keep,
    ) -> Result<Exit> {
        let docker = &self.engine.docker;
        docker
            .start_container(&self.id, None)
            .await
            .map_err(|e| self.engine.api_error(&e, "cannot start the container"))?;
        let mut log = Log {
            console,
            masker: Masker::new(mask),
            keep,
            tail: VecDeque::new(),
            lines: Vec::new(),
        };
        // The log is borrowed by the future only: once it ends (or times out and is dropped),
        // what it recorded is still here.
        let result = tokio::time::timeout(timeout, self.follow(&mut log)).await;
        let tail: Vec<String> = log.tail.into_iter().collect();
        match result {
            Ok(Ok(code)) => Ok(Exit {
                code,
                oom: self.oom_killed(code).await,
                tail,
                lines: log.lines,
            }),
            Ok(Err(e)) => Err(e.with_details(tail_details(&tail))),
            Err(_) => {
                let _ = docker
                    .kill_container(
                        &self.id,
                        Some(KillContainerOptions {
                            signal: "SIGKILL".into(),
                        }),
                    )
                    .await;
                Err(Error::build(format!(
                    "the installer did not finish within {} s and was stopped",
                    timeout.as_secs()
                ))
                .with_details(tail_details(&tail))
                .with_hint("raise --timeout if the build is just slow; otherwise look for a step waiting on input or on the network"))
            }
        }
    }

    /// Follow the container's output line by line into `log` until it ends, then wait for its
    /// exit code. A holding installer (see `RunSpec::hold`) ends it early with code 0.
    async fn follow(&self, log: &mut Log<'_>) -> Result<i64> {
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.engine.docker.logs(&self.id, Some(opts));
        let mut partial = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| self.engine.lost(&e))?;
            partial.push_str(&String::from_utf8_lossy(chunk.as_ref()));
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                if self.hold.as_deref() == Some(line.trim_end()) {
                    // Installed, and waiting to be copied out and stopped.
                    return Ok(0);
                }
                log.record(line.trim_end());
            }
        }
        if !partial.trim().is_empty() {
            log.record(partial.trim_end());
        }
        self.exit_code().await
    }

    /// Wait for the container to exit and return its code.
    async fn exit_code(&self) -> Result<i64> {
        let mut wait = self.engine.docker.wait_container(&self.id, None);
        match wait.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) if is_not_found(&e) => Err(removed_from_outside()),
            Some(Err(e)) => Err(self.engine.lost(&e)),
            None => Err(Error::engine(
                "the engine ended the wait without an exit code",
            )),
        }
    }

    /// Whether the kernel's OOM killer ended the container: only a signal can have, and the
    /// engine knows whether it was the OOM killer's.
    async fn oom_killed(&self, code: i64) -> bool {
        code > 128
            && self
                .engine
                .docker
                .inspect_container(&self.id, None)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.oom_killed)
                .unwrap_or(false)
    }

    /// Whether `path` exists in the container's filesystem (works on containers never started).
    pub async fn has_path(&self, path: &str) -> Result<bool> {
        let opts = bollard::query_parameters::ContainerArchiveInfoOptions {
            path: path.to_string(),
        };
        match self
            .engine
            .docker
            .get_container_archive_info(&self.id, Some(opts))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.engine.lost(&e)),
        }
    }

    /// Whether its /opt is in memory (see `RunSpec::hold`).
    pub fn opt_in_memory(&self) -> bool {
        self.opt_in_memory
    }

    /// Stream `path` out of the container as a tar archive (whose root entry is the path's base
    /// name). Errors surface as `io::Error`s on the stream. Below a memory-backed /opt the
    /// container's own `tar` writes it (the archive API does not see a tmpfs).
    pub fn export(&self, path: &str) -> impl Stream<Item = io::Result<Bytes>> + Send + use<> {
        if self.opt_in_memory && (path == "/opt" || path.starts_with("/opt/")) {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
            let docker = self.engine.docker.clone();
            let id = self.id.clone();
            let path = path.to_string();
            tokio::spawn(async move {
                if let Err(e) = exec_tar(&docker, &id, &path, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
            return futures::future::Either::Left(futures::stream::poll_fn(move |cx| {
                rx.poll_recv(cx)
            }));
        }
        futures::future::Either::Right(self.export_archive(path))
    }

    /// `export` through the engine's archive API.
    fn export_archive(&self, path: &str) -> impl Stream<Item = io::Result<Bytes>> + Send + use<> {
        let opts = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let path = path.to_string();
        self.engine
            .docker
            .download_from_container(&self.id, Some(opts))
            .map_err(move |e| {
                if is_not_found(&e) {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{path} does not exist in the container"),
                    )
                } else {
                    io::Error::other(short(&e))
                }
            })
    }

    /// A small tree of the container as a tar (whose root entry is the path's base name), or
    /// `None` if the path does not exist.
    pub async fn read_tree(&self, path: &str) -> Result<Vec<u8>> {
        self.read_tar(path).await?.ok_or_else(|| {
            Error::build(format!(
                "{path} does not exist in container {}",
                self.short_id()
            ))
        })
    }

    async fn read_tar(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let mut stream = std::pin::pin!(self.export(path));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => tar.extend_from_slice(&bytes),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(Error::engine(format!(
                        "cannot read {path} from the container: {e}"
                    )));
                }
            }
        }
        Ok(Some(tar))
    }

    /// The contents of a small file in the container, or `None` if it does not exist.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(tar) = self.read_tar(path).await? else {
            return Ok(None);
        };
        let mut archive = tar::Archive::new(&tar[..]);
        let entries = archive
            .entries()
            .map_err(|e| Error::build(format!("cannot read {path} from the container: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::build(format!("cannot read {path}: {e}")))?;
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data)
                    .map_err(|e| Error::build(format!("cannot read {path}: {e}")))?;
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Remove the container now (it is also in the run's cleanup, which then has nothing to do).
    pub async fn remove(self) -> Result<()> {
        if self.hold.is_some() {
            // SIGTERM: a holding entry.sh deletes /opt and exits; one that already exited (a
            // failed install) makes this a no-op. The forced removal below kills what remains.
            let opts = bollard::query_parameters::StopContainerOptions {
                t: Some(10),
                signal: None,
            };
            let _ = self
                .engine
                .docker
                .stop_container(&self.id, Some(opts))
                .await;
        }
        if let Err(e) = self.engine.remove_container(&self.id).await {
            // Most often the engine went away: say that, not the socket error.
            let e = Error::build(format!("cannot remove container {}: {e}", self.short_id()));
            return Err(self.engine.explain(e).await);
        }
        self.engine.cleanup().forget_container(&self.id);
        Ok(())
    }
}

/// `tar` of `path` (below a memory-backed /opt) written by the running container into `tx`,
/// its root entry the path's base name as the archive API gives it. GNU tar is in every
/// Debian-based build image. A tar that fails (exit code other than 0) ends the stream with an
/// error after its output, so a short archive is never taken for the whole.
async fn exec_tar(
    docker: &bollard::Docker,
    id: &str,
    path: &str,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    use bollard::container::LogOutput;
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let p = std::path::Path::new(path);
    let dir = p.parent().and_then(|d| d.to_str()).unwrap_or("/");
    let base = p.file_name().and_then(|b| b.to_str()).unwrap_or(".");
    let cmd = vec!["tar", "--numeric-owner", "-C", dir, "-cf", "-", base];
    let api = |e: bollard::errors::Error| io::Error::other(short(&e));
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await
        .map_err(api)?;
    let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.map_err(api)?
    else {
        return Err(io::Error::other("the engine started tar detached"));
    };
    let mut stderr = Vec::new();
    while let Some(item) = output.next().await {
        match item.map_err(api)? {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                if tx.send(Ok(message)).await.is_err() {
                    // The reader stopped (it failed, or the build was cancelled).
                    return Ok(());
                }
            }
            LogOutput::StdErr { message } => {
                if stderr.len() < 4096 {
                    stderr.extend_from_slice(&message);
                }
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    // The output ends as tar exits; its exit code may take a moment to be recorded.
    let mut code = None;
    for _ in 0..100 {
        let state = docker.inspect_exec(&exec.id).await.map_err(api)?;
        if state.running != Some(true) && state.exit_code.is_some() {
            code = state.exit_code;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let said = String::from_utf8_lossy(&stderr);
    let said = said.trim();
    match code {
        Some(0) => Ok(()),
        _ if said.contains("No such file or directory") => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{path} does not exist in the container"),
        )),
        Some(code) => Err(io::Error::other(format!(
            "tar of {path} in the container failed ({}){}{said}",
            describe_code(code),
            if said.is_empty() { "" } else { ": " }
        ))),
        None => Err(io::Error::other(format!(
            "tar of {path} in the container did not report an exit code"
        ))),
    }
}

/// Which lines of a container's output `run_with` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// The last lines only, for error messages.
    Tail,
    /// Every line too (`Exit::lines`).
    All,
}

/// Where a running container's output goes: masked, to the console (`--verbose`), into the tail
/// and, when kept, into the list of all lines.
struct Log<'a> {
    console: &'a Console,
    masker: Masker,
    keep: Keep,
    tail: VecDeque<String>,
    lines: Vec<String>,
}

impl Log<'_> {
    fn record(&mut self, line: &str) {
        let line = self.masker.mask(line);
        self.console.container_line(&line);
        push_tail(&mut self.tail, &line);
        if self.keep == Keep::All {
            self.lines.push(line);
        }
    }
}

/// A token no installer can guess: the time, the process and a counter, hashed.
fn hold_token() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{:?} {} {}",
        std::time::SystemTime::now(),
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    );
    hex::encode(&Sha256::digest(seed.as_bytes())[..8])
}

fn removed_from_outside() -> Error {
    Error::build("the build container was removed by something outside fclayer while it ran")
        .with_hint("another program removed it (`docker rm -f`, `docker system prune`, a cleanup job); run the build again")
}

/// The log tail as error details.
pub fn tail_details(tail: &[String]) -> Vec<String> {
    if tail.is_empty() {
        return Vec::new();
    }
    std::iter::once("last lines of the build log:".to_string())
        .chain(tail.iter().map(|l| format!("| {l}")))
        .collect()
}

/// Streaming a tar that is written as it is produced (moved here from verify, issue 12).
impl Container {
    /// Unpack at `path` the tar that `produce` writes on a blocking thread, streamed to the
    /// engine as it is written (never whole in memory). An error of `produce` breaks the stream
    /// off (the engine sees a failed upload); the upload's own error comes first, then it.
    pub async fn upload_with<F>(&self, path: &str, produce: F) -> Result<()>
    where
        F: FnOnce(&mut dyn io::Write) -> Result<()> + Send + 'static,
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
        let producer = tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter { tx: tx.clone() };
            let result = produce(&mut writer);
            if let Err(e) = &result {
                let _ = tx.blocking_send(Err(io::Error::other(e.message.clone())));
            }
            result
        });
        self.upload_stream(path, futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
            .await?;
        producer
            .await
            .map_err(|e| Error::build(format!("unpacking stopped: {e}")))?
    }
}

/// A `Write` that hands its bytes to an async receiver in chunks.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::other("the engine stopped reading the layer"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_as_signals() {
        assert_eq!(describe_code(1), "exit code 1");
        assert_eq!(describe_code(137), "killed by SIGKILL (exit 137)");
        assert_eq!(describe_code(139), "killed by SIGSEGV (exit 139)");
    }

    #[test]
    fn container_lines_are_masked_with_one_secret_inside_another() {
        // The old per-secret masker printed `https://u:****-12345@idx/ **** ab` here.
        let console = Console::new(true, false);
        let mut log = Log {
            console: &console,
            masker: Masker::new(&["s3cr3t", "s3cr3t-12345"]),
            keep: Keep::All,
            tail: VecDeque::new(),
            lines: Vec::new(),
        };
        log.record("https://u:s3cr3t-12345@idx/ s3cr3t ab");
        assert_eq!(log.lines, ["https://u:****@idx/ **** ab"]);
        assert_eq!(log.tail, ["https://u:****@idx/ **** ab"]);
    }
}
