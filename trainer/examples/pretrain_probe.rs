//! The CPU-sized pretraining check of every method: pretrain on a rendered dataset, then compare
//! the probes on the pretrained backbone with the same probes on the random backbone it started
//! from (the `initial_probes` of metrics.json).
//!
//! ```text
//! cargo run --release -p trainer --example pretrain_probe -- DATASET OUTDIR [STEPS] [METHOD...]
//! ```
//! Settings: ResNet9 width 0.25, batch 64, STEPS steps (default 300), probes on 1000 reference
//! (train) and 1000 query (validation) images. Prints one line per method: first and final
//! loss, kNN / linear-probe class and pose accuracy before -> after, images/s.
//! `JITTER_HUE=0.5` sets the views' largest hue shift (`--jitter-hue`; default 0.1).

use std::path::PathBuf;

use trainer::methods::MethodKind;
use trainer::pretrain::{PretrainOptions, run_pretrain};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data), Some(out)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: pretrain_probe DATASET OUTDIR [STEPS] [METHOD...]");
    };
    let steps: u64 = match args.get(2) {
        Some(s) => s.parse()?,
        None => 300,
    };
    let jitter_hue: Option<f64> = match std::env::var("JITTER_HUE") {
        Ok(h) => Some(
            h.parse()
                .map_err(|e| anyhow::anyhow!("JITTER_HUE `{h}`: {e}"))?,
        ),
        Err(_) => None,
    };
    let methods: Vec<MethodKind> = if args.len() > 3 {
        args[3..]
            .iter()
            .map(|m| m.parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?
    } else {
        MethodKind::ALL.to_vec()
    };
    println!(
        "| method | loss first -> last | kNN class | kNN pose | linear class | linear pose | images/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for method in methods {
        let mut opts = PretrainOptions::new(
            PathBuf::from(data),
            PathBuf::from(out).join(method.name()),
            method,
        );
        opts.width = 0.25;
        opts.batch_size = Some(64);
        opts.steps = Some(steps);
        opts.eval_every = Some(steps);
        opts.checkpoint_every = Some(steps);
        opts.eval_limit = 1000;
        opts.nce_k = 4096;
        opts.jitter_hue = jitter_hue;
        opts.progress = false;
        let m = run_pretrain(&opts)?;
        let init = m.initial_probes.clone().unwrap_or_default();
        let p = &m.probes;
        println!(
            "| {} | {:.4} -> {:.4} | {:.3} -> {:.3} | {:.3} -> {:.3} | {:.3} -> {:.3} | {:.3} -> {:.3} | {:.1} |",
            method,
            m.first_loss.unwrap_or(f64::NAN),
            m.final_loss.unwrap_or(f64::NAN),
            init.knn_class,
            p.knn_class,
            init.knn_pose,
            p.knn_pose,
            init.linear_class,
            p.linear_class,
            init.linear_pose,
            p.linear_pose,
            m.images_per_s
        );
    }
    Ok(())
}
