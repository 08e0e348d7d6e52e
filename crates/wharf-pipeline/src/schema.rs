//! The JSON Schema of the pipeline file, derived from the types the parser uses, so it
//! cannot drift from what is accepted. `wharf schema` prints it for editors.

use crate::file::PipelineFile;

/// The JSON Schema (draft 2020-12) of a wharf pipeline file.
pub fn schema() -> serde_json::Value {
    let schema = schemars::schema_for!(PipelineFile);
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The checked-in schema must equal the derived one. `WHARF_UPDATE_SCHEMA=1` rewrites it.
    #[test]
    fn checked_in_schema_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/wharf.schema.json");
        let pretty =
            serde_json::to_string_pretty(&super::schema()).expect("schema serializes") + "\n";
        if std::env::var_os("WHARF_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create schema/");
            std::fs::write(&path, &pretty).expect("write schema");
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == pretty,
            "schema/wharf.schema.json is out of date; regenerate it with\n  WHARF_UPDATE_SCHEMA=1 cargo test -p wharf-pipeline schema"
        );
    }

    #[test]
    fn schema_describes_the_format() {
        let s = super::schema();
        assert_eq!(s["title"], "wharf pipeline file");
        assert!(s["properties"]["jobs"].is_object());
        assert_eq!(s["required"], serde_json::json!(["version", "jobs"]));
    }
}
