//! Command-line arguments. The doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the build failed (installer error, layer rejected by a check, timeout)
  2    bad input (arguments, project files, paths); nothing was built
  3    no Docker engine answered, or it stopped mid-run
  130  interrupted (Ctrl-C, SIGTERM or SIGHUP); everything the run created was removed";

/// Build Alibaba Cloud Function Compute layer ZIPs in the runtime's own Debian, through the
/// Docker API: reproducible bytes, checked before upload.
#[derive(Debug, Parser)]
#[command(name = "fclayer", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Show the build container's output as it runs.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a layer ZIP from a project (requirements.txt, package.json, pom.xml, composer.json,
    /// apt.txt or --apt packages, or your own Dockerfile) in a build container.
    #[command(after_help = EXIT_CODES)]
    Build(Box<BuildArgs>),
    /// Pack a directory into a layer ZIP the same way a build does (its contents become /opt).
    Pack(PackArgs),
    /// Show what a layer ZIP holds: runtime folders, sizes, largest files, links, digests.
    Inspect(InspectArgs),
    /// Show what /opt looks like with these layers configured in this order (first wins).
    Stack(StackArgs),
    /// Check every ELF file in a layer against a runtime: architecture, glibc/libstdc++ symbol
    /// versions, needed libraries.
    Check(CheckArgs),
    /// Load a layer in a container of the runtime's image (network off): import every Python
    /// package, require every Node.js package, and have the loader resolve every ELF file.
    Verify(VerifyArgs),
    /// List or prune the build cache and the download-cache volumes.
    Cache(CacheArgs),
    /// List the FC runtimes, their Debian release, glibc and build image.
    Runtimes(RuntimesArgs),
    /// Remove what killed runs left in the Docker engine: containers labelled `fclayer` and
    /// `fclayer-tmp/*` images whose run is gone. Build images (fclayer/build-*) are a cache
    /// and stay.
    #[command(after_help = EXIT_CODES)]
    Gc(GcArgs),
    /// Publish a layer ZIP as a new version of a Function Compute layer, unless the newest
    /// version already holds these exact bytes (same CRC-64). Prints the version's ARN.
    #[command(after_help = PUBLISH_HELP)]
    Publish(PublishArgs),
    /// List the versions of a Function Compute layer: version, CRC-64, size, runtimes, created.
    Layers(LayersArgs),
    /// Print a shell completion script, e.g. `fclayer completions bash > /etc/bash_completion.d/fclayer`.
    Completions(CompletionsArgs),
}

const PUBLISH_HELP: &str = "\
Credentials, in this order: ALIBABA_CLOUD_ACCESS_KEY_ID + ALIBABA_CLOUD_ACCESS_KEY_SECRET
(+ ALIBABA_CLOUD_SECURITY_TOKEN); ~/.aliyun/config.json (--profile, else ALIBABA_CLOUD_PROFILE,
else its current profile; modes AK and StsToken); ~/.alibabacloud/credentials.ini.
ZIPs up to --inline-max bytes are sent inline; larger ones need --oss-bucket.";

/// Where and how to talk to FC: shared by `publish`, `layers` and `build --publish`.
#[derive(Debug, Args, Clone, Default)]
pub struct FcArgs {
    /// Region of the layer, e.g. cn-hangzhou. Default: ALIBABA_CLOUD_REGION_ID, else the
    /// aliyun CLI profile's region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// FC API endpoint instead of the region's public one (a VPC or private endpoint); a host or
    /// an https:// URL (http:// only to a loopback address).
    #[arg(long, value_name = "URL", env = "FCLAYER_FC_ENDPOINT")]
    pub endpoint: Option<String>,

    /// Profile of ~/.aliyun/config.json to take the credentials from.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,

    /// Seconds a request (upload included) may take.
    #[arg(long = "request-timeout", default_value_t = 600, value_name = "SECS")]
    pub request_timeout: u64,

    /// How often to retry after throttling, a 5xx answer or a lost connection.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The layer ZIP.
    pub zip: PathBuf,

    /// Name of the FC layer (created by its first version).
    #[arg(long, value_name = "NAME")]
    pub layer_name: String,

    /// Runtimes the layer is for, comma-separated. Default: the runtime in the manifest beside
    /// the ZIP (<name>.manifest.json).
    #[arg(long, value_name = "R1,R2", value_delimiter = ',')]
    pub compatible_runtime: Vec<String>,

    /// Description of the new version.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    #[command(flatten)]
    pub fc: FcArgs,

    #[command(flatten)]
    pub oss: OssArgs,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct OssArgs {
    /// OSS bucket (in the layer's region) to upload ZIPs too big to send inline through.
    #[arg(long, value_name = "BUCKET")]
    pub oss_bucket: Option<String>,

    /// Object name prefix in --oss-bucket, e.g. `fclayer/`.
    #[arg(long, value_name = "PREFIX", requires = "oss_bucket")]
    pub oss_prefix: Option<String>,

    /// OSS endpoint instead of the region's public one (e.g. oss-cn-hangzhou-internal.aliyuncs.com).
    #[arg(long, value_name = "URL", env = "FCLAYER_OSS_ENDPOINT")]
    pub oss_endpoint: Option<String>,

    /// Largest ZIP to send inline, in bytes (FC's API body limit is 100 MB after base64).
    #[arg(long, value_name = "BYTES", default_value_t = crate::publish::DEFAULT_INLINE_MAX)]
    pub inline_max: u64,

    /// Extra CA certificates (PEM) for HTTPS, e.g. a corporate proxy's. SSL_CERT_FILE is used when
    /// set.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LayersArgs {
    /// Name of the FC layer.
    pub name: String,

    #[command(flatten)]
    pub fc: FcArgs,

    /// Extra CA certificates (PEM) for HTTPS. SSL_CERT_FILE is used when set.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Print the versions as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Most threads (or layers at once) `-j` takes: each thread holds a compressor and buffers, so
/// `-j 10000000` would allocate gigabytes, and no machine FC users build on has 256 cores to
/// keep busy.
pub const MAX_JOBS: u64 = 256;

fn jobs_range() -> fn(&str) -> Result<usize, String> {
    |s| match s.parse::<u64>() {
        Ok(n @ 1..=MAX_JOBS) => Ok(n as usize),
        _ => Err(format!("give a number from 1 to {MAX_JOBS}")),
    }
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also remove what runs still going, or runs on other hosts and in other containers, made
    /// (those builds then fail).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Project directory (with requirements.txt, package.json, pom.xml, composer.json or
    /// apt.txt), or the build context of --dockerfile; or the name of a layer in ./fclayer.toml.
    /// A directory holding fclayer.toml builds every layer it declares.
    #[arg(default_value = ".")]
    pub project: PathBuf,

    /// FC runtime to build for (see `fclayer runtimes`). Default: the project file's, else
    /// chosen from the project's files (python3.10, nodejs20, java11, php7.2, custom.debian10).
    #[arg(short, long)]
    pub runtime: Option<String>,

    /// Debian package to put in the layer: executables into bin/, shared libraries into lib/,
    /// with the libraries they need that the runtime lacks. Repeatable; adds to apt.txt.
    #[arg(long = "apt", value_name = "PKG")]
    pub apt: Vec<String>,

    /// Build this Dockerfile (context: the project directory) and take /opt out of the image.
    #[arg(long, value_name = "FILE", conflicts_with = "apt")]
    pub dockerfile: Option<PathBuf>,

    /// Build argument for --dockerfile (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", requires = "dockerfile")]
    pub build_args: Vec<String>,

    /// Stage of a multi-stage --dockerfile to build.
    #[arg(long, value_name = "STAGE", requires = "dockerfile")]
    pub target: Option<String>,

    /// Python: read this file instead of the one detected (uv.lock, poetry.lock, Pipfile.lock,
    /// pylock.toml, pyproject.toml, requirements.txt, in that order). A path inside the project.
    #[arg(long, value_name = "FILE", conflicts_with = "dockerfile")]
    pub requirements: Option<PathBuf>,

    /// Python: also install this dependency group of a uv, Poetry or pylock.toml lock (only the
    /// main dependencies by default). Repeatable, or comma-separated.
    #[arg(long = "with", value_name = "GROUP", value_delimiter = ',')]
    pub with_groups: Vec<String>,

    /// Python: also install this extra (optional dependencies) of the project. Repeatable, or
    /// comma-separated.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub extras: Vec<String>,

    /// Where to write the layer ZIP (default: layer.zip; a project file names each layer's).
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    /// Build even when the build cache holds this exact build.
    #[arg(long)]
    pub no_cache: bool,

    /// Python layers: ship no byte-code. By default every .py file is compiled into a
    /// reproducible, hash-based .pyc with the runtime's interpreter, which makes the first
    /// import of a cold start about twice as fast (FC's /opt is read-only: without .pyc, Python
    /// compiles every module it imports in memory, on every cold start). Not with
    /// --dockerfile: there the Dockerfile decides what /opt holds.
    #[arg(long, conflicts_with = "dockerfile")]
    pub no_bytecode: bool,

    /// Leave out what no import reaches (test suites, type stubs, other Pythons' byte-code,
    /// node-gyp's object files, npm packages' docs and examples) and debug sections of ELF files
    /// no tool patched; then prove the slim layer still loads (the checks of `fclayer verify`).
    /// Not with --dockerfile: fclayer slims only what its own installers put in /opt.
    #[arg(long, conflicts_with = "dockerfile")]
    pub slim: bool,

    /// Node.js layers for a custom runtime, which brings no Node.js of its own: the major the
    /// function runs, e.g. 18 (default: package.json's engines.node).
    #[arg(long, value_name = "MAJOR")]
    pub node: Option<String>,

    /// Fail if anything recorded in the manifest beside the output (image, inputs, package
    /// versions, fclayer's version) would change; the output is left as it was.
    #[arg(long, conflicts_with = "check")]
    pub frozen: bool,

    /// Rebuild (without the cache) and compare with the existing output ZIP's bytes; exit 1 if
    /// they differ. The output is left as it was. For CI.
    #[arg(long)]
    pub check: bool,

    /// Build at most this many layers at a time, 1 to 256 (default: what the engine's CPUs can
    /// take).
    #[arg(short = 'j', long, value_name = "N", value_parser = jobs_range())]
    pub jobs: Option<usize>,

    /// Print a report per layer as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,

    /// Base image for the build image instead of FC's official one (e.g. a local debian:11).
    #[arg(long, env = "FCLAYER_BASE_IMAGE")]
    pub base_image: Option<String>,

    /// Python layers: the installer. Default: uv (several times faster) for every runtime but
    /// python3.6, which keeps pip.
    #[arg(long, value_enum, value_name = "INSTALLER")]
    pub installer: Option<crate::runtime::python::Installer>,

    /// Extra CA certificates (PEM) for the installer's HTTPS, e.g. a corporate proxy's.
    /// SSL_CERT_FILE is used when set. Never copied into the layer.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Stop the installer after this many seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    pub timeout: u64,

    /// Platform to build for. FC runs linux/amd64 only (the default); linux/arm64 builds the
    /// same way for other targets and for testing cross-architecture builds.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// When the engine's platform differs from the target's, install everything under emulation
    /// instead of fetching wheels and npm packages for the target natively.
    #[arg(long)]
    pub emulate: bool,

    /// Base of the image that fetches packages for another platform natively (any Debian).
    #[arg(
        long,
        value_name = "IMAGE",
        default_value = "debian:12",
        env = "FCLAYER_NATIVE_BASE"
    )]
    pub native_base: String,

    /// Write the layer even when the ELF check finds files that will not load on the runtime
    /// (wrong architecture, too new a glibc, missing libraries). The findings are still shown.
    #[arg(long)]
    pub allow_incompatible: bool,

    /// Largest ZIP to accept, in bytes (FC's limit is 500 MB).
    #[arg(long, default_value_t = crate::layer::DEFAULT_MAX_SIZE, value_name = "BYTES")]
    pub max_size: u64,

    /// After a successful build, publish the ZIP as a new version of this FC layer (unless it is
    /// unchanged). Needs --region (or ALIBABA_CLOUD_REGION_ID). A layer's `publish` table in
    /// fclayer.toml does the same.
    #[arg(long, value_name = "LAYER_NAME", conflicts_with = "check")]
    pub publish: Option<String>,

    /// Where `--publish` (or a `publish` table) publishes.
    #[command(flatten)]
    pub publish_to: FcArgs,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// Directory whose contents become the layer's root (/opt), e.g. one holding python/.
    pub dir: PathBuf,

    /// Where to write the layer ZIP (a new or regular file). Inside DIR, it is left out of the
    /// layer, as are fclayer's temporary files.
    #[arg(short, long, default_value = "layer.zip")]
    pub output: PathBuf,

    /// Largest ZIP to accept, in bytes (FC's limit is 500 MB).
    #[arg(long, default_value_t = crate::layer::DEFAULT_MAX_SIZE, value_name = "BYTES")]
    pub max_size: u64,

    /// Compression threads, 1 to 256 (default: all cores). The bytes written do not depend on
    /// it.
    #[arg(short = 'j', long, value_name = "N", value_parser = jobs_range())]
    pub jobs: Option<usize>,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RuntimesArgs {
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The layer ZIP.
    pub zip: PathBuf,

    /// How many of the largest files to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StackArgs {
    /// Layer ZIPs in the order they are configured on the function (the first wins).
    #[arg(required = true, num_args = 1..)]
    pub zips: Vec<PathBuf>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The layer ZIP.
    pub zip: PathBuf,

    /// FC runtime the layer is for (see `fclayer runtimes`).
    #[arg(short, long)]
    pub runtime: String,

    /// Target platform instead of the runtime's (linux/amd64); e.g. linux/arm64.
    #[arg(long)]
    pub platform: Option<String>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The layer ZIP.
    pub zip: PathBuf,

    /// FC runtime whose image the layer is tried in (see `fclayer runtimes`).
    #[arg(short, long)]
    pub runtime: String,

    /// Python module to import (repeatable). Default: every top-level package in python/.
    #[arg(long = "import", value_name = "MODULE")]
    pub imports: Vec<String>,

    /// Node.js package to require (repeatable). Default: every package in nodejs/node_modules/.
    #[arg(long = "require", value_name = "PACKAGE")]
    pub requires: Vec<String>,

    /// Run in this image instead of FC's official run image for the runtime.
    #[arg(long, conflicts_with = "base_image")]
    pub image: Option<String>,

    /// Run in the runtime's build image on this base (as `fclayer build --base-image` makes it).
    #[arg(long, env = "FCLAYER_BASE_IMAGE")]
    pub base_image: Option<String>,

    /// Platform of the container (default: the runtime's, linux/amd64).
    #[arg(long)]
    pub platform: Option<String>,

    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: CacheAction,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// List cached layers (most recently used first) and download-cache volumes.
    Ls {
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached layers, least recently used first.
    Prune {
        /// Remove every cached layer.
        #[arg(long)]
        all: bool,
        /// Keep at most this many bytes of cached layers.
        #[arg(long, value_name = "BYTES", conflicts_with = "all")]
        max_size: Option<u64>,
        /// Also remove the download-cache volumes (pip, npm, Maven, Composer downloads).
        #[arg(long)]
        volumes: bool,
    },
}
