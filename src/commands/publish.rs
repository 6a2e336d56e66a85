//! `fclayer publish`, `fclayer layers` and the publish step of `fclayer build`: arguments (or a
//! `publish` table) checked into a [`PublishPlan`], the credentials found, the operation run,
//! its result printed: the ARN on stdout (or `--json`), how to use it on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lifecycle::Signals;
use crate::cli::{BuildArgs, FcArgs, LayersArgs, OssArgs, PublishArgs};
use crate::console::Console;
use crate::error::{Error, IoContext, Result};
use crate::publish::{
    self, OssTarget, PublishDecl, PublishPlan, Published, api, credentials, endpoint,
};

pub async fn run(args: PublishArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    let decl = PublishDecl {
        layer_name: Some(args.layer_name.clone()),
        region: args.fc.region.clone(),
        compatible_runtime: args.compatible_runtime.clone(),
        description: args.description.clone(),
        endpoint: args.fc.endpoint.clone(),
        profile: args.fc.profile.clone(),
        oss_bucket: args.oss.oss_bucket.clone(),
        oss_prefix: args.oss.oss_prefix.clone(),
    };
    let published = publish_zip(
        &decl,
        &args.zip,
        None,
        &args.fc,
        &args.oss,
        console,
        &mut signals,
    )
    .await?;
    report(&published, args.json, console);
    Ok(())
}

/// After a successful build: publish its ZIP as its `publish` table (or `--publish`) says, the
/// built runtime being the default compatible runtime.
pub async fn after_build(
    decl: &PublishDecl,
    layer: &str,
    zip: &Path,
    runtime: &str,
    args: &BuildArgs,
    console: &Console,
    signals: &mut Signals,
) -> Result<Published> {
    let mut decl = decl.clone();
    decl.layer_name.get_or_insert_with(|| layer.to_string());
    let oss = OssArgs {
        oss_bucket: decl.oss_bucket.clone(),
        oss_prefix: decl.oss_prefix.clone(),
        oss_endpoint: std::env::var(endpoint::OSS_ENDPOINT_ENV)
            .ok()
            .filter(|v| !v.is_empty()),
        inline_max: publish::DEFAULT_INLINE_MAX,
        ca_cert: args.ca_cert.clone(),
    };
    let published = publish_zip(
        &decl,
        zip,
        Some(runtime),
        &args.publish_to,
        &oss,
        console,
        signals,
    )
    .await?;
    if !args.json {
        report(&published, false, console);
    }
    Ok(published)
}

pub async fn layers(args: LayersArgs, console: &Console) -> Result<()> {
    let mut signals = Signals::new()?;
    publish::check_layer_name(&args.name)?;
    let creds = credentials::resolve(args.fc.profile.as_deref())?;
    console.add_secrets(creds.secrets());
    let region = region(args.fc.region.as_deref(), None, &creds)?;
    let ep = fc_endpoint(args.fc.endpoint.as_deref(), &region)?;
    let settings = settings(&args.fc, args.ca_cert.as_deref(), &ep)?;
    console.note(format!("credentials from {}", creds.source));
    let http = api::http_client(&settings)?;
    let client = api::Client::new(http, ep, std::sync::Arc::new(creds), &region);
    let list = async {
        let mut attempt = 0;
        loop {
            match client.list_versions(&args.name).await {
                Ok(v) => return Ok(v),
                Err(f) if f.retryable && attempt < args.fc.retries => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500 << attempt.min(4))).await;
                }
                Err(f) => return Err(f.error),
            }
        }
    };
    let versions = tokio::select! {
        r = list => r?,
        s = signals.recv() => return Err(Error::interrupted(s)),
    };
    let Some(mut versions) = versions else {
        return Err(
            Error::input(format!("FC has no layer `{}` in {region}", args.name))
                .with_hint("`fclayer publish ZIP --layer-name NAME` creates it"),
        );
    };
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    super::print_report(args.json, &versions, || {
        let mut out = format!(
            "{:<8} {:<21} {:>10} {:<24} {}\n",
            "VERSION", "CRC-64", "SIZE", "RUNTIMES", "CREATED"
        );
        for v in &versions {
            out.push_str(&format!(
                "{:<8} {:<21} {:>10} {:<24} {}\n",
                v.version,
                v.code_checksum,
                crate::layer::human_bytes(v.code_size),
                v.compatible_runtime.join(","),
                v.create_time
            ));
        }
        out
    })
}

/// The ARN on stdout (the data), the result and how to use it on stderr.
fn report(p: &Published, json: bool, console: &Console) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(p).expect("result serialises")
        );
    } else {
        println!("{}", p.arn);
    }
    let what = match p.status {
        "unchanged" => format!(
            "layer {} version {} holds this ZIP (CRC-64 {}); nothing uploaded",
            p.layer_name, p.version, p.code_checksum
        ),
        _ => format!(
            "layer {} version {} ({}, CRC-64 {}, sent {})",
            p.layer_name,
            p.version,
            crate::layer::human_bytes(p.code_size),
            p.code_checksum,
            p.upload
        ),
    };
    console.status(
        if p.status == "unchanged" {
            "Unchanged"
        } else {
            "Published"
        },
        what,
    );
    console.block(&format!(
        "{}\n",
        publish::usage_lines(p)
            .iter()
            .map(|l| format!("{:>12} {l}", ""))
            .collect::<Vec<_>>()
            .join("\n")
    ));
}

#[allow(clippy::too_many_arguments)]
async fn publish_zip(
    decl: &PublishDecl,
    zip: &Path,
    built_runtime: Option<&str>,
    fc: &FcArgs,
    oss: &OssArgs,
    console: &Console,
    signals: &mut Signals,
) -> Result<Published> {
    let name = decl.layer_name.clone().unwrap_or_default();
    publish::check_layer_name(&name)?;
    publish::read_zip(zip)?;
    let runtimes = runtimes(&decl.compatible_runtime, zip, built_runtime)?;
    // An explicit --profile wins over a publish table's.
    let profile = fc.profile.as_deref().or(decl.profile.as_deref());
    let creds = credentials::resolve(profile)?;
    console.add_secrets(creds.secrets());
    let region = region(fc.region.as_deref(), decl.region.as_deref(), &creds)?;
    let ep = fc_endpoint(fc.endpoint.as_deref().or(decl.endpoint.as_deref()), &region)?;
    let oss_target = match &oss.oss_bucket {
        None => None,
        Some(bucket) => {
            check_bucket(bucket)?;
            let endpoint = match &oss.oss_endpoint {
                Some(e) => endpoint::parse_override(e, "--oss-endpoint")?,
                None => endpoint::Endpoint {
                    https: true,
                    authority: endpoint::oss_host(&region),
                },
            };
            let mut prefix = oss.oss_prefix.clone().unwrap_or_default();
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            Some(OssTarget {
                bucket: bucket.clone(),
                prefix: prefix.trim_start_matches('/').to_string(),
                endpoint,
            })
        }
    };
    let settings = settings(fc, oss.ca_cert.as_deref(), &ep)?;
    let plan = PublishPlan {
        zip: zip.to_path_buf(),
        layer_name: name,
        region,
        runtimes,
        description: decl.description.clone(),
        endpoint: ep,
        oss: oss_target,
        inline_max: oss.inline_max,
        retries: fc.retries,
        settings,
    };
    tokio::select! {
        r = publish::publish(&plan, creds, console) => r,
        s = signals.recv() => Err(Error::interrupted(s).with_hint(format!(
            "if CreateLayerVersion was under way the version may exist: `fclayer layers {}` shows it, and publishing the same ZIP again skips it",
            plan.layer_name
        ))),
    }
}

/// `--compatible-runtime`, else the built runtime, else the manifest beside the ZIP.
fn runtimes(given: &[String], zip: &Path, built: Option<&str>) -> Result<Vec<String>> {
    let mut list: Vec<String> = given
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if list.is_empty() {
        if let Some(r) = built {
            list.push(r.to_string());
        } else {
            let path = crate::manifest::path_for(zip);
            if path.is_file() {
                let m = crate::manifest::Manifest::load(&path)?;
                if !m.runtime.is_empty() {
                    list.push(m.runtime);
                }
            }
        }
    }
    if list.is_empty() {
        return Err(Error::input(format!(
            "no compatible runtime for {}: no --compatible-runtime and no manifest beside it ({})",
            zip.display(),
            crate::manifest::path_for(zip).display()
        ))
        .with_hint("pass --compatible-runtime, e.g. --compatible-runtime python3.10,python3.9"));
    }
    for r in &list {
        if let Err(e) = crate::runtime::Runtime::lookup(r) {
            return Err(e.context("--compatible-runtime"));
        }
    }
    list.dedup();
    Ok(list)
}

/// `--region`, the publish table's, ALIBABA_CLOUD_REGION_ID, the aliyun CLI profile's.
fn region(
    flag: Option<&str>,
    table: Option<&str>,
    creds: &credentials::Credentials,
) -> Result<String> {
    let env = std::env::var("ALIBABA_CLOUD_REGION_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let region = flag
        .map(str::to_string)
        .or_else(|| table.map(str::to_string))
        .or(env)
        .or_else(|| creds.region.clone())
        .ok_or_else(|| {
            Error::input("no region to publish to")
                .with_hint("pass --region (e.g. --region cn-hangzhou), set ALIBABA_CLOUD_REGION_ID, or `region` in the publish table")
        })?;
    endpoint::check_region(&region)?;
    Ok(region)
}

fn fc_endpoint(given: Option<&str>, region: &str) -> Result<endpoint::Endpoint> {
    match given.filter(|e| !e.is_empty()) {
        Some(e) => endpoint::parse_override(e, "--endpoint"),
        None => Ok(endpoint::Endpoint {
            https: true,
            authority: endpoint::fc_host(region),
        }),
    }
}

/// OSS's bucket naming rule: 3-63 lower-case letters, digits and `-`, not at either end.
fn check_bucket(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!("`{b}` is not an OSS bucket name"))
            .with_hint("3-63 lower-case letters, digits and `-`"))
    }
}

fn settings(fc: &FcArgs, ca_cert: Option<&Path>, ep: &endpoint::Endpoint) -> Result<api::Settings> {
    let ca = match ca_cert {
        Some(p) => Some((
            p.to_path_buf(),
            std::fs::read(p).at("read the CA certificates in", p)?,
        )),
        // rustls-native-certs reads SSL_CERT_FILE itself; reading it here too makes a missing
        // file an error that names it, as the build does.
        None => match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
            Some(p) => {
                let p = PathBuf::from(p);
                let pem = std::fs::read(&p)
                    .at("read the CA certificates in", &p)
                    .map_err(|e| e.context("SSL_CERT_FILE"))?;
                Some((p, pem))
            }
            None => None,
        },
    };
    Ok(api::Settings {
        connect_timeout: Duration::from_secs(fc.connect_timeout.max(1)),
        timeout: Duration::from_secs(fc.request_timeout.max(1)),
        ca,
        no_proxy: ep.path_style(),
    })
}
