//! fclayer: parse the arguments, run the command, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = fclayer::cli::Cli::parse();
    std::process::exit(fclayer::run(cli));
}
