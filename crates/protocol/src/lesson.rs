//! Lessons as links: every setting of a run, and which of the page's controls are hidden, as a
//! URL query, so an educator can send a link that opens the page exactly so.
//!
//! `?preset=quick&margin=0.1&distance=euclidean&hide=settings,backend&title=What%20the%20margin%20does`
//!
//! The run's keys are the run description's ([`tripletlab_core::run::query`]: `preset`, `images`,
//! `held_out`, `width`, `margin`, `lr`, `mining`, ...; the CLI's `--settings` reads the same).
//! The page adds `backend` (`cpu` | `webgpu`), `map` (images on the embedding map, 100 to
//! 10,000), `hide` (comma-separated [`Control`] names), `title` and `intro` (plain text shown
//! above the page, never HTML). Unknown keys and bad values are reported, never fatal.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tripletlab_core::run::{RunSpec, query};

use crate::{BackendChoice, TrainSettings};

/// A control (or group of controls) a lesson can hide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Control {
    /// The compute backend card.
    Backend,
    /// The dataset card (the lesson's data is loaded for the visitor).
    Dataset,
    /// The settings form and presets.
    Settings,
    /// Checkpoint export and import.
    Checkpoints,
    /// The recipe summary.
    Recipe,
}

impl Control {
    pub const ALL: [Control; 5] = [Self::Backend, Self::Dataset, Self::Settings, Self::Checkpoints, Self::Recipe];

    pub fn name(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Dataset => "dataset",
            Self::Settings => "settings",
            Self::Checkpoints => "checkpoints",
            Self::Recipe => "recipe",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|control| control.name() == name)
    }
}

/// A lesson: settings, hidden controls, and what to tell the class.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    pub settings: TrainSettings,
    /// Set only when the link names a backend; otherwise the page picks one as usual.
    pub backend: Option<BackendChoice>,
    pub hidden: Vec<Control>,
    pub title: String,
    pub intro: String,
    /// A second run the lesson trains after the first and compares with it (`compare=distance:
    /// euclidean,margin:0.2`: the first run's settings with these changed).
    pub compare: Option<RunSpec>,
}

/// A lesson read from a query, and what in the query could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLesson {
    pub lesson: Lesson,
    pub problems: Vec<String>,
}

/// The lessons the page links to.
pub const READY_LESSONS: [(&str, &str); 5] = [
    (
        "What the margin does",
        "preset=quick&margin=0.05&epochs=3&hide=checkpoints,recipe&title=What%20the%20margin%20does&intro=Train%20with%20a%20margin%20of%200.05%2C%20then%20change%20it%20to%200.8%20and%20train%20again%3A%20watch%20the%20share%20of%20active%20triplets%20and%20the%20gap%20between%20d(a%2Cp)%20and%20d(a%2Cn).",
    ),
    (
        "Cosine vs euclidean",
        "preset=demo&compare=distance:euclidean&hide=checkpoints&title=Cosine%20vs%20euclidean&intro=Train%20both%3A%20the%20same%20fast%20run%20twice%2C%20first%20measuring%20cosine%20distance%20between%20embeddings%2C%20then%20euclidean.%20Their%20ROC%20curves%20and%20held-out%20losses%20are%20drawn%20together%2C%20and%20DeLong%27s%20test%20says%20whether%20their%20AUCs%20really%20differ.",
    ),
    (
        "Beat the tutorial",
        "preset=tutorial&images=400&held_out=20&epochs=3&compare=fast:1&hide=checkpoints&title=Beat%20the%20tutorial&intro=Train%20both%20on%20the%20same%20400%20images%20and%20triplets%3A%20first%20the%20tutorial%27s%20recipe%2C%20which%20fine-tunes%20every%20layer%20of%20the%20pretrained%20encoder%2C%20then%20the%20same%20with%20the%20encoder%20frozen%20and%20only%20a%20small%20head%20trained%20(fast%20mode).%20On%20few%20images%20the%20whole%20encoder%20overfits%3A%20compare%20the%20held-out%20losses%20and%20DeLong%27s%20test.",
    ),
    (
        "Classes it never saw",
        "preset=demo&split=class&held_out=20&hide=checkpoints&title=Classes%20it%20never%20saw&intro=Two%20classes%20are%20held%20out%20whole%3A%20the%20model%20trains%20on%20the%20other%20eight%20and%20is%20scored%20only%20on%20pairs%20of%20those%20two.%20Does%20learning%20what%20makes%20eight%20classes%20alike%20help%20it%20tell%20apart%20two%20it%20never%20saw%3F%20Compare%20the%20AUC%20before%20and%20after%20training.",
    ),
    (
        "Hard negatives",
        "preset=demo&mining=batch-hard&p=5&k=4&hide=checkpoints,recipe&title=Hard%20negatives&intro=Each%20step%20draws%205%20classes%20x%204%20pictures%20and%20trains%20each%20anchor%20on%20its%20farthest%20same-class%20picture%20and%20its%20nearest%20other-class%20one%20%28batch-hard%29%2C%20in%20fast%20mode%20on%20the%20pretrained%20features.%20Watch%20the%20heat%20map%3A%20the%20outlined%20same-class%20squares%20turn%20dark%20and%20the%20dots%20%28hard%20negatives%29%20thin%20out%20as%20the%20head%20learns.%20Click%20a%20cell%20to%20see%20its%20triplet%2C%20then%20try%20semi-hard%20and%20batch-all.",
    ),
];

impl Lesson {
    /// The query that opens the page with these settings and hidden controls.
    pub fn to_query(&self) -> String {
        let mut pairs = query::to_pairs(&self.settings.run);
        pairs.push(("map", self.settings.map_images.to_string()));
        if let Some(backend) = self.backend {
            pairs.push(("backend", backend_name(backend).into()));
        }
        if !self.hidden.is_empty() {
            pairs.push(("hide", self.hidden.iter().map(|control| control.name()).collect::<Vec<_>>().join(",")));
        }
        if !self.title.is_empty() {
            pairs.push(("title", self.title.clone()));
        }
        if !self.intro.is_empty() {
            pairs.push(("intro", self.intro.clone()));
        }
        if let Some(second) = &self.compare {
            let changes = query::differences(&self.settings.run, second);
            let text: Vec<String> = changes.iter().map(|(key, value)| format!("{key}:{value}")).collect();
            pairs.push(("compare", text.join(",")));
        }
        pairs.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect::<Vec<_>>().join("&")
    }

    /// Read a query (with or without its leading `?`). Every usable key is applied; the rest is
    /// listed in `problems` for the page to show.
    pub fn from_query(text: &str) -> ParsedLesson {
        let pairs: Vec<(String, String)> = text
            .trim_start_matches('?')
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect();
        let mut lesson = Lesson {
            settings: TrainSettings::quick_demo(BackendChoice::Cpu),
            backend: None,
            hidden: Vec::new(),
            title: String::new(),
            intro: String::new(),
            compare: None,
        };
        let mut map_images = lesson.settings.map_images;
        let mut compare = Vec::new();
        let (run, mut problems) =
            query::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), |key, value| {
                if key == "compare" {
                    return Some(compare_changes(value).map(|changes| compare = changes));
                }
                page_key(&mut lesson, &mut map_images, key, value)
            });
        if !compare.is_empty() {
            let mut second = run.clone();
            let known = problems.len();
            // In the table's order, as a link's own keys are applied (`mining` before `k`).
            compare.sort_by_key(|(key, _)| query::application_order(key));
            for (key, value) in &compare {
                match query::apply(&mut second, key, value) {
                    Some(Ok(())) => {}
                    Some(Err(problem)) => problems.push(format!("compare: {problem}")),
                    None => problems.push(format!("compare: '{key}' is not a setting")),
                }
            }
            if let (true, Err(problem)) = (second != run, second.check()) {
                problems.push(format!("compare: the second run cannot run: {problem}"));
            } else if second != run {
                lesson.compare = Some(second);
            } else if problems.len() == known {
                problems.push("compare: the second run would be the same as the first".into());
            }
        }
        lesson.settings = TrainSettings { backend: BackendChoice::Cpu, run, map_images };
        ParsedLesson { lesson, problems }
    }
}

/// A run's settings alone as a link query (what `tripletlab train --settings` reads back).
pub fn run_query(spec: &tripletlab_core::run::RunSpec) -> String {
    query::to_pairs(spec).iter().map(|(key, value)| format!("{key}={}", encode(value))).collect::<Vec<_>>().join("&")
}

fn backend_name(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::Cpu => "cpu",
        BackendChoice::WebGpu => "webgpu",
    }
}

/// `compare`'s value: `key:value` changes, comma-separated.
fn compare_changes(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|change| !change.is_empty())
        .map(|change| match change.split_once(':') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("compare: '{change}' is not key:value (e.g. distance:euclidean)")),
        })
        .collect()
}

/// The page's own keys: `None` for a key that is not one.
fn page_key(lesson: &mut Lesson, map_images: &mut u32, key: &str, value: &str) -> Option<Result<(), String>> {
    let outcome = match key {
        "backend" => match value {
            "cpu" => Ok(lesson.backend = Some(BackendChoice::Cpu)),
            "webgpu" => Ok(lesson.backend = Some(BackendChoice::WebGpu)),
            _ => Err(format!("backend={value} is not 'cpu' or 'webgpu'")),
        },
        "map" => match value.parse::<u32>() {
            Ok(count) if (100..=10_000).contains(&count) => Ok(*map_images = count),
            Ok(_) => Err(format!("map={value} is not between 100 and 10000")),
            Err(_) => Err(format!("map={value} is not a whole number")),
        },
        "hide" => {
            let mut outcome = Ok(());
            for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
                match Control::from_name(name) {
                    Some(control) if !lesson.hidden.contains(&control) => lesson.hidden.push(control),
                    Some(_) => {}
                    None => {
                        outcome =
                            Err(format!("hide: '{name}' is not one of backend, dataset, settings, checkpoints, recipe"))
                    }
                }
            }
            outcome
        }
        "title" => Ok(lesson.title = value.chars().take(200).collect()),
        "intro" => Ok(lesson.intro = value.chars().take(2000).collect()),
        _ => return None,
    };
    Some(outcome)
}

/// What a link value keeps as it is: RFC 3986's unreserved characters, and `,` (lists of hidden
/// controls read better unescaped).
const LINK_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b',');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, LINK_VALUE).to_string()
}

/// Percent-decoding, `+` as a space (as forms send it); invalid escapes are kept as text.
fn decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mining, MiningConfig};

    #[test]
    fn a_lesson_names_a_second_run_to_compare_and_survives_its_link() {
        let parsed = Lesson::from_query("preset=demo&compare=distance:euclidean,margin:0.2&title=Two");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let first = parsed.lesson.settings.run.clone();
        let second = parsed.lesson.compare.clone().expect("a second run");
        assert_eq!(first, tripletlab_core::run::RunSpec::class_demo());
        assert_eq!(second.loss.distance, tripletlab_core::run::Distance::Euclidean);
        assert_eq!(second.loss.margin, 0.2);
        assert_eq!(RunSpec { loss: first.loss.clone(), ..second.clone() }, first, "only the named settings differ");
        let again = Lesson::from_query(&parsed.lesson.to_query());
        assert_eq!(again.lesson, parsed.lesson);
        let bad = Lesson::from_query("preset=demo&compare=distance");
        assert_eq!(bad.problems, ["compare: 'distance' is not key:value (e.g. distance:euclidean)"]);
        let same = Lesson::from_query("preset=demo&compare=distance:cosine");
        assert_eq!(same.problems, ["compare: the second run would be the same as the first"]);
        // Changes apply in the table's order, whatever the link's, and the second run is checked.
        let ordered = Lesson::from_query("preset=demo&fast=0&compare=k:3,mining:batch-hard");
        assert!(ordered.problems.is_empty(), "{:?}", ordered.problems);
        assert_eq!(ordered.lesson.compare.as_ref().and_then(|second| second.mining).map(|m| m.per_class), Some(3));
        let fast_flip = Lesson::from_query("preset=demo&compare=flip:1");
        assert_eq!(fast_flip.problems.len(), 1, "{:?}", fast_flip.problems);
        assert!(
            fast_flip.problems[0].starts_with("compare: the second run cannot run: fast mode"),
            "{:?}",
            fast_flip.problems
        );
        // Fast mode mines (a head on P x K batches of frozen features).
        assert!(Lesson::from_query("preset=demo&compare=mining:batch-hard").problems.is_empty());
        let wrong = Lesson::from_query("preset=demo&compare=margin:9");
        assert_eq!(wrong.problems, ["compare: margin=9 is not between 0 and 2"]);
        assert!(wrong.lesson.compare.is_none());
    }

    #[test]
    fn a_lesson_survives_its_link() {
        let mut settings = TrainSettings::tutorial(BackendChoice::Cpu);
        settings.run.loss.margin = 0.15;
        settings.run.loss.distance = tripletlab_core::run::Distance::Euclidean;
        settings.run.seed = 7;
        settings.map_images = 4_000;
        settings.run.mining = Some(MiningConfig { strategy: Mining::SemiHard, classes: 8, per_class: 3 });
        settings.run.fast_mode = true;
        let lesson = Lesson {
            settings,
            backend: Some(BackendChoice::WebGpu),
            hidden: vec![Control::Settings, Control::Backend],
            title: "Margins & you".into(),
            intro: "Train, then look at d(a,p) vs d(a,n): 100% sure?".into(),
            compare: None,
        };
        let parsed = Lesson::from_query(&format!("?{}", lesson.to_query()));
        assert_eq!(parsed.problems, Vec::<String>::new());
        // The link carries the backend separately; the settings' own backend is the page's.
        let expected =
            Lesson { settings: TrainSettings { backend: BackendChoice::Cpu, ..lesson.settings.clone() }, ..lesson };
        assert_eq!(parsed.lesson, expected);
    }

    #[test]
    fn keys_change_the_preset_and_bad_ones_are_reported() {
        let parsed = Lesson::from_query(
            "preset=tutorial&margin=0.1&batch=9999&width=0.5&hide=settings,nope&colour=red&title=A+b%21",
        );
        let settings = &parsed.lesson.settings.run;
        assert_eq!(settings.loss.margin, 0.1);
        assert_eq!(settings.batch_size, 64, "an out-of-range value is ignored");
        assert_eq!(settings.model.width, 0.5);
        assert!(!settings.pretrained, "no pretrained weights at width 0.5");
        assert_eq!(settings.learning_rate, 1e-4, "the tutorial's value is kept");
        assert_eq!(parsed.lesson.hidden, vec![Control::Settings]);
        assert_eq!(parsed.lesson.title, "A b!");
        assert_eq!(
            parsed.problems,
            vec![
                "batch=9999 is not between 1 and 1024".to_string(),
                "hide: 'nope' is not one of backend, dataset, settings, checkpoints, recipe".to_string(),
                "'colour' is not a setting".to_string(),
            ]
        );
    }

    #[test]
    fn the_ready_lessons_parse_cleanly() {
        for (name, query) in READY_LESSONS {
            let parsed = Lesson::from_query(query);
            assert_eq!(parsed.problems, Vec::<String>::new(), "{name}");
            assert_eq!(parsed.lesson.title, name);
            assert!(!parsed.lesson.intro.is_empty());
            // Each run the lesson trains can run.
            assert_eq!(parsed.lesson.settings.run.check(), Ok(()), "{name}");
            if let Some(second) = &parsed.lesson.compare {
                assert_eq!(second.check(), Ok(()), "{name}'s second run");
            }
        }
    }

    #[test]
    fn every_run_setting_survives_the_link() {
        let settings = TrainSettings {
            backend: BackendChoice::Cpu,
            run: tripletlab_core::run::RunSpec {
                fast_mode: false,
                augmentation: tripletlab_core::data::augment::Augmentation { flip: true, crop_padding: 4 },
                data: tripletlab_core::run::DataSpec {
                    images: 321,
                    held_out: 0.13,
                    split: tripletlab_core::data::triplets::HeldOutSplit::ByImage,
                },
                adam: tripletlab_core::run::AdamSettings { beta_1: 0.85, beta_2: 0.995, epsilon: 1e-8 },
                loss: tripletlab_core::run::LossSpec {
                    margin: 0.3,
                    distance: tripletlab_core::run::Distance::Euclidean,
                    reduction: tripletlab_core::run::Reduction::MeanOverActive,
                    kind: tripletlab_core::run::LossKind::Contrastive,
                },
                ..tripletlab_core::run::RunSpec::quick_demo()
            },
            map_images: 250,
        };
        let lesson = Lesson {
            settings,
            backend: None,
            hidden: Vec::new(),
            title: String::new(),
            intro: String::new(),
            compare: None,
        };
        let parsed = Lesson::from_query(&lesson.to_query());
        assert_eq!(parsed.problems, Vec::<String>::new());
        assert_eq!(parsed.lesson, lesson);
    }

    #[test]
    fn mining_keys_apply_in_any_order() {
        let parsed = Lesson::from_query("k=3&p=6&mining=batch-all");
        assert_eq!(parsed.problems, Vec::<String>::new());
        assert_eq!(
            parsed.lesson.settings.run.mining,
            Some(MiningConfig { strategy: Mining::BatchAll, classes: 6, per_class: 3 })
        );
        let alone = Lesson::from_query("p=6");
        assert_eq!(alone.lesson.settings.run.mining, None);
        assert_eq!(alone.problems, vec!["p=6 needs mining=batch-all, batch-hard or semi-hard".to_string()]);
        assert_eq!(Lesson::from_query("mining=none").lesson.settings.run.mining, None);
    }

    #[test]
    fn decoding_is_total() {
        assert_eq!(decode("%41%zz%4"), "A%zz%4");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("%E2%9C%93"), "\u{2713}");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode(&encode("a b&c=d/é")), "a b&c=d/é");
    }
}
