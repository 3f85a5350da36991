//! Slurm batch scripts: writing job arrays and dependent jobs, submitting them with `sbatch`, and
//! reading back their queue state. Used by `render slurm` and `study slurm`.
//!
//! Input: a [`Pipeline`]: stages that are either job arrays (each task runs one index of a range,
//! the command names it with the [`TASK_INDEX`] placeholder) or single jobs, their resources and
//! which earlier stages they wait for. Output: `DIR/slurm/NN-name.sbatch` scripts (an array larger
//! than the cluster's `MaxArraySize` becomes several scripts, `NN-name.partK.sbatch`, whose tasks
//! add the part's first index), `DIR/slurm/submit.sh` (submits them in order, chaining
//! `--dependency=afterok:`), `DIR/logs/` for the jobs' output, and with [`submit`] the job ids
//! (`DIR/slurm/jobs.json` through [`write_jobs`]).
//!
//! Everything runs the external Slurm programs (`sbatch`, `scontrol`, `squeue`); a missing
//! program, a rejected submission (with sbatch's stderr) or an unreadable answer is a
//! [`SlurmError`] naming the program and script.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Placeholder in an array stage's command: replaced by the task's index (first index of the
/// stage's range plus `$SLURM_ARRAY_TASK_ID`, plus the part's offset when the array was split).
pub const TASK_INDEX: &str = "{TASK_INDEX}";

/// Slurm's default `MaxArraySize` (array task ids 0..=1000).
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// Sub-directory of the pipeline directory that holds the scripts and `jobs.json`.
pub const SCRIPT_DIR: &str = "slurm";
/// Sub-directory of the pipeline directory that holds the jobs' output.
pub const LOG_DIR: &str = "logs";
/// File (in [`SCRIPT_DIR`]) that records the submitted job ids.
pub const JOBS_FILE: &str = "jobs.json";

/// Environment variable that carries the number of completions of a Kubernetes Indexed Job
/// (Kubernetes sets only `JOB_COMPLETION_INDEX`; our manifests set this one too).
pub const K8S_COMPLETIONS_ENV: &str = "JOB_COMPLETIONS";

/// Errors of writing, submitting and querying Slurm jobs.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm program is not on `PATH`.
    #[error("`{program}` not found on PATH ({hint})")]
    NotFound {
        /// The program (`sbatch`, `scontrol`, `squeue`).
        program: String,
        /// What to do instead.
        hint: String,
    },
    /// A program could not be started.
    #[error("running {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `sbatch` refused a script.
    #[error(
        "sbatch rejected {} ({status}): {}{}",
        script.display(),
        stderr.trim(),
        already_note(already_submitted)
    )]
    Rejected {
        /// The script.
        script: PathBuf,
        /// Exit status as text.
        status: String,
        /// What sbatch printed on stderr.
        stderr: String,
        /// Jobs of the same pipeline submitted before this one (still queued).
        already_submitted: Vec<u64>,
    },
    /// A program's output could not be understood.
    #[error("{program}: unexpected output {output:?}: {reason}")]
    Unparsable {
        /// The program.
        program: String,
        /// Its output (trimmed).
        output: String,
        /// What was expected.
        reason: String,
    },
    /// A query program failed.
    #[error("{program} failed ({status}): {}", stderr.trim())]
    Query {
        /// The program and its arguments.
        program: String,
        /// Exit status as text.
        status: String,
        /// Its stderr.
        stderr: String,
    },
    /// An I/O error on a script, log directory or jobs file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The pipeline itself is invalid (names the stage or option).
    #[error("{0}")]
    Invalid(String),
}

fn already_note(ids: &[u64]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        format!(
            "; jobs already submitted for this pipeline: {} (scancel {} to withdraw them)",
            list.join(", "),
            list.join(" ")
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SlurmError + '_ {
    move |source| SlurmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resources and options of a stage's jobs (each `None` leaves the cluster's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--gres`, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--time`, e.g. `02:00:00`.
    pub time: Option<String>,
    /// `--mem`, e.g. `16G`.
    pub mem: Option<String>,
    /// Array throttle `%K`: at most K tasks of one array run at once (per array script when an
    /// array is split).
    pub throttle: Option<usize>,
    /// Further `#SBATCH` options, verbatim (`--account=proj`, `--qos=high`).
    pub extra: Vec<String>,
}

/// What a stage submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageKind {
    /// A job array whose tasks run indices `first..first + count`.
    Array {
        /// First index.
        first: usize,
        /// Number of tasks.
        count: usize,
    },
    /// One job.
    Single,
}

/// One step of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Job name and file stem (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Array or single job.
    pub kind: StageKind,
    /// Program and arguments; in an array stage, [`TASK_INDEX`] inside an argument becomes the
    /// task's index.
    pub command: Vec<String>,
    /// Resources of its jobs.
    pub resources: Resources,
    /// Earlier stages (indices into [`Pipeline::stages`]) whose jobs must all end first.
    pub after: Vec<usize>,
    /// How they must end: [`Dependency::AfterOk`] (all succeeded) or [`Dependency::AfterAny`].
    pub dependency: Dependency,
}

/// The Slurm dependency type of a stage on the stages in [`Stage::after`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dependency {
    /// `afterok`: every job succeeded; the stage is cancelled (`--kill-on-invalid-dep=yes`) when
    /// one failed, instead of pending forever.
    #[default]
    AfterOk,
    /// `afterany`: every job ended, however (e.g. a report that lists failed runs).
    AfterAny,
}

impl Dependency {
    /// The `--dependency=` options for these job ids (none when `ids` is empty).
    pub fn options(self, ids: &[String]) -> Vec<String> {
        if ids.is_empty() {
            return Vec::new();
        }
        match self {
            Dependency::AfterOk => vec![
                format!("--dependency=afterok:{}", ids.join(":")),
                "--kill-on-invalid-dep=yes".into(),
            ],
            Dependency::AfterAny => vec![format!("--dependency=afterany:{}", ids.join(":"))],
        }
    }
}

/// Stages submitted together, scripts under `dir/slurm/`, logs under `dir/logs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Directory of the scripts, logs and jobs file (absolute paths are written into scripts).
    pub dir: PathBuf,
    /// Working directory of the jobs (`--chdir`).
    pub workdir: PathBuf,
    /// Environment variables exported by every script before the command.
    pub env: Vec<(String, String)>,
    /// The stages, in submission order.
    pub stages: Vec<Stage>,
}

/// One written script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// Index of its stage in the pipeline.
    pub stage: usize,
    /// Stage name.
    pub name: String,
    /// Path of the `.sbatch` file.
    pub path: PathBuf,
    /// First index run by this script (0 for a single job).
    pub first_index: usize,
    /// Array tasks in this script (`None` for a single job).
    pub array_tasks: Option<usize>,
}

/// A submitted script and its job id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The script.
    pub script: Script,
    /// Slurm job id (of the array, for an array script).
    pub job_id: u64,
}

/// Quotes `s` for a POSIX shell (single quotes; `'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes an argument, turning each [`TASK_INDEX`] into `"$TASK_INDEX"`.
fn quote_arg(arg: &str) -> String {
    let parts: Vec<&str> = arg.split(TASK_INDEX).collect();
    if parts.len() == 1 {
        return shell_quote(arg);
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("\"$TASK_INDEX\"");
        }
        if !part.is_empty() {
            out.push_str(&shell_quote(part));
        }
    }
    out
}

/// Value for an `#SBATCH` line: Slurm splits those lines at white space, so none is allowed.
fn sbatch_value(what: &str, value: &str) -> Result<String, SlurmError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '#') {
        return Err(SlurmError::Invalid(format!(
            "{what} {value:?} is empty or contains white space or '#', which an #SBATCH line cannot carry"
        )));
    }
    Ok(value.to_string())
}

/// A path for `--output`/`--chdir`: no white space, `%` doubled (Slurm's filename patterns).
fn sbatch_path(what: &str, path: &Path) -> Result<String, SlurmError> {
    let text = path.to_str().ok_or_else(|| {
        SlurmError::Invalid(format!("{what} {} is not valid UTF-8", path.display()))
    })?;
    sbatch_value(what, text).map(|t| t.replace('%', "%%"))
}

fn absolute(path: &Path) -> Result<PathBuf, SlurmError> {
    std::path::absolute(path).map_err(io_err(path))
}

fn check_name(name: &str) -> Result<(), SlurmError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(SlurmError::Invalid(format!(
            "stage name {name:?}: use letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn check_pipeline(p: &Pipeline) -> Result<(), SlurmError> {
    if p.stages.is_empty() {
        return Err(SlurmError::Invalid("the pipeline has no stages".into()));
    }
    for (i, stage) in p.stages.iter().enumerate() {
        check_name(&stage.name)?;
        if p.stages[..i].iter().any(|s| s.name == stage.name) {
            return Err(SlurmError::Invalid(format!(
                "two stages are named {:?}",
                stage.name
            )));
        }
        if stage.command.is_empty() {
            return Err(SlurmError::Invalid(format!(
                "stage {:?} has no command",
                stage.name
            )));
        }
        if let StageKind::Array { count: 0, .. } = stage.kind {
            return Err(SlurmError::Invalid(format!(
                "stage {:?} is an array of 0 tasks",
                stage.name
            )));
        }
        if stage.resources.throttle == Some(0) {
            return Err(SlurmError::Invalid(format!(
                "stage {:?}: array throttle must be at least 1",
                stage.name
            )));
        }
        if let Some(&d) = stage.after.iter().find(|&&d| d >= i) {
            return Err(SlurmError::Invalid(format!(
                "stage {:?} waits for stage {d}, which is not an earlier stage",
                stage.name
            )));
        }
    }
    for (k, _) in &p.env {
        if k.is_empty()
            || k.as_bytes()[0].is_ascii_digit()
            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(SlurmError::Invalid(format!(
                "environment variable name {k:?} is not valid"
            )));
        }
    }
    Ok(())
}

/// The parts an array of `count` tasks is split into: `(offset, len)`, each `len <=
/// max_array_size` (task ids `0..len` are all below `MaxArraySize`).
pub fn array_parts(count: usize, max_array_size: usize) -> Result<Vec<(usize, usize)>, SlurmError> {
    if max_array_size == 0 {
        return Err(SlurmError::Invalid(
            "MaxArraySize is 0: job arrays are disabled on this cluster".into(),
        ));
    }
    Ok((0..count)
        .step_by(max_array_size)
        .map(|off| (off, max_array_size.min(count - off)))
        .collect())
}

/// Text of one script.
fn script_text(
    p: &Pipeline,
    stage: &Stage,
    logs: &Path,
    workdir: &Path,
    part: Option<(usize, usize)>,
) -> Result<String, SlurmError> {
    let mut s = String::from("#!/bin/bash\n");
    let r = &stage.resources;
    let mut opt = |line: String| {
        s.push_str("#SBATCH ");
        s.push_str(&line);
        s.push('\n');
    };
    opt(format!("--job-name={}", stage.name));
    opt(format!(
        "--chdir={}",
        sbatch_path("working directory", workdir)?
    ));
    let log_pattern = if part.is_some() {
        "%x_%A_%a.out"
    } else {
        "%x_%j.out"
    };
    opt(format!(
        "--output={}/{log_pattern}",
        sbatch_path("log directory", logs)?
    ));
    if let Some((_, len)) = part {
        let throttle = r.throttle.map(|k| format!("%{k}")).unwrap_or_default();
        opt(format!("--array=0-{}{throttle}", len - 1));
    }
    if let Some(v) = &r.partition {
        opt(format!("--partition={}", sbatch_value("--partition", v)?));
    }
    if let Some(v) = &r.gres {
        opt(format!("--gres={}", sbatch_value("--gres", v)?));
    }
    if let Some(v) = r.cpus_per_task {
        opt(format!("--cpus-per-task={v}"));
    }
    if let Some(v) = &r.time {
        opt(format!("--time={}", sbatch_value("--time", v)?));
    }
    if let Some(v) = &r.mem {
        opt(format!("--mem={}", sbatch_value("--mem", v)?));
    }
    for v in &r.extra {
        let v = sbatch_value("sbatch option", v)?;
        if !v.starts_with('-') {
            return Err(SlurmError::Invalid(format!(
                "sbatch option {v:?} does not start with '-'"
            )));
        }
        opt(v);
    }
    let _ = writeln!(s, "# Written by {}; stage {:?}.", tool_name(), stage.name);
    s.push_str("set -euo pipefail\n");
    for (k, v) in &p.env {
        let _ = writeln!(s, "export {k}={}", shell_quote(v));
    }
    if let (StageKind::Array { first, count }, Some((offset, len))) = (stage.kind, part) {
        let base = first + offset;
        let _ = writeln!(
            s,
            "# Array task i runs index {base} + i ({base}..{} of {first}..{}).",
            base + len - 1,
            first + count - 1
        );
        let _ = writeln!(s, "TASK_INDEX=$((SLURM_ARRAY_TASK_ID + {base}))");
        s.push_str("export TASK_INDEX\n");
    }
    let args: Vec<String> = match stage.kind {
        StageKind::Array { .. } => stage.command.iter().map(|a| quote_arg(a)).collect(),
        StageKind::Single => stage.command.iter().map(|a| shell_quote(a)).collect(),
    };
    let _ = writeln!(s, "exec {}", args.join(" "));
    Ok(s)
}

fn tool_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "ssl-utility".into())
}

/// Writes the pipeline's scripts (`dir/slurm/NN-name[.partK].sbatch`), `dir/slurm/submit.sh` and
/// creates `dir/logs/`. Arrays of more than `max_array_size` tasks are split into parts. Returns
/// the scripts in submission order.
pub fn write_scripts(p: &Pipeline, max_array_size: usize) -> Result<Vec<Script>, SlurmError> {
    check_pipeline(p)?;
    let dir = absolute(&p.dir)?;
    let workdir = absolute(&p.workdir)?;
    let script_dir = dir.join(SCRIPT_DIR);
    let logs = dir.join(LOG_DIR);
    for d in [&script_dir, &logs] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    // Old scripts of an earlier, differently sized pipeline would confuse a reader.
    let old = std::fs::read_dir(&script_dir).map_err(io_err(&script_dir))?;
    for entry in old {
        let path = entry.map_err(io_err(&script_dir))?.path();
        if path.extension() == Some(OsStr::new("sbatch")) {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }

    let mut scripts = Vec::new();
    for (i, stage) in p.stages.iter().enumerate() {
        match stage.kind {
            StageKind::Single => {
                let path = script_dir.join(format!("{i:02}-{}.sbatch", stage.name));
                let text = script_text(p, stage, &logs, &workdir, None)?;
                write_executable(&path, &text)?;
                scripts.push(Script {
                    stage: i,
                    name: stage.name.clone(),
                    path,
                    first_index: 0,
                    array_tasks: None,
                });
            }
            StageKind::Array { first, count } => {
                let parts = array_parts(count, max_array_size)?;
                let split = parts.len() > 1;
                for (k, &(offset, len)) in parts.iter().enumerate() {
                    let file = if split {
                        format!("{i:02}-{}.part{k}.sbatch", stage.name)
                    } else {
                        format!("{i:02}-{}.sbatch", stage.name)
                    };
                    let path = script_dir.join(file);
                    let text = script_text(p, stage, &logs, &workdir, Some((offset, len)))?;
                    write_executable(&path, &text)?;
                    scripts.push(Script {
                        stage: i,
                        name: stage.name.clone(),
                        path,
                        first_index: first + offset,
                        array_tasks: Some(len),
                    });
                }
            }
        }
    }
    let submit = script_dir.join("submit.sh");
    write_executable(&submit, &submit_sh(p, &scripts))?;
    Ok(scripts)
}

fn write_executable(path: &Path, text: &str) -> Result<(), SlurmError> {
    std::fs::write(path, text).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(path))?;
    }
    Ok(())
}

/// `submit.sh`: the same submissions as [`submit`], for submitting by hand on a login node.
fn submit_sh(p: &Pipeline, scripts: &[Script]) -> String {
    let mut s = String::from(
        "#!/usr/bin/env bash\n\
         # Submits the scripts beside this file in order, each stage after the stages it needs\n\
         # (--dependency=afterok, or afterany), and prints the job ids.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n",
    );
    for (n, script) in scripts.iter().enumerate() {
        let deps: Vec<String> = scripts
            .iter()
            .enumerate()
            .filter(|(_, s)| p.stages[script.stage].after.contains(&s.stage))
            .map(|(m, _)| format!("$j{m}"))
            .collect();
        let dep: String = p.stages[script.stage]
            .dependency
            .options(&deps)
            .iter()
            .map(|o| format!("{o} "))
            .collect();
        let file = script
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "j{n}=$(sbatch --parsable {dep}{})\nj{n}=${{j{n}%%;*}}\necho \"{file}: job $j{n}\"",
            shell_quote(&file)
        );
    }
    s
}

/// Finds `program` on the `PATH` given (or the process's `PATH`).
pub fn find_program(program: &str, path: Option<&OsStr>) -> Result<PathBuf, SlurmError> {
    let not_found = || SlurmError::NotFound {
        program: program.to_string(),
        hint: "install the Slurm client tools, or run this on a Slurm login node".into(),
    };
    let path_var = match path {
        Some(p) => p.to_os_string(),
        None => std::env::var_os("PATH").ok_or_else(not_found)?,
    };
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

fn run_query(program: &Path, args: &[&str]) -> Result<(String, String, bool, String), SlurmError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Spawn {
            program: program.to_path_buf(),
            source,
        })?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
        out.status.to_string(),
    ))
}

/// `MaxArraySize` from the text of `scontrol show config`.
pub fn parse_max_array_size(config: &str) -> Option<usize> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// The cluster's `MaxArraySize`, asked of `scontrol show config`.
pub fn query_max_array_size(scontrol: &Path) -> Result<usize, SlurmError> {
    let (stdout, stderr, ok, status) = run_query(scontrol, &["show", "config"])?;
    if !ok {
        return Err(SlurmError::Query {
            program: format!("{} show config", scontrol.display()),
            status,
            stderr,
        });
    }
    parse_max_array_size(&stdout).ok_or_else(|| SlurmError::Unparsable {
        program: "scontrol show config".into(),
        output: stdout.chars().take(200).collect(),
        reason: "no `MaxArraySize = N` line".into(),
    })
}

/// Job id from `sbatch --parsable` output (`ID` or `ID;CLUSTER`).
pub fn parse_job_id(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Submits the scripts (from [`write_scripts`]) with `sbatch --parsable`, in order; a stage's
/// jobs get `--dependency=afterok:` on every job of the stages it waits for and
/// `--kill-on-invalid-dep=yes` (so they are cancelled, not left pending forever, when one of
/// those fails), or `--dependency=afterany:` ([`Dependency`]). Stops at the first rejection; the error lists the jobs already submitted.
pub fn submit(
    p: &Pipeline,
    scripts: &[Script],
    sbatch: &Path,
) -> Result<Vec<Submitted>, SlurmError> {
    let workdir = absolute(&p.workdir)?;
    let mut done: Vec<Submitted> = Vec::new();
    for script in scripts {
        let after = &p.stages[script.stage].after;
        let deps: Vec<String> = done
            .iter()
            .filter(|s| after.contains(&s.script.stage))
            .map(|s| s.job_id.to_string())
            .collect();
        let mut cmd = Command::new(sbatch);
        cmd.arg("--parsable").current_dir(&workdir);
        cmd.args(p.stages[script.stage].dependency.options(&deps));
        cmd.arg(&script.path);
        let out = cmd.output().map_err(|source| SlurmError::Spawn {
            program: sbatch.to_path_buf(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(SlurmError::Rejected {
                script: script.path.clone(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                already_submitted: done.iter().map(|s| s.job_id).collect(),
            });
        }
        let job_id = parse_job_id(&stdout).ok_or_else(|| SlurmError::Unparsable {
            program: "sbatch --parsable".into(),
            output: stdout.trim().to_string(),
            reason: "expected a job id (`1234` or `1234;cluster`)".into(),
        })?;
        done.push(Submitted {
            script: script.clone(),
            job_id,
        });
    }
    Ok(done)
}

/// Writes `dir/slurm/jobs.json` (the submitted jobs, for `status` commands).
pub fn write_jobs(dir: &Path, jobs: &[Submitted]) -> Result<PathBuf, SlurmError> {
    let path = dir.join(SCRIPT_DIR).join(JOBS_FILE);
    let text = serde_json::to_string_pretty(jobs)
        .map_err(|e| SlurmError::Invalid(format!("serialising the job list: {e}")))?;
    std::fs::write(&path, text + "\n").map_err(io_err(&path))?;
    Ok(path)
}

/// Reads `dir/slurm/jobs.json`; `Ok(None)` when nothing was submitted from `dir`.
pub fn read_jobs(dir: &Path) -> Result<Option<Vec<Submitted>>, SlurmError> {
    let path = dir.join(SCRIPT_DIR).join(JOBS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        SlurmError::Invalid(format!(
            "{}: not a job list written by submit: {e}",
            path.display()
        ))
    })
}

/// One line of `squeue`: a job, or one task of an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Job id (of the array, for array tasks).
    pub job_id: u64,
    /// Array task id, `None` for a plain job.
    pub array_task: Option<usize>,
    /// `PENDING`, `RUNNING`, `COMPLETING`, ...
    pub state: String,
    /// Why it is pending (`Priority`, `Dependency`, `Resources`, `None`, ...).
    pub reason: String,
}

/// Parses `squeue -h -r -o '%F|%K|%T|%r'` output.
pub fn parse_squeue(text: &str) -> Result<Vec<QueueEntry>, SlurmError> {
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = |reason: &str| SlurmError::Unparsable {
            program: "squeue".into(),
            output: line.to_string(),
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = line.splitn(4, '|').collect();
        let [job, task, state, reason] = fields[..] else {
            return Err(bad("expected JOBID|TASK|STATE|REASON"));
        };
        let job_id = job
            .trim()
            .parse()
            .map_err(|_| bad("job id is not a number"))?;
        let task = task.trim();
        let array_task = if task.is_empty() || task == "N/A" {
            None
        } else {
            Some(
                task.parse()
                    .map_err(|_| bad("array task id is not a number"))?,
            )
        };
        entries.push(QueueEntry {
            job_id,
            array_task,
            state: state.trim().to_string(),
            reason: reason.trim().to_string(),
        });
    }
    Ok(entries)
}

/// Queue state of the given jobs (one entry per array task) from `squeue`. Jobs that have left
/// the queue are simply absent.
pub fn query_queue(squeue: &Path, job_ids: &[u64]) -> Result<Vec<QueueEntry>, SlurmError> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = job_ids.iter().map(u64::to_string).collect();
    let ids = ids.join(",");
    let (stdout, stderr, ok, status) =
        run_query(squeue, &["-h", "-r", "-o", "%F|%K|%T|%r", "-j", &ids])?;
    if !ok {
        // squeue refuses a list of only finished (purged) jobs.
        if stderr.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        return Err(SlurmError::Query {
            program: format!("{} -j {ids}", squeue.display()),
            status,
            stderr,
        });
    }
    parse_squeue(&stdout)
}

/// Where a worker's `--workers`/`--worker` defaults came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerSource {
    /// `SLURM_ARRAY_TASK_COUNT` / `SLURM_ARRAY_TASK_ID`.
    SlurmArray,
    /// `JOB_COMPLETIONS` / `JOB_COMPLETION_INDEX` of a Kubernetes Indexed Job.
    KubernetesIndexedJob,
}

/// Worker count, worker index and their source, read from a Slurm array task's or a Kubernetes
/// Indexed Job pod's environment (`get` looks a variable up). `Ok(None)` outside both.
///
/// Slurm: index `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT` tasks;
/// arrays with a step other than 1 are refused. Kubernetes: `JOB_COMPLETION_INDEX` of
/// [`K8S_COMPLETIONS_ENV`].
pub fn worker_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<(usize, usize, WorkerSource)>, SlurmError> {
    let num = |name: &str| -> Result<Option<usize>, SlurmError> {
        match get(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                SlurmError::Invalid(format!("environment variable {name}={v:?} is not a number"))
            }),
        }
    };
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
            SlurmError::Invalid(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --workers"
                    .into(),
            )
        })?;
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        if let Some(step) = num("SLURM_ARRAY_TASK_STEP")?
            && step != 1
        {
            return Err(SlurmError::Invalid(format!(
                "SLURM_ARRAY_TASK_STEP={step}: worker indices need a contiguous array \
                 (--array=0-N); pass --workers and --worker"
            )));
        }
        let worker = id.checked_sub(min).filter(|&w| w < count).ok_or_else(|| {
            SlurmError::Invalid(format!(
                "SLURM_ARRAY_TASK_ID={id} is not within {count} tasks from SLURM_ARRAY_TASK_MIN={min}; \
                 pass --workers and --worker"
            ))
        })?;
        return Ok(Some((count, worker, WorkerSource::SlurmArray)));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = num(K8S_COMPLETIONS_ENV)?.ok_or_else(|| {
            SlurmError::Invalid(format!(
                "JOB_COMPLETION_INDEX is set but {K8S_COMPLETIONS_ENV} is not; set it to the Job's \
                 completions in the pod spec, or pass --workers"
            ))
        })?;
        if index >= count {
            return Err(SlurmError::Invalid(format!(
                "JOB_COMPLETION_INDEX={index} is not below {K8S_COMPLETIONS_ENV}={count}"
            )));
        }
        return Ok(Some((count, index, WorkerSource::KubernetesIndexedJob)));
    }
    Ok(None)
}

/// A render split over a Slurm job array plus its merge job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderPipeline {
    /// The `render` program the jobs run.
    pub render_bin: PathBuf,
    /// Data-defining render flags (`--variant=TCVL`, `--count=240000`, ...), without `--out`,
    /// `--workers` and `--worker`.
    pub render_args: Vec<String>,
    /// Dataset directory; the scripts go to `out/slurm/`, the logs to `out/logs/`.
    pub out: PathBuf,
    /// Array tasks (= render workers).
    pub workers: usize,
    /// Working directory of the jobs (relative paths in `render_args` are relative to it).
    pub workdir: PathBuf,
    /// Resources of the render tasks.
    pub resources: Resources,
    /// Resources of the merge job.
    pub merge_resources: Resources,
}

impl RenderPipeline {
    /// Stage 0: array `render-shards` (task K renders `--workers N --worker K`); stage 1:
    /// `render-merge` (`render merge OUT`) after all of stage 0.
    pub fn pipeline(&self) -> Result<Pipeline, SlurmError> {
        let out = absolute(&self.out)?;
        let out_text = out.to_str().ok_or_else(|| {
            SlurmError::Invalid(format!("--out {} is not valid UTF-8", out.display()))
        })?;
        let bin = self.render_bin.to_string_lossy().into_owned();
        let mut command = vec![bin.clone()];
        command.extend(self.render_args.iter().cloned());
        command.extend([
            format!("--out={out_text}"),
            format!("--workers={}", self.workers),
            format!("--worker={TASK_INDEX}"),
        ]);
        Ok(Pipeline {
            dir: out.clone(),
            workdir: self.workdir.clone(),
            env: Vec::new(),
            stages: vec![
                Stage {
                    name: "render-shards".into(),
                    kind: StageKind::Array {
                        first: 0,
                        count: self.workers,
                    },
                    command,
                    resources: self.resources.clone(),
                    after: Vec::new(),
                    dependency: Dependency::AfterOk,
                },
                Stage {
                    name: "render-merge".into(),
                    kind: StageKind::Single,
                    command: vec![bin, "merge".into(), out_text.to_string()],
                    resources: self.merge_resources.clone(),
                    after: vec![0],
                    dependency: Dependency::AfterOk,
                },
            ],
        })
    }
}

/// `--workers`/`--worker` of a command: flags first, then the array/Indexed Job environment
/// ([`worker_from_env`]), then 1 worker (index 0). `--workers N` alone inside an array of N tasks
/// takes the task's index; inside an array of another size it is refused (pass `--worker`).
/// Returns the worker count, the index and the environment it came from, if any.
pub fn resolve_workers(
    workers: Option<usize>,
    worker: Option<usize>,
    env: Option<(usize, usize, WorkerSource)>,
) -> Result<(usize, usize, Option<WorkerSource>), SlurmError> {
    match (workers, worker, env) {
        (Some(n), Some(k), _) => Ok((n, k, None)),
        (None, None, Some((n, k, src))) => Ok((n, k, Some(src))),
        (None, None, None) => Ok((1, 0, None)),
        (Some(n), None, Some((m, k, src))) if n == m => Ok((n, k, Some(src))),
        (Some(n), None, Some((m, k, src))) => Err(SlurmError::Invalid(format!(
            "--workers {n} given, but this is task {k} of {m} ({}); pass --worker as well",
            src.describe()
        ))),
        (Some(n), None, None) => Ok((n, 0, None)),
        (None, Some(k), Some((m, _, src))) => Ok((m, k, Some(src))),
        (None, Some(k), None) => Ok((1, k, None)),
    }
}

impl WorkerSource {
    /// The variables it reads, for messages.
    pub fn describe(self) -> String {
        match self {
            WorkerSource::SlurmArray => "SLURM_ARRAY_TASK_COUNT/SLURM_ARRAY_TASK_ID".into(),
            WorkerSource::KubernetesIndexedJob => {
                format!("{K8S_COMPLETIONS_ENV}/JOB_COMPLETION_INDEX")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pipeline(dir: &Path, tasks: usize) -> Pipeline {
        Pipeline {
            dir: dir.to_path_buf(),
            workdir: dir.to_path_buf(),
            env: vec![("RUST_LOG".into(), "info".into())],
            stages: vec![
                Stage {
                    name: "shards".into(),
                    kind: StageKind::Array {
                        first: 0,
                        count: tasks,
                    },
                    command: vec![
                        "/opt/bin/render".into(),
                        "--out".into(),
                        "/data/my set".into(),
                        "--worker".into(),
                        TASK_INDEX.into(),
                    ],
                    resources: Resources {
                        partition: Some("gpu".into()),
                        gres: Some("gpu:1".into()),
                        cpus_per_task: Some(4),
                        time: Some("01:00:00".into()),
                        mem: Some("8G".into()),
                        throttle: Some(2),
                        extra: vec!["--account=proj".into()],
                    },
                    after: vec![],
                    dependency: Dependency::AfterOk,
                },
                Stage {
                    name: "merge".into(),
                    kind: StageKind::Single,
                    command: vec!["/opt/bin/render".into(), "merge".into(), "/data/x".into()],
                    resources: Resources::default(),
                    after: vec![0],
                    dependency: Dependency::AfterOk,
                },
            ],
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/d-e.f"), "abc/d-e.f");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(quote_arg(TASK_INDEX), "\"$TASK_INDEX\"");
        assert_eq!(
            quote_arg(&format!("run-{TASK_INDEX} x")),
            "run-\"$TASK_INDEX\"' x'"
        );
    }

    #[test]
    fn scripts_carry_resources_array_and_command() {
        let tmp = tempfile::tempdir().unwrap();
        let p = pipeline(tmp.path(), 3);
        let scripts = write_scripts(&p, DEFAULT_MAX_ARRAY_SIZE).unwrap();
        assert_eq!(scripts.len(), 2);
        assert_eq!(scripts[0].array_tasks, Some(3));
        assert_eq!(scripts[1].array_tasks, None);
        let text = std::fs::read_to_string(&scripts[0].path).unwrap();
        for line in [
            "#SBATCH --array=0-2%2",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --time=01:00:00",
            "#SBATCH --mem=8G",
            "#SBATCH --account=proj",
            "#SBATCH --job-name=shards",
            "TASK_INDEX=$((SLURM_ARRAY_TASK_ID + 0))",
            "export RUST_LOG=info",
            "exec /opt/bin/render --out '/data/my set' --worker \"$TASK_INDEX\"",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
        let logs = std::path::absolute(tmp.path()).unwrap().join(LOG_DIR);
        assert!(text.contains(&format!("#SBATCH --output={}/%x_%A_%a.out", logs.display())));
        assert!(logs.is_dir());
        let merge = std::fs::read_to_string(&scripts[1].path).unwrap();
        assert!(!merge.contains("--array"));
        assert!(merge.contains("exec /opt/bin/render merge /data/x"));
        let submit = std::fs::read_to_string(tmp.path().join("slurm/submit.sh")).unwrap();
        assert!(submit.contains("--dependency=afterok:$j0 --kill-on-invalid-dep=yes"));
        let mut any = p.clone();
        any.stages[1].dependency = Dependency::AfterAny;
        write_scripts(&any, DEFAULT_MAX_ARRAY_SIZE).unwrap();
        let submit = std::fs::read_to_string(tmp.path().join("slurm/submit.sh")).unwrap();
        assert!(submit.contains("--parsable --dependency=afterany:$j0 01-merge.sbatch"));
    }

    #[test]
    fn large_arrays_are_split_below_max_array_size() {
        assert_eq!(array_parts(5, 2).unwrap(), vec![(0, 2), (2, 2), (4, 1)]);
        assert_eq!(array_parts(3, 1001).unwrap(), vec![(0, 3)]);
        assert!(array_parts(3, 0).is_err());
        let tmp = tempfile::tempdir().unwrap();
        let mut p = pipeline(tmp.path(), 5);
        p.stages[0].kind = StageKind::Array {
            first: 10,
            count: 5,
        };
        let scripts = write_scripts(&p, 2).unwrap();
        let firsts: Vec<_> = scripts
            .iter()
            .map(|s| (s.first_index, s.array_tasks))
            .collect();
        assert_eq!(
            firsts,
            vec![(10, Some(2)), (12, Some(2)), (14, Some(1)), (0, None)]
        );
        let last = std::fs::read_to_string(&scripts[2].path).unwrap();
        assert!(last.contains("#SBATCH --array=0-0%2\n"));
        assert!(last.contains("TASK_INDEX=$((SLURM_ARRAY_TASK_ID + 14))"));
        assert!(scripts[2].path.ends_with("00-shards.part2.sbatch"));
        // A rewrite with a larger limit leaves no stale parts behind.
        write_scripts(&p, 100).unwrap();
        let n = std::fs::read_dir(tmp.path().join(SCRIPT_DIR))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some(OsStr::new("sbatch")))
            .count();
        assert_eq!(n, 2);
    }

    #[test]
    fn invalid_pipelines_are_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = pipeline(tmp.path(), 0);
        let e = write_scripts(&p, 10).unwrap_err().to_string();
        assert!(e.contains("array of 0 tasks"), "{e}");
        p = pipeline(tmp.path(), 2);
        p.stages[0].resources.partition = Some("a b".into());
        let e = write_scripts(&p, 10).unwrap_err().to_string();
        assert!(
            e.contains("--partition") && e.contains("white space"),
            "{e}"
        );
        p = pipeline(tmp.path(), 2);
        p.stages[1].after = vec![1];
        let e = write_scripts(&p, 10).unwrap_err().to_string();
        assert!(e.contains("not an earlier stage"), "{e}");
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_job_id("1234\n"), Some(1234));
        assert_eq!(parse_job_id("77;cluster\n"), Some(77));
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
        let cfg =
            "Configuration data as of ...\nMaxArraySize            = 2\nMaxJobCount = 10000\n";
        assert_eq!(parse_max_array_size(cfg), Some(2));
        assert_eq!(parse_max_array_size("nothing"), None);
        let q =
            parse_squeue("12|0|RUNNING|None\n12|1|PENDING|Resources\n13|N/A|PENDING|Dependency\n")
                .unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q[1].array_task, Some(1));
        assert_eq!(q[2].array_task, None);
        assert_eq!(q[2].reason, "Dependency");
        assert!(parse_squeue("garbage").is_err());
    }

    #[test]
    fn workers_from_environment() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| map.get(k).cloned()
        };
        assert_eq!(worker_from_env(env(&[])).unwrap(), None);
        assert_eq!(
            worker_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_MIN", "3"),
                ("SLURM_ARRAY_TASK_STEP", "1"),
            ]))
            .unwrap(),
            Some((4, 2, WorkerSource::SlurmArray))
        );
        assert!(
            worker_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ]))
            .is_err()
        );
        assert!(worker_from_env(env(&[("SLURM_ARRAY_TASK_ID", "1")])).is_err());
        assert_eq!(
            worker_from_env(env(&[
                ("JOB_COMPLETION_INDEX", "2"),
                (K8S_COMPLETIONS_ENV, "3")
            ]))
            .unwrap(),
            Some((3, 2, WorkerSource::KubernetesIndexedJob))
        );
        let e = worker_from_env(env(&[("JOB_COMPLETION_INDEX", "2")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(K8S_COMPLETIONS_ENV), "{e}");
    }

    #[test]
    fn flags_override_environment() {
        let env = Some((3, 2, WorkerSource::SlurmArray));
        assert_eq!(resolve_workers(None, None, None).unwrap(), (1, 0, None));
        assert_eq!(
            resolve_workers(Some(4), Some(1), env).unwrap(),
            (4, 1, None)
        );
        assert_eq!(
            resolve_workers(None, None, env).unwrap(),
            (3, 2, Some(WorkerSource::SlurmArray))
        );
        assert_eq!(
            resolve_workers(Some(3), None, env).unwrap(),
            (3, 2, Some(WorkerSource::SlurmArray))
        );
        let e = resolve_workers(Some(1), None, env).unwrap_err().to_string();
        assert!(e.contains("pass --worker"), "{e}");
        assert_eq!(resolve_workers(Some(5), None, None).unwrap(), (5, 0, None));
    }

    #[cfg(unix)]
    fn fake(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        write_executable(&path, &format!("#!/bin/sh\n{body}\n")).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn submit_chains_dependencies_and_reports_rejections() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = tmp.path().join("sbatch.log");
        // A stand-in sbatch: logs its arguments, answers ids 100, 101, ...
        let sbatch = fake(
            &bin,
            "sbatch",
            &format!(
                "echo \"$@\" >> {log}\nn=$(wc -l < {log})\necho $((99 + n))';cluster'",
                log = log.display()
            ),
        );
        let p = pipeline(tmp.path(), 5);
        let scripts = write_scripts(&p, 2).unwrap();
        let jobs = submit(&p, &scripts, &sbatch).unwrap();
        let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
        assert_eq!(ids, vec![100, 101, 102, 103]);
        let calls = std::fs::read_to_string(&log).unwrap();
        let last = calls.lines().last().unwrap();
        assert!(
            last.starts_with(
                "--parsable --dependency=afterok:100:101:102 --kill-on-invalid-dep=yes "
            ),
            "{last}"
        );
        write_jobs(tmp.path(), &jobs).unwrap();
        assert_eq!(read_jobs(tmp.path()).unwrap().unwrap(), jobs);
        assert_eq!(read_jobs(&tmp.path().join("none")).unwrap(), None);

        // Rejected on the second script: sbatch's stderr and the first job are in the error.
        std::fs::remove_file(&log).unwrap();
        let sbatch = fake(
            &bin,
            "sbatch-rejecting",
            &format!(
                "echo x >> {log}\nif [ $(wc -l < {log}) -ge 2 ]; then echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2; exit 1; fi\necho 7",
                log = log.display()
            ),
        );
        let e = submit(&p, &scripts, &sbatch).unwrap_err().to_string();
        assert!(e.contains("Invalid partition name specified"), "{e}");
        assert!(e.contains("00-shards.part1.sbatch"), "{e}");
        assert!(e.contains("scancel 7"), "{e}");

        let e = find_program("sbatch", Some(OsStr::new(tmp.path().to_str().unwrap())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sbatch` not found on PATH"), "{e}");
        assert_eq!(
            find_program("sbatch", Some(bin.as_os_str())).unwrap(),
            bin.join("sbatch")
        );
        let scontrol = fake(&bin, "scontrol", "echo 'MaxArraySize            = 7'");
        assert_eq!(query_max_array_size(&scontrol).unwrap(), 7);
        let failing = fake(
            &bin,
            "scontrol-down",
            "echo 'slurm_load_ctl_conf error: Unable to contact slurm controller' >&2; exit 1",
        );
        let e = query_max_array_size(&failing).unwrap_err().to_string();
        assert!(e.contains("Unable to contact slurm controller"), "{e}");
    }
}
