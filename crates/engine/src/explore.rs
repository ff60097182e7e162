//! The embedding map and 1:N search: after each evaluation the worker embeds the held-out images,
//! projects them to 2-D and keeps the embeddings with the model, so the page can search them with
//! one of the map's images or with the visitor's own picture (decoded and resized here, in the
//! worker; it never leaves the browser).

use std::collections::HashSet;
use std::rc::Rc;

use tripletlab_core::data::Dataset;
use tripletlab_core::explore::{MapIndex, embedding_map};
use tripletlab_core::projector::{Point, projector_files, tar_of};
use tripletlab_core::run::Distance;
use tripletlab_core::training::Embedder;
use tripletlab_protocol::{EmbeddingMap, Event, SearchHit, SearchQuery, SearchResults};

use crate::events::retrieval_summary;
use crate::pictures::decode_picture;

const MAX_HITS: u32 = 50;
/// Retrieval metrics over at most this many of the map's images (evenly spaced): every query
/// ranks every image, so 10,000 would cost a 10,000 x 10,000 x 1,280 product (tens of seconds in
/// a browser) at each epoch.
const RETRIEVAL_IMAGES: usize = 2_000;

/// What a search needs: the latest map (images, embeddings, the run's distance), and the model
/// that made it.
pub struct Explorer {
    /// The run's encoder (and fast mode's head) as it was when the map was drawn.
    pub embedder: Embedder,
    pub data: Rc<Dataset>,
    pub index: MapIndex,
}

/// The map event for `explorer` (whose rows are scaled to unit length first for a cosine run,
/// which changes no cosine between them), with thumbnails of the images not `sent` before.
pub fn map_event(
    explorer: &mut Explorer,
    seed: u64,
    (epoch, global_step): (u32, u32),
    sent: &mut HashSet<u32>,
    millis_before: f64,
) -> Result<EmbeddingMap, String> {
    let started = web_time::Instant::now();
    let index = &mut explorer.index;
    let cosine = index.distance == Distance::Cosine;
    let projection = embedding_map(&mut index.rows, index.dims, cosine, seed).map_err(|err| err.to_string())?;
    let retrieval = index.retrieval(RETRIEVAL_IMAGES).ok().map(|found| retrieval_summary(&found));
    let index = &explorer.index;
    let thumbnails = index
        .images
        .iter()
        .filter(|&&image| sent.insert(image))
        .map(|&image| (image, explorer.data.image(image as usize).to_vec()))
        .collect();
    Ok(EmbeddingMap {
        epoch,
        global_step,
        images: index.images.clone(),
        labels: index.labels.clone(),
        coords: projection.coords,
        explained: projection.explained,
        cosine,
        class_names: explorer.data.class_names.clone(),
        retrieval,
        thumbnails,
        millis: millis_before + started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Answer a search with the latest map's embeddings.
pub async fn search(explorer: Option<&Explorer>, query: SearchQuery, k: u32) -> Event {
    match run_search(explorer, query, k.clamp(1, MAX_HITS)).await {
        Ok(results) => Event::SearchResults(results),
        Err(message) => Event::SearchFailed { message },
    }
}

async fn run_search(explorer: Option<&Explorer>, query: SearchQuery, k: u32) -> Result<SearchResults, String> {
    let explorer =
        explorer.ok_or("Nothing to search yet: train (or resume) until the first evaluation draws the map.")?;
    let index = &explorer.index;
    let (description, picture, label, embedding, exclude) = match query {
        SearchQuery::Image(image) => {
            let at = index.position(image).ok_or_else(|| format!("Image {image} is not on the current map."))?;
            let label = index.labels[at];
            let row = index.row(at).to_vec();
            (
                // The page adds the class from `label`.
                format!("image {image}"),
                explorer.data.image(image as usize).to_vec(),
                Some(label),
                row,
                Some(at),
            )
        }
        SearchQuery::Picture { name, bytes } => {
            let picture = decode_picture(&name, &bytes).await?;
            let rows = explorer
                .embedder
                .embed(&[picture.as_slice()])
                .await
                .map_err(|err| format!("Could not embed {name}: {err}"))?;
            let row = rows.into_iter().next().ok_or("The encoder returned nothing.")?;
            (name, picture, None, row, None)
        }
    };
    let found = index.search(&embedding, k as usize, exclude).map_err(|err| err.to_string())?;
    let hits = found
        .into_iter()
        .map(|hit| SearchHit { image: hit.image, label: hit.label, similarity: hit.similarity })
        .collect();
    Ok(SearchResults { query: description, picture, label, hits })
}

/// The latest map's images as the Embedding Projector loads them (vectors, metadata with each
/// image's class, the sprite of their pictures, the config), in one tar.
pub fn export_projector(explorer: Option<&Explorer>) -> Event {
    let Some(explorer) = explorer else {
        return Event::Warning { message: "There is no map to export yet: train (or evaluate) a run first.".into() };
    };
    let index = &explorer.index;
    let classes: Vec<String> = index.labels.iter().map(|&label| explorer.data.class_name(usize::from(label))).collect();
    let points: Vec<Point> = index
        .images
        .iter()
        .enumerate()
        .map(|(at, &image)| Point {
            vector: &index.rows[at * index.dims..(at + 1) * index.dims],
            pixels: explorer.data.image(image as usize),
            class: &classes[at],
            split: "held out",
        })
        .collect();
    let bundle = projector_files(&points)
        .map_err(|err| err.to_string())
        .and_then(|files| tar_of("tripletlab-projector", &files).map_err(|err| err.to_string()));
    match bundle {
        Ok(bytes) => Event::Exported { file_name: "tripletlab-projector.tar".into(), bytes },
        Err(message) => {
            Event::Warning { message: format!("The map could not be exported for the Projector: {message}.") }
        }
    }
}
