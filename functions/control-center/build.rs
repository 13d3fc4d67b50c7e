//! The default agent templates (`infra/ops/agents/default-*.yaml`, what `retell-ops` creates
//! agents from) as JSON in `OUT_DIR`, for `agent_template` to `include_str!`: the control center
//! creates agents from the same files without linking a YAML parser or the ops crate.

use std::path::Path;

const TEMPLATES: [&str; 2] = ["default-de", "default-en"];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let agents = Path::new(&manifest).join("../../infra/ops/agents");
    for name in TEMPLATES {
        let source = agents.join(format!("{name}.yaml"));
        println!("cargo:rerun-if-changed={}", source.display());
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        let value: serde_json::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", source.display()));
        let json = serde_json::to_string(&value).expect("YAML values are JSON values");
        std::fs::write(Path::new(&out).join(format!("{name}.json")), json)
            .unwrap_or_else(|e| panic!("{out}/{name}.json: {e}"));
    }
}
