//! `fclayer publish`: from a layer ZIP to a version of an FC layer, skipping what did not change.
//!
//! 1. Check everything local first (ZIP, layer name, runtimes, region, endpoint, credentials),
//!    and hash the ZIP: FC's `codeChecksum` is its CRC-64/XZ as a decimal string.
//! 2. List every version of the layer (all pages). When the newest has our checksum, the layer is
//!    unchanged: nothing is uploaded and that version is the result.
//! 3. Otherwise send the ZIP: inline (base64 in the JSON body) while the request stays well under
//!    FC's 100 MB body limit, else through the user's OSS bucket (`--oss-bucket`).
//! 4. CreateLayerVersion with `code.checksum`, so FC checks what it received. A layer that does
//!    not exist yet is created by its first version.
//! 5. A failed create that may have reached FC (a lost answer, a 5xx) is never simply repeated:
//!    the versions are listed again and a newest version with our checksum is the result.
//!
//! Credentials come from [`credentials`] and are registered with the console's masker before any
//! request, so no key, secret or token can appear in what fclayer prints.

pub mod api;
pub mod credentials;
pub mod endpoint;
pub mod sign;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::console::Console;
use crate::error::{Error, IoContext, Result};
use crate::layer::digest::Digests;
use api::{Client, Failure, LayerVersion};
use credentials::Credentials;
use endpoint::Endpoint;

/// FC's API body limit is 100 MB (104857600 bytes in the server's own message) and base64 adds a
/// third: ZIPs up to 70,000,000 bytes (93.4 MB encoded, JSON included) go inline, a margin of 6%
/// even against a decimal 100 MB. FC lets accounts raise (or lower) the limit: `--inline-max`.
pub const DEFAULT_INLINE_MAX: u64 = 70_000_000;

/// FC's limit for a code package staged in OSS.
pub const OSS_MAX: u64 = 500 * 1000 * 1000;

/// The `publish` table of a layer in `fclayer.toml`, and what `build --publish` fills in.
#[derive(Debug, Default, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PublishDecl {
    /// The FC layer's name (default: the fclayer.toml layer's name).
    pub layer_name: Option<String>,
    pub region: Option<String>,
    /// Default: the runtime the layer was built for.
    #[serde(default)]
    pub compatible_runtime: Vec<String>,
    pub description: Option<String>,
    pub endpoint: Option<String>,
    /// A profile of ~/.aliyun/config.json.
    pub profile: Option<String>,
    pub oss_bucket: Option<String>,
    pub oss_prefix: Option<String>,
}

/// What a build publishes: `--publish NAME` names the FC layer (over the table's `layer_name`);
/// a `publish` table alone publishes too.
pub fn build_decl(flag: Option<&str>, table: Option<&PublishDecl>) -> Option<PublishDecl> {
    match (flag, table) {
        (None, None) => None,
        (None, Some(t)) => Some(t.clone()),
        (Some(name), t) => Some(PublishDecl {
            layer_name: Some(name.to_string()),
            ..t.cloned().unwrap_or_default()
        }),
    }
}

/// Everything a publish needs, checked.
pub struct PublishPlan {
    pub zip: PathBuf,
    pub layer_name: String,
    pub region: String,
    pub runtimes: Vec<String>,
    pub description: Option<String>,
    pub endpoint: Endpoint,
    pub oss: Option<OssTarget>,
    pub inline_max: u64,
    pub retries: u32,
    pub settings: api::Settings,
}

pub struct OssTarget {
    pub bucket: String,
    /// Object name prefix, e.g. `fclayer/` (empty for the bucket's root).
    pub prefix: String,
    pub endpoint: Endpoint,
}

/// What a publish did, for the user and `--json`.
#[derive(Debug, Serialize)]
pub struct Published {
    pub layer_name: String,
    pub region: String,
    pub version: u64,
    pub arn: String,
    pub code_checksum: String,
    pub code_size: u64,
    pub compatible_runtime: Vec<String>,
    /// `created`, or `unchanged` when the newest version already held these bytes.
    pub status: &'static str,
    /// `inline`, `oss`, or `none` (unchanged).
    pub upload: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oss_object: Option<String>,
    /// Where the credentials came from (never their values).
    pub credentials: String,
    pub endpoint: String,
}

/// FC 2.0's documented rule (1-128 letters, digits, `_`, `-`, starting with a letter or `_`);
/// FC 3.0's is not documented separately. It also keeps the name safe in a URL path.
pub fn check_layer_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(
            Error::input(format!("`{name}` is not a valid FC layer name"))
                .with_hint("1-128 letters, digits, `_` and `-`, starting with a letter or `_`"),
        )
    }
}

/// The ZIP's size and digests; refuses what is not a ZIP, or too big for FC at all.
pub fn read_zip(path: &Path) -> Result<(u64, Digests)> {
    let meta = std::fs::metadata(path).at("read", path)?;
    if !meta.is_file() {
        return Err(Error::input(format!("{} is not a file", path.display()))
            .with_hint("give the layer ZIP that `fclayer build` or `fclayer pack` wrote"));
    }
    let mut f = std::fs::File::open(path).at("open", path)?;
    let mut magic = [0u8; 4];
    let n = std::io::Read::read(&mut f, &mut magic).at("read", path)?;
    if n < 4 || !(magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
        return Err(
            Error::input(format!("{} is not a ZIP file", path.display()))
                .with_hint("FC layers are ZIPs: build one with `fclayer build` or `fclayer pack`"),
        );
    }
    if meta.len() > OSS_MAX {
        return Err(Error::input(format!(
            "{} is {}, over FC's limit for a layer ({})",
            path.display(),
            crate::layer::human_bytes(meta.len()),
            crate::layer::human_bytes(OSS_MAX)
        ))
        .with_hint("split it into several layers (`fclayer stack` shows how they combine)"));
    }
    let f = std::fs::File::open(path).at("open", path)?;
    let digests = Digests::of_reader(std::io::BufReader::new(f)).at("read", path)?;
    Ok((meta.len(), digests))
}

/// How to send the ZIP, decided before any request: a too-large ZIP without a bucket fails here.
fn upload_mode(plan: &PublishPlan, size: u64) -> Result<&'static str> {
    if size <= plan.inline_max {
        return Ok("inline");
    }
    if plan.oss.is_some() {
        return Ok("oss");
    }
    Err(Error::input(format!(
        "{} is {} ({size} bytes): too big to send inline (at most {} bytes, FC's 100 MB API body limit once base64-encoded)",
        plan.zip.display(),
        crate::layer::human_bytes(size),
        plan.inline_max
    ))
    .with_hint("pass --oss-bucket BUCKET (in the layer's region; --oss-prefix P optional) to upload it through OSS, or --inline-max if your account's limit was raised"))
}

/// Backoff before attempt `n` (1-based): 0.5 s, 1 s, 2 s, 4 s, then 8 s.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(500 * (1u64 << n.saturating_sub(1).min(4)))
}

/// Run `f` until it succeeds, fails for good, or `retries` more attempts failed.
async fn with_retries<T, F, Fut>(retries: u32, console: &Console, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(fail) if fail.retryable && attempt < retries => {
                attempt += 1;
                let wait = backoff(attempt);
                console.note(format!(
                    "{what}: {}; retrying in {:.1} s ({attempt} of {retries})",
                    fail.error.message,
                    wait.as_secs_f64()
                ));
                tokio::time::sleep(wait).await;
            }
            Err(fail) => return Err(fail.error),
        }
    }
}

fn newest(versions: &[LayerVersion]) -> Option<&LayerVersion> {
    versions.iter().max_by_key(|v| v.version)
}

/// Publish `plan.zip` as the next version of `plan.layer_name`, unless the newest version
/// already holds these exact bytes.
///
/// 1. Read the ZIP's size and digests; decide inline or OSS (before any request).
/// 2. List the layer's versions: the newest holding this CRC-64 is the result, nothing uploaded.
/// 3. Put the code in the request (base64), or upload it to OSS and name the object.
/// 4. Create the version (never twice, see `create_once`) and check what FC stored.
pub async fn publish(
    plan: &PublishPlan,
    creds: Credentials,
    console: &Console,
) -> Result<Published> {
    // 1.
    console.add_secrets(creds.secrets());
    let (size, digests) = read_zip(&plan.zip)?;
    let crc = digests.crc64.to_string();
    let mode = upload_mode(plan, size)?;
    console.note(format!("credentials from {}", creds.source));
    let source = creds.source.clone();
    let http = api::http_client(&plan.settings)?;
    let client = Client::new(http, plan.endpoint.clone(), Arc::new(creds), &plan.region);
    let name = plan.layer_name.as_str();
    // 2.
    if let Some(v) = newest_unless_changed(plan, &client, console, &crc).await? {
        return Ok(published(plan, &v, "unchanged", "none", None, &source));
    }
    // 3.
    let (mut code, oss_object) = match mode {
        "inline" => (inline_code(plan, size, &digests, console)?, None),
        _ => oss_code(plan, &client, size, &digests, console).await?,
    };
    code.insert("checksum".into(), crc.clone().into());
    let mut body = serde_json::Map::new();
    body.insert("code".into(), code.into());
    body.insert("compatibleRuntime".into(), plan.runtimes.clone().into());
    if let Some(d) = &plan.description {
        body.insert("description".into(), d.clone().into());
    }
    let body = serde_json::to_vec(&body).expect("JSON serialises");
    // 4.
    let step = console.step("Publishing", format!("layer {name} (CreateLayerVersion)"));
    let created = create_once(plan, &client, console, name, &crc, body).await?;
    if !created.code_checksum.is_empty() && created.code_checksum != crc {
        return Err(Error::build(format!(
            "FC stored version {} of {name} with CRC-64 {}, but the ZIP's is {crc}",
            created.version, created.code_checksum
        ))
        .with_hint("the upload was damaged or the OSS object changed: publish again"));
    }
    step.done(format!("version {}", created.version));
    Ok(published(
        plan, &created, "created", mode, oss_object, &source,
    ))
}

/// What a publish reports about version `v`.
fn published(
    plan: &PublishPlan,
    v: &LayerVersion,
    status: &'static str,
    upload: &'static str,
    oss_object: Option<String>,
    credentials: &str,
) -> Published {
    Published {
        layer_name: plan.layer_name.clone(),
        region: plan.region.clone(),
        version: v.version,
        arn: v.layer_version_arn.clone(),
        code_checksum: v.code_checksum.clone(),
        code_size: v.code_size,
        compatible_runtime: v.compatible_runtime.clone(),
        status,
        upload,
        oss_object,
        credentials: credentials.to_string(),
        endpoint: plan.endpoint.base_url(),
    }
}

/// The newest version when it already holds a ZIP with this CRC-64 (nothing to upload), else
/// `None` after saying what is there.
async fn newest_unless_changed(
    plan: &PublishPlan,
    client: &Client,
    console: &Console,
    crc: &str,
) -> Result<Option<LayerVersion>> {
    let name = plan.layer_name.as_str();
    let step = console.step(
        "Checking",
        format!(
            "layer {name} in {} ({})",
            plan.region, plan.endpoint.authority
        ),
    );
    let versions = with_retries(plan.retries, console, "ListLayerVersions", || {
        client.list_versions(name)
    })
    .await?;
    match versions.as_deref().and_then(newest) {
        Some(v) if v.code_checksum == crc => {
            step.done(format!("unchanged: version {} has CRC-64 {crc}", v.version));
            return Ok(Some(v.clone()));
        }
        Some(v) => step.done(format!(
            "newest is version {} (CRC-64 {}), the ZIP's is {crc}",
            v.version, v.code_checksum
        )),
        None if versions.is_none() => step.done("no such layer yet: its first version creates it"),
        None => step.done("the layer has no versions"),
    }
    Ok(None)
}

/// The ZIP's bytes, refused when they are no longer the ones the digests were taken of.
fn read_unchanged(plan: &PublishPlan, digests: &Digests) -> Result<Vec<u8>> {
    let bytes = std::fs::read(&plan.zip).at("read", &plan.zip)?;
    if Digests::of_bytes(&bytes).crc64 != digests.crc64 {
        return Err(Error::input(format!(
            "{} changed while it was being published",
            plan.zip.display()
        )));
    }
    Ok(bytes)
}

/// `code` with the ZIP inline, base64 (`code.zipFile`).
fn inline_code(
    plan: &PublishPlan,
    size: u64,
    digests: &Digests,
    console: &Console,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let step = console.step(
        "Encoding",
        format!("{} inline", crate::layer::human_bytes(size)),
    );
    let bytes = read_unchanged(plan, digests)?;
    let mut code = serde_json::Map::new();
    code.insert(
        "zipFile".into(),
        base64::engine::general_purpose::STANDARD
            .encode(&bytes)
            .into(),
    );
    step.done("base64");
    Ok(code)
}

/// Upload the ZIP to the plan's OSS bucket; `code` names the object, and the object's URL.
async fn oss_code(
    plan: &PublishPlan,
    client: &Client,
    size: u64,
    digests: &Digests,
    console: &Console,
) -> Result<(serde_json::Map<String, serde_json::Value>, Option<String>)> {
    let oss = plan.oss.as_ref().expect("upload_mode checked");
    let key = format!("{}{}/{}.zip", oss.prefix, plan.layer_name, digests.sha256);
    let step = console.step(
        "Uploading",
        format!(
            "{} to oss://{}/{key}",
            crate::layer::human_bytes(size),
            oss.bucket
        ),
    );
    let bytes = bytes::Bytes::from(read_unchanged(plan, digests)?);
    with_retries(plan.retries, console, "OSS upload", || {
        client.oss_put(
            &oss.endpoint,
            &oss.bucket,
            &key,
            bytes.clone(),
            digests.crc64,
        )
    })
    .await?;
    step.done("stored");
    let mut code = serde_json::Map::new();
    code.insert("ossBucketName".into(), oss.bucket.clone().into());
    code.insert("ossObjectName".into(), key.clone().into());
    Ok((code, Some(format!("oss://{}/{key}", oss.bucket))))
}

/// CreateLayerVersion, retried without ever making two versions: after a failure that may have
/// reached FC, the versions are listed again, and a newest version with our checksum (made by the
/// lost attempt) is the result.
async fn create_once(
    plan: &PublishPlan,
    client: &Client,
    console: &Console,
    name: &str,
    crc: &str,
    body: Vec<u8>,
) -> Result<LayerVersion> {
    let mut attempt = 0;
    loop {
        let fail = match client.create_version(name, body.clone()).await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if !fail.retryable || attempt >= plan.retries {
            return Err(fail.error);
        }
        attempt += 1;
        let wait = backoff(attempt);
        console.note(format!(
            "CreateLayerVersion: {}; looking whether it was made, then retrying in {:.1} s ({attempt} of {})",
            fail.error.message,
            wait.as_secs_f64(),
            plan.retries
        ));
        tokio::time::sleep(wait).await;
        let versions = with_retries(plan.retries, console, "ListLayerVersions", || {
            client.list_versions(name)
        })
        .await?;
        if let Some(v) = versions.as_deref().and_then(newest)
            && v.code_checksum == crc
        {
            console.note(format!(
                "version {} with this ZIP's checksum exists: the lost attempt made it",
                v.version
            ));
            return Ok(v.clone());
        }
    }
}

/// The lines that tell the user how to use the version (stderr); the ARN itself goes to stdout.
pub fn usage_lines(p: &Published) -> Vec<String> {
    vec![
        "in s.yaml, under the function's props:".to_string(),
        "  layers:".to_string(),
        format!("    - {}", p.arn),
        format!(
            "in the FC console: the function's Configuration > Layers > Add Layer > by ARN: {}",
            p.arn
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_are_checked() {
        assert!(check_layer_name("my-deps_1").is_ok());
        assert!(check_layer_name("_x").is_ok());
        assert!(check_layer_name("1abc").is_err());
        assert!(check_layer_name("a/b").is_err());
        assert!(check_layer_name("").is_err());
        assert!(check_layer_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(9), Duration::from_secs(8));
    }

    #[test]
    fn inline_limit_leaves_margin_under_100_mb() {
        let b64 = DEFAULT_INLINE_MAX.div_ceil(3) * 4;
        assert!(b64 + 4096 < 100_000_000, "{b64}");
    }

    #[test]
    fn the_publish_table_parses() {
        let d: PublishDecl = toml::from_str(
            "layer_name = \"x\"\nregion = \"cn-hangzhou\"\ncompatible_runtime = [\"python3.10\"]\noss_bucket = \"b\"",
        )
        .unwrap();
        assert_eq!(d.layer_name.as_deref(), Some("x"));
        assert_eq!(d.compatible_runtime, ["python3.10"]);
        assert!(toml::from_str::<PublishDecl>("access_key_secret = \"x\"").is_err());
    }
}
