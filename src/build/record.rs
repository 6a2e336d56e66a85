//! The provenance manifest beside a layer ZIP (`<name>.manifest.json`): writing it, and
//! `--frozen`'s comparison with the one an earlier build left. Both a fresh build (`finish`) and a
//! cache hit (`cached`) end here.

use std::path::Path;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};

/// --frozen: the new build must record exactly what the earlier one did.
pub(super) fn frozen_check(path: &Path, new: &Manifest) -> Result<()> {
    if !path.is_file() {
        return Err(Error::input(format!(
            "--frozen compares with the manifest of an earlier build, and {} does not exist",
            path.display()
        ))
        .with_hint("build once without --frozen (and commit the manifest beside the ZIP)"));
    }
    let old = Manifest::load(path)?;
    let diffs = old.differences(new);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(Error::build(format!(
        "--frozen: this build differs from what {} records",
        path.display()
    ))
    .with_details(diffs.into_iter().take(20))
    .with_hint("pin the versions that moved, or rebuild without --frozen to accept the change"))
}

/// Write the manifest beside `output`; a failure is a warning (the layer itself is complete).
pub(super) fn write_manifest(output: &Path, manifest: &Manifest, console: &Console) {
    let path = manifest::path_for(output);
    if let Err(e) = manifest.write(&path) {
        console.warn(format!("could not write the manifest: {}", e.message));
    }
}
