//! Host-side solvers of linear evaluation: feature standardisation, multinomial logistic
//! regression and least squares, both with an L2 penalty and minimised by full-batch L-BFGS.
//!
//! Input: a row-major `f32` design matrix (one row per image, or per pixel for dense tasks) and
//! class indices or real-valued targets. Output: a [`LinearModel`] (weights and biases in `f64`)
//! and a [`FitReport`].
//!
//! Objective (N rows, weights W, biases b, the biases are not penalised):
//! - softmax: `1/N sum_i CE(softmax(W x_i + b), y_i) + l2/2 |W|^2`;
//! - squared: `1/N sum_i (w.x_i + b - y_i)^2 / 2 + l2/2 |w|^2`.
//!
//! Determinism: the objective sums fixed chunks of rows in parallel and adds the partial sums in
//! chunk order, so the result does not depend on the number of threads; L-BFGS itself is
//! sequential. The same inputs give bit-identical weights on every run.

use rayon::prelude::*;

/// Rows per parallel work item (fixed, so partial sums are added in the same order whatever the
/// thread count).
const CHUNK_ROWS: usize = 256;

/// Per-dimension affine map `x -> (x - mean) * scale` fitted on training features
/// (`scale = 1/std`, or 1 for a constant dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of every dimension.
    pub mean: Vec<f32>,
    /// Inverse standard deviation of every dimension (1 where the dimension is constant).
    pub scale: Vec<f32>,
}

impl Standardizer {
    /// Fit on `rows x dim` features.
    pub fn fit(x: &[f32], dim: usize) -> Self {
        let rows = x.len().checked_div(dim).unwrap_or(0);
        let mut sum = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        for row in x.chunks_exact(dim.max(1)) {
            for ((s, q), &v) in sum.iter_mut().zip(&mut sq).zip(row) {
                *s += v as f64;
                *q += (v as f64) * (v as f64);
            }
        }
        let n = rows.max(1) as f64;
        let mut mean = Vec::with_capacity(dim);
        let mut scale = Vec::with_capacity(dim);
        for (s, q) in sum.into_iter().zip(sq) {
            let m = s / n;
            let var = (q / n - m * m).max(0.0);
            mean.push(m as f32);
            scale.push(if var > 1e-12 {
                (1.0 / var.sqrt()) as f32
            } else {
                1.0
            });
        }
        Self { mean, scale }
    }

    /// Standardise `rows x dim` features in place.
    pub fn apply(&self, x: &mut [f32]) {
        let dim = self.mean.len().max(1);
        for row in x.chunks_exact_mut(dim) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) * s;
            }
        }
    }
}

/// What the linear model is fitted to.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Class index per row, in `0..classes` (multinomial logistic regression).
    Classes {
        /// Labels.
        labels: &'a [i64],
        /// Number of classes.
        classes: usize,
    },
    /// One real value per row (least squares).
    Values(&'a [f32]),
}

impl Targets<'_> {
    fn rows(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(v) => v.len(),
        }
    }

    fn outputs(&self) -> usize {
        match self {
            Targets::Classes { classes, .. } => *classes,
            Targets::Values(_) => 1,
        }
    }
}

/// A fitted linear map `x -> W x + b` (`outputs` rows of `dim` weights).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Input dimension.
    pub dim: usize,
    /// Outputs (classes, or 1 for regression).
    pub outputs: usize,
    /// `outputs x (dim + 1)` row-major; the last entry of each row is its bias.
    pub params: Vec<f64>,
}

impl LinearModel {
    /// Zero weights.
    pub fn zeros(dim: usize, outputs: usize) -> Self {
        Self {
            dim,
            outputs,
            params: vec![0.0; outputs * (dim + 1)],
        }
    }

    /// Outputs for one row.
    pub fn row(&self, x: &[f32], out: &mut [f64]) {
        scores(&self.params, self.dim, x, out);
    }

    /// Arg-max class per row of `rows x dim` features.
    pub fn predict_classes(&self, x: &[f32]) -> Vec<i64> {
        let mut z = vec![0f64; self.outputs];
        x.chunks_exact(self.dim.max(1))
            .map(|row| {
                self.row(row, &mut z);
                argmax(&z) as i64
            })
            .collect()
    }

    /// The single output per row (regression).
    pub fn predict_values(&self, x: &[f32]) -> Vec<f32> {
        let mut z = vec![0f64; self.outputs];
        x.chunks_exact(self.dim.max(1))
            .map(|row| {
                self.row(row, &mut z);
                z[0] as f32
            })
            .collect()
    }
}

fn scores(params: &[f64], dim: usize, x: &[f32], out: &mut [f64]) {
    for (k, z) in out.iter_mut().enumerate() {
        let w = &params[k * (dim + 1)..(k + 1) * (dim + 1)];
        let mut acc = w[dim];
        for (wj, &xj) in w[..dim].iter().zip(x) {
            acc += wj * xj as f64;
        }
        *z = acc;
    }
}

fn argmax(z: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = k;
        }
    }
    best
}

/// L-BFGS settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Most iterations.
    pub max_iters: usize,
    /// Correction pairs kept.
    pub history: usize,
    /// Stop when the largest gradient entry falls below this.
    pub gradient_tolerance: f64,
    /// Stop when an iteration lowers the objective by less than this relative amount.
    pub relative_decrease: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        Self {
            max_iters: 500,
            history: 10,
            gradient_tolerance: 1e-5,
            relative_decrease: 1e-10,
        }
    }
}

/// How a fit ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitReport {
    /// L-BFGS iterations done.
    pub iterations: usize,
    /// Final objective (mean loss + penalty).
    pub objective: f64,
    /// Largest absolute gradient entry at the end.
    pub gradient_norm: f64,
    /// Whether a stopping tolerance (not the iteration limit) ended the fit.
    pub converged: bool,
}

/// Mean loss + penalty and its gradient at `params`.
fn objective(
    params: &[f64],
    x: &[f32],
    dim: usize,
    targets: &Targets<'_>,
    l2: f64,
) -> (f64, Vec<f64>) {
    let outputs = targets.outputs();
    let p = outputs * (dim + 1);
    let rows = targets.rows();
    let partial: Vec<(f64, Vec<f64>)> = x
        .par_chunks(CHUNK_ROWS * dim)
        .enumerate()
        .map(|(c, block)| {
            let mut loss = 0f64;
            let mut grad = vec![0f64; p];
            let mut z = vec![0f64; outputs];
            for (r, row) in block.chunks_exact(dim).enumerate() {
                let i = c * CHUNK_ROWS + r;
                scores(params, dim, row, &mut z);
                match targets {
                    Targets::Classes { labels, .. } => {
                        let y = labels[i] as usize;
                        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                        let lse = max + sum.ln();
                        loss += lse - z[y];
                        for (k, zk) in z.iter_mut().enumerate() {
                            *zk = (*zk - lse).exp() - if k == y { 1.0 } else { 0.0 };
                        }
                    }
                    Targets::Values(values) => {
                        let r = z[0] - values[i] as f64;
                        loss += 0.5 * r * r;
                        z[0] = r;
                    }
                }
                for (k, &rk) in z.iter().enumerate() {
                    let g = &mut grad[k * (dim + 1)..(k + 1) * (dim + 1)];
                    for (gj, &xj) in g[..dim].iter_mut().zip(row) {
                        *gj += rk * xj as f64;
                    }
                    g[dim] += rk;
                }
            }
            (loss, grad)
        })
        .collect();
    let n = rows.max(1) as f64;
    let mut loss = 0f64;
    let mut grad = vec![0f64; p];
    for (l, g) in partial {
        loss += l;
        for (a, b) in grad.iter_mut().zip(g) {
            *a += b;
        }
    }
    loss /= n;
    for g in &mut grad {
        *g /= n;
    }
    for k in 0..outputs {
        for j in 0..dim {
            let idx = k * (dim + 1) + j;
            loss += 0.5 * l2 * params[idx] * params[idx];
            grad[idx] += l2 * params[idx];
        }
    }
    (loss, grad)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Fit a linear model to `rows x dim` features `x` (standardise them first) by L-BFGS.
///
/// # Errors
/// When the sizes do not agree, there are no rows, or a class index is out of range.
pub fn fit_linear(
    x: &[f32],
    dim: usize,
    targets: Targets<'_>,
    l2: f64,
    options: &LbfgsOptions,
) -> Result<(LinearModel, FitReport), String> {
    let rows = targets.rows();
    if dim == 0 || rows == 0 {
        return Err("linear evaluation needs at least one feature and one training row".into());
    }
    if x.len() != rows * dim {
        return Err(format!(
            "{} feature values for {rows} rows of {dim} features",
            x.len()
        ));
    }
    if let Targets::Classes { labels, classes } = targets
        && let Some(bad) = labels.iter().find(|&&y| y < 0 || y as usize >= classes)
    {
        return Err(format!("class label {bad} outside 0..{classes}"));
    }
    if !(l2 >= 0.0 && l2.is_finite()) {
        return Err(format!("the L2 penalty must be >= 0, got {l2}"));
    }
    let outputs = targets.outputs();
    let mut params = vec![0f64; outputs * (dim + 1)];
    let (mut f, mut g) = objective(&params, x, dim, &targets, l2);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut iterations = 0;
    let mut converged = max_abs(&g) < options.gradient_tolerance;
    while !converged && iterations < options.max_iters {
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(y, s);
            let a = rho * dot(s, &q);
            for (qi, yi) in q.iter_mut().zip(y) {
                *qi -= a * yi;
            }
            alphas.push((a, rho));
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            // First step: a unit-length move along -g.
            _ => 1.0 / dot(&g, &g).sqrt().max(1e-12),
        };
        for qi in &mut q {
            *qi *= gamma;
        }
        for ((s, y), (a, rho)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            for (qi, si) in q.iter_mut().zip(s) {
                *qi += (a - b) * si;
            }
        }
        let mut d: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            let norm = dot(&g, &g).sqrt().max(1e-12);
            d = g.iter().map(|v| -v / norm).collect();
            slope = dot(&g, &d);
        }
        // Backtracking line search (Armijo).
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let trial: Vec<f64> = params.iter().zip(&d).map(|(p, di)| p + step * di).collect();
            let (ft, gt) = objective(&trial, x, dim, &targets, l2);
            if ft.is_finite() && ft <= f + 1e-4 * step * slope {
                accepted = Some((trial, ft, gt));
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        let Some((trial, ft, gt)) = accepted else {
            // No decrease possible along d: as good as floating point allows.
            converged = true;
            break;
        };
        let s: Vec<f64> = trial.iter().zip(&params).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gt.iter().zip(&g).map(|(a, b)| a - b).collect();
        let decrease = (f - ft) / f.abs().max(ft.abs()).max(1.0);
        params = trial;
        f = ft;
        g = gt;
        if dot(&s, &y) > 1e-12 * dot(&y, &y).max(1e-300) {
            s_hist.push(s);
            y_hist.push(y);
            if s_hist.len() > options.history {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        converged =
            max_abs(&g) < options.gradient_tolerance || decrease < options.relative_decrease;
    }
    let report = FitReport {
        iterations,
        objective: f,
        gradient_norm: max_abs(&g),
        converged,
    };
    Ok((
        LinearModel {
            dim,
            outputs,
            params,
        },
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `n` points per class around well-separated centres in `dim` dimensions.
    fn blobs(n: usize, classes: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..classes)
            .map(|_| (0..dim).map(|_| rng.random_range(-3.0..3.0)).collect())
            .collect();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n * classes {
            let c = i % classes;
            x.extend(
                centres[c]
                    .iter()
                    .map(|v| v + rng.random_range(-1.0f32..1.0)),
            );
            y.push(c as i64);
        }
        (x, y)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = blobs(7, 3, 4, 1);
        let t = Targets::Classes {
            labels: &y,
            classes: 3,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let params: Vec<f64> = (0..3 * 5).map(|_| rng.random_range(-0.5..0.5)).collect();
        let (_, g) = objective(&params, &x, 4, &t, 0.1);
        let values: Vec<f32> = (0..21).map(|i| i as f32 * 0.1).collect();
        let (_, gv) = objective(&params[..5], &x, 4, &Targets::Values(&values), 0.1);
        for (params, g, targets) in [
            (params.clone(), g, t),
            (params[..5].to_vec(), gv, Targets::Values(&values)),
        ] {
            for i in 0..params.len() {
                let h = 1e-6;
                let mut a = params.clone();
                a[i] += h;
                let mut b = params.clone();
                b[i] -= h;
                let fd = (objective(&a, &x, 4, &targets, 0.1).0
                    - objective(&b, &x, 4, &targets, 0.1).0)
                    / (2.0 * h);
                assert!((fd - g[i]).abs() < 1e-6, "param {i}: {fd} vs {}", g[i]);
            }
        }
    }

    #[test]
    fn softmax_loss_by_hand() {
        // One row x = [1], two classes, weights w0 = 1, w1 = 0, zero biases, label 1:
        // CE = log(e^1 + e^0) - 0.
        let params = [1.0, 0.0, 0.0, 0.0];
        let (f, _) = objective(
            &params,
            &[1.0],
            1,
            &Targets::Classes {
                labels: &[1],
                classes: 2,
            },
            0.5,
        );
        let want = (1f64.exp() + 1.0).ln() + 0.5 * 0.5 * 1.0;
        assert!((f - want).abs() < 1e-12, "{f} vs {want}");
    }

    #[test]
    fn logistic_regression_separates_blobs_deterministically() {
        let (mut x, y) = blobs(50, 5, 8, 3);
        let std = Standardizer::fit(&x, 8);
        std.apply(&mut x);
        let t = Targets::Classes {
            labels: &y,
            classes: 5,
        };
        let (model, report) = fit_linear(&x, 8, t, 1e-4, &LbfgsOptions::default()).unwrap();
        let pred = model.predict_classes(&x);
        let acc = crate::metrics::accuracy(&pred, &y);
        assert!(acc > 0.97, "train accuracy {acc} ({report:?})");
        assert!(report.iterations > 1);
        let (again, _) = fit_linear(&x, 8, t, 1e-4, &LbfgsOptions::default()).unwrap();
        assert_eq!(model, again, "bit-identical refit");
        // A stronger penalty gives smaller weights.
        let (strong, _) = fit_linear(&x, 8, t, 1.0, &LbfgsOptions::default()).unwrap();
        let norm = |m: &LinearModel| m.params.iter().map(|v| v * v).sum::<f64>();
        assert!(norm(&strong) < norm(&model));
    }

    #[test]
    fn least_squares_recovers_a_linear_function() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let dim = 3;
        let x: Vec<f32> = (0..200 * dim)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let y: Vec<f32> = x
            .chunks(dim)
            .map(|r| 2.0 * r[0] - r[1] + 0.5 * r[2] + 3.0)
            .collect();
        let (model, report) =
            fit_linear(&x, dim, Targets::Values(&y), 0.0, &LbfgsOptions::default()).unwrap();
        let want = [2.0, -1.0, 0.5, 3.0];
        for (p, w) in model.params.iter().zip(want) {
            assert!(
                (p - w).abs() < 1e-4,
                "{:?} vs {want:?} ({report:?})",
                model.params
            );
        }
        let pred = model.predict_values(&x[..dim]);
        assert!((pred[0] - y[0]).abs() < 1e-3);
    }

    #[test]
    fn bad_input_is_an_error() {
        let t = Targets::Classes {
            labels: &[0, 3],
            classes: 3,
        };
        assert!(fit_linear(&[0.0, 1.0], 1, t, 0.0, &LbfgsOptions::default()).is_err());
        assert!(
            fit_linear(
                &[0.0],
                1,
                Targets::Values(&[]),
                0.0,
                &LbfgsOptions::default()
            )
            .is_err()
        );
        let s = Standardizer::fit(&[1.0, 5.0, 1.0, 7.0], 2);
        assert_eq!(s.mean, vec![1.0, 6.0]);
        assert_eq!(s.scale, vec![1.0, 1.0]);
    }
}
