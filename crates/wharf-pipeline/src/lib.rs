//! Pipeline files: YAML to a typed file, validation with precise diagnostics, and the Plan.
