//! One HTTP GET of a data file, through ureq when the `fetch` feature builds it in; without
//! it every download is refused with [`DataError::NotBuiltIn`], so a program that never
//! downloads carries no HTTP client.

use super::fetch::Failure;
use super::fetch::{FileSpec, Progress};
use super::DataError;
use std::path::Path;

#[cfg(feature = "fetch")]
pub(super) use http::download_once;

/// Without the `fetch` feature: the download is refused (a fatal error, no mirror is tried).
#[cfg(not(feature = "fetch"))]
pub(super) fn download_once(
    _url: &str,
    _file: &FileSpec,
    _path: &Path,
    _progress: Progress,
) -> Result<Result<u64, Failure>, DataError> {
    Err(DataError::NotBuiltIn {
        what: "downloads of known data sets",
        feature: "fetch",
    })
}

#[cfg(feature = "fetch")]
mod http {
    use super::super::fetch::{accepts, hex};
    use super::*;
    use crate::fsio::atomic::AtomicFile;
    use sha2::{Digest, Sha256};
    use std::io::{self, Read, Write};
    use std::time::Duration;

    /// Give up on a host that does not accept a connection within this time.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
    /// Give up on a transfer that stalls (no bytes at all) for this long.
    const READ_TIMEOUT: Duration = Duration::from_secs(60);

    /// One GET. The outer error is local and fatal (cannot write the folder); the inner one says
    /// why this mirror failed, so the next can be tried.
    pub(in super::super) fn download_once(
        url: &str,
        file: &FileSpec,
        path: &Path,
        progress: Progress,
    ) -> Result<Result<u64, Failure>, DataError> {
        let mut config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .http_status_as_error(false)
            // The .gz bytes themselves are wanted: no transfer compression to undo.
            .accept_encoding("identity")
            .user_agent(concat!("gpu-mlp/", env!("CARGO_PKG_VERSION")));
        if is_loopback(url) {
            // A proxy from the environment cannot reach this machine's own loopback server.
            config = config.proxy(None);
        }
        let agent: ureq::Agent = config.build().into();
        let response = match agent.get(url).call() {
            Ok(r) => r,
            Err(e) => return Ok(Err(classify(e))),
        };
        let status = response.status();
        if status != 200 {
            return Ok(Err(Failure::Failed(format!("HTTP {status}"))));
        }
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = announced.filter(|&len| len > file.max_bytes) {
            return Ok(Err(Failure::Failed(format!(
                "the server offers {len} bytes, more than the {} expected at most",
                file.max_bytes
            ))));
        }
        let mut bar = progress.map(|start| start(&file.name, announced));
        let mut reader = response
            .into_body()
            .into_with_config()
            .limit(file.max_bytes)
            .reader();
        let mut out = AtomicFile::create(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(bar) = bar.as_mut() {
                        bar.abandon();
                    }
                    let why = match ureq_error(&e) {
                        Some(ureq::Error::BodyExceedsLimit(_)) => format!(
                            "the server sent more than the {} bytes expected at most",
                            file.max_bytes
                        ),
                        _ => format!("download interrupted after {bytes} bytes: {e}"),
                    };
                    return Ok(Err(Failure::Failed(why)));
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|source| DataError::Write {
                    path: out.tmp_path().to_path_buf(),
                    source,
                })?;
            bytes += n as u64;
            if let Some(bar) = bar.as_mut() {
                bar.advance(n as u64);
            }
        }
        if let Some(bar) = bar.as_mut() {
            bar.finish();
        }
        let digest = hex(&hasher.finalize());
        if !accepts(file, &digest) {
            // `out` is dropped here: the temporary file is removed, `path` is untouched.
            return Ok(Err(Failure::Mismatch(digest)));
        }
        out.commit()?;
        Ok(Ok(bytes))
    }

    fn is_loopback(url: &str) -> bool {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    fn ureq_error(e: &io::Error) -> Option<&ureq::Error> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
    }

    fn classify(e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed => Failure::Unreachable(e.to_string()),
            other => Failure::Failed(other.to_string()),
        }
    }
}
