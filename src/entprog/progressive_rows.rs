//! The result tables of a progressive schedule: per stage, the blocks'
//! scores, ranks and states (`blocks.parquet`) and the supernet's chunks
//! (`supernet.parquet`).

use super::decisions::Decision;
use super::progressive::Progressive;
use super::progressive_step::{gate_at, History, ScheduleError};
use super::schedule::{Clock, StageBlocks};
use crate::results::{BlockRow, SupernetRow};

impl Progressive {
    /// `blocks.parquet` rows: per stage, every schedulable block with the
    /// score and rank of the order the stage used and its state in the
    /// stage (after the supernet, for an adaptive stage).
    pub fn block_rows(&mut self, run: &str, h: &History) -> Result<Vec<BlockRow>, ScheduleError> {
        let mut rows = Vec::new();
        for k in 0..self.plan.stages.len() {
            let owner = self.owner(k);
            let Some(Decision::Order {
                scorer,
                ids,
                values,
                se,
                order,
                ..
            }) = h
                .decisions
                .iter()
                .find(|d| matches!(d, Decision::Order { stage, .. } if *stage == owner))
                .cloned()
            else {
                return Err(ScheduleError::State(format!("no priority order for stage {owner}")));
            };
            let m = self.m_of(k, h)?;
            let rank = super::rank::ranks(&order);
            for (i, id) in ids.iter().enumerate() {
                let kind = id.split('.').next().unwrap_or_default().to_string();
                rows.push(BlockRow {
                    run: run.into(),
                    stage: format!("k{k}"),
                    block_id: id.clone(),
                    kind,
                    scorer: scorer.clone(),
                    score: values[i].unwrap_or(f64::NAN),
                    score_se: se[i],
                    rank: rank[i] as u32,
                    state: gate_at(rank[i], m, self.skip_inactive).as_str().into(),
                });
            }
        }
        Ok(rows)
    }

    /// `supernet.parquet` rows: every candidate's chunks with held-out
    /// losses, cumulative clocks, CE and the choice.
    pub fn supernet_rows(&mut self, run: &str, h: &History) -> Result<Vec<SupernetRow>, ScheduleError> {
        let mut rows = Vec::new();
        let clock = self.supernet.clock;
        for k in 0..self.plan.stages.len() {
            if matches!(self.plan.stages[k].blocks, StageBlocks::Fixed(_)) {
                continue;
            }
            let chosen = self.m_of(k, h)?;
            for (m, ce, chunks) in self.ce_of(k, h)? {
                let (mut flops, mut wall) = (0.0, 0.0);
                for (s, (span, c, other)) in chunks.iter().enumerate() {
                    let (f, w) = match clock {
                        Clock::Flops => (c.cost, *other),
                        Clock::Wall => (*other, c.cost),
                    };
                    flops += f;
                    wall += w;
                    rows.push(SupernetRow {
                        run: run.into(),
                        stage: format!("k{k}"),
                        candidate_m: m as u32,
                        eval_point: s as u32 + 1,
                        step_start: span.start,
                        step_end: span.end(),
                        loss_before: c.loss_before,
                        heldout_loss: c.loss_after,
                        clock_flops: flops,
                        clock_wall_s: wall,
                        ce,
                        chosen: m == chosen,
                    });
                }
            }
        }
        Ok(rows)
    }
}
