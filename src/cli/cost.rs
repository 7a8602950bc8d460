//! `entprog cost <experiment>`: the predicted FLOPs, peak memory and wall
//! time of one training step for full training and each candidate m
//! (docs/cost-model.md); `--calibrate` measures this machine's throughput;
//! `--validate` sets predictions beside measured steps.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use entprog::cost::predict::candidates;
use entprog::cost::table::{render, row, write};
use entprog::cost::validate::{cases, measure, shapes};
use entprog::cost::{calibrate::calibrate, predict, Calibration, Order, Precision};
use entprog::entprog::Scorer;
use entprog::experiment::train::ActivationCheckpointing;
use entprog::experiment::Experiment;
use entprog::model::BlockId;
use entprog::train::ranking::Ranking;

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file, or a name under experiments/ (not with --calibrate / --validate).
    experiment: Option<String>,
    /// Override a key: --set model.preset=paper (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Candidate numbers of trained blocks, comma-separated (default: the
    /// schedule's candidates, else a quarter, half and three quarters of them).
    #[arg(long, value_delimiter = ',', conflicts_with = "blocks")]
    m: Vec<usize>,
    /// Train exactly these blocks, comma-separated (spatial.07,temporal.03).
    #[arg(long, value_delimiter = ',')]
    blocks: Vec<String>,
    /// Priority order from a scorer computable from the config alone: depth_in, depth_out.
    #[arg(long, conflicts_with = "ranking")]
    scorer: Option<String>,
    /// Priority order from a finished ranking cell's folder (or its ranking.json).
    #[arg(long)]
    ranking: Option<PathBuf>,
    /// none, blocks or all-policies (default: the experiment's train.activation_checkpointing).
    #[arg(long)]
    checkpointing: Option<String>,
    /// Parameter, gradient, optimizer and activation precision: f32 or bf16 (an assumption).
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Calibration file (from --calibrate) for wall time.
    #[arg(long)]
    calibration: Option<PathBuf>,
    /// Output: cost.parquet of the predictions, or the calibration file with --calibrate.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure this machine's per-operation throughput and write a calibration file.
    #[arg(long, conflicts_with = "validate")]
    calibrate: bool,
    /// Predicted against measured steps (tiny, default and four more shapes).
    #[arg(long)]
    validate: bool,
    /// With --validate: the tiny shape only.
    #[arg(long)]
    quick: bool,
    /// With --validate: timed steps per case (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
}

pub fn run(args: Args) -> Result<()> {
    if args.calibrate {
        let out = args
            .out
            .unwrap_or_else(|| PathBuf::from("results/cost/calibration.json"));
        let c = calibrate("this machine").context("calibrating")?;
        if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        }
        c.save(&out).with_context(|| format!("{}", out.display()))?;
        println!("wrote {} ({} threads)", out.display(), c.threads);
        return Ok(());
    }
    let calibration = match &args.calibration {
        Some(p) => Some(Calibration::load(p)?),
        None => None,
    };
    if args.validate {
        return validate(&args, calibration.as_ref());
    }
    let Some(experiment) = &args.experiment else {
        bail!("entprog cost: expected an experiment file (or --calibrate / --validate)")
    };
    let exp = Experiment::load(experiment, &args.sets)?;
    let cfg = &exp.config;
    let precision: Precision = args
        .precision
        .parse()
        .map_err(|e| anyhow::anyhow!("--precision: {e}"))?;
    let policies = match args.checkpointing.as_deref() {
        None => vec![cfg.train.activation_checkpointing],
        Some("none") => vec![ActivationCheckpointing::None],
        Some("blocks") => vec![ActivationCheckpointing::Blocks],
        Some("all-policies") => vec![ActivationCheckpointing::None, ActivationCheckpointing::Blocks],
        Some(other) => bail!("--checkpointing: {other:?} is not a policy, expected none, blocks or all-policies"),
    };
    let (order, note) = order(&args, cfg)?;
    println!("{}: order {note}", exp.name);
    let mut rows = Vec::new();
    for policy in policies {
        let schedulable = entprog::cost::Scenario::of(cfg)?.schedulable().len();
        let ms = if args.m.is_empty() {
            default_ms(cfg, schedulable)
        } else {
            args.m.clone()
        };
        if let Some(&m) = ms.iter().find(|&&m| m == 0 || m > schedulable) {
            bail!("--m: {m} is out of range, expected 1 to {schedulable} (the blocks the stage's gate plan trains)");
        }
        let cands = candidates(cfg, &ms, &order, policy, precision)?;
        let costs = cands
            .iter()
            .map(|c| predict(&c.scenario, calibration.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        for (c, cost) in cands.iter().zip(&costs) {
            rows.push(row(&exp.name, c, cost, &costs[0]));
        }
    }
    print!("{}", render(&rows));
    if let Some(out) = &args.out {
        println!("wrote {}", write(out, rows)?.display());
    }
    Ok(())
}

/// The schedule's candidates, else a quarter, half and three quarters of `n`.
fn default_ms(cfg: &entprog::experiment::ExperimentConfig, n: usize) -> Vec<usize> {
    let mut ms: Vec<usize> = cfg.schedule.candidates.iter().flatten().copied().collect();
    if ms.is_empty() {
        ms = vec![n.div_ceil(4), n.div_ceil(2), (3 * n).div_ceil(4)];
    }
    ms.retain(|&m| m >= 1 && m <= n);
    ms.sort_unstable();
    ms.dedup();
    ms
}

/// The priority order asked for, and a line saying which it is.
fn order(args: &Args, cfg: &entprog::experiment::ExperimentConfig) -> Result<(Order, String)> {
    if !args.blocks.is_empty() {
        let ids = args
            .blocks
            .iter()
            .map(|b| b.parse::<BlockId>().map_err(|e| anyhow::anyhow!("--blocks: {e}")))
            .collect::<Result<Vec<_>>>()?;
        return Ok((Order::Blocks(ids), "explicit blocks".into()));
    }
    let ranking = args.ranking.clone().or_else(|| cfg.schedule.ranking.clone());
    if let (Some(dir), None) = (&ranking, &args.scorer) {
        let (file, r) = Ranking::load(dir)?;
        let scores = r
            .ids
            .iter()
            .zip(&r.values)
            .map(|(id, v)| Ok((id.parse::<BlockId>()?, v.unwrap_or(f64::NAN))))
            .collect::<Result<Vec<_>, entprog::model::block::BadBlockId>>()
            .with_context(|| format!("{}", file.display()))?;
        return Ok((Order::Scores(scores), format!("{} from {}", r.scorer, file.display())));
    }
    let scorer = match &args.scorer {
        Some(s) => s.parse::<Scorer>().map_err(|e| anyhow::anyhow!("--scorer: {e}"))?,
        None => cfg.schedule.scorer,
    };
    match scorer {
        Scorer::DepthIn => Ok((Order::InputSide, "depth_in (input side first)".into())),
        Scorer::DepthOut => Ok((Order::OutputSide, "depth_out (output side first)".into())),
        other if args.scorer.is_some() => {
            bail!("--scorer: {other} needs a model to score; give its ranking folder with --ranking DIR (or depth_in / depth_out)")
        }
        other => Ok((
            Order::OutputSide,
            format!("depth_out (schedule.scorer = {other} needs a ranking: --ranking DIR)"),
        )),
    }
}

/// `--validate`: each case predicted and measured, as a markdown table.
fn validate(args: &Args, calibration: Option<&Calibration>) -> Result<()> {
    let mut list = shapes();
    if args.quick {
        list.truncate(1);
    }
    println!("| shape | case | GFLOP pred | GFLOP meas | peak MiB pred | peak MiB meas | err | at | step s pred | step s meas | err |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    for case in cases(&list) {
        let p = predict(&case.scenario, calibration)?;
        let m = measure(&case.scenario, 1, args.steps.max(1))?;
        let (pb, mb) = (p.memory.total(), m.peak_bytes);
        let time = p.time.map(|t| t.total());
        println!(
            "| {} | {} | {:.4} | {:.4}{} | {:.1} | {:.1} | {:+.1}% | {} | {} | {:.4} | {} |",
            case.shape,
            case.label,
            p.flops.total() as f64 / 1e9,
            m.flops.total() as f64 / 1e9,
            if p.flops == m.flops { "" } else { " (differs)" },
            mib(pb),
            mib(mb),
            100.0 * (pb as f64 / mb as f64 - 1.0),
            p.memory.at,
            time.map_or("-".into(), |t| format!("{t:.4}")),
            m.step_s,
            time.map_or("-".into(), |t| format!("{:+.1}%", 100.0 * (t / m.step_s - 1.0))),
        );
    }
    Ok(())
}
