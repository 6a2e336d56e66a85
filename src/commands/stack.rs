//! `fclayer stack`: print what /opt looks like when several layers are configured in order, as a
//! one-screen report or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::cli::StackArgs;
use crate::error::Result;
use crate::extract::escape_controls as esc;
use crate::layer::human_bytes;
use crate::layer::stack::{self, Report, kind_name};

/// Rows of shadowed-file groups, and of single differing files, before the rest are counted.
const MAX_ROWS: usize = 12;

pub fn run(args: &StackArgs) -> Result<()> {
    let report = stack::stack(&args.zips)?;
    super::print_report(args.json, &report, || render(&report))?;
    Ok(())
}

/// The report as text: the merged /opt, a table of the layers, then what overlaps or breaks.
fn render(r: &Report) -> String {
    let mut out = String::new();
    let o = &mut out;
    layer_table(o, r);
    if !r.shadowed.is_empty() {
        shadowed(o, r);
    }
    problems(o, r);
    out
}

/// The merged /opt and one row per layer, in the order FC applies them.
fn layer_table(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "/opt from {} layers (where they overlap, the one configured first wins): {} files, {} dirs, {} symlinks, {}",
        r.layers.len(),
        r.merged.files,
        r.merged.dirs,
        r.merged.symlinks,
        human_bytes(r.merged.unpacked_size)
    );
    let width = r
        .layers
        .iter()
        .map(|l| esc(&l.path).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 40);
    let _ = writeln!(
        o,
        "\n #  {:<width$}  {:>6}  {:>8}  {:>12}  {:>8}  {:>6}  FOR",
        "LAYER", "FILES", "PROVIDES", "SIZE IN /opt", "SHADOWED", "HIDDEN"
    );
    for l in &r.layers {
        let runtimes: Vec<&str> = l.runtimes.iter().map(|r| r.label()).collect();
        let _ = writeln!(
            o,
            "{:>2}  {:<width$}  {:>6}  {:>8}  {:>12}  {:>8}  {:>6}  {}",
            l.index,
            esc(&l.path),
            l.files + l.symlinks,
            l.provides,
            human_bytes(l.provides_size),
            l.shadowed,
            l.hidden_by_conflicts,
            if runtimes.is_empty() {
                "-".to_string()
            } else {
                runtimes.join(", ")
            }
        );
    }
    let _ = writeln!(
        o,
        "PROVIDES: its files and symlinks the function sees; SHADOWED: hidden by the same path in an\n\
         earlier layer; HIDDEN: under a path an earlier layer has as a file/symlink (or the reverse)"
    );
}

/// Conflicts, broken links and warnings, each a section when there is any.
fn problems(o: &mut String, r: &Report) {
    if !r.conflicts.is_empty() {
        let _ = writeln!(
            o,
            "\nCONFLICTS: a directory in one layer, a file or symlink in another"
        );
        for c in &r.conflicts {
            let _ = writeln!(o, "  {}", esc(&c.runtime_sees));
        }
    }
    if !r.broken_links.is_empty() {
        let _ = writeln!(o, "\nBROKEN LINKS in the merged /opt");
        for l in &r.broken_links {
            let why = if l.escapes {
                "escapes /opt"
            } else {
                "dangling"
            };
            let _ = writeln!(
                o,
                "  {} -> {}  (#{}, {why})",
                esc(&l.path),
                esc(&l.target),
                l.layer
            );
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\nWARNINGS");
        for w in &r.warnings {
            let _ = writeln!(o, "  {}", esc(w));
        }
    }
}

/// Shadowed files come by the package (a layer built twice shadows thousands), so they are
/// shown grouped by their first two path components, then the ones whose content differs.
fn shadowed(o: &mut String, r: &Report) {
    let differ: Vec<_> = r.shadowed.iter().filter(|s| !s.identical).collect();
    let _ = writeln!(
        o,
        "\nSHADOWED: {} paths are in more than one layer; {} differ in content (only the first layer's copy is used)",
        r.shadowed.len(),
        differ.len()
    );
    #[derive(Default)]
    struct Group {
        count: u64,
        differ: u64,
    }
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for s in &r.shadowed {
        let parts: Vec<&str> = s.path.splitn(3, '/').collect();
        let key = if parts.len() == 3 {
            format!("{}/{}/", parts[0], parts[1])
        } else {
            s.path.clone()
        };
        let who = format!("#{} wins over {}", s.winner, layers(&s.hidden));
        let g = groups.entry((key, who)).or_default();
        g.count += 1;
        g.differ += u64::from(!s.identical);
    }
    let width = groups
        .keys()
        .take(MAX_ROWS)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(50);
    for ((key, who), g) in groups.iter().take(MAX_ROWS) {
        let same = if g.differ == 0 {
            "identical".to_string()
        } else {
            format!(
                "{} {}",
                g.differ,
                if g.differ == 1 { "differs" } else { "differ" }
            )
        };
        let _ = writeln!(
            o,
            "  {:<width$}  {:>6} {}  {who}  ({same})",
            esc(key),
            g.count,
            plural(g.count)
        );
    }
    if groups.len() > MAX_ROWS {
        let _ = writeln!(
            o,
            "  ... and {} more groups (--json lists every path)",
            groups.len() - MAX_ROWS
        );
    }
    if !differ.is_empty() {
        let _ = writeln!(o, "  differing:");
        for s in differ.iter().take(MAX_ROWS) {
            let _ = writeln!(
                o,
                "    {} ({}): #{} wins over {}",
                esc(&s.path),
                kind_name(&s.kind),
                s.winner,
                layers(&s.hidden)
            );
        }
        if differ.len() > MAX_ROWS {
            let _ = writeln!(o, "    ... and {} more", differ.len() - MAX_ROWS);
        }
    }
}

fn layers(list: &[usize]) -> String {
    list.iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "path " } else { "paths" }
}
