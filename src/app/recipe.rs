//! What Start will train, said once from the run's description: the preset buttons (the chosen
//! one pressed), the one-line summary under them, the recipe card's facts, and the first screen's
//! "Try it", which loads the first served dataset and starts the class demo in one click.

use leptos::prelude::*;

use tripletlab_core::run::presets::{PRESETS, matching};
use tripletlab_core::run::{HEAD_OUTPUT, RunSpec};
use tripletlab_protocol::{BackendChoice, TrainSettings};

/// The preset buttons, the chosen one pressed, and what it is for.
#[component]
pub fn RecipeChoice(
    settings: RwSignal<TrainSettings>,
    backend: RwSignal<BackendChoice>,
    active: Signal<bool>,
) -> impl IntoView {
    let chosen = Memo::new(move |_| settings.with(|s| matching(&s.run).map(|preset| preset.key)));
    let buttons = PRESETS
        .iter()
        .map(|preset| {
            let pressed = move || chosen.get() == Some(preset.key);
            view! {
                <button
                    class="secondary preset"
                    class:pressed=pressed
                    aria-pressed=move || pressed().to_string()
                    data-preset=preset.key
                    disabled=active
                    on:click=move |_| settings.set(TrainSettings::of(backend.get_untracked(), (preset.spec)()))
                >
                    {preset.label}
                </button>
            }
        })
        .collect_view();
    let what = move || match chosen.get().and_then(|key| PRESETS.iter().find(|preset| preset.key == key)) {
        Some(preset) => preset.what.to_string(),
        None => "Your own settings (changed under All settings, or by a lesson link).".to_string(),
    };
    view! {
        <section class="card" aria-labelledby="settings-title">
            <h3 id="settings-title"><span class="step">"3"</span>"Choose a recipe"</h3>
            <div class="row presets" role="group" aria-label="Recipes">{buttons}</div>
            <p class="preset-what" data-testid="preset-what">{what}</p>
        </section>
    }
}

/// The run in one line, under the recipe buttons: what Start will do.
pub fn settings_summary(run: &RunSpec) -> String {
    let start = if run.pretrained { "pretrained weights" } else { "random weights" };
    let distance = run.loss.distance.name();
    let images = if run.data.images == 0 { "all".to_string() } else { run.data.images.to_string() };
    let fast = if run.fast_mode { ", fast mode (a head on frozen features)" } else { "" };
    let loss = run.loss.kind.name();
    format!(
        "MobileNetV2 width {:?} from {start}, {images} images ({}% held out), batch {}, {} epoch{}, {loss} with margin {:?} ({distance}), learning rate {}{fast}.",
        run.model.width,
        (run.data.held_out * 100.0).round(),
        run.batch_size,
        run.epochs,
        if run.epochs == 1 { "" } else { "s" },
        run.loss.margin,
        run.learning_rate,
    )
}

/// The recipe card: the run that Start will train, fact by fact, from its description. The
/// pretrained weights are described by the site's own `weights.json` (a site may serve others).
#[component]
pub fn RecipeSummary(settings: RwSignal<TrainSettings>) -> impl IntoView {
    let weights = LocalResource::new(weights_description);
    let described = move || match weights.get() {
        None => "reading this site's weights.json".to_string(),
        Some(Ok(description)) => description,
        Some(Err(problem)) => format!("unknown ({problem})"),
    };
    let run = move || settings.with(|s| s.run.clone());
    let data = move || {
        let run = run();
        let images = match run.data.images {
            0 => "every image of the loaded dataset".to_string(),
            n => format!("the first {n} images of the loaded dataset"),
        };
        format!(
            "{images}, made into triplets (anchor, positive of its class, negative of another); {}% of them held out to \
             score",
            (run.data.held_out * 100.0).round()
        )
    };
    let encoder = move || {
        let run = run();
        let what = if run.fast_mode {
            format!("frozen; only a {HEAD_OUTPUT}-number head on top of it learns (fast mode)")
        } else {
            "every layer trained".to_string()
        };
        let start = if run.pretrained { "pretrained weights: ".to_string() } else { "random weights".to_string() };
        (format!("MobileNetV2 (width {:?}), {what}; starts from {start}", run.model.width), run.pretrained)
    };
    let loss = move || {
        let run = run();
        format!("{}, margin {}, d = {} distance", run.loss.kind.formula(), run.loss.margin, run.loss.distance.name())
    };
    let optimiser = move || {
        let run = run();
        format!(
            "Adam, learning rate {}, {} triplets a step, up to {} epoch{} (stops after {} without a better held-out loss)",
            run.learning_rate,
            run.batch_size,
            run.epochs,
            if run.epochs == 1 { "" } else { "s" },
            run.patience
        )
    };
    view! {
        <section class="card" aria-labelledby="recipe-title">
            <h3 id="recipe-title">"Recipe: what Start trains"</h3>
            <p class="settings-summary" data-testid="settings-summary">
                {move || settings.with(|s| settings_summary(&s.run))}
            </p>
            <dl class="facts" data-testid="recipe-facts">
                <dt>"Data"</dt><dd data-testid="recipe-data">{data}</dd>
                <dt>"Encoder"</dt>
                <dd data-testid="recipe-encoder">
                    {move || encoder().0}
                    {move || encoder().1.then(described)}
                </dd>
                <dt>"Loss"</dt><dd data-testid="recipe-loss">{loss}</dd>
                <dt>"Optimiser"</dt><dd data-testid="recipe-optimiser">{optimiser}</dd>
            </dl>
        </section>
    }
}

/// What the site's pretrained weights are, from `public/weights/weights.json`.
async fn weights_description() -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    const URL: &str = "./public/weights/weights.json";
    let text = |err: wasm_bindgen::JsValue| err.as_string().unwrap_or_else(|| format!("{err:?}"));
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(URL))
        .await
        .map_err(text)?
        .dyn_into()
        .map_err(|_| "not a response".to_string())?;
    if !response.ok() {
        return Err(format!("{URL}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(text)?).await.map_err(text)?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    tripletlab_core::model::weights_manifest::WeightsManifest::parse(URL, &bytes)
        .map(|manifest| manifest.description)
        .map_err(|err| err.to_string())
}

/// The first screen's one click: the class demo on the first served dataset, started as soon as
/// it is loaded. `pending` holds the click until the dataset is ready.
#[component]
pub fn TryIt(disabled: Signal<bool>, on_try: Callback<()>, pending: Signal<bool>) -> impl IntoView {
    view! {
        <section class="try-it" aria-label="Try it" data-testid="try-it">
            <p>"See it learn in a minute:"</p>
            <button class="primary big" data-testid="try-button" disabled=disabled on:click=move |_| on_try.run(())>
                {move || if pending.get() { "Loading the pictures..." } else { "Try it" }}
            </button>
        </section>
    }
}
