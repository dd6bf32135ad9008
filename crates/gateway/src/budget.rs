//! Budgets: which monthly budgets a request must fit (its persona's tier budget per seat
//! times headcount, and its key's own budget if set), the cost reserved before the
//! upstream call, and the reservation itself (atomic, in the store).
//!
//! The reservation is an upper bound of the request's cost: input tokens are bounded by
//! the bytes of the messages plus a few per message (a token never covers less than a
//! byte), output tokens by the `max_tokens` the gateway sends upstream. Settlement with
//! the real cost releases the rest, so concurrent requests can never together spend more
//! than the budget.

use chrono::{DateTime, Datelike, Utc};
use proximity_program::{Message, Persona, Tier, Tool};
use proximity_store::{BudgetLine, KeyRecord, Reservation, Store};

use crate::error::ApiError;

/// Output tokens asked for when neither the client nor the tool sets `max_tokens`, so
/// that every request has a bounded cost.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Tokens added per message for role markers and separators.
const PER_MESSAGE_TOKENS: u64 = 8;

/// The month a spend counts against: `YYYY-MM`, UTC.
pub fn month(now: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", now.year(), now.month())
}

/// The budgets a request of `persona` with `key` must fit.
pub fn lines(persona: &Persona, tier: &Tier, key: &KeyRecord) -> Vec<BudgetLine> {
    let mut out = Vec::with_capacity(2);
    if let Some(per_seat) = tier.budget_per_seat_month {
        out.push(BudgetLine {
            scope: format!("persona:{}", persona.id),
            limit_usd: per_seat * f64::from(persona.headcount),
        });
    }
    if let Some(limit) = key.budget_usd {
        out.push(BudgetLine {
            scope: format!("key:{}", key.id),
            limit_usd: limit,
        });
    }
    out
}

/// An upper bound of the input tokens of a conversation.
pub fn input_token_bound(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| m.content.len() as u64 + PER_MESSAGE_TOKENS)
        .sum::<u64>()
        + PER_MESSAGE_TOKENS
}

/// The most a request can cost on any of `tools` (the tool and its fallback).
pub fn cost_bound<'a>(
    tools: impl IntoIterator<Item = &'a Tool>,
    input_tokens: u64,
    max_tokens: u32,
) -> f64 {
    tools
        .into_iter()
        .map(|t| t.price.cost(input_tokens, u64::from(max_tokens)))
        .fold(0.0, f64::max)
}

/// Reserve `amount` in every budget of the request; 402 when one has no room left.
/// Free requests and requests without budgets reserve nothing (`None`).
pub async fn reserve(
    store: &Store,
    id: &str,
    lines: &[BudgetLine],
    amount: f64,
    now: DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    if lines.is_empty() || amount <= 0.0 {
        // Free requests still stop once a budget is spent.
        for line in lines {
            let (spent, reserved) = store
                .budget_state(&line.scope, &month(now))
                .await
                .map_err(internal)?;
            if spent >= line.limit_usd {
                return Err(ApiError::BudgetExhausted {
                    scope: line.scope.clone(),
                    limit_usd: line.limit_usd,
                    spent_usd: spent,
                    reserved_usd: reserved,
                });
            }
        }
        return Ok(None);
    }
    match store
        .reserve(id, &month(now), lines, amount, now)
        .await
        .map_err(internal)?
    {
        Reservation::Reserved { id, .. } => Ok(Some(id)),
        Reservation::Exhausted {
            scope,
            limit_usd,
            spent_usd,
            reserved_usd,
        } => Err(ApiError::BudgetExhausted {
            scope,
            limit_usd,
            spent_usd,
            reserved_usd,
        }),
    }
}

fn internal(e: proximity_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "budget store failed");
    ApiError::Internal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::Role;

    #[test]
    fn input_bound_is_at_least_a_token_per_byte() {
        let m = [Message {
            role: Role::User,
            content: "hello world".into(),
        }];
        assert_eq!(input_token_bound(&m), 11 + 8 + 8);
    }

    #[test]
    fn months_are_utc_year_and_month() {
        let t = DateTime::parse_from_rfc3339("2026-03-31T23:30:00-02:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(month(t), "2026-04");
    }
}
