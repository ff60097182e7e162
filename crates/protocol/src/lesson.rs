//! Lessons as links: every training setting, and which of the page's controls are hidden, as a
//! URL query, so an educator can send a link that opens the page exactly so.
//!
//! `?preset=quick&margin=0.1&distance=euclidean&hide=settings,backend&title=What%20the%20margin%20does`
//!
//! Keys (all optional; unknown keys and bad values are reported, never fatal):
//! `preset` (`tutorial` | `quick`, the base the other keys change; default `quick`), `backend`
//! (`cpu` | `webgpu`), `images`, `held_out` (percent), `width`, `pretrained` (`0` | `1`),
//! `inputs` (`unit` | `symmetric`), `margin`, `lr`, `batch`, `epochs`, `patience`, `distance`
//! (`cosine` | `euclidean`), `passes` (`separate` | `concatenated`), `bn_momentum`, `seed`, `map`
//! (images on the embedding map, 100 to 10,000), `mining` (`none` | `batch-all` | `batch-hard` |
//! `semi-hard`), `p` and `k` (classes per mined batch and images per class, default 5 x 4), `fast`
//! (`1`: train only a projection head on frozen features),
//! `hide` (comma-separated [`Control`] names), `title` and `intro` (plain text shown above the
//! page, never HTML).

use crate::{BackendChoice, Mining, MiningConfig, TrainSettings};

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
}

/// A lesson read from a query, and what in the query could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLesson {
    pub lesson: Lesson,
    pub problems: Vec<String>,
}

/// The lessons the page links to.
pub const READY_LESSONS: [(&str, &str); 3] = [
    (
        "What the margin does",
        "preset=quick&margin=0.05&epochs=3&hide=checkpoints,recipe&title=What%20the%20margin%20does&intro=Train%20with%20a%20margin%20of%200.05%2C%20then%20change%20it%20to%200.8%20and%20train%20again%3A%20watch%20the%20share%20of%20active%20triplets%20and%20the%20gap%20between%20d(a%2Cp)%20and%20d(a%2Cn).",
    ),
    (
        "Cosine vs euclidean",
        "preset=quick&distance=euclidean&epochs=3&hide=checkpoints,recipe&title=Cosine%20vs%20euclidean&intro=This%20run%20measures%20euclidean%20distance%20between%20embeddings.%20Train%20it%2C%20then%20switch%20Distance%20to%20cosine%20and%20compare%20the%20ROC%20curves.",
    ),
    (
        "Hard negatives",
        "preset=quick&mining=batch-hard&p=5&k=4&epochs=4&hide=checkpoints,recipe&title=Hard%20negatives&intro=Each%20step%20draws%205%20classes%20x%204%20images%20and%20trains%20each%20anchor%20on%20its%20farthest%20positive%20and%20nearest%20negative.%20Watch%20the%20mined%20and%20active%20counts%2C%20then%20try%20semi-hard%20and%20batch-all.",
    ),
];

impl Lesson {
    /// The query that opens the page with these settings and hidden controls.
    pub fn to_query(&self) -> String {
        let s = &self.settings;
        let mut pairs: Vec<(&str, String)> = vec![
            ("images", s.images.to_string()),
            ("held_out", s.held_out_percent.to_string()),
            ("width", s.width.to_string()),
            ("pretrained", u8::from(s.pretrained).to_string()),
            ("inputs", if s.symmetric_inputs { "symmetric" } else { "unit" }.into()),
            ("margin", s.margin.to_string()),
            ("lr", s.learning_rate.to_string()),
            ("batch", s.batch_size.to_string()),
            ("epochs", s.epochs.to_string()),
            ("patience", s.patience.to_string()),
            ("distance", if s.euclidean { "euclidean" } else { "cosine" }.into()),
            ("passes", if s.concatenated_passes { "concatenated" } else { "separate" }.into()),
            ("bn_momentum", s.bn_momentum.to_string()),
            ("seed", s.seed.to_string()),
            ("map", s.map_images.to_string()),
        ];
        if s.fast_mode {
            pairs.push(("fast", "1".into()));
        }
        if let Some(mining) = s.mining {
            pairs.push(("mining", mining_name(Some(mining.strategy)).into()));
            pairs.push(("p", mining.classes.to_string()));
            pairs.push(("k", mining.per_class.to_string()));
        }
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
        pairs.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect::<Vec<_>>().join("&")
    }

    /// Read a query (with or without its leading `?`). Every usable key is applied; the rest is
    /// listed in `problems` for the page to show.
    pub fn from_query(query: &str) -> ParsedLesson {
        let pairs: Vec<(String, String)> = query
            .trim_start_matches('?')
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect();
        let mut problems = Vec::new();
        let preset = pairs.iter().find(|(key, _)| key == "preset").map(|(_, value)| value.as_str());
        let mut settings = match preset {
            Some("tutorial") => TrainSettings::tutorial(BackendChoice::Cpu),
            None | Some("quick") => TrainSettings::quick_demo(BackendChoice::Cpu),
            Some(other) => {
                problems.push(format!("preset '{other}' is not 'tutorial' or 'quick'"));
                TrainSettings::quick_demo(BackendChoice::Cpu)
            }
        };
        let mut lesson = Lesson {
            settings: settings.clone(),
            backend: None,
            hidden: Vec::new(),
            title: String::new(),
            intro: String::new(),
        };
        // `mining` first, so `p` and `k` find it wherever they are in the link.
        let (first, rest): (Vec<_>, Vec<_>) = pairs.iter().partition(|(key, _)| key == "mining");
        for (key, value) in first.into_iter().chain(rest) {
            let outcome = apply(&mut settings, &mut lesson, key, value);
            if let Err(problem) = outcome {
                problems.push(problem);
            }
        }
        lesson.settings = settings;
        ParsedLesson { lesson, problems }
    }
}

/// The link's name for a mining strategy (`none`: the recipe's fixed triplets).
pub fn mining_name(strategy: Option<Mining>) -> &'static str {
    match strategy {
        None => "none",
        Some(Mining::BatchAll) => "batch-all",
        Some(Mining::BatchHard) => "batch-hard",
        Some(Mining::SemiHard) => "semi-hard",
    }
}

/// P x K when a link turns mining on without saying: 5 classes x 4 images.
pub const DEFAULT_PK: (usize, usize) = (5, 4);

fn backend_name(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::Cpu => "cpu",
        BackendChoice::WebGpu => "webgpu",
    }
}

fn apply(settings: &mut TrainSettings, lesson: &mut Lesson, key: &str, value: &str) -> Result<(), String> {
    fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
        key: &str,
        value: &str,
        min: T,
        max: T,
    ) -> Result<T, String> {
        let parsed: T = value.parse().map_err(|_| format!("{key}={value} is not a number"))?;
        if parsed < min || parsed > max {
            return Err(format!("{key}={value} is outside {min}..={max}"));
        }
        Ok(parsed)
    }
    fn choice(key: &str, value: &str, options: [&str; 2]) -> Result<bool, String> {
        match value {
            v if v == options[0] => Ok(false),
            v if v == options[1] => Ok(true),
            _ => Err(format!("{key}={value} is not '{}' or '{}'", options[0], options[1])),
        }
    }
    match key {
        "preset" => {}
        "backend" => {
            lesson.backend = Some(match value {
                "cpu" => BackendChoice::Cpu,
                "webgpu" => BackendChoice::WebGpu,
                _ => return Err(format!("backend={value} is not 'cpu' or 'webgpu'")),
            })
        }
        "images" => settings.images = number(key, value, 0, 10_000_000)?,
        "held_out" => settings.held_out_percent = number(key, value, 1.0, 50.0)?,
        "width" => {
            let width: f64 = number(key, value, 0.35, 1.0)?;
            if ![0.35, 0.5, 0.75, 1.0].contains(&width) {
                return Err(format!("width={value} is not 0.35, 0.5, 0.75 or 1"));
            }
            settings.width = width;
            settings.pretrained &= width == 1.0;
        }
        "pretrained" => settings.pretrained = choice(key, value, ["0", "1"])? && settings.width == 1.0,
        "inputs" => settings.symmetric_inputs = choice(key, value, ["unit", "symmetric"])?,
        "margin" => settings.margin = number(key, value, 0.0, 2.0)?,
        "lr" => settings.learning_rate = number(key, value, 1e-7, 1.0)?,
        "batch" => settings.batch_size = number(key, value, 1, 512)?,
        "epochs" => settings.epochs = number(key, value, 1, 1000)?,
        "patience" => settings.patience = number(key, value, 1, 100)?,
        "distance" => settings.euclidean = choice(key, value, ["cosine", "euclidean"])?,
        "passes" => settings.concatenated_passes = choice(key, value, ["separate", "concatenated"])?,
        "bn_momentum" => settings.bn_momentum = number(key, value, 0.0, 0.9999)?,
        "seed" => settings.seed = number(key, value, 0, 9_000_000_000_000_000)?,
        "map" => settings.map_images = number(key, value, 100, 10_000)?,
        "fast" => settings.fast_mode = choice(key, value, ["0", "1"])?,
        "mining" => {
            let strategy = match value {
                "none" => None,
                "batch-all" => Some(Mining::BatchAll),
                "batch-hard" => Some(Mining::BatchHard),
                "semi-hard" => Some(Mining::SemiHard),
                _ => return Err(format!("mining={value} is not none, batch-all, batch-hard or semi-hard")),
            };
            let (classes, per_class) = settings.mining.map_or(DEFAULT_PK, |m| (m.classes, m.per_class));
            settings.mining = strategy.map(|strategy| MiningConfig { strategy, classes, per_class });
        }
        "p" | "k" => {
            let count: usize = number(key, value, 2, 64)?;
            let Some(mining) = settings.mining.as_mut() else {
                return Err(format!("{key}={value} needs mining=batch-all, batch-hard or semi-hard"));
            };
            if key == "p" {
                mining.classes = count;
            } else {
                mining.per_class = count;
            }
        }
        "hide" => {
            for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
                match Control::from_name(name) {
                    Some(control) if !lesson.hidden.contains(&control) => lesson.hidden.push(control),
                    Some(_) => {}
                    None => {
                        return Err(format!(
                            "hide: '{name}' is not one of backend, dataset, settings, checkpoints, recipe"
                        ));
                    }
                }
            }
        }
        "title" => lesson.title = value.chars().take(200).collect(),
        "intro" => lesson.intro = value.chars().take(2000).collect(),
        _ => return Err(format!("'{key}' is not a lesson setting")),
    }
    Ok(())
}

/// Percent-encoding of everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-decoding (and `+` as a space, as forms send it); invalid escapes are kept as text.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        at += 3;
                    }
                    None => {
                        out.push(b'%');
                        at += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_survives_its_link() {
        let mut settings = TrainSettings::tutorial(BackendChoice::Cpu);
        settings.margin = 0.15;
        settings.euclidean = true;
        settings.seed = 7;
        settings.map_images = 4_000;
        settings.mining = Some(MiningConfig { strategy: Mining::SemiHard, classes: 8, per_class: 3 });
        settings.fast_mode = true;
        let lesson = Lesson {
            settings,
            backend: Some(BackendChoice::WebGpu),
            hidden: vec![Control::Settings, Control::Backend],
            title: "Margins & you".into(),
            intro: "Train, then look at d(a,p) vs d(a,n): 100% sure?".into(),
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
        let settings = &parsed.lesson.settings;
        assert_eq!(settings.margin, 0.1);
        assert_eq!(settings.batch_size, 64, "an out-of-range value is ignored");
        assert_eq!(settings.width, 0.5);
        assert!(!settings.pretrained, "no pretrained weights at width 0.5");
        assert_eq!(settings.learning_rate, 1e-4, "the tutorial's value is kept");
        assert_eq!(parsed.lesson.hidden, vec![Control::Settings]);
        assert_eq!(parsed.lesson.title, "A b!");
        assert_eq!(
            parsed.problems,
            vec![
                "batch=9999 is outside 1..=512".to_string(),
                "hide: 'nope' is not one of backend, dataset, settings, checkpoints, recipe".to_string(),
                "'colour' is not a lesson setting".to_string(),
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
        }
    }

    #[test]
    fn mining_keys_apply_in_any_order() {
        let parsed = Lesson::from_query("k=3&p=6&mining=batch-all");
        assert_eq!(parsed.problems, Vec::<String>::new());
        assert_eq!(
            parsed.lesson.settings.mining,
            Some(MiningConfig { strategy: Mining::BatchAll, classes: 6, per_class: 3 })
        );
        let alone = Lesson::from_query("p=6");
        assert_eq!(alone.lesson.settings.mining, None);
        assert_eq!(alone.problems, vec!["p=6 needs mining=batch-all, batch-hard or semi-hard".to_string()]);
        assert_eq!(Lesson::from_query("mining=none").lesson.settings.mining, None);
    }

    #[test]
    fn decoding_is_total() {
        assert_eq!(decode("%41%zz%4"), "A%zz%4");
        assert_eq!(decode("%E2%9C%93"), "\u{2713}");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode(&encode("a b&c=d/é")), "a b&c=d/é");
    }
}
