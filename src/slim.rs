//! `--slim` and byte-code, on fclayer's side: the work happens in the build container
//! (images/install/slim.py and bytecode.py, run by entry.sh after the installers, with the
//! image's own interpreter and `strip`); here the build shows what they reported, and proves a
//! slim layer still loads by running `fclayer verify`'s imports and loader check on the ZIP
//! before it takes its place. A slim layer that does not load is an error naming the files.

use std::path::Path;

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::Container;
use crate::error::{Error, Result};
use crate::layer::human_bytes;
use crate::manifest::{Manifest, RuleRecord, SlimRecord};
use crate::plan::BuildPlan;
use crate::verify::{ImageChoice, VerifyPlan};

/// One rule's line of /fclayer/report/slim.txt: `RULE FILES BYTES`.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub rule: String,
    pub files: u64,
    pub bytes: u64,
}

/// The rules' lines, the total (`total REMOVED BEFORE`) and the ELF files strip was refused for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SlimReport {
    pub rules: Vec<Rule>,
    pub removed: u64,
    pub before: u64,
    pub not_stripped: Vec<String>,
}

pub fn parse_report(text: &str) -> SlimReport {
    let mut out = SlimReport::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("not-stripped ") {
            out.not_stripped.push(rest.to_string());
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [rule, a, b] = parts.as_slice()
            && let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>())
        {
            if *rule == "total" {
                (out.removed, out.before) = (a, b);
            } else {
                out.rules.push(Rule {
                    rule: rule.to_string(),
                    files: a,
                    bytes: b,
                });
            }
        }
    }
    out
}

impl SlimReport {
    /// One line per rule that removed something, for the build's output.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.files > 0)
            .map(|r| format!("{}: {} files, {}", r.rule, r.files, human_bytes(r.bytes)))
            .collect();
        if !self.not_stripped.is_empty() {
            out.push(format!(
                "not stripped (patched or vendored by a tool): {}",
                self.not_stripped.len()
            ));
        }
        out
    }
}

impl SlimReport {
    /// The manifest's record: the rules that removed something.
    pub fn record(&self) -> SlimRecord {
        SlimRecord {
            removed: self.removed,
            before: self.before,
            rules: self
                .rules
                .iter()
                .filter(|r| r.files > 0)
                .map(|r| {
                    let rule = RuleRecord {
                        files: r.files,
                        bytes: r.bytes,
                    };
                    (r.rule.clone(), rule)
                })
                .collect(),
            not_stripped: self.not_stripped.clone(),
        }
    }
}

/// Show what slim.py and bytecode.py did in this container, if they ran, and record it in the
/// manifest.
pub async fn report_container(
    container: &Container,
    manifest: &mut Manifest,
    console: &Console,
) -> Result<()> {
    if let Some(text) = container.read_file("/fclayer/report/slim.txt").await? {
        let report = parse_report(&String::from_utf8_lossy(&text));
        console.note(format!(
            "--slim removed {} of {} unpacked",
            human_bytes(report.removed),
            human_bytes(report.before)
        ));
        for line in report.lines() {
            console.note(format!("  {line}"));
        }
        manifest.slim = Some(report.record());
    }
    if let Some(text) = container.read_file("/fclayer/report/bytecode.txt").await? {
        let line = String::from_utf8_lossy(&text).trim().to_string();
        console.note(format!("byte-code: {line}"));
        manifest.bytecode = Some(line);
    }
    Ok(())
}

/// `fclayer verify`'s checks on the slim ZIP (every top-level module imported, every Node.js
/// package required, every ELF file resolved by the loader), in the runtime's build image with
/// networking off. Any failure is the build's error.
pub async fn verify_slim(
    plan: &BuildPlan,
    zip: &Path,
    engine: &Engine,
    console: &Console,
) -> Result<()> {
    let verify = VerifyPlan {
        zip,
        runtime: plan.runtime,
        platform: plan.platform,
        image: ImageChoice::BuildImageOn(plan.base_image.clone()),
        imports: Vec::new(),
        requires: Vec::new(),
        timeout: plan.timeout,
    };
    console.status(
        "Verifying",
        "that the slim layer loads (imports, requires, ldd)",
    );
    let report = crate::verify::verify(&verify, engine, console).await?;
    let failed = report.failures();
    if failed.is_empty() {
        console.note(format!(
            "the slim layer loads: {} checks passed",
            report.items.len()
        ));
        return Ok(());
    }
    Err(Error::build(format!(
        "the --slim layer does not load: {} of {} checks failed",
        failed.len(),
        report.items.len()
    ))
    .with_details(failed.into_iter().take(20))
    .with_hint("build without --slim, and report the file named above as a slimming rule that removed too much"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_each_rule_the_total_and_the_refused_files() {
        let r = parse_report(
            "python-tests 476 6189468\npython-stubs 87 507146\nstrip-debug 0 0\ntotal 6696614 81693083\nnot-stripped python/numpy.libs/x.so: in a *.libs folder\n",
        );
        assert_eq!(r.rules.len(), 3);
        assert_eq!(r.rules[0].bytes, 6189468);
        assert_eq!((r.removed, r.before), (6696614, 81693083));
        assert_eq!(r.not_stripped.len(), 1);
        let lines = r.lines();
        assert_eq!(
            lines.len(),
            3,
            "rules that removed nothing are not shown: {lines:?}"
        );
        assert!(lines[0].starts_with("python-tests: 476 files"));
    }
}
