//! Reading the user's project files: text that must be UTF-8, and JSON files whose errors carry
//! the file, line and column. Shared by the language files' checks and by `fclayer.toml`.

use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// A project file as text. Bytes that are not UTF-8 are bad input, reported with their line.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at("read", path)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..good].iter().filter(|b| **b == b'\n').count() + 1;
        Error::input(format!(
            "{}:{line}: not UTF-8 text (byte 0x{:02x})",
            path.display(),
            bytes[good]
        ))
        .with_hint("save the file as UTF-8")
    })
}

/// The 1-based line and column of a byte offset, for parsers that report offsets.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// Check a JSON manifest (package.json, composer.json and their lockfiles): it must parse, be an
/// object, and keep dependency maps as objects. Errors carry the file, line and column.
pub(crate) fn check_json_manifest(path: &Path, maps: &[&str]) -> Result<serde_json::Value> {
    let text = read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: not valid JSON: {}",
            path.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
        .with_hint("fix the JSON syntax (a missing comma or quote is the usual cause)")
    })?;
    let obj = value.as_object().ok_or_else(|| {
        Error::input(format!(
            "{}: expected a JSON object at the top level",
            path.display()
        ))
    })?;
    for key in maps {
        if let Some(v) = obj.get(*key)
            && !v.is_object()
        {
            return Err(Error::input(format!(
                "{}: `{key}` must be an object of package names to versions",
                path.display()
            )));
        }
    }
    Ok(value)
}

/// serde_json appends " at line L column C"; the location is already in front.
fn strip_position(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}
