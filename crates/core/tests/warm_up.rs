//! The warm-up (`training::warm_up`): on native wgpu (Mesa's lavapipe) it launches, dry, exactly
//! the kernels a run's first step then launches for real, computes nothing, and leaves the
//! process computing again when it ends. Its own test binary with one test: CubeCL's dry run is
//! process-wide, and would empty the read-backs of any test running beside it.

use std::sync::Arc;

use burn::tensor::Device;
use tripletlab_core::data::triplets::TripletSet;
use tripletlab_core::data::{Dataset, synthetic};
use tripletlab_core::mining::{Mining, MiningConfig};
use tripletlab_core::model::MobileNetV2Config;
use tripletlab_core::run::{DataSpec, RunSpec};
use tripletlab_core::train::launches::{LaunchObservation, Launches};
use tripletlab_core::train::{Next, Trainer, advance};
use tripletlab_core::training::{Training, WarmedUp, warm_up};

fn small(batch_size: usize, mining: Option<MiningConfig>) -> RunSpec {
    RunSpec {
        data: DataSpec { held_out: 0.1, ..DataSpec::default() },
        pretrained: false,
        learning_rate: 3e-3,
        batch_size,
        model: MobileNetV2Config { width: 0.35, bn_momentum: 0.9 },
        mining,
        ..RunSpec::default()
    }
}

fn synthetic_data(spec: &RunSpec) -> (Dataset, TripletSet) {
    let batch = synthetic::batch(11, 200);
    let names = synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect();
    let data = Dataset::from_batches(synthetic::NAME, true, names, [batch]);
    let (triplets, _) = spec.triplets(&data).expect("triplets");
    (data, triplets)
}

/// A run's start as the page's worker makes it: its evaluation before training, then its first
/// step; returns the step's loss and the kernels the step launched.
fn first_step(spec: &RunSpec, device: &Device, launches: &Launches) -> (f32, u64) {
    let (data, triplets) = synthetic_data(spec);
    let model = tripletlab_core::model::weights::seeded_init(&spec.model, spec.seed, device).expect("seeded weights");
    let mut training = Training::Full(Trainer::new(model, spec.clone(), device));
    let scores = pollster::block_on(training.held_out_scores(&data, &triplets.held_out)).expect("evaluation");
    assert!(scores.summary.auc > 0.0, "a real evaluation: {:?}", scores.summary);
    let before = launches.count();
    let Next::Step(report) = pollster::block_on(advance(&mut training.on(&data, &triplets))).expect("step") else {
        panic!("a new run's first move is a step");
    };
    (report.loss, launches.count() - before)
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe: apt-get install mesa-vulkan-drivers); cargo xtask test runs it"]
fn a_warm_up_launches_the_first_steps_kernels_dry_and_leaves_the_run_computing() {
    let launches = Arc::new(Launches::default());
    let _watching = LaunchObservation::new(launches.clone());
    let wgpu = Device::wgpu_options().init().expect("a wgpu adapter (lavapipe)");
    let count = || launches.count();
    let mined = MiningConfig { strategy: Mining::BatchHard, classes: 3, per_class: 2 };
    for spec in [small(4, None), small(6, Some(mined))] {
        let warmed = pollster::block_on(warm_up(&spec, &wgpu, count, || true)).expect("warm-up");
        let Some(WarmedUp { step_dispatches }) = warmed else { panic!("not stopped, so done") };
        let (loss, dispatched) = first_step(&spec, &wgpu, &launches);
        // The same step on the CPU backend (not CubeCL, so never dry): the wgpu step computed.
        let (flex_loss, flex_dispatched) = first_step(&spec, &Device::flex(), &launches);
        println!(
            "mining {:?}: warm-up step {step_dispatches} kernels; first step {dispatched} kernels, loss {loss:.6} \
             (flex {flex_loss:.6})",
            spec.mining.map(|m| m.strategy)
        );
        assert!(step_dispatches > 100, "a step of the encoder launches hundreds of kernels: {step_dispatches}");
        assert_eq!(dispatched, step_dispatches, "the first step launches exactly the warm-up's kernels");
        assert_eq!(flex_dispatched, 0, "flex launches no CubeCL kernel");
        assert!(loss > 0.01 && (loss - flex_loss).abs() < 1e-4, "wgpu {loss} vs flex {flex_loss}");
    }
    // Asked to stop, it stops before its first pass.
    let stopped = pollster::block_on(warm_up(&small(4, None), &wgpu, count, || false)).expect("warm-up");
    assert_eq!(stopped, None);
    // Fast mode (a head on the frozen encoder's features) warms up too; and on flex it computes,
    // on noise images.
    let fast = RunSpec { fast_mode: true, ..small(4, None) };
    assert!(pollster::block_on(warm_up(&fast, &wgpu, count, || true)).expect("fast warm-up").is_some());
    let on_flex = pollster::block_on(warm_up(&small(4, None), &Device::flex(), count, || true)).expect("flex");
    assert_eq!(on_flex, Some(WarmedUp { step_dispatches: 0 }));
}
