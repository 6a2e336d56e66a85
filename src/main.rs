//! fclayer: parse the arguments, run the command, map the outcome to an exit code.

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    let cli = match fclayer::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version off a terminal are data on stdout, written like all other data
        // (a closed pipe ends quietly, a full disk is an error: clap ignores both). On a terminal
        // and for usage errors (stderr), clap prints as it does, in colour where it should.
        Err(e) if !e.use_stderr() && !std::io::stdout().is_terminal() => {
            let text = e.render().to_string();
            match fclayer::stdout::write(&text) {
                Ok(()) => std::process::exit(e.exit_code()),
                Err(err) => {
                    fclayer::console::Console::new(false, false).error(&err);
                    std::process::exit(err.exit_code());
                }
            }
        }
        Err(e) => e.exit(),
    };
    std::process::exit(fclayer::run(cli));
}
