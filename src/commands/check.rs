//! `fclayer check`: the ELF gate on a layer ZIP.

use crate::cli::CheckArgs;
use crate::error::{Error, Result};

pub fn run(args: &CheckArgs) -> Result<()> {
    Err(Error::input(format!(
        "check is not implemented yet ({} for {})",
        args.zip.display(),
        args.runtime
    )))
}
