//! fclayer builds Alibaba Cloud Function Compute layer ZIPs in containers that match FC's
//! runtimes, through the Docker API, and writes them byte-reproducibly.
//!
//! Data flow of a build: `plan` (arguments → validated plan) → `docker` (build image, container,
//! archive API) → `extract` + `layer::pack` (untrusted tar stream → ordered ZIP) → digests.

pub mod build;
pub mod cache;
pub mod cli;
pub mod console;
pub mod docker;
pub mod error;
pub mod extract;
pub mod images;
pub mod layer;
pub mod manifest;
pub mod native;
pub mod paths;
pub mod plan;
pub mod project;
pub mod publish;
pub mod runtime;
pub mod secrets;
pub mod tarball;
pub mod units;
pub mod verify;

mod commands;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets: the layer-ZIP reader, the ELF gate and the tar
    //! validator, each on bytes. Errors are expected outcomes; a panic, a hang or unbounded
    //! memory is a bug. Not a stable API.

    use std::io::{Cursor, Write};

    use crate::error::Result;
    use crate::layer::read::LayerZip;

    fn layer_zip(bytes: &[u8]) -> Result<LayerZip<Cursor<&[u8]>>> {
        LayerZip::from_reader(Cursor::new(bytes), "fuzz.zip".into(), bytes.len() as u64)
    }

    /// Read a layer ZIP the way `inspect`/`stack` list it and `check` scans and resolves it.
    pub fn read_layer(bytes: &[u8]) {
        if let Ok(mut zip) = layer_zip(bytes) {
            let _ = crate::layer::inspect::listing(&mut zip);
        }
        gate(bytes);
    }

    /// The ELF gate on a layer ZIP's bytes: scan, then resolve against python3.10.
    pub fn gate(bytes: &[u8]) {
        let target = crate::native::Target::named("python3.10", None).expect("a known runtime");
        if let Ok(mut zip) = layer_zip(bytes)
            && let Ok(scanned) = crate::native::scan(&mut zip)
        {
            let report = crate::native::resolve(&scanned, &target);
            let _ = report.render_text();
        }
    }

    /// The ELF gate on one ELF file's bytes, as `lib/fuzz.so` of an otherwise empty layer.
    pub fn check_elf(bytes: &[u8]) {
        let _ = crate::native::elf::parse(bytes);
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(0o755);
        if zip.start_file("lib/fuzz.so", stored).is_err() || zip.write_all(bytes).is_err() {
            return;
        }
        if let Ok(cursor) = zip.finish() {
            gate(cursor.get_ref());
        }
    }

    /// Validate a tar stream the way a container's /opt export is: names, links, modes, then
    /// the ZIP written from it.
    pub fn validate_tar(bytes: &[u8]) -> Result<()> {
        let spool = tempfile::tempfile().map_err(|e| crate::error::Error::build(e.to_string()))?;
        let opts = crate::layer::pack::PackOptions {
            mtime: crate::layer::pack::default_mtime(),
            threads: 1,
            ..Default::default()
        };
        let mut packer = crate::layer::pack::Packer::new(spool, opts);
        packer.add_tar(bytes, Some("opt"))?;
        let mut out =
            tempfile::tempfile().map_err(|e| crate::error::Error::build(e.to_string()))?;
        packer.finish(&mut out).map(|_| ())
    }
}

use cli::Cli;
use console::Console;

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let console = Console::new(cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            console.error(&error::Error::build(format!("cannot start: {e}")));
            return error::exit::BUILD_FAILED;
        }
    };
    let result = runtime.block_on(commands::dispatch(cli, &console));
    // Blocking packer threads check a cancel flag; do not wait for them on the way out.
    runtime.shutdown_background();
    match result {
        Ok(()) => error::exit::SUCCESS,
        Err(e) => {
            console.error(&e);
            e.exit_code()
        }
    }
}
