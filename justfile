# entprog recipes. `just --list` shows them.

# Where builds go: shared with .ci/run so CI on this machine reuses the build.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", "/var/tmp/entprog-target")

# Run the tests (the README's test command).
test:
    cargo test --release

# Benchmarks (not tests): train step fused, plain and whole-graph backward, kernels, allocator.
bench:
    cargo run --release -- bench train-step --plain --whole
    cargo run --release -- bench kernels
    cargo run --release -- bench alloc
    cargo run --release -- bench nets

# entprog against PyTorch (needs torch), alternating per config over rounds.
compare rounds="5":
    cargo build --release
    python3 bench/compare.py --rounds {{rounds}}

# The paper's training stages in order, each from the previous checkpoint.
stages:
    cargo run --release -- train experiments/foundation.toml
    cargo run --release -- train experiments/stage1.toml
    cargo run --release -- train experiments/stage2.toml
    cargo run --release -- train experiments/stage3.toml

# Ent-Prog on stage 3 and its Table 5 ablations (after `just stages`).
ablations:
    cargo run --release -- train experiments/stage3-entprog.toml
    cargo run --release -- train experiments/stage3-linear.toml
    cargo run --release -- train experiments/stage3-random.toml
    cargo run --release -- train experiments/stage3-skip.toml

# Figure 1 probes on stage 3: (a) freeze sweep, (b, c) random skipping, (d) top vs bottom blocks by CEI.
probes:
    for n in 0 3 6 9 11; do cargo run --release -- train experiments/stage3-freeze.toml --set schedule.frozen=$n --set name=stage3-freeze-$n; done
    cargo run --release -- probe-skip experiments/stage3.toml --trials 5
    cargo run --release -- train experiments/stage3-top.toml
    cargo run --release -- train experiments/stage3-bottom.toml

# Reproduce a paper table or figure: just reproduce table3 [--profile smoke] [--seeds 3] [--dry-run]
reproduce TARGET *FLAGS:
    cargo run --release -- reproduce {{TARGET}} {{FLAGS}}

# Rebuild a report from the Parquet files on disk: just report table3 [--profile smoke]
report TARGET *FLAGS:
    cargo run --release -- report {{TARGET}} {{FLAGS}}

# Formatting and lints, as CI reviewers expect them.
check:
    cargo fmt --all -- --check
    cargo clippy --release --all-targets -- -D warnings

# Print an experiment's resolved config and hash: just config experiments/base.toml
config EXPERIMENT *FLAGS:
    cargo run --release -- config show {{EXPERIMENT}} {{FLAGS}}

# The cost model against measured steps (docs/cost-model.md): calibrate this machine, then validate.
cost-validate:
    cargo run --release -- cost --calibrate --out results/cost/calibration.json
    cargo run --release -- cost --validate --calibration results/cost/calibration.json
