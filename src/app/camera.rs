//! Pictures sorted into named classes as they are taken with the camera or picked as files: a
//! dataset like a folder of classes (the worker makes each 32 x 32 from its centred square), or
//! the pictures of one class to enrol. The camera's frames and the files stay in this page;
//! nothing is sent anywhere, and the camera stops when asked or when the pictures are used.

use base64::Engine as _;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlCanvasElement, HtmlVideoElement, MediaStream, MediaStreamConstraints};

use tripletlab_protocol::DroppedFile;

/// One picture taken or picked: its class, its file name, its bytes (the frame as a PNG, or the
/// file as it is) and a URL that shows it (the PNG's `data:` URL, or the file's `blob:` URL).
#[derive(Clone, Debug, PartialEq)]
struct Taken {
    class: String,
    name: String,
    url: String,
    bytes: Vec<u8>,
}

#[component]
pub fn CameraPictures(
    /// Hands the pictures taken over as files named `class/camera-N.png`.
    on_use: Callback<Vec<DroppedFile>>,
    busy: Signal<bool>,
    /// Before each `data-testid` (two cameras on one page: the dataset's and the enrolment's).
    #[prop(optional)]
    prefix: &'static str,
    /// For enrolling one class (the pictures of one class, at least 2) instead of a dataset.
    #[prop(optional)]
    enrol: bool,
) -> impl IntoView {
    let id = move |name: &str| format!("{prefix}{name}");
    let intro = if enrol {
        "Name the new class and take a few pictures of it, or add picture files (at least 2). The pictures stay in \
         this page."
    } else {
        "Name a class, take a few pictures of it or add picture files (at least 4), then name the next class and \
         do the same. The pictures stay in this page."
    };
    let use_label = if enrol { "Enrol these pictures" } else { "Use these pictures" };
    let video = NodeRef::<leptos::html::Video>::new();
    let stream: StoredValue<Option<MediaStream>, LocalStorage> = StoredValue::new_local(None);
    let running = RwSignal::new(false);
    let problem = RwSignal::new(String::new());
    let class = RwSignal::new("class 1".to_string());
    let taken: RwSignal<Vec<Taken>> = RwSignal::new(Vec::new());
    let stop = move || {
        if let Some(stream) = stream.get_value() {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        stream.set_value(None);
        running.set(false);
    };
    let start = move |_| {
        problem.set(String::new());
        leptos::task::spawn_local(async move {
            match open_camera().await {
                Ok(opened) => {
                    if let Some(video) = video.get_untracked() {
                        video.set_src_object(Some(&opened));
                        let _ = video.play();
                    }
                    stream.set_value(Some(opened));
                    running.set(true);
                }
                Err(err) => problem.set(format!(
                    "The camera could not be started ({err}). Allow the camera for this page, or choose a folder \
                     of pictures instead."
                )),
            }
        });
    };
    let class_now = move || {
        let name = class.get_untracked().trim().to_string();
        if name.is_empty() { "class 1".to_string() } else { name.replace(['/', '\\'], " ") }
    };
    let capture = move |_| {
        let Some(video) = video.get_untracked() else { return };
        match frame(&video) {
            Ok(url) => {
                let Some(bytes) = png_bytes(&url) else {
                    return problem.set("The camera's frame was not a PNG.".into());
                };
                let name = format!("camera-{:03}.png", taken.with_untracked(Vec::len) + 1);
                taken.update(|all| all.push(Taken { class: class_now(), name, url, bytes }));
            }
            Err(err) => problem.set(format!("No picture was taken ({err}): wait until the camera shows a picture.")),
        }
    };
    // Pictures picked as files go into the class named now, as the camera's do.
    let pick = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
            return;
        };
        let files: Vec<web_sys::File> =
            input.files().map(|list| (0..list.length()).filter_map(|at| list.item(at)).collect()).unwrap_or_default();
        input.set_value("");
        let class = class_now();
        leptos::task::spawn_local(async move {
            for file in files {
                match JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => {
                        let url = web_sys::Url::create_object_url_with_blob(&file).unwrap_or_default();
                        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                        taken.update(|all| all.push(Taken { class: class.clone(), name: file.name(), url, bytes }));
                    }
                    Err(err) => problem.set(format!("{} could not be read ({}).", file.name(), js_text(&err))),
                }
            }
        });
    };
    let counts = move || {
        let mut counts: Vec<(String, usize)> = Vec::new();
        taken.with(|all| {
            for picture in all {
                match counts.iter_mut().find(|(name, _)| *name == picture.class) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((picture.class.clone(), 1)),
                }
            }
        });
        counts
    };
    let use_them = move |_| {
        let files: Vec<DroppedFile> = taken.with_untracked(|all| {
            all.iter()
                .map(|picture| DroppedFile {
                    name: format!("{}/{}", picture.class, picture.name),
                    bytes: picture.bytes.clone(),
                })
                .collect()
        });
        stop();
        on_use.run(files);
    };
    on_cleanup(stop);
    view! {
        <div data-testid=id("camera")>
            <h4>"Pictures from the camera, or files you name"</h4>
            <p>{intro}</p>
            <div class="row">
                <Show
                    when=move || running.get()
                    fallback=move || view! { <button type="button" data-testid=id("camera-start") on:click=start>"Start the camera"</button> }
                >
                    <button type="button" data-testid=id("camera-stop") on:click=move |_| stop()>"Stop the camera"</button>
                </Show>
            </div>
            <video node_ref=video class="camera" data-testid=id("camera-video") muted=true autoplay=true playsinline=true width="160" height="120" hidden=move || !running.get()></video>
            <div class="row">
                <label>
                    "Class "
                    <input type="text" data-testid=id("camera-class") prop:value=move || class.get() on:input=move |ev| class.set(event_target_value(&ev)) />
                </label>
                <button type="button" data-testid=id("camera-capture") hidden=move || !running.get() on:click=capture>"Take a picture"</button>
                <label class="file-button">
                    "or add picture files to it"
                    <input type="file" accept="image/*" multiple=true data-testid=id("camera-files") on:change=pick />
                </label>
            </div>
            <Show when=move || !problem.with(String::is_empty)>
                <p class="error" data-testid=id("camera-problem")>{move || problem.get()}</p>
            </Show>
            <Show when=move || taken.with(|all| !all.is_empty())>
                <p data-testid=id("camera-counts")>
                    {move || counts().into_iter().map(|(name, count)| format!("{name}: {count}")).collect::<Vec<_>>().join(", ")}
                </p>
                <ul class="camera-taken">
                    {move || taken.get().into_iter().map(|picture| view! {
                        <li><img src=picture.url alt=picture.class.clone() width="48" height="36" /></li>
                    }).collect_view()}
                </ul>
                <button type="button" data-testid=id("camera-use") prop:disabled=move || busy.get() on:click=use_them>{use_label}</button>
                <button type="button" class="link" on:click=move |_| taken.set(Vec::new())>"Start over"</button>
            </Show>
        </div>
    }
}

/// The camera's video stream (the browser asks the visitor first).
async fn open_camera() -> Result<MediaStream, String> {
    let devices = window().navigator().media_devices().map_err(|err| js_text(&err))?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(|err| js_text(&err))?;
    let stream = JsFuture::from(promise).await.map_err(|err| js_text(&err))?;
    stream.dyn_into::<MediaStream>().map_err(|_| "the browser gave no video stream".to_string())
}

/// The video's current frame as a PNG `data:` URL.
fn frame(video: &HtmlVideoElement) -> Result<String, String> {
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return Err("the camera has not shown a picture yet".into());
    }
    let canvas: HtmlCanvasElement = document()
        .create_element("canvas")
        .map_err(|err| js_text(&err))?
        .dyn_into()
        .map_err(|_| "no canvas".to_string())?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|err| js_text(&err))?
        .ok_or("no 2-D canvas")?
        .dyn_into()
        .map_err(|_| "no 2-D canvas".to_string())?;
    context.draw_image_with_html_video_element(video, 0.0, 0.0).map_err(|err| js_text(&err))?;
    canvas.to_data_url_with_type("image/png").map_err(|err| js_text(&err))
}

/// The PNG bytes of a `data:image/png;base64,...` URL.
fn png_bytes(url: &str) -> Option<Vec<u8>> {
    let encoded = url.strip_prefix("data:image/png;base64,")?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}

fn js_text(err: &JsValue) -> String {
    err.as_string()
        .or_else(|| js_sys::Reflect::get(err, &"message".into()).ok().and_then(|message| message.as_string()))
        .unwrap_or_else(|| format!("{err:?}"))
}
