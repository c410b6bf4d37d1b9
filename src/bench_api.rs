//! Entry points for the criterion micro-benchmarks in `benches/`. Not a stable API: it exists
//! so benchmarks can reach the hot paths without making every module public.

use std::path::Path;

use crate::graph::Dag;
use crate::stamp::{Delimiters, Renderer};

/// Parses and checks a DAG file's text; returns the number of stages.
pub fn parse_dag(text: &str) -> usize {
    Dag::parse(Path::new("betterform_dag.mk"), text).expect("valid DAG").len()
}

/// A renderer with `cfg` as the config and no environment.
pub struct Render(Renderer);

impl Render {
    pub fn new(cfg: &serde_json::Value) -> Render {
        let delimiters = Delimiters { left: "{{".into(), right: "}}".into() };
        Render(
            Renderer::new(
                &delimiters,
                cfg,
                Default::default(),
                Path::new("/nonexistent"),
                Default::default(),
            )
            .expect("renderer"),
        )
    }

    /// Renders one template for `stage`.
    pub fn render(&self, source: &str, stage: &str) -> String {
        let (ctx, _) = self.0.context(stage, std::collections::BTreeSet::<String>::new(), false);
        self.0.render(Path::new("bench.tf"), source, &ctx).expect("renders")
    }
}

/// The content hash used for up-to-date decisions.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
