//! Utility of pretraining: U(n) = n_hat / n - 1, where n_hat is the label count at which the
//! from-scratch curve reaches the finetuned accuracy at n (the paper's definition).
//!
//! Input: the scratch baseline as (labels, accuracy) points and a finetuned accuracy. Output: a
//! [`Utility`]: the value and whether it is exact or only a bound.
//!
//! Two interpolations of the baseline:
//! - [`UtilityMode::Log`] (default): the running maximum of the baseline (more labels never make
//!   the baseline worse), piecewise linear in log n; n_hat is where it first reaches the
//!   accuracy.
//! - [`UtilityMode::Paper`] (the original analysis): the raw baseline, linear in raw n between
//!   the two scratch budgets that bracket the accuracy (the first budget whose accuracy reaches
//!   it and the one before).
//!
//! Where the finetuned accuracy exceeds the best baseline accuracy, n_hat is beyond the largest
//! budget that reached it: U is at least `n_best / n - 1` ([`Bound::Lower`], greyed out in
//! plots). Where it is below the accuracy at the smallest budget, n_hat is below that budget and
//! U is at most `n_min / n - 1` ([`Bound::Upper`]).
//!
//! With several seeds, [`utility_with_interval`] takes the utility of the seed-mean curves as the
//! estimate and a 95% percentile interval from a seeded bootstrap over seeds.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use super::plan::UtilityMode;

/// Bad input to the utility functions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UtilityError {
    /// No baseline points.
    #[error("the scratch baseline has no points")]
    EmptyBaseline,
    /// Label counts not strictly increasing or not positive.
    #[error("baseline label counts must be positive and strictly increasing, got {0:?}")]
    BadLabels(Vec<usize>),
    /// An accuracy or label count is not finite.
    #[error("accuracy {0} is not a finite number")]
    NotFinite(f64),
}

/// Whether a utility value is exact or a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Computed by interpolation.
    Exact,
    /// The finetuned accuracy exceeds every baseline accuracy: U is at least the value.
    Lower,
    /// The finetuned accuracy is below the baseline at its smallest budget: U is at most the value.
    Upper,
}

/// U(n) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Utility {
    /// n_hat / n - 1 (or the bound).
    pub value: f64,
    /// n_hat (or the budget bounding it).
    pub n_hat: f64,
    /// Exact or bound.
    pub bound: Bound,
}

impl Utility {
    /// Whether the value is exact.
    pub fn is_exact(&self) -> bool {
        self.bound == Bound::Exact
    }
}

/// A scratch baseline: accuracy at increasing label counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    labels: Vec<usize>,
    acc: Vec<f64>,
}

impl Baseline {
    /// Points must have positive, strictly increasing label counts and finite accuracies.
    ///
    /// # Errors
    /// [`UtilityError`] for empty, unsorted or non-finite input.
    pub fn new(points: &[(usize, f64)]) -> Result<Baseline, UtilityError> {
        if points.is_empty() {
            return Err(UtilityError::EmptyBaseline);
        }
        let labels: Vec<usize> = points.iter().map(|p| p.0).collect();
        if labels[0] == 0 || labels.windows(2).any(|w| w[1] <= w[0]) {
            return Err(UtilityError::BadLabels(labels));
        }
        if let Some(&(_, a)) = points.iter().find(|p| !p.1.is_finite()) {
            return Err(UtilityError::NotFinite(a));
        }
        Ok(Baseline {
            labels,
            acc: points.iter().map(|p| p.1).collect(),
        })
    }

    /// Label counts.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Accuracies.
    pub fn accuracies(&self) -> &[f64] {
        &self.acc
    }

    /// Running maximum of the accuracies.
    pub fn running_max(&self) -> Vec<f64> {
        let mut best = f64::NEG_INFINITY;
        self.acc
            .iter()
            .map(|&a| {
                best = best.max(a);
                best
            })
            .collect()
    }

    /// Best accuracy and the smallest budget that reaches it.
    pub fn best(&self) -> (usize, f64) {
        let mut best = (self.labels[0], self.acc[0]);
        for (&n, &a) in self.labels.iter().zip(&self.acc) {
            if a > best.1 {
                best = (n, a);
            }
        }
        best
    }

    /// Labels the baseline needs to reach `accuracy` (`None` above its best accuracy; the
    /// smallest budget when already reached there).
    pub fn labels_for(&self, accuracy: f64, mode: UtilityMode) -> Option<f64> {
        let curve = match mode {
            UtilityMode::Log => self.running_max(),
            UtilityMode::Paper => self.acc.clone(),
        };
        let j = curve.iter().position(|&a| a >= accuracy)?;
        if j == 0 {
            return Some(self.labels[0] as f64);
        }
        let (a0, a1) = (curve[j - 1], curve[j]);
        let (n0, n1) = (self.labels[j - 1] as f64, self.labels[j] as f64);
        // a0 < accuracy <= a1, so a1 > a0.
        let t = (accuracy - a0) / (a1 - a0);
        Some(match mode {
            UtilityMode::Log => (n0.ln() + t * (n1.ln() - n0.ln())).exp(),
            UtilityMode::Paper => n0 + t * (n1 - n0),
        })
    }
}

/// U(n) of a finetuned accuracy `accuracy` at `n` labels against `baseline`.
///
/// # Errors
/// [`UtilityError::NotFinite`] for a non-finite accuracy.
pub fn utility(
    baseline: &Baseline,
    n: usize,
    accuracy: f64,
    mode: UtilityMode,
) -> Result<Utility, UtilityError> {
    if !accuracy.is_finite() {
        return Err(UtilityError::NotFinite(accuracy));
    }
    let n = n.max(1) as f64;
    let make = |n_hat: f64, bound| Utility {
        value: n_hat / n - 1.0,
        n_hat,
        bound,
    };
    let n_min = baseline.labels[0] as f64;
    if accuracy < baseline.acc[0] {
        return Ok(make(n_min, Bound::Upper));
    }
    match baseline.labels_for(accuracy, mode) {
        Some(n_hat) => Ok(make(n_hat, Bound::Exact)),
        None => Ok(make(baseline.best().0 as f64, Bound::Lower)),
    }
}

/// Utility of the seed-mean curves with a bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilityEstimate {
    /// U(n) of the mean finetuned accuracy against the mean baseline.
    pub estimate: Utility,
    /// 2.5% percentile of the bootstrap replicates (replicates that are lower bounds count as
    /// +infinity; when the percentile falls on one, the smallest such bound is given).
    pub ci_low: f64,
    /// 97.5% percentile; `None` when it falls on a replicate that is only a lower bound.
    pub ci_high: Option<f64>,
    /// Share of bootstrap replicates with an exact value.
    pub exact_share: f64,
    /// Seeds of the baseline and of the finetuned runs.
    pub seeds: [usize; 2],
}

/// Bootstrap replicates.
pub const BOOTSTRAP_REPLICATES: usize = 2000;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// U(n) with a 95% interval over seeds.
///
/// `baseline[s]` is seed s's scratch curve, `(labels, accuracy)` with the same label counts for
/// every seed; `finetuned` holds the finetuned accuracy at `n` of each seed. Seeds of both are
/// resampled independently (with replacement) `BOOTSTRAP_REPLICATES` times with a ChaCha8 RNG
/// seeded by `seed`; each replicate's utility is that of its mean curves.
///
/// # Errors
/// [`UtilityError`] for empty or inconsistent curves.
pub fn utility_with_interval(
    baseline: &[Vec<(usize, f64)>],
    n: usize,
    finetuned: &[f64],
    mode: UtilityMode,
    seed: u64,
) -> Result<UtilityEstimate, UtilityError> {
    let first = baseline.first().ok_or(UtilityError::EmptyBaseline)?;
    if finetuned.is_empty() {
        return Err(UtilityError::EmptyBaseline);
    }
    let labels: Vec<usize> = first.iter().map(|p| p.0).collect();
    for curve in baseline {
        let l: Vec<usize> = curve.iter().map(|p| p.0).collect();
        if l != labels {
            return Err(UtilityError::BadLabels(l));
        }
    }
    let mean_curve = |pick: &[usize]| -> Result<Baseline, UtilityError> {
        let pts: Vec<(usize, f64)> = labels
            .iter()
            .enumerate()
            .map(|(k, &l)| {
                let acc: Vec<f64> = pick.iter().map(|&s| baseline[s][k].1).collect();
                (l, mean(&acc))
            })
            .collect();
        Baseline::new(&pts)
    };
    let all_b: Vec<usize> = (0..baseline.len()).collect();
    let all_f: Vec<usize> = (0..finetuned.len()).collect();
    let estimate = utility(&mean_curve(&all_b)?, n, mean(finetuned), mode)?;

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reps: Vec<Utility> = Vec::with_capacity(BOOTSTRAP_REPLICATES);
    for _ in 0..BOOTSTRAP_REPLICATES {
        let pb: Vec<usize> = (0..all_b.len())
            .map(|_| all_b[rng.random_range(0..all_b.len())])
            .collect();
        let pf: Vec<f64> = (0..all_f.len())
            .map(|_| *finetuned.choose(&mut rng).unwrap_or(&finetuned[0]))
            .collect();
        reps.push(utility(&mean_curve(&pb)?, n, mean(&pf), mode)?);
    }
    let key = |u: &Utility| {
        if u.bound == Bound::Lower {
            f64::INFINITY
        } else {
            u.value
        }
    };
    reps.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let at = |q: f64| {
        let i = ((q * (reps.len() - 1) as f64).round() as usize).min(reps.len() - 1);
        &reps[i]
    };
    let lo = at(0.025);
    let ci_low = if lo.bound == Bound::Lower {
        reps.iter()
            .filter(|u| u.bound == Bound::Lower)
            .map(|u| u.value)
            .fold(f64::INFINITY, f64::min)
    } else {
        lo.value
    };
    let hi = at(0.975);
    let ci_high = (hi.bound != Bound::Lower).then_some(hi.value);
    let exact_share = reps.iter().filter(|u| u.is_exact()).count() as f64 / reps.len() as f64;
    Ok(UtilityEstimate {
        estimate,
        ci_low,
        ci_high,
        exact_share,
        seeds: [baseline.len(), finetuned.len()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(points: &[(usize, f64)]) -> Baseline {
        Baseline::new(points).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    const CURVE: [(usize, f64); 4] = [(100, 0.5), (1000, 0.7), (10_000, 0.8), (100_000, 0.9)];

    #[test]
    fn the_papers_worked_example() {
        // Reaches at 100 what scratch reaches at 500: U(100) = 500/100 - 1 = 4 (linear in n).
        let base = b(&[(100, 0.4), (1000, 0.6)]);
        let u = utility(&base, 100, 0.4 + 0.2 * 400.0 / 900.0, UtilityMode::Paper).unwrap();
        assert!(close(u.n_hat, 500.0) && close(u.value, 4.0), "{u:?}");
        assert_eq!(u.bound, Bound::Exact);
    }

    #[test]
    fn log_mode_interpolates_in_log_n() {
        let base = b(&CURVE);
        // Half way from 0.5 to 0.7 in accuracy is half way from 100 to 1000 in log n: 316.2.
        let u = utility(&base, 100, 0.6, UtilityMode::Log).unwrap();
        assert!(close(u.n_hat, 1000f64.sqrt() * 10.0), "{u:?}");
        assert!(close(u.value, 10f64.sqrt() - 1.0), "{u:?}");
        // Same point in paper mode: 550.
        let p = utility(&base, 100, 0.6, UtilityMode::Paper).unwrap();
        assert!(close(p.n_hat, 550.0) && close(p.value, 4.5), "{p:?}");
    }

    #[test]
    fn exactly_on_a_budget_and_equal_to_scratch() {
        let base = b(&CURVE);
        for mode in [UtilityMode::Log, UtilityMode::Paper] {
            let u = utility(&base, 1000, 0.7, mode).unwrap();
            assert!(close(u.value, 0.0) && u.is_exact(), "{u:?}");
            let u = utility(&base, 100, 0.8, mode).unwrap();
            assert!(close(u.value, 99.0) && u.is_exact(), "{u:?}");
            // Finetuned worse than scratch: negative utility.
            let u = utility(&base, 10_000, 0.7, mode).unwrap();
            assert!(close(u.value, -0.9) && u.is_exact(), "{u:?}");
        }
    }

    #[test]
    fn ties_take_the_first_budget_that_reaches_the_accuracy() {
        let base = b(&[(100, 0.5), (1000, 0.7), (10_000, 0.7), (100_000, 0.9)]);
        for mode in [UtilityMode::Log, UtilityMode::Paper] {
            let u = utility(&base, 100, 0.7, mode).unwrap();
            assert!(close(u.n_hat, 1000.0), "{mode:?} {u:?}");
        }
        // Between the tie and the next budget: from the plateau's last point.
        let u = utility(&base, 1000, 0.8, UtilityMode::Paper).unwrap();
        assert!(close(u.n_hat, 55_000.0), "{u:?}");
        let u = utility(&base, 1000, 0.8, UtilityMode::Log).unwrap();
        assert!(close(u.n_hat, 10_000f64 * 10f64.sqrt()), "{u:?}");
        // A flat baseline at the top: its first budget.
        let flat = b(&[(100, 0.9), (1000, 0.9)]);
        let u = utility(&flat, 1000, 0.9, UtilityMode::Log).unwrap();
        assert!(close(u.value, -0.9) && u.is_exact(), "{u:?}");
    }

    #[test]
    fn non_monotone_baselines_differ_between_modes() {
        // The dip at 10,000 is ignored by the running max (log) but used by paper mode.
        let base = b(&[(100, 0.5), (1000, 0.7), (10_000, 0.6), (100_000, 0.9)]);
        assert_eq!(base.running_max(), [0.5, 0.7, 0.7, 0.9]);
        let p = utility(&base, 1000, 0.8, UtilityMode::Paper).unwrap();
        // Bracket (10,000, 0.6) .. (100,000, 0.9): 10,000 + 2/3 * 90,000 = 70,000.
        assert!(close(p.n_hat, 70_000.0), "{p:?}");
        let l = utility(&base, 1000, 0.8, UtilityMode::Log).unwrap();
        // Bracket (10,000, 0.7) .. (100,000, 0.9) in log n: 10^4.5.
        assert!(close(l.n_hat, 10f64.powf(4.5)), "{l:?}");
        // An accuracy inside the dip: first reached at 1,000 in both modes.
        let u = utility(&base, 100, 0.65, UtilityMode::Paper).unwrap();
        assert!(close(u.n_hat, 775.0), "{u:?}");
        // The best is not at the largest budget: the lower bound uses where it is reached.
        let peak = b(&[(100, 0.5), (1000, 0.9), (10_000, 0.8)]);
        let u = utility(&peak, 100, 0.95, UtilityMode::Log).unwrap();
        assert_eq!(u.bound, Bound::Lower);
        assert!(close(u.value, 9.0), "{u:?}");
    }

    #[test]
    fn accuracies_outside_the_baselines_range_give_bounds() {
        let base = b(&CURVE);
        for mode in [UtilityMode::Log, UtilityMode::Paper] {
            // Above the best: at least 100,000 / 50,000 - 1 = 1 (the paper's example).
            let u = utility(&base, 50_000, 0.95, mode).unwrap();
            assert_eq!(u.bound, Bound::Lower);
            assert!(close(u.value, 1.0), "{u:?}");
            // Below the smallest budget's accuracy: at most 100/1000 - 1.
            let u = utility(&base, 1000, 0.3, mode).unwrap();
            assert_eq!(u.bound, Bound::Upper);
            assert!(close(u.value, -0.9), "{u:?}");
        }
    }

    #[test]
    fn a_single_budget() {
        let base = b(&[(1000, 0.8)]);
        let u = utility(&base, 1000, 0.8, UtilityMode::Log).unwrap();
        assert!(u.is_exact() && close(u.value, 0.0), "{u:?}");
        let u = utility(&base, 1000, 0.85, UtilityMode::Log).unwrap();
        assert_eq!((u.bound, u.value), (Bound::Lower, 0.0));
        let u = utility(&base, 1000, 0.75, UtilityMode::Paper).unwrap();
        assert_eq!((u.bound, u.value), (Bound::Upper, 0.0));
    }

    #[test]
    fn bad_baselines_are_rejected() {
        assert_eq!(Baseline::new(&[]), Err(UtilityError::EmptyBaseline));
        assert!(matches!(
            Baseline::new(&[(100, 0.5), (100, 0.6)]),
            Err(UtilityError::BadLabels(_))
        ));
        assert!(matches!(
            Baseline::new(&[(1000, 0.5), (100, 0.6)]),
            Err(UtilityError::BadLabels(_))
        ));
        assert!(matches!(
            Baseline::new(&[(100, f64::NAN)]),
            Err(UtilityError::NotFinite(_))
        ));
        let base = b(&CURVE);
        assert!(utility(&base, 100, f64::NAN, UtilityMode::Log).is_err());
    }

    #[test]
    fn one_seed_gives_a_point_interval() {
        let e =
            utility_with_interval(&[CURVE.to_vec()], 100, &[0.6], UtilityMode::Paper, 1).unwrap();
        assert!(close(e.estimate.value, 4.5));
        assert!(
            close(e.ci_low, 4.5) && close(e.ci_high.unwrap(), 4.5),
            "{e:?}"
        );
        assert_eq!(e.exact_share, 1.0);
    }

    #[test]
    fn seeds_give_a_mean_estimate_and_a_seeded_interval() {
        let s0 = vec![(100, 0.5), (1000, 0.7)];
        let s1 = vec![(100, 0.5), (1000, 0.9)];
        // Mean curve (100, 0.5) .. (1000, 0.8); mean finetuned 0.65 -> half way: 550.
        let e = utility_with_interval(
            &[s0.clone(), s1.clone()],
            100,
            &[0.6, 0.7],
            UtilityMode::Paper,
            7,
        )
        .unwrap();
        assert!(close(e.estimate.n_hat, 550.0), "{e:?}");
        assert!(e.ci_low < e.estimate.value, "{e:?}");
        // 0.7 against the 0.7-curve is 1000 labels (U = 9) -- the widest replicate that exists.
        let hi = e.ci_high.unwrap();
        assert!(hi > e.estimate.value && hi <= 9.0 + 1e-9, "{e:?}");
        // Lowest replicate: 0.6 against the 0.9-curve: 100 + 900/4 = 325 -> 2.25.
        assert!(e.ci_low >= 2.25 - 1e-9, "{e:?}");
        let again =
            utility_with_interval(&[s0, s1], 100, &[0.6, 0.7], UtilityMode::Paper, 7).unwrap();
        assert_eq!(e, again);
    }

    #[test]
    fn intervals_with_replicates_above_the_baseline_are_open_above() {
        let s0 = vec![(100, 0.5), (1000, 0.7)];
        let s1 = vec![(100, 0.5), (1000, 0.9)];
        // 0.85 is above the 0.7-curve: those replicates are only lower bounds.
        let e = utility_with_interval(&[s0, s1], 100, &[0.85], UtilityMode::Log, 3).unwrap();
        assert_eq!(e.ci_high, None, "{e:?}");
        assert!(e.exact_share > 0.0 && e.exact_share < 1.0, "{e:?}");
        assert!(
            utility_with_interval(
                &[vec![(100, 0.5)], vec![(200, 0.5)]],
                100,
                &[0.5],
                UtilityMode::Log,
                0
            )
            .is_err()
        );
    }
}
