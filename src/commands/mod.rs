//! One module per command: arguments parsed into a plan, an operation called, output printed
//! (`print_report`). Long-running commands race their work against signals and clean up
//! whichever way they end (`lifecycle`).

mod build;
mod cache;
mod check;
mod completions;
mod gc;
mod inspect;
mod lifecycle;
mod pack;
mod publish;
mod runtimes;
mod stack;
mod verify;

use crate::cli::{Cli, Command};
use crate::console::Console;
use crate::error::Result;

pub async fn dispatch(cli: Cli, console: &Console) -> Result<()> {
    match cli.command {
        Command::Runtimes(args) => runtimes::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Stack(args) => stack::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Verify(args) => verify::run(args, console).await,
        Command::Cache(args) => cache::run(args, console).await,
        Command::Pack(args) => pack::run(args, console).await,
        Command::Build(args) => build::run(*args, console).await,
        Command::Publish(args) => publish::run(args, console).await,
        Command::Layers(args) => publish::layers(args, console).await,
        Command::Gc(args) => gc::run(args, console).await,
        Command::Completions(args) => completions::run(&args),
    }
}

/// Print a command's result on stdout: as JSON with --json, else as the text `render` makes.
pub(super) fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    render: impl FnOnce() -> String,
) -> Result<()> {
    if json {
        crate::stdout::json(report)
    } else {
        crate::stdout::write(&render())
    }
}

/// "1 object", "2 objects".
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
