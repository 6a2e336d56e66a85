//! `fclayer runtimes`: the runtime table, as text or JSON.

use std::fmt::Write;

use super::print_report;
use crate::cli::RuntimesArgs;
use crate::error::Result;
use crate::runtime::{Kind, RUNTIMES, Runtime};

/// One runtime's row (the JSON report's fields).
#[derive(serde::Serialize)]
struct Row {
    name: &'static str,
    debian: u32,
    codename: &'static str,
    glibc: String,
    arch: &'static str,
    language: String,
    custom: bool,
    layer_paths: Vec<String>,
    fc_build_image: &'static str,
    fc_run_image: &'static str,
    dockerfile: String,
}

pub fn run(args: &RuntimesArgs) -> Result<()> {
    let rows: Vec<Row> = RUNTIMES.iter().map(row).collect();
    print_report(args.json, &rows, || render(&rows))
}

fn row(rt: &'static Runtime) -> Row {
    let (a, b) = rt.debian.glibc();
    Row {
        name: rt.name,
        debian: rt.debian.number(),
        codename: rt.debian.codename(),
        glibc: format!("{a}.{b}"),
        arch: rt.arch(),
        language: rt.languages().join(", "),
        custom: rt.custom,
        layer_paths: Kind::ALL
            .iter()
            .filter(|k| rt.supports(**k))
            .map(|k| k.search_path().to_string())
            .collect(),
        fc_build_image: rt.fc_build_image,
        fc_run_image: rt.fc_run_image,
        dockerfile: format!("images/{}/Dockerfile", rt.dockerfile_dir()),
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{:<16} {:<14} {:<6} {:<7} {:<12} {:<12} BUILD IMAGE (FC official; --base-image overrides)",
        "RUNTIME", "DEBIAN", "GLIBC", "ARCH", "LANGUAGE", "LAYER PATHS"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:<6} {:<7} {:<12} {:<12} {}",
            r.name,
            format!("{} ({})", r.debian, r.codename),
            r.glibc,
            r.arch,
            r.language,
            r.layer_paths.join(" "),
            r.fc_build_image
        );
    }
    out.push('\n');
    out.push_str(
        "Custom runtimes add no language paths: set PYTHONPATH=/opt/python (and LD_LIBRARY_PATH=/opt/lib) yourself.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_header_a_line_per_runtime_and_the_custom_note() {
        let rows: Vec<Row> = RUNTIMES.iter().map(row).collect();
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("RUNTIME "));
        assert_eq!(lines.len(), RUNTIMES.len() + 3);
        assert!(lines[1].starts_with("python3.6        9 (stretch)    2.24   x86_64  Python 3.6"));
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("Custom runtimes add no language paths")
        );
    }
}
