//! DeLong's AUC interval and DeLong's test of two correlated AUCs against an independent
//! implementation (numpy's full psi matrix and covariance, scipy's normal tail; fixture made by
//! tools/make_delong_fixture.py): every figure equal to 1e-12.

use serde::Deserialize;
use tripletlab_core::metrics::{delong_difference, delong_interval};

#[derive(Deserialize)]
struct Fixture {
    made_by: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    first: Vec<String>,
    second: Vec<String>,
    labels: Vec<u8>,
    first_auc: String,
    first_se: String,
    first_low: String,
    first_high: String,
    second_auc: String,
    difference: String,
    difference_se: String,
    difference_low: String,
    difference_high: String,
    z: String,
    p_value: String,
}

fn number(text: &str) -> f64 {
    text.parse().unwrap_or_else(|err| panic!("fixture float {text:?}: {err}"))
}

fn numbers(texts: &[String]) -> Vec<f64> {
    texts.iter().map(|text| number(text)).collect()
}

fn close(ours: f64, theirs: &str, what: &str, case: &str) {
    let theirs = number(theirs);
    let tolerance = 1e-12 * theirs.abs().max(1.0);
    assert!((ours - theirs).abs() <= tolerance, "{case}: {what} {ours} vs the reference's {theirs}");
}

#[test]
fn delong_matches_an_independent_implementation() {
    let text = include_str!("fixtures/delong/cases.json");
    let fixture: Fixture = serde_json::from_str(text).expect("fixture");
    assert!(fixture.made_by.starts_with("numpy"), "{}", fixture.made_by);
    assert_eq!(fixture.cases.len(), 3);
    for case in &fixture.cases {
        let name = case.name.as_str();
        let labels: Vec<bool> = case.labels.iter().map(|&label| label == 1).collect();
        let (first, second) = (numbers(&case.first), numbers(&case.second));
        let interval = delong_interval(&first, &labels).expect("interval");
        close(interval.auc, &case.first_auc, "AUC", name);
        close(interval.standard_error, &case.first_se, "standard error", name);
        close(interval.low, &case.first_low, "low end", name);
        close(interval.high, &case.first_high, "high end", name);
        let test = delong_difference(&first, &second, &labels).expect("difference");
        close(test.first, &case.first_auc, "first AUC", name);
        close(test.second, &case.second_auc, "second AUC", name);
        close(test.difference, &case.difference, "difference", name);
        close(test.standard_error, &case.difference_se, "difference's standard error", name);
        close(test.z, &case.z, "z", name);
        close(test.low, &case.difference_low, "difference's low end", name);
        close(test.high, &case.difference_high, "difference's high end", name);
        // erfc of a large z is a tiny number: compared relative to itself.
        let p = number(&case.p_value);
        assert!((test.p_value - p).abs() <= 1e-9 * p.max(1e-300) + 1e-15, "{name}: p {} vs {p}", test.p_value);
    }
    // The fixture's cases span the verdicts: two clear differences and one that is not.
    let p_values: Vec<f64> = fixture.cases.iter().map(|case| number(&case.p_value)).collect();
    assert!(p_values[0] < 1e-6 && p_values[1] < 1e-6 && p_values[2] > 0.5, "{p_values:?}");
}

#[test]
fn the_same_scores_twice_differ_by_nothing() {
    let scores = [0.9, 0.8, 0.4, 0.7, 0.3, 0.85];
    let labels = [true, true, true, false, false, false];
    let test = delong_difference(&scores, &scores, &labels).expect("difference");
    assert_eq!((test.difference, test.standard_error, test.z, test.p_value), (0.0, 0.0, 0.0, 1.0));
    // Two runs that each separate the pairs without doubt, in opposite directions: no variance,
    // a difference of 1, so z is infinite and p is 0 (not NaN).
    let perfect = [0.9, 0.8, 0.1, 0.2];
    let backwards = [0.1, 0.2, 0.9, 0.8];
    let labels = [true, true, false, false];
    let test = delong_difference(&perfect, &backwards, &labels).expect("difference");
    assert_eq!((test.difference, test.standard_error, test.p_value), (1.0, 0.0, 0.0));
    assert_eq!(test.z, f64::INFINITY);
    let test = delong_difference(&backwards, &perfect, &labels).expect("difference");
    assert_eq!((test.difference, test.z, test.p_value), (-1.0, f64::NEG_INFINITY, 0.0));
    let labels = [true, true, true, false, false, false];
    // Two lists of different lengths are no comparison.
    assert!(delong_difference(&scores, &scores[..5], &labels).is_err());
}
