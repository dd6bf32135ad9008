//! Posting a JSON summary to a webhook (`proximity drift --notify URL`): reqwest, a
//! 10-second timeout per attempt, up to [`ATTEMPTS`] attempts with exponential backoff on
//! connection errors, 429 and 5xx. The URL is only ever shown redacted ([`redact`]): no
//! user, password or query string (where webhook tokens usually live).

use std::time::Duration;

use anyhow::bail;
use reqwest::Url;

/// Attempts before giving up.
pub const ATTEMPTS: u32 = 4;
/// Wait before the second attempt; doubled each time.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The URL without credentials or query: `https://***@hooks.example/x?***`.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let had_user = !u.username().is_empty() || u.password().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_user {
                if let Some(i) = s.find("://") {
                    s.insert_str(i + 3, "***@");
                }
            }
            if had_query {
                s.push_str("?***");
            }
            s
        }
        Err(_) => "<an invalid URL>".to_owned(),
    }
}

/// Check a webhook URL before any work is done (bad input: exit 2).
pub fn validate(url: &str) -> anyhow::Result<Url> {
    match Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(u),
        Ok(_) => bail!(
            "`--notify` must be an http or https URL, not {}",
            redact(url)
        ),
        Err(e) => bail!("`--notify` is not a URL ({e})"),
    }
}

/// POST `body` as JSON to `url`, retrying transient failures.
pub async fn post(url: &Url, body: &serde_json::Value) -> anyhow::Result<()> {
    let shown = redact(url.as_str());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut wait = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match client.post(url.clone()).json(body).send().await {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(url = %shown, attempt, "drift summary posted");
                return Ok(());
            }
            Ok(resp) => {
                let status = resp.status();
                last = format!("HTTP {status}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    break;
                }
            }
            // reqwest's error text includes the URL: keep only its kind.
            Err(e) => {
                last = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "cannot connect".to_owned()
                } else {
                    "request failed".to_owned()
                };
            }
        }
        if attempt < ATTEMPTS {
            tracing::warn!(url = %shown, attempt, error = %last, "webhook failed; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    bail!("cannot post the drift summary to {shown}: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_query() {
        assert_eq!(
            redact("https://bot:s3cret@hooks.example.com/T0/B1?token=abc#x"),
            "https://***@hooks.example.com/T0/B1?***"
        );
        assert_eq!(redact("http://127.0.0.1:9/hook"), "http://127.0.0.1:9/hook");
        let shown = redact("https://user:pa55word@h.example/?key=v4lue");
        assert!(!shown.contains("pa55word") && !shown.contains("v4lue") && !shown.contains("user"));
        assert_eq!(redact("not a url"), "<an invalid URL>");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(validate("https://hooks.example.com/x").is_ok());
        assert!(validate("ftp://x/y").is_err());
        assert!(validate("nope").is_err());
    }
}
