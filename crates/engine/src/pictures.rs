//! Pictures the visitor brings, made 32 x 32 here in the worker (they never leave the browser):
//! one for a search, or a folder of them as a dataset (its sub-folders the classes). The browser
//! decodes whatever it can show (PNG, JPEG, WebP, GIF...); the centred square of each is kept
//! (`tripletlab_core::data::pictures::centre_square`, as the CLI's `prepare --from-folders` does)
//! and drawn at 32 x 32 on a canvas with the browser's smoothing (its own resampling filter).

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ImageBitmap, OffscreenCanvas, OffscreenCanvasRenderingContext2d, WorkerGlobalScope};
use web_time::Instant;

use tripletlab_core::data::Dataset;
use tripletlab_core::data::cifar::IMAGE_SIDE;
use tripletlab_core::data::import::{MAX_PICTURE_BYTES, UnzipLimits, check_picture_size, unzip_folder};
use tripletlab_core::data::pictures::{Picture, centre_square, class_of_path, pictures_dataset};
use tripletlab_core::explore::rgba_to_planar;
use tripletlab_protocol::{DatasetSummary, DroppedFile, LoadProgress, PictureSample, PicturesPart};

use crate::dataset::{LoadError, summarize};
use crate::net::js_text;

/// Pictures sent back to the page as they are after the crop, one a class.
const SAMPLES_PER_CLASS: usize = 1;

/// Decode a picture file the browser understands and make it 32 x 32 (its centred square).
pub async fn decode_picture(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Err(format!("{name} is empty."));
    }
    if bytes.len() as u64 > MAX_PICTURE_BYTES {
        return Err(format!("{name} is {:.0} MB; pictures up to 25 MB are read.", bytes.len() as f64 / 1e6));
    }
    // A small file can hold a picture too large to decode: its header says, before decoding.
    check_picture_size(name, bytes).map_err(|err| err.to_string())?;
    let fail = |what: &str, err: wasm_bindgen::JsValue| {
        format!("Could not read {name} as a picture ({what}: {}).", js_text(&err))
    };
    let blob = Blob::new_with_u8_array_sequence(&Array::of1(&Uint8Array::from(bytes))).map_err(|e| fail("blob", e))?;
    let scope: WorkerGlobalScope = js_sys::global().dyn_into().map_err(|e| fail("worker", e.into()))?;
    let promise = scope.create_image_bitmap_with_blob(&blob).map_err(|e| fail("decode", e))?;
    let bitmap: ImageBitmap =
        JsFuture::from(promise).await.map_err(|e| fail("decode", e))?.dyn_into().map_err(|e| fail("decode", e))?;
    let side = IMAGE_SIDE as u32;
    let canvas = OffscreenCanvas::new(side, side).map_err(|e| fail("canvas", e))?;
    let context: OffscreenCanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| fail("canvas", e))?
        .ok_or_else(|| format!("Could not read {name}: no 2-D canvas in this worker."))?
        .dyn_into()
        .map_err(|e| fail("canvas", e.into()))?;
    context.set_image_smoothing_enabled(true);
    let (x, y, square) = centre_square(bitmap.width(), bitmap.height());
    let side = f64::from(side);
    context
        .draw_image_with_image_bitmap_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
            &bitmap,
            f64::from(x),
            f64::from(y),
            f64::from(square),
            f64::from(square),
            0.0,
            0.0,
            side,
            side,
        )
        .map_err(|e| fail("resize", e))?;
    bitmap.close();
    let pixels = context.get_image_data(0.0, 0.0, side, side).map_err(|e| fail("pixels", e))?.data();
    rgba_to_planar(&pixels.0).ok_or_else(|| format!("Could not read {name}: the canvas gave no 32 x 32 picture."))
}

/// A folder of pictures being read, part by part: the pictures made 32 x 32 so far (the files'
/// bytes are dropped as soon as each is), and the files left out with why.
pub struct PicturesIn {
    pictures: Vec<Picture>,
    skipped: Vec<String>,
    started: Instant,
    bytes_done: u64,
}

impl Default for PicturesIn {
    fn default() -> Self {
        Self { pictures: Vec::new(), skipped: Vec::new(), started: Instant::now(), bytes_done: 0 }
    }
}

impl PicturesIn {
    /// Read one part of the folder (paths relative to it, its sub-folders the classes): a `.zip`
    /// is unpacked first (within `UnzipLimits::PAGE`; a zip bomb fails the whole load), each
    /// picture decoded; a file that is not a picture, or not in a class sub-folder, is skipped
    /// and named (the rest still load).
    pub async fn read_part(
        &mut self,
        files: Vec<DroppedFile>,
        part: &PicturesPart,
        progress: &impl Fn(LoadProgress),
    ) -> Result<(), LoadError> {
        let mut done = part.files_before;
        for file in files {
            self.bytes_done += file.bytes.len() as u64;
            if file.name.to_ascii_lowercase().ends_with(".zip") {
                let zip = file.name.rsplit('/').next().unwrap_or(&file.name).to_string();
                let inside = unzip_folder(&zip, &file.bytes, UnzipLimits::PAGE)
                    .map_err(|err| LoadError::Request(err.to_string()))?;
                drop(file);
                for (name, bytes) in inside {
                    self.read_one(DroppedFile { name, bytes }).await;
                }
            } else {
                if done % 25 == 0 {
                    progress(LoadProgress {
                        shards_done: done,
                        shards_total: part.files_total,
                        bytes_done: self.bytes_done,
                        bytes_total: 0,
                        from_cache: 0,
                        current: file.name.clone(),
                    });
                }
                self.read_one(file).await;
            }
            done += 1;
        }
        Ok(())
    }

    async fn read_one(&mut self, file: DroppedFile) {
        let Some((class, name)) = class_of_path(&file.name) else {
            if !file.name.rsplit('/').next().unwrap_or_default().starts_with('.') {
                self.skipped.push(format!("{}: not in a class sub-folder", file.name));
            }
            return;
        };
        match decode_picture(&file.name, &file.bytes).await {
            Ok(pixels) => self.pictures.push(Picture { class, file: name, pixels }),
            Err(reason) => self.skipped.push(reason),
        }
    }

    /// The folder read, as a dataset; a set that cannot train (one class, too few pictures in a
    /// class) is an error naming what to change.
    pub fn finish(self) -> Result<(Dataset, DatasetSummary, Vec<String>), LoadError> {
        let Self { pictures, skipped, started, .. } = self;
        if pictures.is_empty() && !skipped.is_empty() {
            let first: Vec<&str> = skipped.iter().take(3).map(String::as_str).collect();
            return Err(LoadError::Request(format!(
                "no picture could be read: choose a folder whose sub-folders (one a class) hold pictures ({})",
                first.join("; ")
            )));
        }
        // The dataset orders pictures by class and file: so do their names here.
        let mut files: Vec<(String, String)> = pictures.iter().map(|p| (p.class.clone(), p.file.clone())).collect();
        files.sort();
        let dataset = pictures_dataset("your pictures", pictures).map_err(|err| LoadError::Request(err.to_string()))?;
        let mut summary = summarize(&dataset, 0, 0, 0, started);
        let files: Vec<String> = files.into_iter().map(|(_, file)| file).collect();
        summary.samples = samples(&dataset, &files);
        Ok((dataset, summary, skipped))
    }
}

/// The first pictures of each class as the encoder will see them, with their file names.
fn samples(dataset: &Dataset, files: &[String]) -> Vec<PictureSample> {
    let mut shown = vec![0; dataset.class_names.len()];
    let mut samples = Vec::new();
    for (at, &label) in dataset.labels.iter().enumerate() {
        let label = usize::from(label);
        if shown.get(label).is_some_and(|&count| count < SAMPLES_PER_CLASS) {
            shown[label] += 1;
            let file = files.get(at).cloned().unwrap_or_default();
            samples.push(PictureSample { class: dataset.class_name(label), file, pixels: dataset.image(at).to_vec() });
        }
    }
    samples
}

/// Where the last picture dataset is kept in the browser's cache (the worker's file cache, keyed
/// by URL and a fixed tag: there is one, the latest).
const KEPT_URL: &str = "./your-pictures/cifar-10-binary.tar.gz";
const KEPT_TAG: &str = "latest";

/// Keep `dataset` (its 32 x 32 pictures, in the CIFAR-10 binary format) in the browser's cache,
/// replacing the one kept before; an error says why it was not kept (loading is not affected).
pub async fn keep(dataset: &Dataset) -> Result<(), String> {
    let bytes = tripletlab_core::data::pictures::to_cifar_tar_gz(dataset)
        .map_err(|err| format!("Your pictures could not be kept in this browser ({err})."))?;
    crate::cache::FileCache::open()
        .await
        .put(KEPT_URL, KEPT_TAG, &bytes)
        .await
        .map_err(|err| format!("The browser did not keep your pictures for the next visit ({err})."))
}

/// The picture dataset kept by [`keep`], as a file the CIFAR-10 reader takes.
pub async fn kept() -> Option<DroppedFile> {
    let bytes = crate::cache::FileCache::open().await.get(KEPT_URL, KEPT_TAG).await?;
    Some(DroppedFile { name: "your-pictures-cifar10-binary.tar.gz".into(), bytes })
}
