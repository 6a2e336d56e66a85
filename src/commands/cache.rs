//! `fclayer cache ls|prune`: the build cache (cached layer ZIPs on this machine) and the
//! download-cache volumes (in the engine).

use std::fmt::Write;
use std::sync::Arc;

use super::print_report;
use crate::cache::{BuildCache, Entry};
use crate::cli::{CacheAction, CacheArgs};
use crate::console::Console;
use crate::docker::{Cleanup, Engine};
use crate::error::Result;
use crate::layer::human_bytes;

pub async fn run(args: CacheArgs, console: &Console) -> Result<()> {
    let cache = BuildCache::open();
    match args.action {
        CacheAction::Ls { json } => {
            let entries = cache.list()?;
            // Volumes need an engine; without one, the layers are still worth listing.
            let volumes = match Engine::connect(Arc::new(Cleanup::new())).await {
                Ok(engine) => engine.download_caches().await?,
                Err(e) => {
                    console.warn(format!("download caches not listed: {}", e.message));
                    Vec::new()
                }
            };
            let report = serde_json::json!({
                "dir": cache.dir(),
                "layers": entries,
                "volumes": volumes.iter().map(|(n, w)| serde_json::json!({"name": n, "caches": w})).collect::<Vec<_>>(),
            });
            print_report(json, &report, || render_ls(&cache, &entries, &volumes));
            Ok(())
        }
        CacheAction::Prune {
            all,
            max_size,
            volumes,
        } => {
            let limit = if all {
                0
            } else {
                max_size.unwrap_or(crate::cache::DEFAULT_MAX_BYTES)
            };
            let (removed, freed) = cache.prune(limit)?;
            console.status(
                "Pruned",
                format!("{removed} cached layers ({})", human_bytes(freed)),
            );
            if volumes {
                let engine = Engine::connect(Arc::new(Cleanup::new())).await?;
                let list = engine.download_caches().await?;
                for (name, _) in &list {
                    engine.remove_volume(name).await?;
                }
                console.status("Removed", format!("{} download-cache volumes", list.len()));
            }
            Ok(())
        }
    }
}

/// `cache ls` as text: the cached layers, then the download-cache volumes.
fn render_ls(cache: &BuildCache, entries: &[Entry], volumes: &[(String, String)]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let _ = writeln!(
        out,
        "{} cached layers, {} in {}",
        entries.len(),
        human_bytes(total),
        cache.dir().display()
    );
    for e in entries {
        let _ = writeln!(
            out,
            "  {}  {:>9}  {:<16} {:>6} ago  {}",
            &e.key[..12],
            human_bytes(e.size),
            e.runtime,
            ago(e.age_secs),
            e.project
        );
    }
    let _ = writeln!(out, "{} download-cache volumes", volumes.len());
    for (name, what) in volumes {
        let _ = writeln!(out, "  {name}  ({what})");
    }
    out
}

fn ago(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
