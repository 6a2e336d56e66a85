//! `fclayer inspect`: print what a layer ZIP holds, as a one-screen report or as JSON.

use std::fmt::Write;

use crate::cli::InspectArgs;
use crate::error::Result;
use crate::extract::escape_controls as esc;
use crate::layer::human_bytes;
use crate::layer::inspect::{self, LinkStatus, Report, Role};

/// Rows of the folder table before the rest are summed into one; a layer rarely has more.
const MAX_FOLDERS: usize = 12;
/// Working symlinks listed before the rest are counted; broken ones are always all listed.
const MAX_OK_LINKS: usize = 10;

pub fn run(args: &InspectArgs) -> Result<()> {
    let report = inspect::inspect(&args.zip, args.top)?;
    super::print_report(args.json, &report, || render(&report))?;
    Ok(())
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "{}: {} zipped, {} unpacked; {} files, {} dirs, {} symlinks",
        esc(&r.path),
        human_bytes(r.zip_size),
        human_bytes(r.unpacked_size),
        r.files,
        r.dirs,
        r.symlinks
    );
    let _ = writeln!(o, "  sha256  {}", r.sha256);
    let _ = writeln!(o, "  crc64   {} (FC codeChecksum)", r.crc64);
    let runtimes = if r.runtimes.is_empty() {
        "no runtime folder (python/, nodejs/node_modules/, java/lib/, php/, bin/, lib/)".to_string()
    } else {
        r.runtimes
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(o, "  for     {runtimes}");
    if r.runtimes.contains(&Role::Python) || r.bytecode.files > 0 {
        let _ = writeln!(o, "  byte-code {}", r.bytecode.describe());
    }

    if !r.folders.is_empty() {
        folders(o, r);
    }
    if !r.largest.is_empty() {
        let _ = writeln!(o, "\n{:>10}  {:>10}  LARGEST FILES", "SIZE", "ZIPPED");
        for f in &r.largest {
            let _ = writeln!(
                o,
                "{:>10}  {:>10}  {}",
                human_bytes(f.size),
                human_bytes(f.compressed_size),
                esc(&f.path)
            );
        }
    }
    if !r.links.is_empty() {
        links(o, r);
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\nWARNINGS");
        for w in &r.warnings {
            let _ = writeln!(o, "  {}", esc(w));
        }
    }
    out
}

fn folders(o: &mut String, r: &Report) {
    let name = |f: &inspect::Folder| match f.kind {
        inspect::Node::Dir => format!("{}/", esc(&f.name)),
        _ => esc(&f.name),
    };
    let width = r
        .folders
        .iter()
        .take(MAX_FOLDERS)
        .map(|f| name(f).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 28);
    let _ = writeln!(
        o,
        "\n{:<width$}  {:>6}  {:>10}  {:>10}  SEEN BY",
        "FOLDER", "FILES", "UNPACKED", "ZIPPED"
    );
    for f in r.folders.iter().take(MAX_FOLDERS) {
        let seen = if f.role == Role::Other {
            format!("other: {}", f.seen_as)
        } else {
            format!("{}: {}", f.role.label(), f.seen_as)
        };
        let _ = writeln!(
            o,
            "{:<width$}  {:>6}  {:>10}  {:>10}  {seen}",
            name(f),
            f.files + f.symlinks,
            human_bytes(f.unpacked_size),
            human_bytes(f.compressed_size),
        );
    }
    let rest = &r.folders[r.folders.len().min(MAX_FOLDERS)..];
    if !rest.is_empty() {
        let _ = writeln!(
            o,
            "{:<width$}  {:>6}  {:>10}  {:>10}  (--json lists them)",
            format!("{} more", rest.len()),
            rest.iter().map(|f| f.files + f.symlinks).sum::<u64>(),
            human_bytes(rest.iter().map(|f| f.unpacked_size).sum()),
            human_bytes(rest.iter().map(|f| f.compressed_size).sum()),
        );
    }
}

fn links(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\nSYMLINKS");
    let broken = r.links.iter().filter(|l| l.status != LinkStatus::Ok);
    for l in broken {
        let why = match l.status {
            LinkStatus::Escapes => "ESCAPES /opt".to_string(),
            LinkStatus::Loop => "LOOP".to_string(),
            _ => format!(
                "DANGLING: /opt/{} is not in this layer",
                esc(l.resolves_to.as_deref().unwrap_or_default())
            ),
        };
        let _ = writeln!(o, "  {} -> {}  ({why})", esc(&l.path), esc(&l.target));
    }
    let ok: Vec<_> = r
        .links
        .iter()
        .filter(|l| l.status == LinkStatus::Ok)
        .collect();
    for l in ok.iter().take(MAX_OK_LINKS) {
        let _ = writeln!(o, "  {} -> {}", esc(&l.path), esc(&l.target));
    }
    if ok.len() > MAX_OK_LINKS {
        let _ = writeln!(
            o,
            "  ... and {} more that resolve inside the layer (--json lists them)",
            ok.len() - MAX_OK_LINKS
        );
    }
}
