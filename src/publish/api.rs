//! The two FC 3.0 calls a publish needs (ListLayerVersions, CreateLayerVersion) and the OSS
//! upload, over reqwest (rustls with the system's CA certificates, plus `--ca-cert` or
//! SSL_CERT_FILE; HTTPS_PROXY/NO_PROXY as every HTTP tool reads them).
//!
//! Every attempt is signed afresh (new date and nonce). Failures are sorted into those worth
//! another attempt (throttling, 5xx, a lost connection) and those that are not; the caller decides
//! whether to retry, because a CreateLayerVersion whose answer was lost may have happened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::credentials::Credentials;
use super::endpoint::Endpoint;
use super::sign::{self, Acs3Request, Oss4Request, Utc};
use crate::error::{Error, Result};

pub const API_VERSION: &str = "2023-03-30";

/// A layer version as FC describes it (the `Layer` structure; unknown fields ignored).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct LayerVersion {
    pub layer_name: String,
    pub version: u64,
    pub layer_version_arn: String,
    pub code_checksum: String,
    pub code_size: u64,
    pub compatible_runtime: Vec<String>,
    pub create_time: String,
    pub description: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListOutput {
    layers: Vec<LayerVersion>,
    next_version: Option<u64>,
}

/// FC's error body: `{"Code": ..., "Message": ..., "RequestId": ...}` (either capitalisation).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ApiError {
    #[serde(alias = "code")]
    #[serde(rename = "Code")]
    code: String,
    #[serde(alias = "message")]
    #[serde(rename = "Message")]
    message: String,
    #[serde(alias = "requestId")]
    #[serde(rename = "RequestId")]
    request_id: String,
}

/// Why a request failed, and whether another attempt may succeed.
pub struct Failure {
    pub error: Error,
    pub retryable: bool,
    /// FC's error code, when it answered with one.
    pub code: Option<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            retryable: false,
            code: None,
        }
    }
}

pub struct Settings {
    pub connect_timeout: Duration,
    /// Whole request, upload included.
    pub timeout: Duration,
    /// Extra CA certificates (PEM) and where they came from.
    pub ca: Option<(PathBuf, Vec<u8>)>,
    /// Talk to a loopback test server without any proxy.
    pub no_proxy: bool,
}

pub struct Client {
    http: reqwest::Client,
    endpoint: Endpoint,
    creds: Arc<Credentials>,
    region: String,
}

pub fn http_client(settings: &Settings) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("fclayer/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        // FC and OSS answer where they are asked; a redirect would move a signed request.
        .redirect(reqwest::redirect::Policy::none());
    if settings.no_proxy {
        builder = builder.no_proxy();
    }
    if let Some((path, pem)) = &settings.ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            Error::input(format!(
                "{} holds no usable PEM certificate: {e}",
                path.display()
            ))
            .with_hint(
                "give a PEM file of CA certificates, such as /etc/ssl/certs/ca-certificates.crt",
            )
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::build(format!("cannot set up HTTPS: {e}")))
}

/// A transport error (no HTTP answer) in words, with what to check.
fn transport(what: &str, host: &str, e: &reqwest::Error) -> Failure {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    let untrusted = chain.contains("certificate") || chain.contains("UnknownIssuer");
    let hint = if e.is_timeout() {
        "the request timed out: raise --request-timeout / --connect-timeout, or check the network"
    } else if untrusted {
        "the server's certificate is not trusted: behind a proxy that re-signs HTTPS, pass its CA with --ca-cert (or SSL_CERT_FILE)"
    } else {
        "check the network, HTTPS_PROXY/NO_PROXY, and the endpoint (--endpoint)"
    };
    Failure {
        error: Error::build(format!("{what}: no answer from {host}: {chain}")).with_hint(hint),
        // Connection refused or reset, timeouts: the next attempt may get through. An untrusted
        // certificate stays untrusted.
        retryable: !untrusted,
        code: None,
    }
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        endpoint: Endpoint,
        creds: Arc<Credentials>,
        region: &str,
    ) -> Client {
        Client {
            http,
            endpoint,
            creds,
            region: region.to_string(),
        }
    }

    fn versions_path(layer: &str) -> String {
        format!(
            "/{API_VERSION}/layers/{}/versions",
            sign::percent_encode(layer, false)
        )
    }

    /// One signed FC request; the body of a 2xx answer, else the failure.
    async fn call(
        &self,
        action: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
        layer: &str,
    ) -> Result<Vec<u8>, Failure> {
        let payload_sha = body
            .as_deref()
            .map_or_else(|| sign::EMPTY_SHA256.to_string(), sign::sha256_hex);
        let headers = self.acs3_headers(action, &payload_sha, body.is_some());
        let auth = sign::acs3_authorization(
            &Acs3Request {
                method: method.as_str(),
                path,
                query,
                headers: &headers,
                payload_sha256: &payload_sha,
            },
            &self.creds.access_key_id,
            &self.creds.access_key_secret,
        );
        let mut url = format!("{}{path}", self.endpoint.base_url());
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        sign::percent_encode(k, false),
                        sign::percent_encode(v, false)
                    )
                })
                .collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let mut req = self
            .http
            .request(method, &url)
            .header("accept", "application/json");
        for (k, v) in &headers {
            if k != "host" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        req = req.header("authorization", auth);
        if let Some(b) = body {
            req = req.body(b);
        }
        self.answer(req, &format!("{action} for layer `{layer}`"), layer)
            .await
    }

    /// The headers an ACS3 request signs, as the SDK sends them.
    fn acs3_headers(&self, action: &str, payload_sha: &str, json: bool) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.endpoint.authority.clone()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), API_VERSION.into()),
            ("x-acs-date".into(), Utc::now().iso8601()),
            ("x-acs-signature-nonce".into(), sign::nonce()),
            ("x-acs-content-sha256".into(), payload_sha.into()),
        ];
        if json {
            headers.push((
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ));
        }
        if let Some(token) = &self.creds.security_token {
            // As the SDK sends an STS request: the token and the key id, both signed.
            headers.push((
                "x-acs-accesskey-id".into(),
                self.creds.access_key_id.clone(),
            ));
            headers.push(("x-acs-security-token".into(), token.clone()));
        }
        headers
    }

    /// Send a signed request; the body of a 2xx answer, else FC's error as a failure.
    async fn answer(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
        layer: &str,
    ) -> Result<Vec<u8>, Failure> {
        let resp = req
            .send()
            .await
            .map_err(|e| transport(what, &self.endpoint.authority, &e))?;
        let status = resp.status();
        let header_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(what, &self.endpoint.authority, &e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(self.api_failure(what, status.as_u16(), &bytes, header_id, layer))
    }

    /// FC's error answer in one line, with the hint that fits its code.
    fn api_failure(
        &self,
        what: &str,
        status: u16,
        body: &[u8],
        header_id: Option<String>,
        layer: &str,
    ) -> Failure {
        let parsed: ApiError = serde_json::from_slice(body).unwrap_or_default();
        let code = if parsed.code.is_empty() {
            format!("HTTP {status}")
        } else {
            parsed.code.clone()
        };
        let message = if parsed.message.is_empty() {
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_string()
        } else {
            parsed.message.clone()
        };
        let request_id = Some(parsed.request_id.clone())
            .filter(|r| !r.is_empty())
            .or(header_id);
        let mut line = format!("{what}: FC answered {status} {code}");
        if !message.is_empty() {
            line.push_str(&format!(": {message}"));
        }
        if let Some(id) = &request_id {
            line.push_str(&format!(" (RequestId {id})"));
        }
        let throttled =
            status == 429 || code.starts_with("Throttling") || code == "TooManyRequests";
        let retryable = throttled || status >= 500;
        let source = &self.creds.source;
        let hint = match code.as_str() {
            c if c.starts_with("SignatureDoesNotMatch") || c.starts_with("IncompleteSignature") => format!(
                "FC computed another signature: check the AccessKey secret (from {source}) and this machine's clock (it must be within 15 minutes of FC's)"
            ),
            c if c.starts_with("InvalidAccessKeyId") => format!(
                "FC does not know the AccessKey ID from {source}: check it, and that it is enabled, in the RAM console"
            ),
            c if c.contains("SecurityToken") => format!(
                "the STS token from {source} is invalid or expired: get a new one"
            ),
            c if c.starts_with("AccessDenied") || c.starts_with("Forbidden") || status == 403 => format!(
                "grant the RAM user or role fc:ListLayerVersions and fc:CreateLayerVersion on acs:fc:{}:*:layers/{layer}/* (or attach AliyunFCFullAccess)",
                self.region
            ),
            _ if throttled => "FC is throttling requests: fclayer retried; try again in a while, or raise --retries".to_string(),
            _ if status >= 500 => "FC had an internal error: fclayer retried; try again later (--retries sets how often)".to_string(),
            _ => "see FC's message above".to_string(),
        };
        Failure {
            error: Error::build(line).with_hint(hint),
            retryable,
            code: Some(code),
        }
    }

    /// Every version of `layer` (all pages), or `None` when FC does not know the layer.
    pub async fn list_versions(&self, layer: &str) -> Result<Option<Vec<LayerVersion>>, Failure> {
        let path = Self::versions_path(layer);
        let mut all = Vec::new();
        let mut start: Option<u64> = None;
        // A bound that no real layer reaches, so a server repeating `nextVersion` cannot loop us.
        for _ in 0..10_000 {
            let mut query = vec![("limit".to_string(), "100".to_string())];
            if let Some(s) = start {
                query.push(("startVersion".to_string(), s.to_string()));
            }
            let body = match self
                .call(
                    "ListLayerVersions",
                    reqwest::Method::GET,
                    &path,
                    &query,
                    None,
                    layer,
                )
                .await
            {
                Ok(b) => b,
                Err(f) if f.code.as_deref().is_some_and(is_not_found) => return Ok(None),
                Err(f) => return Err(f),
            };
            let page: ListOutput = serde_json::from_slice(&body).map_err(|e| {
                Error::build(format!(
                    "ListLayerVersions for layer `{layer}`: unexpected answer: {e}"
                ))
            })?;
            all.extend(page.layers);
            match page.next_version {
                Some(n) if n > 0 && start.is_none_or(|s| n > s) => start = Some(n),
                _ => return Ok(Some(all)),
            }
        }
        Err(Error::build(format!(
            "ListLayerVersions for layer `{layer}`: more than 10000 pages"
        ))
        .into())
    }

    /// CreateLayerVersion with this JSON body; the version FC made.
    pub async fn create_version(
        &self,
        layer: &str,
        body: Vec<u8>,
    ) -> Result<LayerVersion, Failure> {
        let path = Self::versions_path(layer);
        let out = self
            .call(
                "CreateLayerVersion",
                reqwest::Method::POST,
                &path,
                &[],
                Some(body),
                layer,
            )
            .await?;
        serde_json::from_slice(&out).map_err(|e| {
            Error::build(format!(
                "CreateLayerVersion for layer `{layer}`: unexpected answer: {e}"
            ))
            .into()
        })
    }

    /// PUT the ZIP as `bucket/key` with an OSS V4 signature. The key is content-addressed, so a
    /// repeated upload writes the same bytes. OSS's CRC-64 of what it stored must be ours.
    pub async fn oss_put(
        &self,
        oss: &Endpoint,
        bucket: &str,
        key: &str,
        data: bytes::Bytes,
        crc64: u64,
    ) -> Result<(), Failure> {
        let now = Utc::now();
        let (url, host) = oss_url(oss, bucket, key);
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/zip".into()),
            ("x-oss-content-sha256".into(), "UNSIGNED-PAYLOAD".into()),
            ("x-oss-date".into(), now.compact()),
        ];
        if let Some(token) = &self.creds.security_token {
            headers.push(("x-oss-security-token".into(), token.clone()));
        }
        let auth = sign::oss4_authorization(
            &Oss4Request {
                method: "PUT",
                bucket,
                key,
                headers: &headers,
                region: &self.region,
                timestamp: &now.compact(),
            },
            &self.creds.access_key_id,
            &self.creds.access_key_secret,
        );
        let mut req = self
            .http
            .put(&url)
            .header("date", now.http_date())
            .header("authorization", auth);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let what = format!("uploading to oss://{bucket}/{key}");
        self.oss_answer(req.body(data), &what, &host, bucket, crc64)
            .await
    }

    /// Send an OSS PUT; OK when OSS stored exactly the bytes with our CRC-64.
    async fn oss_answer(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
        host: &str,
        bucket: &str,
        crc64: u64,
    ) -> Result<(), Failure> {
        let resp = req.send().await.map_err(|e| transport(what, host, &e))?;
        let status = resp.status();
        let stored_crc = resp
            .headers()
            .get("x-oss-hash-crc64ecma")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(|e| transport(what, host, &e))?;
        if status.is_success() {
            if let Some(c) = stored_crc
                && c != crc64.to_string()
            {
                return Err(Failure {
                    error: Error::build(format!(
                        "{what}: OSS stored CRC-64 {c}, the ZIP has {crc64}"
                    ))
                    .with_hint("the upload was damaged on the way: run again"),
                    retryable: true,
                    code: None,
                });
            }
            return Ok(());
        }
        Err(oss_failure(
            what,
            status.as_u16(),
            &body,
            bucket,
            &self.creds.source,
        ))
    }
}

/// The object's URL and the host it is sent to: path style for a loopback endpoint (the test
/// server), else OSS's virtual-hosted style (`bucket.endpoint`).
fn oss_url(oss: &Endpoint, bucket: &str, key: &str) -> (String, String) {
    if oss.path_style() {
        (
            format!(
                "{}/{bucket}/{}",
                oss.base_url(),
                sign::percent_encode(key, true)
            ),
            oss.authority.clone(),
        )
    } else {
        let host = format!("{bucket}.{}", oss.authority);
        (
            format!(
                "{}://{host}/{}",
                if oss.https { "https" } else { "http" },
                sign::percent_encode(key, true)
            ),
            host,
        )
    }
}

/// The codes FC gives for a layer that does not exist (ListLayerVersions on a new name).
fn is_not_found(code: &str) -> bool {
    code == "LayerNotFound" || code == "LayerVersionNotFound" || code == "HTTP 404"
}

/// OSS's XML error (`<Error><Code>…<Message>…<RequestId>…`) in one line, with a hint.
fn oss_failure(what: &str, status: u16, body: &[u8], bucket: &str, source: &str) -> Failure {
    let text = String::from_utf8_lossy(body);
    let field = |name: &str| -> String {
        roxmltree::Document::parse(&text)
            .ok()
            .and_then(|d| {
                d.descendants()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text().map(str::to_string))
            })
            .unwrap_or_default()
    };
    let code = Some(field("Code"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let mut line = format!("{what}: OSS answered {status} {code}");
    let message = field("Message");
    if !message.is_empty() {
        line.push_str(&format!(": {message}"));
    }
    let id = field("RequestId");
    if !id.is_empty() {
        line.push_str(&format!(" (RequestId {id})"));
    }
    let hint = match code.as_str() {
        "SignatureDoesNotMatch" => format!(
            "OSS computed another signature: check the AccessKey secret (from {source}) and this machine's clock"
        ),
        "InvalidAccessKeyId" => format!("OSS does not know the AccessKey ID from {source}"),
        "NoSuchBucket" => {
            format!("create bucket {bucket} in the layer's region, or pass another --oss-bucket")
        }
        "AccessDenied" => format!(
            "grant the RAM user or role oss:PutObject on acs:oss:*:*:{bucket}/* (FC also needs to read it)"
        ),
        _ => "see OSS's message above".to_string(),
    };
    Failure {
        error: Error::build(line).with_hint(hint),
        retryable: status == 429 || status >= 500,
        code: Some(code),
    }
}
