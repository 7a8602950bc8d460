//! Learning-rate schedule: linear warmup to a constant (the paper trains at a
//! constant 1e-5, docs/paper.md §1), as a pure function of the step.

/// lr at `step` (0-based): `lr * (step + 1) / warmup` during warmup, then `lr`.
pub fn lr_at(step: u64, lr: f64, warmup: u64) -> f64 {
    if warmup == 0 || step >= warmup {
        lr
    } else {
        lr * (step + 1) as f64 / warmup as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_linearly_then_holds() {
        assert_eq!(lr_at(0, 1e-3, 0), 1e-3);
        assert!((lr_at(0, 1e-3, 10) - 1e-4).abs() < 1e-15);
        assert!((lr_at(4, 1e-3, 10) - 5e-4).abs() < 1e-15);
        assert_eq!(lr_at(9, 1e-3, 10), 1e-3);
        assert_eq!(lr_at(1_000, 1e-3, 10), 1e-3);
    }
}
