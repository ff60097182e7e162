//! Lessons as links (see `tripletlab_protocol::lesson`): the lesson this page was opened with
//! (title, introduction, hidden controls), the ready lessons, and a link to the current settings.

use leptos::prelude::*;

use tripletlab_core::run::{RunSpec, query};
use tripletlab_protocol::TrainSettings;
use tripletlab_protocol::lesson::{Control, Lesson, READY_LESSONS};

/// The lesson state of the page.
#[derive(Clone, Copy)]
pub struct LessonState {
    pub title: RwSignal<String>,
    pub intro: RwSignal<String>,
    pub hidden: RwSignal<Vec<Control>>,
    /// What in the link could not be used.
    pub problems: RwSignal<Vec<String>>,
    /// The link to the current settings, once asked for.
    pub link: RwSignal<String>,
    /// The lesson's two runs, trained one after the other to compare them ("Train both"): the
    /// link's own settings, then the same with its `compare` changes.
    pub compare: RwSignal<Option<(RunSpec, RunSpec)>>,
}

impl LessonState {
    /// The lesson in this page's address (`location.search`), if any: its settings are returned
    /// for the studio's form.
    pub fn from_address() -> (Self, Option<Lesson>) {
        let search = window().location().search().unwrap_or_default();
        let state = Self {
            title: RwSignal::new(String::new()),
            intro: RwSignal::new(String::new()),
            hidden: RwSignal::new(Vec::new()),
            problems: RwSignal::new(Vec::new()),
            link: RwSignal::new(String::new()),
            compare: RwSignal::new(None),
        };
        if search.trim_start_matches('?').is_empty() {
            return (state, None);
        }
        let parsed = Lesson::from_query(&search);
        state.title.set(parsed.lesson.title.clone());
        state.intro.set(parsed.lesson.intro.clone());
        state.hidden.set(parsed.lesson.hidden.clone());
        state.problems.set(parsed.problems);
        state.compare.set(parsed.lesson.compare.clone().map(|second| (parsed.lesson.settings.run.clone(), second)));
        (state, Some(parsed.lesson))
    }

    pub fn hides(self, control: Control) -> Signal<bool> {
        Signal::derive(move || self.hidden.with(|hidden| hidden.contains(&control)))
    }
}

/// The lesson's title and introduction (text only), what in its link was ignored, and a lesson's
/// two runs to train one after the other ("Train both") and compare.
#[component]
pub fn LessonBanner(state: LessonState, can_train: Signal<bool>, on_train_both: Callback<()>) -> impl IntoView {
    let second = move || {
        let (first, second) = state.compare.get()?;
        let changes = query::differences(&first, &second);
        let words: Vec<String> = changes.iter().map(|(key, value)| format!("{key} = {value}")).collect();
        Some(format!(
            "This lesson trains two runs and compares them: first the settings below, then the same with {}.",
            words.join(", ")
        ))
    };
    let shown = move || {
        !state.title.with(String::is_empty)
            || !state.intro.with(String::is_empty)
            || !state.problems.with(Vec::is_empty)
            || state.compare.with(Option::is_some)
    };
    view! {
        <Show when=shown>
            <section class="lesson" data-testid="lesson" aria-labelledby="lesson-title">
                <h2 id="lesson-title">{move || state.title.get()}</h2>
                <p>{move || state.intro.get()}</p>
                <Show when=move || state.compare.with(Option::is_some)>
                    <p data-testid="lesson-compare">{second}</p>
                    <button data-testid="train-both" disabled=move || !can_train.get() on:click=move |_| on_train_both.run(())>
                        "Train both"
                    </button>
                </Show>
                <Show when=move || !state.problems.with(Vec::is_empty)>
                    <p class="warning" role="status" data-testid="lesson-problems">
                        "Ignored in this link: " {move || state.problems.get().join("; ")}
                    </p>
                </Show>
                <Show when=move || !state.hidden.with(Vec::is_empty)>
                    <button class="secondary" on:click=move |_| state.hidden.set(Vec::new())>
                        "Show all controls"
                    </button>
                </Show>
            </section>
        </Show>
    }
}

/// Ready lessons, and a link that opens the page with the current settings and hidden controls.
#[component]
pub fn LessonsCard(state: LessonState, settings: RwSignal<TrainSettings>) -> impl IntoView {
    let make_link = move |_| {
        let lesson = Lesson {
            settings: settings.get_untracked(),
            backend: None,
            hidden: state.hidden.get_untracked(),
            title: state.title.get_untracked(),
            intro: state.intro.get_untracked(),
            compare: state.compare.get_untracked().map(|(_, second)| second),
        };
        let location = window().location();
        let base =
            format!("{}{}", location.origin().unwrap_or_default(), location.pathname().unwrap_or_else(|_| "/".into()));
        let link = format!("{base}?{}", lesson.to_query());
        // Best effort (only secure pages have a clipboard): the link is shown either way.
        let navigator = window().navigator();
        if js_sys::Reflect::get(&navigator, &"clipboard".into()).is_ok_and(|clipboard| clipboard.is_object()) {
            let _ = navigator.clipboard().write_text(&link);
        }
        state.link.set(link);
    };
    view! {
        <section class="card" aria-labelledby="lessons-title">
            <h3 id="lessons-title">"Lessons"</h3>
            <ul class="lessons" data-testid="ready-lessons">
                {READY_LESSONS
                    .iter()
                    .map(|(name, query)| view! { <li><a href=format!("?{query}")>{*name}</a></li> })
                    .collect_view()}
            </ul>
            <button class="secondary" on:click=make_link>"Link to these settings"</button>
            <Show when=move || !state.link.with(String::is_empty)>
                <input
                    class="lesson-link"
                    data-testid="lesson-link"
                    readonly
                    aria-label="Link to these settings"
                    prop:value=move || state.link.get()
                />
            </Show>
        </section>
    }
}
