//! A sum of floating-point values that does not depend on the order they are added in.
//!
//! A run folds each call into its totals as the call finishes, so the order of the additions
//! depends on timing; a plain `f64` sum would then differ in its last bits from one run of the
//! same calls to the next, and the results file would not be byte-for-byte reproducible. Each
//! value is instead turned into a fixed-point integer once (exactly, but for the part below
//! 2⁻⁸⁰), the integers are summed exactly, and the total is rounded to `f64` once at the end.

/// Fixed-point scale: 2⁸⁰. Values up to about 1.4 × 10¹⁴ in total (2⁴⁷) fit in an `i128`.
const SCALE: f64 = (1u128 << 80) as f64;

/// An order-independent sum of `f64` values (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum(i128);

impl ExactSum {
    /// Adds `value`; NaN adds nothing, and infinities saturate.
    pub fn add(&mut self, value: f64) {
        // Multiplying by a power of two is exact; `as` truncates toward zero and saturates.
        self.0 = self.0.saturating_add((value * SCALE) as i128);
    }

    pub fn add_sum(&mut self, other: ExactSum) {
        self.0 = self.0.saturating_add(other.0);
    }

    pub fn value(self) -> f64 {
        self.0 as f64 / SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::ExactSum;

    fn sum(values: &[f64]) -> f64 {
        let mut total = ExactSum::default();
        values.iter().for_each(|v| total.add(*v));
        total.value()
    }

    #[test]
    fn the_order_of_the_values_does_not_change_the_sum() {
        let values = [0.1, 0.2, 0.3, 1e-9, 0.7, 1.0 / 3.0, 0.05];
        let mut reversed = values;
        reversed.reverse();
        assert_eq!(sum(&values).to_bits(), sum(&reversed).to_bits());
        // A plain sum of the same values does depend on their order.
        let plain = |v: &[f64]| v.iter().sum::<f64>();
        assert_ne!(plain(&values).to_bits(), plain(&reversed).to_bits());
        assert!((sum(&values) - plain(&values)).abs() < 1e-12);
    }

    #[test]
    fn sums_of_sums_and_negative_values_add_up() {
        let mut a = ExactSum::default();
        a.add(0.25);
        a.add(-0.75);
        let mut b = ExactSum::default();
        b.add(2.5);
        b.add_sum(a);
        assert_eq!(b.value(), 2.0);
        assert_eq!(ExactSum::default().value(), 0.0);
    }
}
