//! `fclayer gc`: remove what runs of fclayer left behind (containers, images, volumes of runs
//! that are gone), keeping what live runs and other machines own; `--all` removes everything.

use std::sync::Arc;

use super::plural;
use crate::cli::GcArgs;
use crate::console::Console;
use crate::docker::{Cleanup, Engine, gc};
use crate::error::{Error, Result};

pub async fn run(args: GcArgs, console: &Console) -> Result<()> {
    let engine = Engine::connect(Arc::new(Cleanup::new())).await?;
    super::lifecycle::announce_engine(&engine, console);
    let report = engine.collect_garbage(args.all).await?;
    show(&report, console);
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(Error::build(format!(
            "could not remove {}",
            plural(report.errors.len(), "object", "objects")
        ))
        .with_details(report.errors))
    }
}

/// What was removed and what was kept, and why.
fn show(report: &gc::Report, console: &Console) {
    for item in &report.removed {
        console.status("Removed", format!("{} ({})", item.what, owner(&item.owner)));
    }
    let (live, elsewhere): (Vec<_>, Vec<_>) = report
        .kept
        .iter()
        .partition(|i| matches!(i.owner, gc::Owner::Alive { .. }));
    if !live.is_empty() {
        console.note(format!(
            "kept {} of runs still going",
            plural(live.len(), "object", "objects")
        ));
    }
    if !elsewhere.is_empty() {
        let what: Vec<String> = elsewhere
            .iter()
            .map(|i| format!("{} ({})", i.what, owner(&i.owner)))
            .collect();
        console.note(format!(
            "kept {} made elsewhere, which cannot be judged from here: {}; `fclayer gc --all` removes them",
            plural(elsewhere.len(), "object", "objects"),
            what.join(", ")
        ));
    }
    console.status(
        "Finished",
        format!(
            "removed {}",
            plural(report.removed.len(), "object", "objects")
        ),
    );
}

fn owner(o: &gc::Owner) -> String {
    match o {
        gc::Owner::Alive { pid } => format!("run of pid {pid}, still going"),
        gc::Owner::Dead { pid } => format!("run of pid {pid}, gone"),
        gc::Owner::Unknown { host } => format!("made on {host}"),
    }
}
