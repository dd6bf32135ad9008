//! Dates as people type them: `YYYY-MM-DD`, RFC 3339, or `7d` / `12h` ago.

use chrono::{DateTime, NaiveDate, Utc};

use crate::OpsError;

const FORMS: &str = "`YYYY-MM-DD`, RFC 3339, `7d` or `12h`";

/// `YYYY-MM-DD` (midnight UTC), RFC 3339, or `7d` / `12h` before `now`.
pub fn parse_when(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, OpsError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc());
        }
    }
    let bad =
        || OpsError::invalid(format!("`{t}` is not a date")).with_hint(format!("use {FORMS}"));
    let (n, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ago = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    now.checked_sub_signed(ago).ok_or_else(bad)
}

/// Until when something lasts (a key's `--expires`): a `YYYY-MM-DD` day lasts through
/// that day, until the next midnight UTC, so "today" gives the rest of the day, not
/// something over already; an RFC 3339 time is taken as it is.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>, OpsError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
        .ok_or_else(|| {
            OpsError::invalid(format!("`{t}` is not a date"))
                .with_hint("use `YYYY-MM-DD` (through that day, UTC) or an RFC 3339 time")
        })
}

/// A day, `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<NaiveDate, OpsError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        OpsError::invalid(format!("`{text}` is not a date")).with_hint("use `YYYY-MM-DD`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_nonsense_is_refused() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_when("2026-12-01", now).unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_when("7d", now).unwrap().to_rfc3339(),
            "2026-11-30T12:00:00+00:00"
        );
        assert_eq!(
            parse_when("12h", now).unwrap().to_rfc3339(),
            "2026-12-07T00:00:00+00:00"
        );
        for bad in ["yesterday", "7w", "", "99999999999999d"] {
            let e = parse_when(bad, now).unwrap_err();
            assert!(e.is_input(), "{bad}");
            assert!(e.hint().is_some_and(|h| h.contains("YYYY-MM-DD")), "{bad}");
        }
        assert!(parse_day("2026-02-30").is_err());
        assert_eq!(
            parse_until("2026-12-07").unwrap().to_rfc3339(),
            "2026-12-08T00:00:00+00:00",
            "a day lasts through its end"
        );
        assert!(
            parse_until("7d").is_err(),
            "an expiry is a date, not a time ago"
        );
    }
}
