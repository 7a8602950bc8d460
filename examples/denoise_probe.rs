//! Where do a run's samples lose quality? Three probes on the first 8 test
//! clips of a finished training run (its `config.toml` and `last.safetensors`),
//! each scored with the frame metrics against the ground truth, beside
//! `reference_copy` (docs/results/sample-quality.md, "Why the samples were worse than copying the
//! reference"):
//!
//! - `x0`: one denoising step from the truth noised to t (fixed noise), for
//!   t from 20 to 999: the x_0 estimate with the conditions, without them,
//!   and with the references rolled by one clip (another video's reference).
//!   How much the model knows at each noise level, and how much of it comes
//!   from the reference.
//! - `sdedit`: deterministic DDIM (100 respaced steps, guidance 1) started
//!   from the truth noised to t0 (SDEdit, Meng et al. 2022), true and rolled
//!   references: which part of the trajectory loses the quality.
//! - `grid sampler:steps:guidance ...`: full sampling from noise (seed 11);
//!   sheets (truth, sample, for the first two clips) to `probe/`.
//!
//! `cargo run --release --example denoise_probe -- RUN_DIR x0`
//! `cargo run --release --example denoise_probe -- RUN_DIR grid ddpm:100:1 ddim:50:2`
use candle_core::{Device, Tensor};
use entprog::data::Split;
use entprog::diffusion::{DiffusionConfig, SamplerKind};
use entprog::experiment::Experiment;
use entprog::model::{sample_clips, Inputs};
use entprog::results::checkpoint;
use entprog::study::evaluate::frame_metrics;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let run = std::path::PathBuf::from(&args[1]);
    let mode = args.get(2).map(String::as_str).unwrap_or("x0");
    std::fs::create_dir_all("probe")?;
    let exp = Experiment::load(run.join("config.toml").to_str().unwrap(), &[])?;
    let cfg = &exp.config;
    let dev = Device::Cpu;
    let ckpt = run.join("last.safetensors");
    let ck = checkpoint::load(&ckpt, &dev)?;
    let model = cfg.model.build(cfg.seed, &dev)?;
    checkpoint::load_fitting(&ckpt, &model, &ck, false)?;
    let schedule = cfg.diffusion.build();
    let loader = cfg.data.loader(cfg.data.open()?, Split::Test, 8, cfg.seed);
    let batch = loader.fixed_batch_from(Split::Test, 0, &dev)?;
    let to_unit = |t: &Tensor| -> candle_core::Result<Tensor> { ((t.flatten_to(1)? + 1.0)? / 2.0)?.clamp(0.0, 1.0) };
    let truth = to_unit(&batch.frames)?;
    let show = |name: &str, pred: &Tensor| -> anyhow::Result<()> {
        let m = frame_metrics(&to_unit(pred)?, &truth)?;
        println!("{name:40} ssim {:.3} psnr {:.2} l1 {:.4}", m[0].1, m[1].1, m[2].1);
        Ok(())
    };
    let frames = batch.frames.dims()[1];
    let copy = batch.reference.unsqueeze(1)?.repeat((1, frames, 1, 1, 1))?;
    show("reference_copy", &copy)?;
    let b = batch.frames.dim(0)?;
    // shuffled reference: roll by one
    let idx: Vec<u32> = (0..b as u32).map(|i| (i + 1) % b as u32).collect();
    let shuf = batch.reference.index_select(&Tensor::new(idx.as_slice(), &dev)?, 0)?;
    if mode == "x0" {
        let mut rng = entprog::seed::stream(7, "probe", 0);
        let eps = Tensor::from_vec(
            entprog::diffusion::loss::normal_vec(&mut rng, batch.frames.elem_count()),
            batch.frames.dims(),
            &dev,
        )?;
        for t in [20usize, 100, 300, 500, 700, 900, 999] {
            let ab = schedule.alpha_bar(t);
            let xt = ((&batch.frames * ab.sqrt())? + (&eps * (1.0 - ab).sqrt())?)?;
            for (label, keep, r) in [
                ("cond", 1.0, &batch.reference),
                ("uncond", 0.0, &batch.reference),
                ("shufref", 1.0, &shuf),
            ] {
                let keep = vec![keep; b];
                let ts = vec![t; b];
                let e = model
                    .forward(&Inputs {
                        x_t: &xt,
                        timesteps: &ts,
                        reference: Some(r),
                        poses: Some(&batch.poses),
                        cond_keep: Some(&keep),
                    })?
                    .detach();
                let e = entprog::diffusion::output_to_eps(&e, &xt, t, &schedule, cfg.diffusion.prediction)?;
                let x0 = ((&xt - (&e * (1.0 - ab).sqrt())?)? / ab.sqrt())?.clamp(-1f32, 1f32)?;
                let mse: f32 = (&e - &eps)?.sqr()?.mean_all()?.to_scalar()?;
                print!("t={t:4} {label:8} eps_mse {mse:.4} ");
                show("x0hat", &x0)?;
            }
        }
    } else if mode == "sdedit" {
        // Partial DDIM (eta 0, 100 respaced steps) from the truth noised to t0.
        let ts = schedule.respaced_timesteps(100);
        let mut rng = entprog::seed::stream(7, "probe", 1);
        let eps = Tensor::from_vec(
            entprog::diffusion::loss::normal_vec(&mut rng, batch.frames.elem_count()),
            batch.frames.dims(),
            &dev,
        )?;
        for t0 in [999usize, 900, 800, 700, 600, 500, 300] {
            for (label, r) in [("ref", &batch.reference), ("shufref", &shuf)] {
                let k = ts.iter().rposition(|&t| t <= t0).unwrap();
                let ab0 = schedule.alpha_bar(ts[k]);
                let mut x = ((&batch.frames * ab0.sqrt())? + (&eps * (1.0 - ab0).sqrt())?)?;
                for i in (0..=k).rev() {
                    let t = ts[i];
                    let ab = schedule.alpha_bar(t);
                    let abp = if i == 0 { 1.0 } else { schedule.alpha_bar(ts[i - 1]) };
                    let keep = vec![1.0; b];
                    let tt = vec![t; b];
                    let e = model
                        .forward(&Inputs {
                            x_t: &x,
                            timesteps: &tt,
                            reference: Some(r),
                            poses: Some(&batch.poses),
                            cond_keep: Some(&keep),
                        })?
                        .detach();
                    let e = entprog::diffusion::output_to_eps(&e, &x, t, &schedule, cfg.diffusion.prediction)?;
                    let x0 = ((&x - (&e * (1.0 - ab).sqrt())?)? / ab.sqrt())?.clamp(-1f32, 1f32)?;
                    let e2 = ((&x - (&x0 * ab.sqrt())?)? / (1.0 - ab).sqrt())?;
                    x = ((&x0 * abp.sqrt())? + (&e2 * (1.0 - abp).sqrt())?)?;
                }
                show(&format!("sdedit from t={} {label}", ts[k]), &x)?;
                if label == "ref" {
                    entprog::results::gif::write_clip_sheet(
                        &std::path::PathBuf::from(format!("probe/sdedit-{t0}.png")),
                        &[batch.frames.get(0)?, x.get(0)?],
                        4,
                    )
                    .map_err(|e| anyhow::anyhow!(e.to_string()))?;
                }
            }
        }
    } else {
        for spec in args[3..].iter() {
            // spec: sampler:steps:guidance
            let p: Vec<&str> = spec.split(':').collect();
            let sampler = if p[0] == "ddim" {
                SamplerKind::Ddim
            } else {
                SamplerKind::Ddpm
            };
            let d = DiffusionConfig {
                sampler,
                sample_steps: p[1].parse()?,
                guidance: p[2].parse()?,
                ..cfg.diffusion.clone()
            };
            let t0 = std::time::Instant::now();
            let g = sample_clips(
                &model,
                Some(&batch.reference),
                Some(&batch.poses),
                batch.frames.dims(),
                &d,
                &schedule,
                11,
            )?;
            show(&format!("{spec} ({:.1}s)", t0.elapsed().as_secs_f64()), &g)?;
            entprog::results::gif::write_clip_sheet(
                &std::path::PathBuf::from(format!("probe/sheet-{}.png", spec.replace(':', "-"))),
                &[batch.frames.get(0)?, g.get(0)?, batch.frames.get(1)?, g.get(1)?],
                4,
            )
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        }
    }
    Ok(())
}
