//! `tripletlab speed`: training and inference throughput of the encoder on a native backend,
//! printed (and written as JSON) for `cargo xtask bench`. A benchmark: it measures, never judges.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use serde::Serialize;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::synthetic;
use tripletlab_core::data::triplets::{TripletConfig, TripletSet};
use tripletlab_core::model::{MobileNetV2Config, cpu_ops, weights};
use tripletlab_core::run::RunSpec;
use tripletlab_core::train::launches::{LaunchObservation, Launches};
use tripletlab_core::train::{Trainer, readbacks};

use crate::backend::BackendName;
use crate::error::CliError;
use crate::settings::DEFAULT_WEIGHTS;
use crate::train::write;

#[derive(Args)]
pub struct SpeedArgs {
    #[arg(long, value_enum, default_value_t = BackendName::Flex)]
    pub backend: BackendName,
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Triplets a step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Measured steps (after the warm-up steps).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Images embedded for the inference figure.
    #[arg(long, default_value_t = 1024)]
    pub images: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The depthwise convolutions and ReLU6 on flex: our loops (model/cpu_ops.rs), or burn's own
    /// operations (to measure the difference; both give the same numbers).
    #[arg(long, value_enum, default_value_t = CpuOpsPath::Ours)]
    pub cpu_ops: CpuOpsPath,
}

#[derive(Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuOpsPath {
    Ours,
    Burn,
}

#[derive(Serialize)]
pub struct SpeedReport {
    pub backend: &'static str,
    pub width: f64,
    pub batch: usize,
    pub steps: usize,
    pub ms_per_step: Spread,
    pub triplets_per_second: f64,
    /// `3 x 3 x 2 x forward MACs` per triplet (see `MobileNetV2Config::training_flops_per_triplet`).
    pub training_gflops_per_triplet: f64,
    pub training_gflop_per_second: f64,
    pub inference_images_per_second: f64,
    pub inference_gflop_per_second: f64,
    /// Kernels issued per training step (CubeCL backends; `None` on flex, which launches none).
    pub dispatches_per_step: Option<f64>,
    /// Times per training step the host waited to read a result from the device.
    pub readbacks_per_step: f64,
    /// burn features compiled in: "fusion", "autotune".
    pub features: Vec<&'static str>,
    /// The depthwise convolutions' and ReLU6's path on flex.
    pub cpu_ops: CpuOpsPath,
    /// The 17 depthwise convolutions alone, forward and both gradients, for the three passes of
    /// a step on the chosen path (median of the measured rounds; flex only).
    pub depthwise_ms_per_step: Option<f64>,
    /// "release" or "dev": the dev profile (the tests' build, debug assertions on) trains about
    /// half as fast (docs/performance.md).
    pub profile: &'static str,
}

#[derive(Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The median (the upper one of an even count), least and greatest of `values` (sorted in
    /// place); NaN when there are none.
    fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let or_nan = |value: Option<&f64>| value.copied().unwrap_or(f64::NAN);
        Self { median: or_nan(values.get(values.len() / 2)), min: or_nan(values.first()), max: or_nan(values.last()) }
    }
}

pub fn run(args: SpeedArgs) -> Result<(), CliError> {
    cpu_ops::use_ours(matches!(args.cpu_ops, CpuOpsPath::Ours));
    let device = args.backend.init()?;
    let model_config = MobileNetV2Config { width: args.width, ..MobileNetV2Config::default() };
    let images = (2 * args.batch * (args.steps + args.warmup)).max(args.images).max(64);
    let data = Dataset::from_batches(
        synthetic::NAME,
        true,
        synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect(),
        [synthetic::batch(7, images)],
    );
    let triplets =
        TripletSet::build(&data.labels, &TripletConfig { held_out_fraction: 0.01, ..TripletConfig::default() })
            .map_err(|err| CliError::Source(err.to_string()))?;
    let model = if args.width == 1.0 {
        let path = PathBuf::from(DEFAULT_WEIGHTS);
        let bytes = std::fs::read(&path).map_err(CliError::io(&path))?;
        weights::load(DEFAULT_WEIGHTS, &bytes, &model_config, &device)?
    } else {
        weights::seeded_init(&model_config, 42, &device)?
    };
    let config = RunSpec { batch_size: args.batch, epochs: 1_000, model: model_config.clone(), ..RunSpec::default() };
    let mut trainer = Trainer::new(model, config, &device);
    let mut seconds = Vec::new();
    let launches = Arc::new(Launches::default());
    let mut counted = None;
    for step in 0..args.warmup + args.steps {
        // The measured steps only: the warm-up compiles kernels (and autotunes).
        if step == args.warmup {
            counted = Some((LaunchObservation::new(launches.clone()), readbacks()));
        }
        let started = Instant::now();
        pollster::block_on(trainer.step(&data, &triplets.train))?;
        if step >= args.warmup {
            seconds.push(started.elapsed().as_secs_f64());
        }
    }
    let measured = args.steps.max(1) as f64;
    let readbacks_per_step = counted.map_or(0, |(watching, before)| {
        drop(watching);
        readbacks() - before
    }) as f64
        / measured;
    let dispatches = launches.count();
    let dispatches_per_step = (args.backend != BackendName::Flex).then_some(dispatches as f64 / measured);
    let seconds = Spread::of(&mut seconds);
    let indices: Vec<u32> = (0..args.images as u32).collect();
    pollster::block_on(trainer.embed(&data, &indices[..args.batch.min(indices.len())]))?;
    let started = Instant::now();
    pollster::block_on(trainer.embed(&data, &indices))?;
    let inference_seconds = started.elapsed().as_secs_f64();

    let depthwise_ms_per_step =
        (args.backend == BackendName::Flex).then(|| depthwise_alone(&model_config, args.batch, args.steps) * 1e3);

    let flops_per_triplet = model_config.training_flops_per_triplet(32);
    let triplets_per_second = args.batch as f64 / seconds.median;
    let images_per_second = args.images as f64 / inference_seconds;
    let report = SpeedReport {
        backend: args.backend.describe(),
        width: args.width,
        batch: args.batch,
        steps: args.steps,
        ms_per_step: Spread { median: seconds.median * 1e3, min: seconds.min * 1e3, max: seconds.max * 1e3 },
        triplets_per_second,
        training_gflops_per_triplet: flops_per_triplet / 1e9,
        training_gflop_per_second: triplets_per_second * flops_per_triplet / 1e9,
        inference_images_per_second: images_per_second,
        inference_gflop_per_second: images_per_second * 2.0 * model_config.forward_macs(32) as f64 / 1e9,
        dispatches_per_step,
        readbacks_per_step,
        features: [("fusion", cfg!(feature = "fusion")), ("autotune", cfg!(feature = "autotune"))]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect(),
        cpu_ops: args.cpu_ops,
        depthwise_ms_per_step,
        profile: if cfg!(debug_assertions) { "dev" } else { "release" },
    };
    println!(
        "{} ({} build): width {}, batch {}: {:.0} ms/step (min {:.0}, max {:.0}), {:.1} triplets/s, {:.1} GFLOP/s; \
         inference {:.0} images/s ({:.1} GFLOP/s)",
        report.backend,
        report.profile,
        report.width,
        report.batch,
        report.ms_per_step.median,
        report.ms_per_step.min,
        report.ms_per_step.max,
        report.triplets_per_second,
        report.training_gflop_per_second,
        report.inference_images_per_second,
        report.inference_gflop_per_second
    );
    let features = if report.features.is_empty() { "none".to_string() } else { report.features.join(", ") };
    match report.dispatches_per_step {
        Some(dispatches) => println!(
            "  per training step: {dispatches:.0} kernel dispatches, {:.1} host read-backs (burn features: {features})",
            report.readbacks_per_step
        ),
        None => println!(
            "  per training step: no kernel dispatches (flex runs on the CPU), {:.1} host read-backs; \
             depthwise convolutions and ReLU6: {}",
            report.readbacks_per_step,
            match report.cpu_ops {
                CpuOpsPath::Ours => "ours (model/cpu_ops.rs)",
                CpuOpsPath::Burn => "burn's",
            }
        ),
    }
    if let Some(depthwise) = report.depthwise_ms_per_step {
        println!(
            "  the 17 depthwise convolutions alone (forward, input and weight gradients, 3 passes of {}): {depthwise:.0} \
             ms a step, {:.0}% of the step",
            report.batch,
            100.0 * depthwise / report.ms_per_step.median
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|err| CliError::Source(err.to_string()))?;
        write(path, text.as_bytes())?;
    }
    Ok(())
}

/// Seconds a training step spends in the depthwise convolutions: each of the model's 17 layers
/// at its channels and side (32 x 32 images), forward and backward on the autodiff flex device,
/// three passes of `batch` images, through `cpu_ops::depthwise_conv2d` (the path `--cpu-ops` chose).
/// The median of `rounds` rounds after one warm-up round.
fn depthwise_alone(config: &MobileNetV2Config, batch: usize, rounds: usize) -> f64 {
    let device = Device::flex().autodiff();
    let layers: Vec<(Tensor<4>, Tensor<4>, ConvOptions<2>)> = config
        .depthwise_layers(32)
        .into_iter()
        .map(|layer| {
            let (channels, side) = (layer.channels, layer.side);
            let x = Tensor::random([batch, channels, side, side], Distribution::Default, &device);
            let weight = Tensor::random([channels, 1, 3, 3], Distribution::Default, &device);
            (x, weight, layer.options)
        })
        .collect();
    let mut seconds: Vec<f64> = (0..=rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            for _pass in 0..3 {
                for (x, weight, options) in &layers {
                    let x = x.clone().require_grad();
                    let weight = weight.clone().require_grad();
                    let grads = cpu_ops::depthwise_conv2d(x.clone(), weight.clone(), options.clone()).sum().backward();
                    drop((x.grad(&grads), weight.grad(&grads)));
                }
            }
            started.elapsed().as_secs_f64()
        })
        .collect();
    seconds.remove(0);
    Spread::of(&mut seconds).median
}
