//! Exact money: amounts are `rust_decimal::Decimal`, stored as canonical decimal strings.

use rust_decimal::Decimal;
use std::str::FromStr;

/// The string stored in the database for an amount (normalized: no trailing zeros).
pub fn to_db(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Reads an amount stored by [`to_db`]. A malformed value reads as zero and is reported by
/// the caller's validation; the database only ever holds values written by [`to_db`].
pub fn from_db(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or(Decimal::ZERO)
}

/// Rounds a money amount for display and storage of computed payouts (4 decimal places,
/// banker's rounding is not used: networks expect half-up).
pub fn round(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let d = Decimal::from_str("2.5000").unwrap_or_default();
        assert_eq!(to_db(d), "2.5");
        assert_eq!(from_db("0.1") + from_db("0.2"), from_db("0.3"));
        assert_eq!(round(Decimal::from_str("1.23455").unwrap_or_default()).to_string(), "1.2346");
    }
}
