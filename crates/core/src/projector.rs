//! What TensorFlow's Embedding Projector (projector.tensorflow.org, or TensorBoard's projector)
//! loads: `vectors.tsv` (one embedding a line, tab-separated), `metadata.tsv` (a header, then each
//! point's class and split), `sprite.png` (every point's 32 x 32 picture on one square grid, row
//! by row, in the points' order) and `projector_config.json` naming the three. Written once, for
//! the page's export and `tripletlab embed`.

use crate::data::cifar::{IMAGE_BYTES, IMAGE_SIDE};

/// The sprite's largest side the Projector draws (8,192 pixels): 256 x 256 pictures of 32 x 32.
pub const MAX_POINTS: usize = (8192 / IMAGE_SIDE) * (8192 / IMAGE_SIDE);

/// One point: its embedding, its picture (3 x 32 x 32, plane by plane), class and split.
pub struct Point<'a> {
    pub vector: &'a [f32],
    pub pixels: &'a [u8],
    pub class: &'a str,
    pub split: &'a str,
}

/// Why the points cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectorError {
    #[error("there is no point to export")]
    Empty,
    #[error("{found} points; the Projector's sprite holds at most {MAX_POINTS}")]
    TooMany { found: usize },
    #[error("point {index} has {found} numbers, the first has {expected}: every embedding must be as long")]
    Ragged { index: usize, expected: usize, found: usize },
    #[error("point {index}'s picture is {found} bytes, not a 32 x 32 colour picture ({IMAGE_BYTES})")]
    Picture { index: usize, found: usize },
    #[error("the sprite could not be encoded as PNG: {0}")]
    Png(String),
}

/// The four files, by name, in the order above.
pub fn projector_files(points: &[Point]) -> Result<Vec<(&'static str, Vec<u8>)>, ProjectorError> {
    let first = points.first().ok_or(ProjectorError::Empty)?;
    if points.len() > MAX_POINTS {
        return Err(ProjectorError::TooMany { found: points.len() });
    }
    let dims = first.vector.len();
    let mut vectors = String::new();
    let mut metadata = String::from("index\tclass\tsplit\n");
    for (index, point) in points.iter().enumerate() {
        if point.vector.len() != dims {
            return Err(ProjectorError::Ragged { index, expected: dims, found: point.vector.len() });
        }
        if point.pixels.len() != IMAGE_BYTES {
            return Err(ProjectorError::Picture { index, found: point.pixels.len() });
        }
        let line: Vec<String> = point.vector.iter().map(f32::to_string).collect();
        vectors.push_str(&line.join("\t"));
        vectors.push('\n');
        metadata.push_str(&format!("{index}\t{}\t{}\n", tsv_field(point.class), tsv_field(point.split)));
    }
    let (sprite, side) = sprite(points)?;
    let config = format!(
        "{{\n  \"embeddings\": [\n    {{\n      \"tensorName\": \"Triplet Lab\",\n      \"tensorShape\": [{}, {dims}],\n      \
         \"tensorPath\": \"vectors.tsv\",\n      \"metadataPath\": \"metadata.tsv\",\n      \"sprite\": {{\n        \
         \"imagePath\": \"sprite.png\",\n        \"singleImageDim\": [{IMAGE_SIDE}, {IMAGE_SIDE}]\n      }}\n    }}\n  ]\n}}\n",
        points.len()
    );
    debug_assert!(side >= IMAGE_SIDE);
    Ok(vec![
        ("vectors.tsv", vectors.into_bytes()),
        ("metadata.tsv", metadata.into_bytes()),
        ("sprite.png", sprite),
        ("projector_config.json", config.into_bytes()),
    ])
}

/// A class or split name as one TSV field: tabs and line breaks become spaces.
fn tsv_field(text: &str) -> String {
    text.chars().map(|c| if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c }).collect()
}

/// Pictures on a square grid of `ceil(sqrt(n))` a side, row by row, as an RGB PNG; and its side
/// in pixels.
fn sprite(points: &[Point]) -> Result<(Vec<u8>, usize), ProjectorError> {
    let per_side = (1..).find(|k: &usize| k * k >= points.len()).unwrap_or(1);
    let side = per_side * IMAGE_SIDE;
    let mut rgb = vec![0u8; side * side * 3];
    let plane = IMAGE_SIDE * IMAGE_SIDE;
    for (at, point) in points.iter().enumerate() {
        let (row, col) = (at / per_side, at % per_side);
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                let to = ((row * IMAGE_SIDE + y) * side + col * IMAGE_SIDE + x) * 3;
                for channel in 0..3 {
                    rgb[to + channel] = point.pixels[channel * plane + y * IMAGE_SIDE + x];
                }
            }
        }
    }
    let mut png_bytes = Vec::new();
    let png_error = |err: png::EncodingError| ProjectorError::Png(err.to_string());
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&rgb).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    Ok((png_bytes, side))
}

/// `files` in one uncompressed tar under `folder/`, for a single download.
pub fn tar_of(folder: &str, files: &[(&str, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, format!("{folder}/{name}"), bytes.as_slice())?;
    }
    archive.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Picture `k`: every red byte k, green 100 + k, blue 200.
    fn picture(k: u8) -> Vec<u8> {
        let plane = IMAGE_SIDE * IMAGE_SIDE;
        [vec![k; plane], vec![100 + k; plane], vec![200; plane]].concat()
    }

    #[test]
    fn five_points_make_four_files_that_read_back() {
        let pictures: Vec<Vec<u8>> = (0..5).map(picture).collect();
        let vectors: Vec<Vec<f32>> = (0..5).map(|k| vec![k as f32, -0.5, 1.25]).collect();
        let classes = ["cat", "dog", "cat", "tab\there", "dog"];
        let points: Vec<Point> = (0..5)
            .map(|k| Point { vector: &vectors[k], pixels: &pictures[k], class: classes[k], split: "held out" })
            .collect();
        let files = projector_files(&points).expect("files");
        let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["vectors.tsv", "metadata.tsv", "sprite.png", "projector_config.json"]);
        let text = |at: usize| String::from_utf8(files[at].1.clone()).expect("utf-8");
        assert_eq!(text(0).lines().nth(3), Some("3\t-0.5\t1.25"));
        assert_eq!(text(1).lines().collect::<Vec<_>>()[..2], ["index\tclass\tsplit", "0\tcat\theld out"]);
        assert_eq!(text(1).lines().nth(4), Some("3\ttab here\theld out"), "a tab in a name is a space");
        let config: serde_json::Value = serde_json::from_str(&text(3)).expect("json");
        assert_eq!(config["embeddings"][0]["tensorShape"], serde_json::json!([5, 3]));
        assert_eq!(config["embeddings"][0]["sprite"]["singleImageDim"], serde_json::json!([32, 32]));
        // The sprite: 3 x 3 pictures of 32 (5 points need a 3-wide square), point 4 at row 1,
        // column 1; the unused cells black.
        let decoder = png::Decoder::new(std::io::Cursor::new(files[2].1.clone()));
        let mut reader = decoder.read_info().expect("png");
        let mut rgb = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut rgb).expect("frame");
        assert_eq!((info.width, info.height, info.color_type), (96, 96, png::ColorType::Rgb));
        let at = |x: usize, y: usize| &rgb[(y * 96 + x) * 3..(y * 96 + x) * 3 + 3];
        assert_eq!(at(32 + 5, 32 + 7), [4, 104, 200]);
        assert_eq!(at(64 + 31, 0), [2, 102, 200], "point 2: row 0, column 2");
        assert_eq!(at(95, 95), [0, 0, 0]);
    }

    #[test]
    fn bad_points_are_refused_by_name() {
        let pixels = picture(0);
        let (short, long) = (vec![0.0; 2], vec![0.0; 3]);
        let point = |vector| Point { vector, pixels: &pixels, class: "a", split: "b" };
        assert_eq!(projector_files(&[]), Err(ProjectorError::Empty));
        assert_eq!(
            projector_files(&[point(&long), point(&short)]),
            Err(ProjectorError::Ragged { index: 1, expected: 3, found: 2 })
        );
        let small = Point { vector: &long, pixels: &pixels[..10], class: "a", split: "b" };
        assert_eq!(projector_files(&[small]), Err(ProjectorError::Picture { index: 0, found: 10 }));
        let tar = tar_of("bundle", &[("a.txt", b"hi".to_vec())]).expect("tar");
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|entry| entry.expect("entry").path().expect("path").display().to_string())
            .collect();
        assert_eq!(names, ["bundle/a.txt"]);
    }
}
