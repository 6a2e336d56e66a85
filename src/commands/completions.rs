//! `fclayer completions SHELL`: the shell completion script, from the command-line definition.

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;

pub fn run(args: &CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "fclayer", &mut std::io::stdout());
    Ok(())
}
