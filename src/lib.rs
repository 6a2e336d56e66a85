//! fclayer builds Alibaba Cloud Function Compute layer ZIPs in containers that match FC's
//! runtimes, through the Docker API, and writes them byte-reproducibly.
//!
//! Data flow of a build: `plan` (arguments → validated plan) → `docker` (build image, container,
//! archive API) → `extract` + `layer::pack` (untrusted tar stream → ordered ZIP) → digests.

pub mod build;
pub mod cache;
pub mod cli;
pub mod console;
pub mod cross;
pub mod docker;
pub mod error;
pub mod extract;
pub mod images;
pub mod layer;
pub mod manifest;
pub mod native;
pub mod paths;
pub mod plan;
pub mod project;
pub mod pyc;
pub mod runtime;
pub mod slim;
pub mod tarball;
pub mod verify;

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
