//! `fclayer verify ZIP`: the command line into a `VerifyPlan`, the verification run in a
//! container, each item printed with its verdict.

use std::sync::Arc;

use super::lifecycle::{Signals, announce_engine, finish_run};
use super::print_report;
use crate::cli::VerifyArgs;
use crate::console::Console;
use crate::docker::{Cleanup, Engine};
use crate::error::{Error, Result};
use crate::stdout::printable;
use crate::verify::{VerifyPlan, VerifyReport};

pub async fn run(args: VerifyArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let plan = VerifyPlan::new(&args)?;
    let cleanup = Arc::new(Cleanup::new());
    let engine = tokio::select! {
        r = Engine::connect(Arc::clone(&cleanup)) => r?,
        s = signals.recv() => return Err(Error::interrupted(s)),
    };
    announce_engine(&engine, console);
    let result = tokio::select! {
        r = crate::verify::verify(&plan, &engine, console) => r,
        s = signals.recv() => Err(Error::interrupted(s)),
    };
    let report = finish_run(&engine, console, result, &mut signals).await?;
    print_report(args.json, &report, || render(&report))?;
    verdict(&report, console)
}

/// One line per item: PASS or FAIL, what was tried, and the error. Names and errors come from
/// the layer and the container: their control characters are escaped.
fn render(report: &VerifyReport) -> String {
    let mut out = String::new();
    for item in &report.items {
        let name = printable(&item.item);
        match &item.error {
            None => out.push_str(&format!("PASS  {:<8} {name}\n", item.check)),
            Some(e) => out.push_str(&format!(
                "FAIL  {:<8} {name}: {}\n",
                item.check,
                printable(e)
            )),
        }
    }
    out
}

/// Success when every item loaded; else an error naming the ones that did not.
fn verdict(report: &VerifyReport, console: &Console) -> Result<()> {
    if report.passed() {
        console.status(
            "Verified",
            format!(
                "{} items load on {} ({})",
                report.items.len(),
                report.runtime,
                report.image
            ),
        );
        return Ok(());
    }
    let failed = report.failures();
    Err(Error::build(format!(
        "{} of {} items do not load on {}",
        failed.len(),
        report.items.len(),
        report.runtime
    ))
    .with_details(failed.into_iter().take(15))
    .with_hint("`fclayer check` names the cause for native files; an import error names the missing module or library"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Item;

    #[test]
    fn items_render_one_line_each() {
        let item = |item: &str, error: Option<&str>| Item {
            check: "import".into(),
            item: item.into(),
            passed: error.is_none(),
            error: error.map(str::to_string),
        };
        let report = VerifyReport {
            layer: "layer.zip".into(),
            runtime: "python3.9",
            platform: "linux/amd64",
            engine: None,
            image: "img".into(),
            items: vec![item("numpy", None), item("broken", Some("No module"))],
        };
        assert_eq!(
            render(&report),
            "PASS  import   numpy\nFAIL  import   broken: No module\n"
        );
    }
}
