//! Micro-benchmarks of the hot paths: parsing the DAG file, rendering a template, hashing.
//! Run with `cargo bench`; whole-run figures against GNU make are in bench/compare.py.

use betterform::bench_api::{Render, digest, parse_dag};
use criterion::{Criterion, criterion_group, criterion_main};

fn layered_dag(stages: usize) -> String {
    let mut text = String::new();
    for i in 0..stages {
        let deps = if i >= 20 { format!("s{:04} s{:04}", i - 20, i - 19) } else { String::new() };
        text += &format!("$(call define_stage, s{i:04}, {deps})\n");
    }
    text
}

fn benches(c: &mut Criterion) {
    let dag = layered_dag(1000);
    c.bench_function("parse + check a 1000-stage DAG", |b| b.iter(|| parse_dag(&dag)));

    let cfg = serde_json::json!({ "region": "eu-north-1", "zones": ["a", "b", "c"], "vpc": { "cidr": "10.0.0.0/16" } });
    let render = Render::new(&cfg);
    let template = "region = \"{{ cfg.region }}\"\ncidr = \"{{ cfg.vpc.cidr }}\"\n{% for z in cfg.zones %}zone \"{{ z }}\" {}\n{% endfor %}name = \"{{ stage_name }}\"\n";
    c.bench_function("render a small template", |b| b.iter(|| render.render(template, "network")));

    let blob = vec![7u8; 1 << 20];
    c.bench_function("hash 1 MiB", |b| b.iter(|| digest(&blob)));
}

criterion_group!(core, benches);
criterion_main!(core);
