//! `fclayer check`: the ELF gate on a layer ZIP. The report is data, so it goes to stdout (one
//! line per offending file, then a verdict, or JSON with `--json`); a failing layer then ends
//! the command with an error naming the files and what to do, and exit code 1.

use crate::cli::CheckArgs;
use crate::error::{Error, Result};
use crate::native::{self, Report, Target};

/// At most this many offending files are named in the error; the report above lists them all.
const MAX_DETAILS: usize = 8;

pub fn run(args: &CheckArgs) -> Result<()> {
    let target = Target::named(&args.runtime, args.platform.as_deref())?;
    let report = native::check_zip(&args.zip, &target)?;
    super::print_report(args.json, &report, || render(&report))?;
    if report.passed() {
        Ok(())
    } else {
        Err(failure(&report))
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text report.
pub fn render(r: &Report) -> String {
    let t = &r.target;
    let mut out = format!(
        "Checking {} against {}: glibc {}, GLIBCXX_{}, CXXABI_{}\n",
        r.layer,
        t.describe(),
        t.glibc,
        t.glibcxx,
        t.cxxabi
    );
    for f in r.failing() {
        let what: Vec<String> = f.findings.iter().map(|x| x.message()).collect();
        out.push_str(&format!("FAIL  {}: {}\n", f.path, what.join("; ")));
    }
    for w in &r.wheels {
        out.push_str(&format!("FAIL  {}: {}\n", w.path, w.message()));
    }
    for f in &r.files {
        for n in &f.notes {
            out.push_str(&format!("note  {}: {n}\n", f.path));
        }
    }
    for n in &r.notes {
        out.push_str(&format!("note  {n}\n"));
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
    let bad_files = r.failing().count() as u64;
    let bad_wheels = {
        let mut w: Vec<&str> = r.wheels.iter().map(|w| w.path.as_str()).collect();
        w.dedup();
        w.len() as u64
    };
    if r.passed() {
        out.push_str(&format!(
            "PASSED: every ELF file and wheel fits {}.\n",
            t.runtime
        ));
    } else {
        out.push_str(&format!(
            "FAILED: {} of {} and {} of {} will not load on {}.\n",
            bad_files,
            plural(r.elf_checked, "ELF file", "ELF files"),
            bad_wheels,
            plural(r.wheels_checked, "wheel", "wheels"),
            t.runtime
        ));
    }
    out
}

/// The error a failing layer ends with: the offending files and what to do.
pub(crate) fn failure(r: &Report) -> Error {
    let mut offending: Vec<String> = r.failing().map(|f| f.path.clone()).collect();
    offending.extend(r.wheels.iter().map(|w| w.path.clone()));
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
        r.layer,
        plural(total as u64, "file", "files"),
        r.target.runtime
    ))
    .with_details(details)
    .with_hint(r.hint())
}
