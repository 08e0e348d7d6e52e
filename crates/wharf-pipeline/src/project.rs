//! Finding and loading a project's pipeline files.
//!
//! Discovery order: `wharf.yml` at the root, then `.wharf/*.yml` sorted by name. Sizes
//! are checked from metadata before a file is read, so a huge file is refused without
//! being loaded.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::pipeline::Pipeline;
use crate::{MAX_FILE_BYTES, parse};

/// Loads and validates every pipeline file of the project at `root`.
pub fn load_project(root: &Path) -> Result<Vec<Pipeline>, Diagnostics> {
    let mut files: Vec<String> = Vec::new();
    if root.join("wharf.yml").is_file() {
        files.push("wharf.yml".to_string());
    }
    let dir = root.join(".wharf");
    let mut errors = Vec::new();
    if dir.is_dir() {
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".yml"))
                    .collect();
                names.sort();
                files.extend(names.into_iter().map(|n| format!(".wharf/{n}")));
            }
            Err(e) => errors.push(Diagnostic::whole_file(
                ".wharf",
                format!("cannot list `.wharf/`: {e}"),
            )),
        }
    }
    if files.is_empty() && errors.is_empty() {
        return Err(Diagnostic::whole_file("", format!("no pipeline file in `{}`", root.display()))
            .with_hint("create `wharf.yml` (or files under `.wharf/*.yml`) starting with `version: 1` and a `jobs:` map")
            .into());
    }
    let mut pipelines: Vec<Pipeline> = Vec::new();
    for file in &files {
        match read(&root.join(file), file) {
            Err(d) => errors.push(*d),
            Ok(text) => match parse(file, &text) {
                Err(ds) => errors.extend(ds.0),
                Ok(p) => {
                    if let Some(other) = pipelines.iter().find(|o| o.name == p.name) {
                        let message = format!(
                            "pipeline name `{}` is already used by `{}`",
                            p.name, other.file
                        );
                        let d = match &p.name_span {
                            Some(span) => Diagnostic::at(file, &p.source, span.clone(), message)
                                .with_label("duplicate name"),
                            None => Diagnostic::whole_file(file, message),
                        };
                        errors.push(d.with_hint("give each pipeline a unique `name:`"));
                    } else {
                        pipelines.push(p);
                    }
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(pipelines)
    } else {
        let mut ds = Diagnostics(errors);
        ds.sort();
        Err(ds)
    }
}

fn read(path: &Path, file: &str) -> Result<String, Box<Diagnostic>> {
    let size = std::fs::metadata(path)
        .map_err(|e| {
            Box::new(Diagnostic::whole_file(
                file,
                format!("cannot read `{file}`: {e}"),
            ))
        })?
        .len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(Box::new(too_large(file, size)));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Box::new(Diagnostic::whole_file(
            file,
            format!("cannot read `{file}`: {e}"),
        ))
    })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Box::new(too_large(file, bytes.len() as u64)));
    }
    String::from_utf8(bytes).map_err(|e| {
        Box::new(Diagnostic::whole_file(
            file,
            format!(
                "`{file}` is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// The diagnostic for a file over [`MAX_FILE_BYTES`].
pub(crate) fn too_large(file: &str, size: u64) -> Diagnostic {
    Diagnostic::whole_file(
        file,
        format!("`{file}` is {size} bytes; pipeline files are limited to 1 MiB"),
    )
    .with_hint("move large scripts into files in the repository and call them from `run:`")
}
