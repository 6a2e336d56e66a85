//! `fclayer cache ls|prune`: the build cache (cached layer ZIPs on this machine) and the
//! download-cache volumes (in the engine).

use std::sync::Arc;

use super::print_report;
use crate::cache::{BuildCache, Entry};
use crate::cli::{CacheAction, CacheArgs};
use crate::console::Console;
use crate::docker::{Cleanup, Engine};
use crate::error::Result;
use crate::layer::human_bytes;
use crate::stdout::printable;

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
            print_report(json, &report, || render(&cache, &entries, &volumes))
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

/// The text `cache ls` prints. Every string in it that came from the cache folder or the engine
/// (keys, runtimes, project names, volume names) is escaped: a `.json` beside a cached layer can
/// hold anything.
fn render(cache: &BuildCache, entries: &[Entry], volumes: &[(String, String)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let total = u64::try_from(crate::cache::total_size(entries)).unwrap_or(u64::MAX);
    let _ = writeln!(
        out,
        "{} cached layers, {} in {}",
        entries.len(),
        human_bytes(total),
        printable(&cache.dir().display().to_string())
    );
    for e in entries {
        let _ = writeln!(
            out,
            "  {}  {:>9}  {:<16} {:>6} ago  {}",
            printable(&short_key(&e.key)),
            human_bytes(e.size),
            printable(&e.runtime),
            ago(e.age_secs),
            printable(&e.project)
        );
    }
    let _ = writeln!(out, "{} download-cache volumes", volumes.len());
    for (name, what) in volumes {
        let _ = writeln!(out, "  {}  ({})", printable(name), printable(what));
    }
    out
}

/// The first 12 characters of a key (keys fclayer writes are 64 hex digits; a file put in the
/// cache folder by hand may have any name, shorter or not ASCII).
fn short_key(key: &str) -> String {
    key.chars().take(12).collect()
}

fn ago(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_odd_and_hostile_keys_and_names_print_safely() {
        assert_eq!(short_key("abc"), "abc");
        assert_eq!(short_key("0123456789ab€cdef"), "0123456789ab");
        assert_eq!(short_key("01234567890€cdef"), "01234567890€");
        let entry = |key: &str, size: u64, project: &str| Entry {
            key: key.into(),
            runtime: "python3.9".into(),
            project: project.into(),
            size,
            sha256: String::new(),
            age_secs: 5,
        };
        let cache = BuildCache::open();
        let text = render(
            &cache,
            &[
                entry("k", u64::MAX, "\x1b]0;pwned\x07/\x1b[2J"),
                entry("0123456789a€", u64::MAX, "p"),
            ],
            &[("vol\x1b[31m".into(), "pip".into())],
        );
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
        // Two entries of 2^64-1 bytes: the total saturates instead of wrapping to a small number.
        assert!(text.starts_with("2 cached layers, 18446744.1 TB"), "{text}");
    }
}
