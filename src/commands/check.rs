//! `fclayer check`: the ELF gate on a layer ZIP. The report is data, so it goes to stdout (one
//! line per offending file, then a verdict, or JSON with `--json`); a failing layer then ends
//! the command with an error naming the files and what to do, and exit code 1. The text and the
//! error are the report's own (`native::Report::render_text`, `to_error`).

use crate::cli::CheckArgs;
use crate::error::Result;
use crate::native::{self, Target};

pub fn run(args: &CheckArgs) -> Result<()> {
    let target = Target::named(&args.runtime, args.platform.as_deref())?;
    let report = native::check_zip(&args.zip, &target)?;
    super::print_report(args.json, &report, || report.render_text())?;
    if report.passed() {
        Ok(())
    } else {
        Err(report.to_error())
    }
}
