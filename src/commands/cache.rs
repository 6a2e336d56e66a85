//! `fclayer cache ls|prune`: the build cache (cached layer ZIPs on this machine) and the
//! download-cache volumes (in the engine).

use std::sync::Arc;

use crate::cache::BuildCache;
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
            if json {
                let v = serde_json::json!({
                    "dir": cache.dir(),
                    "layers": entries,
                    "volumes": volumes.iter().map(|(n, w)| serde_json::json!({"name": n, "caches": w})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
                return Ok(());
            }
            let total: u64 = entries.iter().map(|e| e.size).sum();
            println!(
                "{} cached layers, {} in {}",
                entries.len(),
                human_bytes(total),
                cache.dir().display()
            );
            for e in &entries {
                println!(
                    "  {}  {:>9}  {:<16} {:>6} ago  {}",
                    &e.key[..12],
                    human_bytes(e.size),
                    e.runtime,
                    ago(e.age_secs),
                    e.project
                );
            }
            println!("{} download-cache volumes", volumes.len());
            for (name, what) in &volumes {
                println!("  {name}  ({what})");
            }
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

fn ago(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
