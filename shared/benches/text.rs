//! What the text rules cost per message: folding, splitting into words and matching word
//! patterns, which the classifier and the escalation check run on every comment and DM.
//!
//! Compiling a vocabulary is measured both as a job sees it (once per process) and cold.
//!
//! Cases: a short question, a spam comment with accents and fancy letters, and the
//! longest comment Instagram allows (2,200 characters).

use criterion::{Criterion, criterion_group, criterion_main};
use relay::ai::EscalationWords;
use relay::ai::escalation::DEFAULT_WORDS;
use relay::text::{WordPatterns, Words, fold};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let question = "Love the new mugs! Do you ship to Austria?";
    let accented = "Çok güzel! İnsanla konuşmak istiyorum, müşteri hizmetleri lütfen 🙏 Café Ñandú";
    let long: String = "Honestly the best flower shop in town, the tulips lasted two weeks! "
        .repeat(40)
        .chars()
        .take(2200)
        .collect();
    let cases = [
        ("question", question),
        ("accented", accented),
        ("longest", long.as_str()),
    ];
    let mut group = c.benchmark_group("text");
    for (name, text) in cases {
        group.bench_function(format!("fold/{name}"), |b| b.iter(|| fold(black_box(text))));
        group.bench_function(format!("words/{name}"), |b| {
            b.iter(|| Words::of(black_box(text)))
        });
    }
    let defaults = EscalationWords::new::<&str>(&[], true);
    for (name, text) in cases {
        group.bench_function(format!("escalation/{name}"), |b| {
            b.iter(|| defaults.find(black_box(text)))
        });
    }
    // Per job (compiled once per process and vocabulary).
    group.bench_function("escalation/compile_defaults", |b| {
        b.iter(|| EscalationWords::new::<&str>(black_box(&[]), true))
    });
    // Compiling a vocabulary the process has not seen yet.
    group.bench_function("patterns/compile_defaults_cold", |b| {
        b.iter(|| WordPatterns::new(black_box(DEFAULT_WORDS)))
    });
    let blocked: Vec<String> = (0..100).map(|i| format!("badword{i}*")).collect();
    group.bench_function("patterns/compile_100_blocked_words_cold", |b| {
        b.iter(|| WordPatterns::new(black_box(&blocked)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
