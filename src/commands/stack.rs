//! `fclayer stack`: what /opt looks like when several layers are configured in order.

use crate::cli::StackArgs;
use crate::error::{Error, Result};

pub fn run(args: &StackArgs) -> Result<()> {
    Err(Error::input(format!(
        "stack is not implemented yet ({} layers)",
        args.zips.len()
    )))
}
