//! fclayer builds Alibaba Cloud Function Compute layer ZIPs in containers that match FC's
//! runtimes, through the Docker API, and writes them byte-reproducibly.
//!
//! Data flow of a build: `plan` (arguments → validated plan) → `docker` (build image, container,
//! archive API) → `extract` + `layer::pack` (untrusted tar stream → ordered ZIP) → digests.

pub(crate) mod build;
pub(crate) mod cache;
pub mod cli;
pub mod console;
pub(crate) mod docker;
pub mod error;
pub(crate) mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod images;
pub mod layer;
pub mod manifest;
pub(crate) mod native;
pub(crate) mod paths;
pub(crate) mod plan;
pub(crate) mod project;
pub(crate) mod publish;
pub(crate) mod pyc;
pub(crate) mod runtime;
pub(crate) mod secrets;
pub(crate) mod slim;
pub mod stdout;
pub(crate) mod tarball;
pub(crate) mod units;
pub(crate) mod verify;

mod commands;

use cli::Cli;
use console::Console;

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let console = Console::new(cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            console.error(&error::Error::build(format!("cannot start: {e}")));
            return error::exit::BUILD_FAILED;
        }
    };
    let result = runtime.block_on(commands::dispatch(cli, &console));
    // Blocking packer threads check a cancel flag; do not wait for them on the way out.
    runtime.shutdown_background();
    match result {
        Ok(()) => error::exit::SUCCESS,
        Err(e) => {
            console.error(&e);
            e.exit_code()
        }
    }
}
