//! An error and its causes as one line of text, for messages that reach a client or a
//! log: `: `-separated, each cause once, and a reqwest error without its URL (which may
//! carry a query key). Both the HTTP client ([`crate::transport`]) and the error
//! classification ([`crate::http`]) use it.

/// An error and its causes, `: `-separated, without the URL (which may carry a query key).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = match e.downcast_ref::<reqwest::Error>() {
            Some(re) if re.url().is_some() => {
                // Display the error without its URL.
                let mut owned = reqwest_without_url(re);
                if owned.is_empty() {
                    owned = "request failed".to_owned();
                }
                owned
            }
            _ => e.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// The kind of a reqwest error in words, without the URL its `Display` would include.
fn reqwest_without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "operation timed out"
    } else if e.is_connect() {
        "error connecting"
    } else if e.is_body() {
        "error reading the body"
    } else if e.is_decode() {
        "error decoding the body"
    } else if e.is_redirect() {
        "error following a redirect"
    } else if e.is_request() {
        "error sending the request"
    } else {
        "request failed"
    };
    kind.to_owned()
}
