//! System-package layers: apt installs the packages in the build container, their executables go
//! to `/opt/bin` and their shared libraries to `/opt/lib`, then every ELF file's needed libraries
//! are followed and copied in unless the runtime image already has them (images/install/apt.sh).

use super::Runtime;

pub fn installer_env(runtime: &Runtime, packages: &[String]) -> Vec<(String, String)> {
    vec![
        ("FCLAYER_APT".into(), packages.join(" ")),
        ("FCLAYER_DEBIAN".into(), runtime.debian.number().to_string()),
    ]
}

// Added by the build/verify restructuring (issue 12): messages, and which ELF files verify loads.

/// What the apt installer installs from, for messages.
pub const SOURCE: &str = "the apt packages";

/// The installer for messages: "apt (Debian 9 (stretch))".
pub fn describe(runtime: &Runtime) -> String {
    format!("apt ({})", runtime.debian)
}

/// What to do when apt failed.
pub fn installer_hint(runtime: &Runtime) -> String {
    format!(
        "check the package names: each must exist in {} for {}; run with --verbose to see all of apt's output",
        runtime.debian,
        runtime.arch()
    )
}

/// ELF files the loader maps, shared objects and programs (what apt's `bin/` and `lib/` hold);
/// object files and archives are not loaded.
pub fn loadable(name: &str) -> bool {
    !(name.ends_with(".o") || name.ends_with(".a") || name.ends_with(".ko"))
}
