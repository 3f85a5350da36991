//! Evaluation metrics as plain functions on host data, and accumulators over batches.
//!
//! Input: predictions and targets as slices (class indices, or depths in metres with 0 meaning
//! "no valid target"). Output: counts and sums that [`MetricAccumulator`] turns into the numbers
//! written to `metrics.json`.

use std::collections::BTreeMap;

/// Number of positions where `pred[i] == target[i]`.
pub fn correct(pred: &[i64], target: &[i64]) -> usize {
    pred.iter().zip(target).filter(|(p, t)| p == t).count()
}

/// Share of positions where `pred[i] == target[i]` (0 for empty input).
pub fn accuracy(pred: &[i64], target: &[i64]) -> f64 {
    if target.is_empty() {
        0.0
    } else {
        correct(pred, target) as f64 / target.len() as f64
    }
}

/// Smallest depth a prediction is clamped to before ratios are taken (metres).
pub const MIN_DEPTH: f32 = 1e-3;

/// Sums over valid depth pixels (target > 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DepthSums {
    /// Valid pixels.
    pub count: u64,
    /// Pixels with `max(d/d*, d*/d) < 1.25`.
    pub within_1_25: u64,
    /// Pixels with `max(d/d*, d*/d) < 1.1`.
    pub within_1_1: u64,
    /// Sum of squared errors (m^2).
    pub squared_error: f64,
    /// Sum of absolute errors (m).
    pub absolute_error: f64,
}

impl DepthSums {
    /// Accumulate predictions `pred` against targets `target` (metres; target 0 = invalid, skipped;
    /// predictions are clamped to at least [`MIN_DEPTH`]).
    pub fn add(&mut self, pred: &[f32], target: &[f32]) {
        for (&p, &t) in pred.iter().zip(target) {
            if t <= 0.0 || !t.is_finite() {
                continue;
            }
            let p = if p.is_finite() {
                p.max(MIN_DEPTH)
            } else {
                MIN_DEPTH
            };
            let ratio = (p / t).max(t / p);
            self.count += 1;
            self.within_1_25 += (ratio < 1.25) as u64;
            self.within_1_1 += (ratio < 1.1) as u64;
            let e = (p - t) as f64;
            self.squared_error += e * e;
            self.absolute_error += e.abs();
        }
    }

    /// Share of valid pixels with ratio < 1.25 (the depth task's "accuracy").
    pub fn delta_1_25(&self) -> f64 {
        ratio(self.within_1_25, self.count)
    }

    /// Share of valid pixels with ratio < 1.1.
    pub fn delta_1_1(&self) -> f64 {
        ratio(self.within_1_1, self.count)
    }

    /// Root mean squared error (m).
    pub fn rmse(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.squared_error / self.count as f64).sqrt()
        }
    }

    /// Mean absolute error (m).
    pub fn mae(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.absolute_error / self.count as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Running metric over many batches of one task.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricAccumulator {
    /// Classification, pose, segmentation: (correct, total).
    Accuracy {
        /// Correct predictions (images or pixels).
        correct: u64,
        /// All predictions.
        total: u64,
    },
    /// Depth sums.
    Depth(DepthSums),
}

impl MetricAccumulator {
    /// The task's headline number: accuracy, pixel accuracy, or delta < 1.25.
    pub fn primary(&self) -> f64 {
        match self {
            MetricAccumulator::Accuracy { correct, total } => ratio(*correct, *total),
            MetricAccumulator::Depth(d) => d.delta_1_25(),
        }
    }

    /// Add class predictions.
    pub fn add_classes(&mut self, pred: &[i64], target: &[i64]) {
        if let MetricAccumulator::Accuracy { correct: c, total } = self {
            *c += correct(pred, target) as u64;
            *total += target.len() as u64;
        }
    }

    /// Add depth predictions (metres).
    pub fn add_depth(&mut self, pred: &[f32], target: &[f32]) {
        if let MetricAccumulator::Depth(d) = self {
            d.add(pred, target);
        }
    }

    /// All numbers, named as in `metrics.json`.
    pub fn to_map(&self, primary_name: &str) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert(primary_name.to_string(), self.primary());
        match self {
            MetricAccumulator::Accuracy { total, .. } => {
                m.insert("count".into(), *total as f64);
            }
            MetricAccumulator::Depth(d) => {
                m.insert("delta_1_25".into(), d.delta_1_25());
                m.insert("delta_1_1".into(), d.delta_1_1());
                m.insert("rmse".into(), d.rmse());
                m.insert("mae".into(), d.mae());
                m.insert("count".into(), d.count as f64);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_by_hand() {
        assert_eq!(correct(&[1, 2, 3, 4], &[1, 0, 3, 0]), 2);
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 0, 3, 0]), 0.5);
        assert_eq!(accuracy(&[], &[]), 0.0);
        assert!((accuracy(&[0, 0, 0], &[0, 1, 0]) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn depth_metrics_by_hand() {
        // target 2.0 everywhere except an invalid pixel.
        // preds: 2.0 (ratio 1), 2.1 (1.05), 2.4 (1.2), 1.0 (2.0), invalid, 3.0 (1.5)
        let pred = [2.0, 2.1, 2.4, 1.0, 5.0, 3.0];
        let target = [2.0, 2.0, 2.0, 2.0, 0.0, 2.0];
        let mut d = DepthSums::default();
        d.add(&pred, &target);
        assert_eq!(d.count, 5);
        assert_eq!(d.within_1_1, 2);
        assert_eq!(d.within_1_25, 3);
        assert!((d.delta_1_25() - 0.6).abs() < 1e-12);
        assert!((d.delta_1_1() - 0.4).abs() < 1e-12);
        // squared errors: 0, 0.01, 0.16, 1, 1 -> 2.17 / 5
        assert!((d.rmse() - (2.17f64 / 5.0).sqrt()).abs() < 1e-5);
        // absolute errors: 0, 0.1, 0.4, 1, 1 -> 2.5 / 5
        assert!((d.mae() - 0.5).abs() < 1e-5);
    }

    #[test]
    fn depth_ratio_is_symmetric_and_clamped() {
        let mut d = DepthSums::default();
        d.add(&[1.0, 4.0, -1.0], &[1.2, 4.8, 1.0]);
        // 1.2 and 1.2 ratios -> both < 1.25, not < 1.1; negative prediction clamped -> ratio 1000
        assert_eq!(d.within_1_25, 2);
        assert_eq!(d.within_1_1, 0);
        assert_eq!(d.count, 3);
    }

    #[test]
    fn accumulator_over_batches() {
        let mut a = MetricAccumulator::Accuracy {
            correct: 0,
            total: 0,
        };
        a.add_classes(&[1, 1], &[1, 0]);
        a.add_classes(&[2, 2, 2], &[2, 2, 2]);
        assert!((a.primary() - 0.8).abs() < 1e-12);
        let m = a.to_map("accuracy");
        assert_eq!(m["accuracy"], a.primary());
        assert_eq!(m["count"], 5.0);
    }
}
