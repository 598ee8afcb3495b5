//! How the router writes numbers in its reasons and summaries: qualities, dollars, costs,
//! latencies, waits and ordinals. Integer arithmetic rather than the float formatter, which
//! dominated the decision's profile.

use std::fmt;

/// Writes `value` with `decimals` digits after the point (without trailing zeros when `trim`).
fn write_fixed(f: &mut fmt::Formatter<'_>, value: f64, decimals: u32, trim: bool) -> fmt::Result {
    if !value.is_finite() || value.abs() >= 1e12 {
        return write!(f, "{value}");
    }
    if value < 0.0 {
        f.write_str("-")?;
    }
    let scale = 10u64.pow(decimals.min(12));
    let scaled = (value.abs() * scale as f64).round() as u64;
    let (int, mut frac) = (scaled / scale, scaled % scale);
    write!(f, "{int}")?;
    let mut width = decimals.min(12) as usize;
    if trim {
        while width > 0 && frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
    }
    if width > 0 {
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

/// A quality or threshold with two decimals: `0.72`.
pub(super) struct Q(pub f64);

impl fmt::Display for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, 2, false)
    }
}

/// A quality with where it came from: `0.60 prior`, `0.82 measured (n=40)` (the category's
/// mean), `0.64 measured (n=60) at complexity 0.80` (the fit against complexity),
/// `0.71 blended (measured 0.82 over n=2, prior 0.60)`.
pub(super) struct QualityText(pub f64, pub super::QualitySource);

impl fmt::Display for QualityText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::QualitySource::{Blended, Measured, Prior};
        write!(f, "{}", Q(self.0))?;
        match self.1 {
            Prior => f.write_str(" prior"),
            Measured {
                n,
                complexity: None,
            } => write!(f, " measured (n={n})"),
            Measured {
                n,
                complexity: Some(c),
            } => write!(f, " measured (n={n}) at complexity {}", Q(c)),
            Blended { n, measured, prior } => write!(
                f,
                " blended (measured {} over n={n}, prior {})",
                Q(measured),
                Q(prior)
            ),
        }
    }
}

/// Dollars with about three significant digits: `$0`, `$0.00036`, `$0.021`, `$1.25`.
pub(super) struct Usd(pub f64);

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let usd = self.0;
        if usd == 0.0 {
            return f.write_str("$0");
        }
        f.write_str("$")?;
        if !usd.is_finite() || usd.abs() >= 1.0 {
            return write_fixed(f, usd, 2, false);
        }
        let decimals = ((-usd.abs().log10()).ceil() as u32 + 2).min(10);
        write_fixed(f, usd, decimals, true)
    }
}

/// An estimated cost, or `cost unknown` for a paid model without a price.
pub(super) struct Cost(pub Option<f64>);

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(usd) => Usd(usd).fmt(f),
            None => f.write_str("cost unknown"),
        }
    }
}

/// Milliseconds for people: `340 ms`, `12.5 s`.
pub(super) struct Ms(pub f64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 10_000.0 {
            write_fixed(f, self.0 / 1000.0, 1, false)?;
            f.write_str(" s")
        } else {
            write_fixed(f, self.0, 0, false)?;
            f.write_str(" ms")
        }
    }
}

/// A wait for people: `340 ms`, `12.5 s`, `42 min`, `23 h`.
pub(super) struct Wait(pub u64);

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms >= 2 * 3_600_000 {
            write!(f, "{} h", (ms + 1_800_000) / 3_600_000)
        } else if ms >= 2 * 60_000 {
            write!(f, "{} min", (ms + 30_000) / 60_000)
        } else {
            Ms(ms as f64).fmt(f)
        }
    }
}

/// A measured p50, or `unknown`.
pub(super) struct Latency(pub Option<f64>);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ms) => Ms(ms).fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st.
pub(super) struct Ordinal(pub usize);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{n}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_latency_and_places_for_people() {
        let cases = [
            (0.0, "$0"),
            (0.00036, "$0.00036"),
            (0.021, "$0.021"),
            (0.02, "$0.02"),
            (1.254, "$1.25"),
        ];
        for (usd, text) in cases {
            assert_eq!(Usd(usd).to_string(), text, "{usd}");
        }
        assert_eq!(Cost(None).to_string(), "cost unknown");
        assert_eq!(Q(0.7).to_string(), "0.70");
        assert_eq!(Q(0.346).to_string(), "0.35");
        assert_eq!(Ms(340.2).to_string(), "340 ms");
        assert_eq!(Ms(12_500.0).to_string(), "12.5 s");
        assert_eq!(Latency(None).to_string(), "unknown");
        assert_eq!(Wait(2_500).to_string(), "2500 ms");
        assert_eq!(Wait(42 * 60_000).to_string(), "42 min");
        assert_eq!(Wait(23 * 3_600_000 + 100).to_string(), "23 h");
        let places: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 102]
            .map(|n| Ordinal(n).to_string())
            .into();
        assert_eq!(
            places,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd"
            ]
        );
    }
}
