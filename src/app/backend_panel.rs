//! Which compute backend the worker uses: the WebGPU adapter (or why there is none), the choice
//! between WebGPU and the CPU, and a check that the chosen backend computes correctly.

use leptos::prelude::*;

use super::{BackendState, CpuThreads, PingState};
use tripletlab_protocol::{AdapterReport, BackendChoice};

#[component]
pub fn BackendPanel(state: BackendState, on_check: Callback<()>) -> impl IntoView {
    // The threaded worker computes on the CPU only.
    let webgpu_available = move || {
        matches!(state.adapter.get(), Some(AdapterReport::Available(_)))
            && !matches!(state.cpu_threads.get(), CpuThreads::Running(_))
    };
    let running = move || matches!(state.ping.get(), PingState::Running(_));
    let choose = move |backend: BackendChoice| {
        state.choice.set(backend);
        on_check.run(());
    };

    view! {
        <section class="card" aria-labelledby="backend-title">
            <h3 id="backend-title"><span class="step">"1"</span>"Compute backend"</h3>
            <p class="adapter" data-testid="adapter-line">{move || adapter_line(state.adapter.get())}</p>
            // Why there is no adapter, one click away: the path stays short on a projector.
            {move || match state.adapter.get() {
                Some(AdapterReport::Unavailable(why)) => Some(view! {
                    <details class="why" data-testid="adapter-why">
                        <summary>"Why, and how to get WebGPU"</summary>
                        <p>{why.explain()}</p>
                        {move || one_thread_why(state.cpu_threads.get()).map(|why| view! {
                            <p data-testid="cpu-threads-why">{why}</p>
                        })}
                    </details>
                }),
                _ => None,
            }}
            <fieldset class="backend-choice" disabled=running>
                <legend>"Train on"</legend>
                <label>
                    <input
                        type="radio"
                        name="backend"
                        data-testid="backend-webgpu"
                        disabled=move || !webgpu_available()
                        prop:checked=move || state.choice.get() == BackendChoice::WebGpu
                        on:change=move |_| choose(BackendChoice::WebGpu)
                    />
                    " WebGPU (your GPU)"
                </label>
                <label>
                    <input
                        type="radio"
                        name="backend"
                        data-testid="backend-cpu"
                        prop:checked=move || state.choice.get() == BackendChoice::Cpu
                        on:change=move |_| choose(BackendChoice::Cpu)
                    />
                    " CPU (WebAssembly, "
                    <span data-testid="cpu-threads" data-threads=move || threads_count(&state.cpu_threads.get())>
                        {move || threads_words(&state.cpu_threads.get())}
                    </span>
                    ")"
                </label>
            </fieldset>
            <div class="row check">
                <button data-testid="ping-button" disabled=running on:click=move |_| on_check.run(())>
                    "Check backend"
                </button>
                <div class="ping" data-testid="ping-result" data-state=move || ping_state_name(&state.ping.get())>
                    <span>{move || ping_verdict(state.ping.get())}</span>
                    // The developer's self-check, one click away.
                    <Show when=move || matches!(state.ping.get(), PingState::Done(_))>
                        <details class="ping-details">
                            <summary>"What was checked"</summary>
                            <span data-testid="ping-detail">{move || ping_line(state.ping.get())}</span>
                        </details>
                    </Show>
                </div>
            </div>
        </section>
    }
}

fn adapter_line(adapter: Option<AdapterReport>) -> String {
    match adapter {
        None => "Looking for a WebGPU adapter...".to_string(),
        Some(AdapterReport::Available(info)) => {
            let kind = if info.is_fallback { "fallback adapter (software, slow)" } else { "hardware adapter" };
            let name = [info.vendor, info.architecture, info.device]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" / ");
            let name = if name.is_empty() { "unnamed adapter".to_string() } else { name };
            format!("WebGPU adapter: {name}, {kind}")
        }
        Some(AdapterReport::Unavailable(_)) => {
            "No WebGPU adapter. Training will use the CPU backend instead.".to_string()
        }
    }
}

/// How many threads the CPU trains with, in words.
fn threads_words(threads: &CpuThreads) -> String {
    match threads_count(threads) {
        1 => "one thread".to_string(),
        threads => format!("{threads} threads"),
    }
}

/// Why the CPU trains with one thread on a page without WebGPU, in plain words (shown with why
/// there is no WebGPU).
fn one_thread_why(threads: CpuThreads) -> Option<String> {
    match threads {
        CpuThreads::One(why) if !why.is_empty() => {
            Some(format!("On the CPU it trains with one thread, because {why}."))
        }
        CpuThreads::One(_) | CpuThreads::Possible(_) | CpuThreads::Running(_) => None,
    }
}

/// The threads the CPU trains with now (for the tests and the bench).
fn threads_count(threads: &CpuThreads) -> usize {
    match threads {
        CpuThreads::Running(threads) => *threads,
        CpuThreads::Possible(_) | CpuThreads::One(_) => 1,
    }
}

fn ping_state_name(ping: &PingState) -> &'static str {
    match ping {
        PingState::Idle => "idle",
        PingState::Running(_) => "running",
        PingState::Done(report) if report.check.passed() => "ok",
        PingState::Done(_) => "wrong",
        PingState::Failed { .. } => "failed",
    }
}

/// The check in plain words.
fn ping_verdict(ping: PingState) -> String {
    match ping {
        PingState::Done(report) if report.check.passed() => format!(
            "{} works: a small test computation came out right ({:.0} ms).",
            report.backend.label(),
            report.millis
        ),
        PingState::Done(report) => {
            format!("{} computed a test WRONG: train on the other backend.", report.backend.label())
        }
        other => ping_line(other),
    }
}

/// The check in a developer's detail: the device, the numbers computed and expected.
fn ping_line(ping: PingState) -> String {
    match ping {
        PingState::Idle => String::new(),
        PingState::Running(backend) => format!("Checking {}...", backend.label()),
        PingState::Done(report) => {
            let verdict = if report.check.passed() { "correct" } else { "WRONG" };
            format!(
                "{}: {} computed {:?}, expected {:?}: {verdict} ({:.0} ms)",
                report.backend.label(),
                report.device,
                report.check.computed,
                report.check.expected,
                report.millis
            )
        }
        PingState::Failed { backend, message } => format!("{} failed: {message}", backend.label()),
    }
}
