//! `fclayer inspect`: what a layer ZIP holds.

use crate::cli::InspectArgs;
use crate::error::{Error, Result};

pub fn run(args: &InspectArgs) -> Result<()> {
    Err(Error::input(format!(
        "inspect is not implemented yet ({})",
        args.zip.display()
    )))
}
