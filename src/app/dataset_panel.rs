//! Choosing and loading a dataset: the datasets served with the page, or the visitor's own copy
//! of CIFAR-10 (read in the worker, never uploaded). Shows progress, what loaded, and errors
//! with a retry.

use js_sys::Uint8Array;
use leptos::prelude::*;
use tripletlab_core::data::manifest::IndexEntry;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileList, HtmlInputElement};

use tripletlab_protocol::{Command, DatasetRequest, DatasetSummary, DroppedFile, LoadProgress, PicturesPart};

/// Where `tripletlab prepare` puts the served datasets (see `index.html`'s copy of `public/`).
pub const DATA_ROOT: &str = "./public/data";

#[derive(Clone, Debug, PartialEq)]
pub enum ListState {
    Loading,
    Ready(Vec<IndexEntry>),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum LoadState {
    Idle,
    Reading,
    Loading(LoadProgress),
    Ready(DatasetSummary),
    Failed(String),
}

/// The dataset part of the page's state.
#[derive(Clone, Copy)]
pub struct DatasetState {
    pub list: RwSignal<ListState>,
    /// Index into the list.
    pub selected: RwSignal<usize>,
    /// Only the first N shards (None: all).
    pub max_shards: RwSignal<Option<u32>>,
    pub load: RwSignal<LoadState>,
    /// The last request, for the retry button.
    last_request: StoredValue<Option<DatasetRequest>, LocalStorage>,
    /// What the worker holds: the last dataset that loaded (a later load that failed changed
    /// nothing there).
    pub held: RwSignal<Option<DatasetSummary>>,
    /// The pictures of a chosen folder (path inside it, file), to show beside their 32 x 32.
    originals: StoredValue<Vec<(String, web_sys::File)>, LocalStorage>,
    /// Parts of a folder of pictures the worker has read (it answers each before the next is sent).
    pub parts_read: RwSignal<u32>,
}

impl DatasetState {
    pub fn new() -> Self {
        Self {
            list: RwSignal::new(ListState::Loading),
            selected: RwSignal::new(0),
            max_shards: RwSignal::new(None),
            load: RwSignal::new(LoadState::Idle),
            last_request: StoredValue::new_local(None),
            held: RwSignal::new(None),
            originals: StoredValue::new_local(Vec::new()),
            parts_read: RwSignal::new(0),
        }
    }

    /// A fresh engine holds no dataset: load again the one that was loaded (from the browser's
    /// cache, so quickly). A load that was still running may be what ended the engine: not that.
    pub fn restore(self, send: Callback<Command>) {
        self.held.set(None);
        match (self.load.get_untracked(), self.last_request.get_value()) {
            (LoadState::Ready(_), Some(request)) => self.start(request, send),
            (LoadState::Ready(_) | LoadState::Loading(_) | LoadState::Reading, _) => self.load.set(LoadState::Idle),
            _ => {}
        }
    }

    /// Whether the engine can be replaced without losing what it is reading: a served dataset is
    /// asked of the new one again, but a folder of pictures or dropped files (sent in parts, or
    /// once) cannot be; the page waits for them to load or fail.
    pub fn can_move_to_new_engine(self) -> bool {
        match self.load.get_untracked() {
            LoadState::Reading => false,
            LoadState::Loading(_) => {
                self.last_request.with_value(|request| matches!(request, Some(DatasetRequest::Served { .. })))
            }
            LoadState::Idle | LoadState::Ready(_) | LoadState::Failed(_) => true,
        }
    }

    /// The page replaced its engine on purpose (by the threaded one, before anything was trained):
    /// the new one is asked for what the old one held, and for a served dataset it was loading.
    pub fn move_to_new_engine(self, send: Callback<Command>) {
        match (self.load.get_untracked(), self.last_request.get_value()) {
            (LoadState::Loading(_), Some(request @ DatasetRequest::Served { .. })) => {
                self.held.set(None);
                self.start(request, send);
            }
            _ => self.restore(send),
        }
    }

    /// Whether the worker holds a dataset to train on.
    pub fn ready(self) -> bool {
        match self.load.get() {
            LoadState::Ready(_) => true,
            LoadState::Failed(_) | LoadState::Idle => self.held.with(Option::is_some),
            LoadState::Loading(_) | LoadState::Reading => false,
        }
    }

    /// Load the dataset selected in the list (for a lesson that hides this card).
    pub fn load_selected(self, send: Callback<Command>) {
        if let Some(request) = self.request_selected() {
            self.start(request, send);
        }
    }

    /// Ask the worker to load `request`, remembered for Retry.
    fn start(self, request: DatasetRequest, send: Callback<Command>) {
        self.last_request.set_value(Some(request.clone()));
        self.load.set(LoadState::Loading(LoadProgress::default()));
        send.run(Command::LoadDataset(request));
    }

    fn request_selected(self) -> Option<DatasetRequest> {
        let ListState::Ready(datasets) = self.list.get_untracked() else { return None };
        let entry = datasets.get(self.selected.get_untracked())?;
        Some(DatasetRequest::Served {
            manifest_url: format!("{DATA_ROOT}/{}", entry.manifest),
            max_shards: self.max_shards.get_untracked(),
        })
    }
}

#[component]
pub fn DatasetPanel(state: DatasetState, send: Callback<Command>) -> impl IntoView {
    let busy = move || matches!(state.load.get(), LoadState::Loading(_) | LoadState::Reading);
    let start = move |request: DatasetRequest| state.start(request, send);
    let load_selected = move |_: leptos::ev::MouseEvent| {
        if let Some(request) = state.request_selected() {
            start(request);
        }
    };
    let retry = move |()| {
        if let Some(request) = state.last_request.get_value() {
            start(request);
        }
    };
    let read_files = move |files: Option<FileList>| {
        let Some(files) = files.filter(|files| files.length() > 0) else { return };
        state.load.set(LoadState::Reading);
        wasm_bindgen_futures::spawn_local(async move {
            match read_file_list(&files).await {
                Ok(files) => start(DatasetRequest::Dropped { files }),
                Err(message) => state.load.set(LoadState::Failed(message)),
            }
        });
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok());
        read_files(input.and_then(|input| input.files()));
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        read_files(ev.data_transfer().and_then(|transfer| transfer.files()));
    };
    // A folder of pictures, its sub-folders the classes: read here, decoded in the worker.
    let on_folder = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok());
        let Some(files) = input.as_ref().and_then(HtmlInputElement::files).filter(|files| files.length() > 0) else {
            return;
        };
        // Taken out of the input's list now: clearing the input below empties that list.
        let files: Vec<web_sys::File> = (0..files.length()).filter_map(|at| files.item(at)).collect();
        state.load.set(LoadState::Reading);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(message) = send_folder(files, state, send).await {
                state.load.set(LoadState::Failed(message));
            }
        });
        if let Some(input) = input {
            input.set_value("");
        }
    };
    // A .zip of such a folder: unpacked in the worker, within limits.
    let on_zip = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok());
        let Some(file) = input.as_ref().and_then(HtmlInputElement::files).and_then(|files| files.get(0)) else {
            return;
        };
        state.load.set(LoadState::Reading);
        wasm_bindgen_futures::spawn_local(async move {
            match read_zip(&file).await {
                Ok(zip) => {
                    state.originals.set_value(Vec::new());
                    let part = PicturesPart::whole(1);
                    start(DatasetRequest::Pictures { files: vec![zip], part });
                }
                Err(message) => state.load.set(LoadState::Failed(message)),
            }
        });
        if let Some(input) = input {
            input.set_value("");
        }
    };

    view! {
        <section class="card" aria-labelledby="dataset-title">
            <h3 id="dataset-title"><span class="step">"2"</span>"Dataset"</h3>
            {move || match state.list.get() {
                ListState::Loading => view! { <p class="muted">"Looking for datasets..."</p> }.into_any(),
                ListState::Failed(message) => view! {
                    <p class="error" data-testid="dataset-list-error">{message}</p>
                }.into_any(),
                ListState::Ready(datasets) if datasets.is_empty() => view! {
                    <p class="muted" data-testid="dataset-none">
                        "No dataset is served with this page (run `cargo xtask serve`, or "
                        "`tripletlab prepare`). You can still use your own copy of CIFAR-10 below."
                    </p>
                }.into_any(),
                ListState::Ready(datasets) => view! {
                    <div class="row">
                        <label>
                            "Served "
                            <select
                                data-testid="dataset-select"
                                prop:disabled=busy
                                on:change=move |ev| {
                                    let picked = event_target_value(&ev).parse().unwrap_or(0);
                                    state.selected.set(picked);
                                }
                            >
                                {datasets.iter().enumerate().map(|(at, entry)| view! {
                                    <option value=at.to_string() selected=move || state.selected.get() == at>
                                        {describe_entry(entry)}
                                    </option>
                                }).collect_view()}
                            </select>
                        </label>
                        <label>
                            "Shards "
                            <select
                                data-testid="dataset-shards"
                                prop:disabled=busy
                                on:change=move |ev| state.max_shards.set(event_target_value(&ev).parse().ok())
                            >
                                <option value="all">"all"</option>
                                {(1..=6u32).map(|n| view! { <option value=n.to_string()>{format!("first {n}")}</option> }).collect_view()}
                            </select>
                        </label>
                        <button data-testid="dataset-load" prop:disabled=busy on:click=load_selected>"Load"</button>
                    </div>
                }.into_any(),
            }}
            // Dropping CIFAR-10 files works on the closed line too.
            <details
                class="own-files"
                data-testid="own-data"
                on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=on_drop
            >
                <summary>"Or your own: pictures (a folder, the camera) or CIFAR-10 files"</summary>
                <div data-testid="own-pictures">
                    <h4>"A folder of pictures"</h4>
                    <p>
                        "Choose a folder with one sub-folder a class (for example "<code>"pets/cat"</code>" and "
                        <code>"pets/dog"</code>"), 2 to 10 classes of at least 4 pictures each. Each picture is cut to its "
                        "centred square and scaled to 32 x 32 in this browser; nothing is uploaded."
                    </p>
                    <label class="file-button">
                        "Choose a folder"
                        <input
                            type="file"
                            multiple
                            prop:webkitdirectory=true
                            data-testid="pictures-folder"
                            prop:disabled=busy
                            on:change=on_folder
                        />
                    </label>
                    <button type="button" class="secondary" data-testid="pictures-kept" prop:disabled=busy
                        on:click=move |_| start(DatasetRequest::KeptPictures)>
                        "or the pictures kept from last time"
                    </button>
                    <label class="file-button">
                        "or a .zip of it"
                        <input type="file" accept=".zip,application/zip" data-testid="pictures-zip" prop:disabled=busy on:change=on_zip />
                    </label>
                </div>
                <super::camera::CameraPictures
                    on_use=Callback::new(move |files: Vec<DroppedFile>| {
                        let part = PicturesPart::whole(files.len());
                        start(DatasetRequest::Pictures { files, part })
                    })
                    busy=Signal::derive(busy)
                />
                <h4>"CIFAR-10 files"</h4>
                <label class="dropzone">
                    "Drop "
                    <code>"cifar-10-binary.tar.gz"</code>
                    " (or the .bin files with batches.meta.txt) here, or "
                    <input
                        type="file"
                        multiple
                        accept=".gz,.tgz,.bin,.txt"
                        data-testid="dataset-files"
                        prop:disabled=busy
                        on:change=on_pick
                    />
                    <span class="muted">" Read in your browser; nothing is uploaded."</span>
                </label>
            </details>
            <LoadStatus state=state retry=Callback::new(retry) />
            <PictureSamples state=state send=send />
        </section>
    }
}

#[component]
fn LoadStatus(state: DatasetState, retry: Callback<()>) -> impl IntoView {
    move || {
        match state.load.get() {
        LoadState::Idle => ().into_any(),
        LoadState::Reading => {
            view! { <p data-testid="dataset-status" data-state="reading">"Reading your files..."</p> }.into_any()
        }
        LoadState::Loading(progress) => view! {
            <div data-testid="dataset-progress">
                {if progress.bytes_total == 0 && progress.shards_total > 0 {
                    view! { <progress max=progress.shards_total.to_string() value=progress.shards_done.to_string()></progress> }
                } else {
                    view! { <progress max=progress.bytes_total.max(1).to_string() value=progress.bytes_done.to_string()></progress> }
                }}
                <p data-testid="dataset-status" data-state="loading">{progress_line(&progress)}</p>
            </div>
        }
        .into_any(),
        LoadState::Ready(summary) => view! {
            <p data-testid="dataset-status" data-state="ready" class:synthetic=summary.synthetic data-parts-read=state.parts_read.get_untracked().to_string()>
                {summary_line(&summary)}
            </p>
        }
        .into_any(),
        LoadState::Failed(message) => view! {
            <div class="error">
                <p data-testid="dataset-status" data-state="failed">{message}</p>
                {state.held.get().map(|held| view! {
                    <p data-testid="dataset-kept">{format!("Training still uses {} ({} images), loaded before.", held.name, group(held.images))}</p>
                })}
                <button data-testid="dataset-retry" on:click=move |_| retry.run(())>"Retry"</button>
            </div>
        }
        .into_any(),
    }
    }
}

fn describe_entry(entry: &IndexEntry) -> String {
    let kind = if entry.synthetic { "SYNTHETIC shapes, not CIFAR-10" } else { "real images" };
    format!("{} ({kind}; {} images, {})", entry.name, group(entry.images), megabytes(entry.bytes))
}

fn progress_line(progress: &LoadProgress) -> String {
    // Pictures count files, not shards (and their total bytes are not known ahead).
    if progress.bytes_total == 0 && progress.shards_total > 0 {
        return format!(
            "{} of {} pictures made 32 x 32 ({} read){}",
            group(u64::from(progress.shards_done)),
            group(u64::from(progress.shards_total)),
            megabytes(progress.bytes_done),
            if progress.current.is_empty() { String::new() } else { format!("; reading {}", progress.current) },
        );
    }
    if progress.shards_total == 0 {
        return "Reading the manifest...".to_string();
    }
    format!(
        "{} of {} shards, {} of {}; {} from the browser cache{}",
        progress.shards_done,
        progress.shards_total,
        megabytes(progress.bytes_done),
        megabytes(progress.bytes_total),
        progress.from_cache,
        if progress.current.is_empty() { String::new() } else { format!("; reading {}", progress.current) },
    )
}

fn summary_line(summary: &DatasetSummary) -> String {
    if !summary.samples.is_empty() {
        let counts: Vec<String> = summary
            .class_names
            .iter()
            .zip(&summary.class_counts)
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        return format!(
            "Loaded your pictures: {} pictures in {} classes ({}), each cut to its centred square and scaled to 32 x 32 \
             in this browser, in {:.0} ms.",
            group(summary.images),
            summary.class_names.len(),
            counts.join(", "),
            summary.millis
        );
    }
    let kind = if summary.synthetic { "SYNTHETIC shapes, not CIFAR-10" } else { "real images" };
    format!(
        "Loaded {} ({kind}): {} images in {} classes from {} shards ({} from the browser cache, {} downloaded) in {:.0} ms.",
        summary.name,
        group(summary.images),
        // Classes with images (a format's unused names are not classes).
        summary.class_counts.iter().filter(|&&count| count > 0).count(),
        summary.shards,
        summary.from_cache,
        megabytes(summary.downloaded_bytes),
        summary.millis
    )
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// 60000 -> "60,000".
pub(crate) fn group(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub(crate) async fn read_file_list(files: &FileList) -> Result<Vec<DroppedFile>, String> {
    let mut read = Vec::new();
    for at in 0..files.length() {
        let Some(file) = files.item(at) else { continue };
        let buffer = JsFuture::from(file.array_buffer())
            .await
            .map_err(|err| format!("{} could not be read: {err:?}", file.name()))?;
        read.push(DroppedFile { name: file.name(), bytes: Uint8Array::new(&buffer).to_vec() });
    }
    Ok(read)
}

/// At most this many files are read from a chosen folder; they go to the worker in parts of at
/// most `PART_FILES` files and `PART_BYTES` bytes (16 MB: the browser peaked 431 MB over its
/// resting memory importing 1,000 photos, 804 MB with 64 MB parts, for 2% less time;
/// docs/performance.md), each read only when the worker has made the
/// previous part 32 x 32 (so neither side ever holds the whole folder's bytes).
const MAX_FOLDER_FILES: usize = 20_000;
const PART_FILES: usize = 200;
const PART_BYTES: f64 = 16e6;
/// A .zip is read whole (then unpacked in the worker): at most this many bytes.
const MAX_ZIP_BYTES: f64 = 400e6;

/// Send a chosen folder's files to the worker part by part, each named by its path inside the
/// folder (`cat/1.jpg`); its pictures' `File`s are kept (by class and name) to show beside their
/// 32 x 32 versions.
async fn send_folder(files: Vec<web_sys::File>, state: DatasetState, send: Callback<Command>) -> Result<(), String> {
    if files.len() > MAX_FOLDER_FILES {
        return Err(format!(
            "The folder holds {} files; choose one with at most {} (a few hundred pictures a class is plenty at 32 x 32).",
            group(files.len() as u64),
            group(MAX_FOLDER_FILES as u64)
        ));
    }
    // The path starts with the chosen folder's own name: the classes are the folders below it.
    let named: Vec<(String, web_sys::File)> = files
        .into_iter()
        .map(|file| {
            let path = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|path| path.as_string())
                .unwrap_or_default();
            let inside = path.split_once('/').map_or_else(|| file.name(), |(_, inside)| inside.to_string());
            (inside, file)
        })
        .collect();
    let mut parts: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut from, mut bytes) = (0, 0.0);
    for (at, (_, file)) in named.iter().enumerate() {
        if at > from && (at - from == PART_FILES || bytes + file.size() > PART_BYTES) {
            parts.push(from..at);
            (from, bytes) = (at, 0.0);
        }
        bytes += file.size();
    }
    parts.push(from..named.len());
    let count = parts.len() as u32;
    state.parts_read.set(0);
    state.last_request.set_value(None);
    state.originals.set_value(Vec::new());
    state.load.set(LoadState::Loading(LoadProgress::default()));
    for (index, range) in parts.into_iter().enumerate() {
        let mut read = Vec::with_capacity(range.len());
        for (inside, file) in &named[range.clone()] {
            let buffer = JsFuture::from(file.array_buffer())
                .await
                .map_err(|err| format!("{inside} could not be read: {err:?}"))?;
            read.push(DroppedFile { name: inside.clone(), bytes: Uint8Array::new(&buffer).to_vec() });
        }
        let part = PicturesPart {
            index: index as u32,
            count,
            files_before: range.start as u32,
            files_total: named.len() as u32,
        };
        send.run(Command::LoadDataset(DatasetRequest::Pictures { files: read, part }));
        if part.is_last() {
            break;
        }
        // The worker answers each part before the next is read; a failure ends the folder.
        while state.parts_read.get_untracked() <= part.index {
            if matches!(state.load.get_untracked(), LoadState::Failed(_)) {
                return Ok(());
            }
            sleep(20).await;
        }
    }
    state.originals.set_value(named);
    // A fresh worker loads the pictures it kept, not the folder again (the page holds none of it).
    state.last_request.set_value(Some(DatasetRequest::KeptPictures));
    Ok(())
}

/// A chosen .zip's bytes, named as the file.
async fn read_zip(file: &web_sys::File) -> Result<DroppedFile, String> {
    if file.size() > MAX_ZIP_BYTES {
        return Err(format!(
            "{} is {:.0} MB; choose a .zip of at most {:.0} MB, or the folder itself.",
            file.name(),
            file.size() / 1e6,
            MAX_ZIP_BYTES / 1e6
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|err| format!("{} could not be read: {err:?}", file.name()))?;
    Ok(DroppedFile { name: file.name(), bytes: Uint8Array::new(&buffer).to_vec() })
}

/// Wait `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// After a folder of pictures loaded: one picture of each class as chosen beside what the encoder
/// sees (its centred square at 32 x 32).
#[component]
fn PictureSamples(state: DatasetState, send: Callback<Command>) -> impl IntoView {
    let samples = move || match state.load.get() {
        LoadState::Ready(summary) => summary.samples,
        _ => Vec::new(),
    };
    let original = move |class: &str, file: &str| {
        state.originals.with_value(|kept| {
            kept.iter()
                .find(|(path, _)| path.starts_with(&format!("{class}/")) && path.ends_with(&format!("/{file}")))
                .and_then(|(_, file)| web_sys::Url::create_object_url_with_blob(file).ok())
        })
    };
    view! {
        <Show when=move || !samples().is_empty()>
            <ul class="picture-samples" data-testid="picture-samples">
                {move || samples().into_iter().map(|sample| {
                    let url = original(&sample.class, &sample.file).unwrap_or_default();
                    view! {
                        <li data-testid="picture-sample">
                            <img class="original" src=url alt=format!("{} as chosen: {}", sample.class, sample.file) width="64" height="64" />
                            <img src=super::charts::image_url(&sample.pixels) alt=format!("{} at 32 x 32", sample.class) width="64" height="64" />
                            <span>{format!("{}: {} -> 32 x 32", sample.class, sample.file)}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <button type="button" data-testid="pictures-export" on:click=move |_| send.run(Command::ExportDataset)>
                "Save them as a CIFAR-10 archive"
            </button>
            <span class="hint">" (for "<code>"tripletlab prepare --from"</code>" or another browser)"</span>
        </Show>
    }
}
