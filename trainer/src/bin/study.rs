//! `study`: run a plan of label sweeps (render -> pretrain -> finetune / linear evaluation) and
//! turn the runs into utility curves, figures and an HTML report.
//!
//! Input: a plan file (TOML, see `studies/` and docs/study.md). Output: a study directory with
//! one directory per run (named by a hash of its configuration) and `report/`.
//! Exit codes: 0 success, 1 failure (a run failed, or an error; message on stderr), 2 bad
//! command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use trainer::study::Study;
use trainer::study::cluster;
use trainer::study::exec::{self, ExecMode, ExecOptions};

/// Label sweeps, utility curves, figures and an HTML report.
#[derive(Debug, Parser)]
#[command(name = "study", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate PLAN, then run every unfinished node of its graph (finished runs are kept,
    /// interrupted ones resume, failed ones are retried).
    Run {
        /// Plan file (TOML).
        plan: PathBuf,
        /// Study directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Runs at once (on a GPU box: one per device).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Run nodes as threads of this process instead of `study run-one` child processes.
        #[arg(long)]
        in_process: bool,
        /// Only validate the plan and print the graph.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the node with this index of an existing study (what `study run` starts per node;
    /// for Slurm arrays: `--index $SLURM_ARRAY_TASK_ID`).
    RunOne {
        /// Study directory.
        dir: PathBuf,
        /// Node index (`study status DIR` lists them).
        #[arg(long)]
        index: usize,
    },
    /// Set up the study directory (as `run` does) and write Slurm job arrays into DIR/slurm/:
    /// renders, pretraining, the runs (each task `study run-one DIR --index I`), then
    /// `study report`; --submit submits them with `sbatch --parsable`. See docs/cluster.md.
    Slurm {
        /// Plan file (TOML).
        plan: PathBuf,
        /// Study directory (created if missing; on a file system every node sees).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        flags: cluster::SlurmFlags,
    },
    /// Set up the study directory (as `run` does) and write Kubernetes Indexed Jobs, one per
    /// stage, and apply.sh into DIR/k8s/. See docs/cluster.md.
    K8s {
        /// Plan file (TOML).
        plan: PathBuf,
        /// Study directory (created if missing; the same path on every pod).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        flags: cluster::K8sFlags,
    },
    /// Print every node with its state (done, running, failed, interrupted, missing), and the
    /// Slurm state of queued or running nodes when the study was submitted with `study slurm`.
    Status {
        /// Study directory.
        dir: PathBuf,
    },
    /// Write DIR/report/: utility.json, CSVs, figures (SVG + PNG) and index.html.
    Report {
        /// Study directory.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::cli::quiet_window_system_probe()
    };
    let cli = Cli::parse();
    trainer::cli::init_logging();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            plan,
            out,
            jobs,
            in_process,
            dry_run,
        } => {
            if jobs == 0 {
                anyhow::bail!("--jobs must be at least 1");
            }
            if dry_run {
                let text = std::fs::read_to_string(&plan)
                    .with_context(|| format!("reading {}", plan.display()))?;
                let abs = std::path::absolute(&plan)?;
                let p = trainer::study::plan::parse(&text, &abs, &trainer::study::Probe)?;
                for n in trainer::study::graph::build(&p) {
                    println!(
                        "{:>5}  {:<8}  {}  ({})",
                        n.index,
                        n.spec.kind(),
                        n.describe(),
                        n.id
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let study = Study::create(&plan, &out)?;
            let mode = if in_process {
                ExecMode::InProcess
            } else {
                ExecMode::Subprocess {
                    exe: std::env::current_exe().context("locating the study executable")?,
                }
            };
            let summary = exec::run(
                &study,
                &ExecOptions {
                    jobs,
                    mode,
                    progress: true,
                },
            )?;
            if summary.ran.is_empty() && summary.failed.is_empty() && summary.blocked.is_empty() {
                println!(
                    "nothing to do: all {} nodes of {} are finished",
                    summary.total,
                    out.display()
                );
            } else {
                println!(
                    "{} ran, {} failed, {} skipped (a dependency failed), {} were already done; {:.0} s",
                    summary.ran.len(),
                    summary.failed.len(),
                    summary.blocked.len(),
                    summary.already_done,
                    summary.seconds
                );
            }
            for (id, error, log) in &summary.failed {
                println!("FAILED {id}: {error}\n  log: {}", log.display());
            }
            println!("next: study report {}", out.display());
            Ok(if summary.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::RunOne { dir, index } => {
            let study = Study::open(&dir)?;
            exec::execute_node(&study, index)
                .with_context(|| format!("running node {index} of {}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Slurm { plan, out, flags } => {
            let study = Study::create(&plan, &out)?;
            print!("{}", cluster::slurm_command(&study, &flags)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::K8s { plan, out, flags } => {
            let study = Study::create(&plan, &out)?;
            print!("{}", cluster::k8s_command(&study, &flags)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { dir } => {
            let study = Study::open(&dir)?;
            print!("{}", exec::status_table(&study));
            if let Some(lines) = cluster::slurm_status_lines(&study) {
                print!("{lines}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir } => {
            let study = Study::open(&dir)?;
            let out = study.report()?;
            for e in &out.figure_errors {
                eprintln!("warning: figure not drawn: {e}");
            }
            println!(
                "report: {} ({} runs, {} utility points)",
                dir.join("report").join("index.html").display(),
                out.data
                    .accuracy
                    .iter()
                    .map(|a| a.values.len())
                    .sum::<usize>(),
                out.data.utility.len()
            );
            Ok(if out.figure_errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
