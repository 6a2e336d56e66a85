//! `fclayer pack DIR`: a folder into a layer ZIP with the same writer a build uses, no engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::lifecycle::Signals;
use super::print_report;
use crate::cli::PackArgs;
use crate::console::Console;
use crate::error::{Error, Result};
use crate::layer::{self, pack::PackOptions};

pub async fn run(args: PackArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut opts = PackOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..PackOptions::default()
    };
    if let Some(j) = args.jobs {
        opts.threads = j;
    }
    // Refused before anything is said to happen.
    layer::check_replaceable(&args.output)?;
    let step = console.step("Packing", args.dir.display());
    let (dir, out, max) = (args.dir.clone(), args.output.clone(), args.max_size);
    let work = tokio::task::spawn_blocking(move || layer::pack_dir(&dir, &out, opts, max));
    let info = tokio::select! {
        r = work => r.map_err(|e| Error::build(format!("packing stopped: {e}")))?,
        s = signals.recv() => {
            cancel.store(true, Ordering::Relaxed);
            layer::remove_temporaries();
            return Err(Error::interrupted(s));
        }
    };
    layer::remove_temporaries();
    let info = info?;
    step.done(format!("{} files", info.files));
    crate::build::summary(console, &info, started, false);
    print_report(args.json, &info, String::new)
}
