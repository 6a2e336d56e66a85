//! Can this engine run containers of the target platform? FC runs linux/amd64; an Apple Silicon
//! laptop's engine is linux/arm64 and runs amd64 containers only through emulation (QEMU via
//! binfmt_misc, or Rosetta in Docker Desktop). fclayer asks before it builds anything, so a
//! missing emulator is one clear message instead of an `exec format error` deep in a build log.

use std::time::Duration;

use super::Engine;
use super::run::RunSpec;
use crate::console::Console;
use crate::error::{Error, Result};

/// How containers of the target platform will run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    Native,
    /// Under emulation: slower, and installers sometimes crash (QEMU signal 11/4).
    Emulated,
}

impl Engine {
    /// Find out whether `platform` containers run on this engine, natively or emulated, by
    /// running `uname -m` in `image` (an image of that platform that has it) when the engine's
    /// own platform differs.
    pub async fn probe_platform(
        &self,
        platform: &str,
        image: &str,
        console: &Console,
    ) -> Result<Execution> {
        if let Some(known) = self.probed.lock().expect("probe memo").get(platform) {
            return Ok(*known);
        }
        let native = self.native_platform().await?;
        if native == platform {
            self.probed
                .lock()
                .expect("probe memo")
                .insert(platform.to_string(), Execution::Native);
            return Ok(Execution::Native);
        }
        let expected = match platform {
            "linux/amd64" => "x86_64",
            "linux/arm64" => "aarch64",
            other => other.trim_start_matches("linux/"),
        };
        let container = self
            .create_container(&RunSpec {
                image: image.to_string(),
                platform: platform.to_string(),
                cmd: vec!["uname".into(), "-m".into()],
                network_disabled: true,
                ..RunSpec::default()
            })
            .await?;
        let quiet = Console::new(true, false);
        let outcome = container.run(Duration::from_secs(60), &quiet, &[]).await;
        container.remove().await?;
        let reason = match outcome {
            Ok(exit) if exit.code == 0 && exit.tail.iter().any(|l| l.trim() == expected) => {
                console.note(format!(
                    "the engine is {native}: {platform} containers run under emulation, which is \
                     several times slower than native"
                ));
                self.probed
                    .lock()
                    .expect("probe memo")
                    .insert(platform.to_string(), Execution::Emulated);
                return Ok(Execution::Emulated);
            }
            Ok(exit) => format!("{}: {}", exit.describe(), exit.tail.join(" ")),
            Err(e) => e.message,
        };
        Err(no_emulation(&native, platform, &reason))
    }
}

/// The message for an engine that cannot run the target platform, with how to enable emulation.
pub fn no_emulation(native: &str, platform: &str, reason: &str) -> Error {
    Error::engine(format!(
        "the Docker engine ({native}) cannot run {platform} containers: {}",
        reason.trim()
    ))
    .with_hint(format!(
        "enable emulation for {platform}: on Linux install QEMU's binfmt handlers \
         (`sudo apt-get install qemu-user-static binfmt-support`, or \
         `docker run --privileged --rm tonistiigi/binfmt --install all`); in Docker Desktop turn on \
         \"Use Rosetta for x86_64/amd64 emulation on Apple Silicon\" in Settings > General"
    ))
}
