//! The verification metrics against scikit-learn's (fixture made by
//! tools/make_sklearn_metrics_fixture.py): ROC points identical, AUC and EER equal to 1e-12.
//! The fixture writes every float as its shortest round-trip string, parsed here exactly.

use serde::{Deserialize, Deserializer};
use tripletlab_core::metrics::{Verification, roc_auc};

#[derive(Deserialize)]
struct Fixture {
    generator: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(deserialize_with = "floats")]
    scores: Vec<f64>,
    labels: Vec<u8>,
    #[serde(deserialize_with = "float")]
    auc: f64,
    roc_drop: Curve,
    roc_all: Curve,
    pr: Pr,
    #[serde(deserialize_with = "float")]
    eer: f64,
    at_fmr: Vec<FmrReference>,
    best_f1: BestF1,
    confusion: Vec<Counts>,
}

#[derive(Deserialize)]
struct Curve {
    #[serde(deserialize_with = "floats")]
    fpr: Vec<f64>,
    #[serde(deserialize_with = "floats")]
    tpr: Vec<f64>,
    #[serde(deserialize_with = "floats")]
    thresholds: Vec<f64>,
}

#[derive(Deserialize)]
struct Pr {
    #[serde(deserialize_with = "floats")]
    precision: Vec<f64>,
    #[serde(deserialize_with = "floats")]
    recall: Vec<f64>,
    #[serde(deserialize_with = "floats")]
    thresholds: Vec<f64>,
}

#[derive(Deserialize)]
struct FmrReference {
    #[serde(deserialize_with = "float")]
    target: f64,
    #[serde(deserialize_with = "float")]
    threshold: f64,
    #[serde(deserialize_with = "float")]
    fmr: f64,
    #[serde(deserialize_with = "float")]
    tmr: f64,
}

#[derive(Deserialize)]
struct BestF1 {
    #[serde(deserialize_with = "float")]
    threshold: f64,
    #[serde(deserialize_with = "float")]
    f1: f64,
}

#[derive(Deserialize)]
struct Counts {
    #[serde(deserialize_with = "float")]
    threshold: f64,
    tp: u64,
    fp: u64,
    tn: u64,
    r#fn: u64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sklearn-metrics/cases.json");
    let text = std::fs::read_to_string(path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

fn parse<E: serde::de::Error>(text: &str) -> Result<f64, E> {
    text.parse().map_err(|_| E::custom(format!("not a float: {text}")))
}

fn float<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    parse(&String::deserialize(deserializer)?)
}

fn floats<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    Vec::<String>::deserialize(deserializer)?.iter().map(|text| parse(text)).collect()
}

#[test]
fn matches_scikit_learn() {
    let fixture = fixture();
    println!("reference: {}", fixture.generator);
    assert!(fixture.cases.len() >= 9);
    for case in &fixture.cases {
        let name = &case.name;
        let labels: Vec<bool> = case.labels.iter().map(|&label| label == 1).collect();
        let set = Verification::new(&case.scores, &labels).expect(name);

        assert!((set.auc() - case.auc).abs() < 1e-12, "{name}: AUC {} vs {}", set.auc(), case.auc);
        assert_eq!(roc_auc(&case.scores, &labels), Ok(set.auc()), "{name}");

        for (drop, reference) in [(true, &case.roc_drop), (false, &case.roc_all)] {
            let roc = set.roc(drop);
            assert_eq!(roc.fpr, reference.fpr, "{name}: fpr, drop_intermediate={drop}");
            assert_eq!(roc.tpr, reference.tpr, "{name}: tpr, drop_intermediate={drop}");
            assert_eq!(roc.thresholds, reference.thresholds, "{name}: thresholds");
        }

        // scikit-learn's precision/recall curve runs from the lowest threshold up and ends in (1, 0).
        let points = set.precision_recall();
        let reversed = |values: &[f64]| values[..values.len() - 1].iter().rev().copied().collect::<Vec<_>>();
        assert_eq!(points.iter().map(|p| p.precision).collect::<Vec<_>>(), reversed(&case.pr.precision), "{name}");
        assert_eq!(points.iter().map(|p| p.recall).collect::<Vec<_>>(), reversed(&case.pr.recall), "{name}");
        let thresholds: Vec<f64> = case.pr.thresholds.iter().rev().copied().collect();
        assert_eq!(points.iter().map(|p| p.threshold).collect::<Vec<_>>(), thresholds, "{name}");

        let best = set.best_f1();
        assert_eq!(best.threshold, case.best_f1.threshold, "{name}: best F1 threshold");
        assert!((best.f1 - case.best_f1.f1).abs() < 1e-12, "{name}: best F1");

        let eer = set.eer().rate;
        assert!((eer - case.eer).abs() < 1e-12, "{name}: EER {eer} vs {}", case.eer);

        for reference in &case.at_fmr {
            let point = set.at_fmr(reference.target);
            assert_eq!(point.threshold, reference.threshold, "{name}: {}", reference.target);
            assert_eq!((point.fmr, point.tmr), (reference.fmr, reference.tmr), "{name}: {}", reference.target);
            assert_eq!(point.resolvable, reference.target * set.negatives() as f64 >= 1.0);
        }

        for counts in &case.confusion {
            let at = set.at(counts.threshold);
            assert_eq!(
                (at.true_matches, at.false_matches, at.true_non_matches, at.false_non_matches),
                (counts.tp, counts.fp, counts.tn, counts.r#fn),
                "{name}: counts at {}",
                counts.threshold
            );
        }
    }
}

#[test]
fn the_fixture_covers_ties_and_equal_scores() {
    let fixture = fixture();
    let distinct = |case: &Case| {
        let mut scores = case.scores.clone();
        scores.sort_by(f64::total_cmp);
        scores.dedup();
        scores.len()
    };
    assert!(fixture.cases.iter().any(|case| distinct(case) == 1), "an all-equal case");
    assert!(fixture.cases.iter().any(|case| case.scores.len() == 3000 && distinct(case) <= 8), "heavy ties");
    assert!(fixture.cases.iter().any(|case| case.scores.len() == 3000 && distinct(case) > 2900), "continuous");
}
