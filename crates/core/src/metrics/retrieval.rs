//! Retrieval (1:N search) metrics over labelled embeddings.
//!
//! Every embedding is a query in turn; the others are ranked by similarity (the query itself is
//! never among its results; ties are broken by the lower index). For a query whose class has `R`
//! other members, with `rel(i)` = 1 when the i-th result shares its class (Musgrave et al. 2020):
//!
//! - precision@1 = rel(1)
//! - R-precision = (1/R) * sum_{i<=R} rel(i)
//! - MAP@R = (1/R) * sum_{i<=R} P(i), with P(i) = precision at i when rel(i) = 1, else 0
//! - recall@k = 1 when any of the first k results shares the class (the convention of the deep
//!   metric learning literature), else 0
//!
//! and each is averaged over the queries. A query whose class has no other member (R = 0) has no
//! defined value and is counted apart (`lone_queries`).
//!
//! Similarities are computed a block of queries at a time against all embeddings, so memory grows
//! with `block_rows x n`, never `n x n`; natively the blocks are spread over the CPU's threads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MetricError, cosine_similarity};
pub use crate::loss::Distance;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalConfig {
    /// The run's distance: cosine ranks by cosine similarity (higher is nearer), euclidean by
    /// distance (lower is nearer).
    pub distance: Distance,
    /// The k of each recall@k reported.
    pub recall_at: Vec<usize>,
    /// Queries per block: memory is `4 * block_rows * n` bytes per thread.
    pub block_rows: usize,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self { distance: Distance::Cosine, recall_at: vec![1, 2, 4, 8], block_rows: 128 }
    }
}

/// Retrieval metrics averaged over the queries that have at least one other member of their class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    pub distance: Distance,
    pub queries: usize,
    /// Queries whose class has no other member: left out of every average.
    pub lone_queries: usize,
    pub precision_at_1: f64,
    pub r_precision: f64,
    pub map_at_r: f64,
    /// `(k, recall@k)` for each k asked for.
    pub recall_at: Vec<(usize, f64)>,
    /// The same averages over each class's queries, by label.
    pub per_class: Vec<ClassRetrieval>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRetrieval {
    pub label: u32,
    pub queries: usize,
    pub precision_at_1: f64,
    pub r_precision: f64,
    pub map_at_r: f64,
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    pub index: usize,
    /// Cosine similarity, or euclidean distance, to the query (computed in f64).
    pub score: f64,
}

/// What one query contributes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QueryOutcome {
    relevant: usize,
    precision_at_1: f64,
    r_precision: f64,
    map_at_r: f64,
    /// Rank (from 0) of the first result of the query's class, when within the ranks looked at.
    first_hit: Option<usize>,
}

/// Retrieval metrics of `embeddings` (`n` rows of `dims` values, row-major) labelled by `labels`.
pub fn retrieval(
    embeddings: &[f32],
    dims: usize,
    labels: &[u32],
    config: &RetrievalConfig,
) -> Result<Retrieval, MetricError> {
    let count = rows(embeddings, dims)?;
    if count != labels.len() {
        return Err(MetricError::LabelCount { embeddings: count, labels: labels.len() });
    }
    let mut class_sizes: BTreeMap<u32, usize> = BTreeMap::new();
    for &label in labels {
        *class_sizes.entry(label).or_default() += 1;
    }
    let deepest_k = config.recall_at.iter().copied().max().unwrap_or(0);
    let prepared = Prepared::new(embeddings, dims, config.distance);
    let outcomes = prepared.for_each_query(config.block_rows.max(1), |query, keys| {
        let relevant = class_sizes.get(&labels[query]).map_or(0, |size| size - 1);
        let depth = relevant.max(deepest_k).min(count - 1);
        let ranked = top(keys, query, depth);
        let hits: Vec<bool> = ranked.iter().map(|&at| labels[at] == labels[query]).collect();
        outcome(&hits, relevant)
    });

    let mut totals = Totals::default();
    let mut per_class: BTreeMap<u32, Totals> = BTreeMap::new();
    let mut found_at: Vec<usize> = vec![0; config.recall_at.len()];
    let mut lone_queries = 0;
    for (query, outcome) in outcomes.iter().enumerate() {
        if outcome.relevant == 0 {
            lone_queries += 1;
            continue;
        }
        totals.add(outcome);
        per_class.entry(labels[query]).or_default().add(outcome);
        for (found, &k) in found_at.iter_mut().zip(&config.recall_at) {
            if outcome.first_hit.is_some_and(|rank| rank < k) {
                *found += 1;
            }
        }
    }
    if totals.queries == 0 {
        return Err(MetricError::NoRelevantItems);
    }
    let queries = totals.queries;
    Ok(Retrieval {
        distance: config.distance,
        queries,
        lone_queries,
        precision_at_1: totals.precision_at_1 / queries as f64,
        r_precision: totals.r_precision / queries as f64,
        map_at_r: totals.map_at_r / queries as f64,
        recall_at: config
            .recall_at
            .iter()
            .zip(&found_at)
            .map(|(&k, &found)| (k, found as f64 / queries as f64))
            .collect(),
        per_class: per_class
            .into_iter()
            .map(|(label, class)| ClassRetrieval {
                label,
                queries: class.queries,
                precision_at_1: class.precision_at_1 / class.queries as f64,
                r_precision: class.r_precision / class.queries as f64,
                map_at_r: class.map_at_r / class.queries as f64,
            })
            .collect(),
    })
}

/// The `k` embeddings nearest to `query` (nearest first), leaving out `exclude` (the query's own
/// index when it is one of the embeddings).
pub fn nearest(
    embeddings: &[f32],
    dims: usize,
    query: &[f32],
    k: usize,
    distance: Distance,
    exclude: Option<usize>,
) -> Result<Vec<Neighbour>, MetricError> {
    let count = rows(embeddings, dims)?;
    if query.len() != dims {
        return Err(MetricError::RaggedEmbeddings { values: query.len(), dims });
    }
    if query.iter().any(|value| !value.is_finite()) {
        return Err(MetricError::NotFinite { index: count });
    }
    let mut scored: Vec<Neighbour> = embeddings
        .chunks_exact(dims)
        .enumerate()
        .filter(|&(index, _)| Some(index) != exclude)
        .map(|(index, row)| Neighbour { index, score: exact_score(query, row, distance) })
        .collect();
    let nearer = |a: &Neighbour, b: &Neighbour| {
        match distance {
            Distance::Cosine => b.score.total_cmp(&a.score),
            Distance::Euclidean => a.score.total_cmp(&b.score),
        }
        .then(a.index.cmp(&b.index))
    };
    let k = k.min(scored.len());
    if k == 0 {
        return Ok(Vec::new());
    }
    if k < scored.len() {
        scored.select_nth_unstable_by(k - 1, nearer);
        scored.truncate(k);
    }
    scored.sort_by(nearer);
    Ok(scored)
}

/// Check the shape and values; the number of embeddings.
fn rows(embeddings: &[f32], dims: usize) -> Result<usize, MetricError> {
    if dims == 0 {
        return Err(MetricError::NoDimensions);
    }
    if !embeddings.len().is_multiple_of(dims) {
        return Err(MetricError::RaggedEmbeddings { values: embeddings.len(), dims });
    }
    if let Some(at) = embeddings.iter().position(|value| !value.is_finite()) {
        return Err(MetricError::NotFinite { index: at / dims });
    }
    match embeddings.len() / dims {
        0 => Err(MetricError::Empty),
        count => Ok(count),
    }
}

fn exact_score(query: &[f32], row: &[f32], distance: Distance) -> f64 {
    match distance {
        Distance::Cosine => cosine_similarity(query, row),
        Distance::Euclidean => {
            query.iter().zip(row).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>().sqrt()
        }
    }
}

/// The first `depth` results for `query` by descending key, ties to the lower index.
fn top(keys: &[f32], query: usize, depth: usize) -> Vec<usize> {
    let mut candidates: Vec<(f32, usize)> =
        keys.iter().copied().enumerate().filter(|&(at, _)| at != query).map(|(at, key)| (key, at)).collect();
    let before = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if depth == 0 {
        return Vec::new();
    }
    if depth < candidates.len() {
        candidates.select_nth_unstable_by(depth - 1, before);
        candidates.truncate(depth);
    }
    candidates.sort_unstable_by(before);
    candidates.into_iter().map(|(_, at)| at).collect()
}

/// The metrics of one query from the relevance of its ranked results (at least `relevant` of
/// them, unless fewer exist).
fn outcome(hits: &[bool], relevant: usize) -> QueryOutcome {
    let first_hit = hits.iter().position(|&hit| hit);
    if relevant == 0 {
        return QueryOutcome { relevant, precision_at_1: 0.0, r_precision: 0.0, map_at_r: 0.0, first_hit };
    }
    let (mut found, mut precision_sum) = (0usize, 0.0);
    for (rank, _) in hits.iter().take(relevant).enumerate().filter(|(_, hit)| **hit) {
        found += 1;
        precision_sum += found as f64 / (rank + 1) as f64;
    }
    QueryOutcome {
        relevant,
        precision_at_1: if hits.first() == Some(&true) { 1.0 } else { 0.0 },
        r_precision: found as f64 / relevant as f64,
        map_at_r: precision_sum / relevant as f64,
        first_hit,
    }
}

#[derive(Default)]
struct Totals {
    queries: usize,
    precision_at_1: f64,
    r_precision: f64,
    map_at_r: f64,
}

impl Totals {
    fn add(&mut self, outcome: &QueryOutcome) {
        self.queries += 1;
        self.precision_at_1 += outcome.precision_at_1;
        self.r_precision += outcome.r_precision;
        self.map_at_r += outcome.map_at_r;
    }
}

/// Embeddings ready for ranking: unit rows for cosine; rows and squared norms for euclidean,
/// ranked by `2 q.x - |x|^2` (the query's own norm does not change its order).
struct Prepared {
    rows: Vec<f32>,
    dims: usize,
    squared_norms: Option<Vec<f32>>,
}

impl Prepared {
    fn new(embeddings: &[f32], dims: usize, distance: Distance) -> Self {
        match distance {
            Distance::Cosine => {
                let mut rows = embeddings.to_vec();
                for row in rows.chunks_exact_mut(dims) {
                    let norm = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
                    if norm > 0.0 {
                        row.iter_mut().for_each(|v| *v = (f64::from(*v) / norm) as f32);
                    }
                }
                Self { rows, dims, squared_norms: None }
            }
            Distance::Euclidean => {
                let squared_norms = embeddings.chunks_exact(dims).map(|row| dot(row, row)).collect();
                Self { rows: embeddings.to_vec(), dims, squared_norms: Some(squared_norms) }
            }
        }
    }

    fn count(&self) -> usize {
        self.rows.len() / self.dims
    }

    fn row(&self, at: usize) -> &[f32] {
        &self.rows[at * self.dims..(at + 1) * self.dims]
    }

    /// Ranking keys (higher = nearer) of queries `start..end` against every row, into `keys`
    /// (`(end - start) x n`).
    fn keys(&self, start: usize, end: usize, keys: &mut [f32]) {
        const TILE: usize = 64;
        let count = self.count();
        for tile in (0..count).step_by(TILE) {
            let tile_end = (tile + TILE).min(count);
            for query in start..end {
                let q = self.row(query);
                let out = &mut keys[(query - start) * count..(query - start + 1) * count];
                for item in tile..tile_end {
                    let similarity = dot(q, self.row(item));
                    out[item] = match &self.squared_norms {
                        None => similarity,
                        Some(norms) => 2.0 * similarity - norms[item],
                    };
                }
            }
        }
    }

    /// Run `each(query, keys)` for every query, a block at a time (in parallel natively), and
    /// return the outcomes in query order.
    fn for_each_query<F>(&self, block_rows: usize, each: F) -> Vec<QueryOutcome>
    where
        F: Fn(usize, &[f32]) -> QueryOutcome + Sync,
    {
        let count = self.count();
        let blocks: Vec<(usize, usize)> =
            (0..count).step_by(block_rows).map(|start| (start, (start + block_rows).min(count))).collect();
        let run_blocks = |blocks: &[(usize, usize)]| {
            let mut keys = vec![0.0f32; block_rows * count];
            let mut outcomes = Vec::new();
            for &(start, end) in blocks {
                self.keys(start, end, &mut keys);
                for query in start..end {
                    outcomes.push(each(query, &keys[(query - start) * count..(query - start + 1) * count]));
                }
            }
            outcomes
        };
        let threads = worker_threads().min(blocks.len()).max(1);
        if threads == 1 {
            return run_blocks(&blocks);
        }
        // Contiguous runs of blocks per thread keep the outcomes in query order when joined.
        let per_thread = blocks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                blocks.chunks(per_thread).map(|chunk| scope.spawn(move || run_blocks(chunk))).collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The browser's wasm has no threads.
#[cfg(target_arch = "wasm32")]
fn worker_threads() -> usize {
    1
}

/// A dot product in eight independent lanes, which the compiler turns into SIMD.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRng;

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} != {expected}");
    }

    #[test]
    fn one_query_from_its_ranked_relevance() {
        // R = 4, results [hit, miss, hit, hit, miss]: P(1) = 1, P(3) = 2/3, P(4) = 3/4.
        let result = outcome(&[true, false, true, true, false], 4);
        close(result.precision_at_1, 1.0);
        close(result.r_precision, 3.0 / 4.0);
        close(result.map_at_r, (1.0 + 2.0 / 3.0 + 3.0 / 4.0) / 4.0);
        // The paper's point: same R-precision, lower MAP@R when the hits come late.
        let late = outcome(&[false, true, true, true, false], 4);
        close(late.r_precision, 3.0 / 4.0);
        close(late.map_at_r, (1.0 / 2.0 + 2.0 / 3.0 + 3.0 / 4.0) / 4.0);
    }

    /// Points on a line, worked by hand (distances in brackets are |x_q - x_i|):
    /// 0:A@0  1:A@1  2:B@3  3:A@4  4:B@10  5:B@12.
    #[test]
    fn points_on_a_line_by_hand() {
        let embeddings = [0.0, 1.0, 3.0, 4.0, 10.0, 12.0];
        let labels = [0, 0, 1, 0, 1, 1];
        let config = RetrievalConfig { distance: Distance::Euclidean, recall_at: vec![1, 2, 4], block_rows: 4 };
        let result = retrieval(&embeddings, 1, &labels, &config).expect("defined");
        // Rankings:  q0: A B A B B   q1: A B A B B   q2: A A A B B
        //            q3: B A A B B   q4: B A B A A   q5: B A B A A     (R = 2 for every query)
        // P@1: 1 1 0 0 1 1; R-precision: 1/2 1/2 0 1/2 1/2 1/2; MAP@R: 1/2 1/2 0 1/4 1/2 1/2;
        // first hit at rank 0 0 3 1 0 0.
        assert_eq!((result.queries, result.lone_queries), (6, 0));
        close(result.precision_at_1, 4.0 / 6.0);
        close(result.r_precision, 2.5 / 6.0);
        close(result.map_at_r, 2.25 / 6.0);
        assert_eq!(result.recall_at, [(1, 4.0 / 6.0), (2, 5.0 / 6.0), (4, 1.0)]);
        let [a, b] = &result.per_class[..] else { panic!("two classes") };
        assert_eq!((a.label, a.queries, b.label, b.queries), (0, 3, 1, 3));
        close(a.precision_at_1, 2.0 / 3.0);
        close(a.r_precision, 0.5);
        close(a.map_at_r, 1.25 / 3.0);
        close(b.precision_at_1, 2.0 / 3.0);
        close(b.r_precision, 1.0 / 3.0);
        close(b.map_at_r, 1.0 / 3.0);
    }

    #[test]
    fn cosine_ignores_length_and_lone_queries_are_counted_apart() {
        // Class 0 points along +x, class 1 along +y (one of them 100 times longer), class 2 alone.
        let embeddings = [1.0, 0.1, 3.0, -0.2, 0.1, 1.0, -10.0, 100.0, -1.0, -1.0];
        let labels = [0, 0, 1, 1, 2];
        let result = retrieval(&embeddings, 2, &labels, &RetrievalConfig::default()).expect("defined");
        assert_eq!((result.queries, result.lone_queries), (4, 1));
        close(result.precision_at_1, 1.0);
        close(result.map_at_r, 1.0);
        assert_eq!(result.per_class.len(), 2, "the lone class has no row");
    }

    #[test]
    fn blocked_and_threaded_ranking_matches_a_full_sort() {
        let mut rng = SeededRng::new(7);
        let (count, dims) = (301, 19);
        let embeddings: Vec<f32> = (0..count * dims).map(|_| rng.unit_f32() - 0.5).collect();
        let labels: Vec<u32> = (0..count).map(|_| rng.below(7) as u32).collect();
        for distance in [Distance::Cosine, Distance::Euclidean] {
            let config = RetrievalConfig { distance, recall_at: vec![1, 5], block_rows: 13 };
            let blocked = retrieval(&embeddings, dims, &labels, &config).expect("defined");
            // Reference: every query ranked by a full sort of exact f64 scores.
            let (mut p1, mut rp, mut map) = (0.0, 0.0, 0.0);
            for query in 0..count {
                let q = &embeddings[query * dims..(query + 1) * dims];
                let ranked = nearest(&embeddings, dims, q, count, distance, Some(query)).expect("valid");
                let hits: Vec<bool> = ranked.iter().map(|n| labels[n.index] == labels[query]).collect();
                let relevant = labels.iter().filter(|&&l| l == labels[query]).count() - 1;
                let reference = outcome(&hits, relevant);
                p1 += reference.precision_at_1;
                rp += reference.r_precision;
                map += reference.map_at_r;
            }
            close(blocked.precision_at_1, p1 / count as f64);
            close(blocked.r_precision, rp / count as f64);
            close(blocked.map_at_r, map / count as f64);
        }
    }

    #[test]
    fn nearest_excludes_the_query_and_orders_ties_by_index() {
        let embeddings = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 3.0, 4.0];
        let found = nearest(&embeddings, 2, &[0.0, 0.0], 3, Distance::Euclidean, Some(0)).expect("valid");
        let indices: Vec<usize> = found.iter().map(|n| n.index).collect();
        assert_eq!(indices, [1, 2, 3]);
        assert_eq!(found[2].score, 5.0);
        assert_eq!(nearest(&embeddings, 2, &[0.0, 0.0], 0, Distance::Cosine, None), Ok(vec![]));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let config = RetrievalConfig::default();
        assert_eq!(
            retrieval(&[1.0; 5], 2, &[0, 0], &config),
            Err(MetricError::RaggedEmbeddings { values: 5, dims: 2 })
        );
        assert_eq!(retrieval(&[1.0; 4], 0, &[0, 0], &config), Err(MetricError::NoDimensions));
        assert_eq!(retrieval(&[1.0; 4], 2, &[0], &config), Err(MetricError::LabelCount { embeddings: 2, labels: 1 }));
        assert_eq!(
            retrieval(&[1.0, f32::NAN, 0.0, 0.0], 2, &[0, 0], &config),
            Err(MetricError::NotFinite { index: 0 })
        );
        assert_eq!(retrieval(&[1.0; 4], 2, &[0, 1], &config), Err(MetricError::NoRelevantItems));
        assert_eq!(retrieval(&[], 2, &[], &config), Err(MetricError::Empty));
    }
}
