//! What classifying one comment costs: the moderation function's CPU per comment,
//! without I/O.
//!
//! Cases: a short customer question, a typical spam comment, the longest comment
//! Instagram allows (2,200 characters), and the spam comment against a policy with 100
//! blocked words.

use criterion::{Criterion, criterion_group, criterion_main};
use relay::moderation::{CommentFacts, ModerationPolicy, classify};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let question = "Love the new mugs! Do you ship to Austria?";
    let spam = "Want 10k FREE followers?? DM me or check my bio 🔥 bit.ly/grow-fast @a @b @c";
    let long: String = "Honestly the best flower shop in town, the tulips lasted two weeks! "
        .repeat(40)
        .chars()
        .take(2200)
        .collect();
    let default = ModerationPolicy::default();
    let blocked = ModerationPolicy {
        blocked_words: (0..100).map(|i| format!("badword{i}*")).collect(),
        ..ModerationPolicy::default()
    };
    let mut group = c.benchmark_group("classify");
    for (name, text, policy) in [
        ("question", question, &default),
        ("spam", spam, &default),
        ("longest", long.as_str(), &default),
        ("spam_100_blocked_words", spam, &blocked),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                classify(
                    black_box(&CommentFacts {
                        text,
                        by_account: false,
                        repeats: 1,
                    }),
                    policy,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
