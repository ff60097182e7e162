//! The embedding map and 1:N search: after each evaluation the worker embeds the held-out images,
//! projects them to 2-D and keeps the embeddings with the model, so the page can search them with
//! one of the map's images or with the visitor's own picture (decoded and resized here, in the
//! worker; it never leaves the browser).

use std::collections::HashSet;
use std::rc::Rc;

use tripletlab_core::data::Dataset;
use tripletlab_core::explore::{MAX_ENROLLED, MapIndex, embedding_map};
use tripletlab_core::projector::{Point, projector_files, tar_of};
use tripletlab_core::run::Distance;
use tripletlab_core::training::Embedder;
use tripletlab_protocol::{
    EmbeddingMap, EnrolSource, EnrolmentView, Event, SearchHit, SearchQuery, SearchResults, VerdictView,
};

use crate::events::retrieval_summary;
use crate::pictures::decode_picture;
use crate::session::Session;

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
    /// The evaluation that drew it: epochs done and the step.
    pub epoch: u32,
    pub global_step: u32,
}

/// The class enrolled in this session: its pictures as the encoder sees them, kept so that each
/// new map scores it again with the model of that moment, and their latest embeddings.
#[derive(Clone, Debug)]
pub struct Enrolled {
    pub class: String,
    /// The map's class it was enrolled from, when it is one.
    pub label: Option<u8>,
    pub pictures: Vec<Vec<u8>>,
    pub skipped: Vec<String>,
    /// The pictures' embeddings by the latest map's model (empty until scored).
    pub rows: Vec<f32>,
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

const NO_MAP: &str =
    "There is no map to score against yet: load a dataset and start a run (it is scored before its first step).";

/// Enrol `class` from `source` with the latest map's model, keep it in the session (each new map
/// scores it again), and answer with its scores.
pub async fn enrol(session: &Session, class: String, source: EnrolSource) -> Event {
    let explorer = session.explorer.borrow().clone();
    let Some(explorer) = explorer else { return Event::EnrolFailed { message: NO_MAP.into() } };
    let class = match class.trim() {
        "" => "new class".to_string(),
        name => name.to_string(),
    };
    let enrolled = match source {
        EnrolSource::MapClass(label) => {
            let positions = explorer.index.class_positions(label);
            let pictures =
                positions.iter().map(|&at| explorer.data.image(explorer.index.images[at] as usize).to_vec()).collect();
            Enrolled { class, label: Some(label), pictures, skipped: Vec::new(), rows: Vec::new() }
        }
        EnrolSource::Pictures(files) => {
            let mut pictures = Vec::new();
            let mut skipped = Vec::new();
            for file in files.iter().take(MAX_ENROLLED) {
                match decode_picture(&file.name, &file.bytes).await {
                    Ok(pixels) => pictures.push(pixels),
                    Err(reason) => skipped.push(reason),
                }
            }
            if files.len() > MAX_ENROLLED {
                skipped.push(format!(
                    "{} pictures past the first {MAX_ENROLLED} were not used",
                    files.len() - MAX_ENROLLED
                ));
            }
            if pictures.len() < 2 {
                let why = if skipped.is_empty() { String::new() } else { format!(" ({})", skipped.join("; ")) };
                return Event::EnrolFailed {
                    message: format!(
                        "{} of the pictures could be read; enrol at least 2 pictures of {class}{why}. Nothing else changed.",
                        pictures.len()
                    ),
                };
            }
            Enrolled { class, label: None, pictures, skipped, rows: Vec::new() }
        }
    };
    score_enrolled(&explorer, enrolled, session).await
}

/// Score the session's enrolled class again with the latest map's model (after each new map).
pub async fn rescore(session: &Session) -> Option<Event> {
    let explorer = session.explorer.borrow().clone()?;
    let enrolled = session.enrolled.borrow().clone()?;
    Some(score_enrolled(&explorer, enrolled, session).await)
}

async fn score_enrolled(explorer: &Explorer, mut enrolled: Enrolled, session: &Session) -> Event {
    let index = &explorer.index;
    let rows = match enrolled.label {
        Some(label) => Ok(index.class_positions(label).into_iter().flat_map(|at| index.row(at).to_vec()).collect()),
        None => {
            let pictures: Vec<&[u8]> = enrolled.pictures.iter().map(Vec::as_slice).collect();
            explorer.embedder.embed(&pictures).await.map(|rows| rows.concat()).map_err(|err| err.to_string())
        }
    };
    let scored = rows.and_then(|rows| {
        let enrolment = index.enrol(&rows, enrolled.label).map_err(|err| err.to_string())?;
        Ok((rows, enrolment))
    });
    let (rows, enrolment) = match scored {
        Ok(scored) => scored,
        Err(err) => return Event::EnrolFailed { message: format!("{} could not be scored: {err}.", enrolled.class) },
    };
    let mut labels = enrolment.impostor_labels.clone();
    labels.sort_unstable();
    labels.dedup();
    enrolled.rows = rows;
    let view = EnrolmentView {
        class: enrolled.class.clone(),
        from_map: enrolled.label.is_some(),
        skipped: enrolled.skipped.clone(),
        epoch: explorer.epoch,
        global_step: explorer.global_step,
        pictures: enrolled.pictures.clone(),
        genuine: enrolment.genuine,
        impostor: enrolment.impostor,
        gallery: enrolment.gallery as u32,
        gallery_classes: labels.into_iter().map(|label| explorer.data.class_name(usize::from(label))).collect(),
    };
    *session.enrolled.borrow_mut() = Some(enrolled);
    Event::Enrolled(view)
}

/// Score a new picture against the enrolled class.
pub async fn verify(session: &Session, name: String, bytes: Vec<u8>) -> Event {
    match run_verify(session, name, bytes).await {
        Ok(verdict) => Event::Verified(verdict),
        Err(message) => Event::EnrolFailed { message },
    }
}

async fn run_verify(session: &Session, name: String, bytes: Vec<u8>) -> Result<VerdictView, String> {
    let explorer = session.explorer.borrow().clone().ok_or(NO_MAP)?;
    let enrolled = session
        .enrolled
        .borrow()
        .clone()
        .ok_or("Enrol a class first: the new picture is compared with its pictures.")?;
    let picture = decode_picture(&name, &bytes).await?;
    let rows =
        explorer.embedder.embed(&[picture.as_slice()]).await.map_err(|err| format!("Could not embed {name}: {err}"))?;
    let probe = rows.into_iter().next().ok_or("The encoder returned nothing.")?;
    let index = &explorer.index;
    let (similarity, best) = index.verify(&enrolled.rows, &probe).map_err(|err| err.to_string())?;
    let nearest = index.search(&probe, 1, None).map_err(|err| err.to_string())?.into_iter().next().map(|hit| {
        (
            SearchHit { image: hit.image, label: hit.label, similarity: hit.similarity },
            explorer.data.class_name(usize::from(hit.label)),
        )
    });
    Ok(VerdictView {
        name,
        class: enrolled.class,
        picture,
        similarity,
        best,
        pictures: (enrolled.rows.len() / index.dims.max(1)) as u32,
        nearest,
    })
}
