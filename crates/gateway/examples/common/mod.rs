//! What the benchmark servers among the examples share: binding and announcing the
//! address the harness scripts read.

use std::io::Write as _;

/// Listen on `addr` and print `listening on ADDR` (the bound address, so port 0 works),
/// flushed at once for the script waiting on it.
pub async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()?;
    Ok(listener)
}
