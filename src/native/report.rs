//! The gate's report as text, and the error a failing layer ends with. Both `fclayer check` and
//! the gate inside `fclayer build` print these; names from the layer are shown with control
//! characters escaped.

use super::Report;
use crate::error::Error;
use crate::extract::escape_controls;

/// At most this many offending files are named in the error; the report above lists them all.
const MAX_DETAILS: usize = 8;

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Report {
    /// The text report: one line per offending file, notes, then a verdict.
    pub fn render_text(&self) -> String {
        let r = self;
        let t = &r.target;
        let mut out = format!(
            "Checking {} against {}: glibc {}, GLIBCXX_{}, CXXABI_{}\n",
            escape_controls(&r.layer),
            t.describe(),
            t.glibc,
            t.glibcxx,
            t.cxxabi
        );
        for f in r.failing() {
            let what: Vec<String> = f.findings.iter().map(|x| x.message()).collect();
            let line = format!("{}: {}", f.path, what.join("; "));
            out.push_str(&format!("FAIL  {}\n", escape_controls(&line)));
        }
        for w in &r.wheels {
            let line = format!("{}: {}", w.path, w.message());
            out.push_str(&format!("FAIL  {}\n", escape_controls(&line)));
        }
        for f in &r.files {
            for n in &f.notes {
                let line = format!("{}: {n}", f.path);
                out.push_str(&format!("note  {}\n", escape_controls(&line)));
            }
        }
        for n in &r.notes {
            out.push_str(&format!("note  {}\n", escape_controls(n)));
        }
        let skipped = if r.elf_skipped > 0 {
            format!(" ({} never loaded, not checked)", r.elf_skipped)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "Checked {}{skipped} and {} among {}.\n",
            plural(r.elf_checked, "ELF file", "ELF files"),
            plural(r.wheels_checked, "wheel", "wheels"),
            plural(r.members, "ZIP member", "ZIP members"),
        ));
        out.push_str(&r.verdict());
        out
    }

    fn verdict(&self) -> String {
        let r = self;
        let t = &r.target;
        if r.passed() {
            return format!("PASSED: every ELF file and wheel fits {}.\n", t.runtime);
        }
        let bad_files = r.failing().count() as u64;
        let bad_wheels = {
            let mut w: Vec<&str> = r.wheels.iter().map(|w| w.path.as_str()).collect();
            w.dedup();
            w.len() as u64
        };
        format!(
            "FAILED: {} of {} and {} of {} will not load on {}.\n",
            bad_files,
            plural(r.elf_checked, "ELF file", "ELF files"),
            bad_wheels,
            plural(r.wheels_checked, "wheel", "wheels"),
            t.runtime
        )
    }

    /// The error a failing layer ends with: the offending files and what to do.
    pub fn to_error(&self) -> Error {
        let r = self;
        let mut offending: Vec<String> = r.failing().map(|f| escape_controls(&f.path)).collect();
        offending.extend(r.wheels.iter().map(|w| escape_controls(&w.path)));
        offending.dedup();
        let total = offending.len();
        let mut details: Vec<String> = offending.into_iter().take(MAX_DETAILS).collect();
        if total > MAX_DETAILS {
            details.push(format!(
                "... and {} more (see the report above)",
                total - MAX_DETAILS
            ));
        }
        Error::build(format!(
            "{}: {} will not load on {}",
            escape_controls(&r.layer),
            plural(total as u64, "file", "files"),
            r.target.runtime
        ))
        .with_details(details)
        .with_hint(r.hint())
    }
}
