//! Finding and loading a project's pipeline files.
//!
//! Discovery order: `wharf.yml` at the root, then `.wharf/*.yml` sorted by name. A name is
//! enough to make a directory the project, whatever it names: a FIFO, a directory or a
//! dangling link called `wharf.yml` is an error about that file, never a reason to look in
//! the parent directory (which would run another project's pipeline, and exit 0).
//!
//! A pipeline file is a regular file, or a symlink to one inside the project. Nothing
//! outside the project is read, so no diagnostic ever quotes a line of a file from outside
//! (a link to `/etc/passwd` once printed its lines as "unknown key" errors). A file is
//! opened without blocking (a FIFO swapped in after the check cannot hang the read), checked
//! again on the open descriptor, and read up to the size limit and no further.

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::pipeline::Pipeline;
use crate::{MAX_FILE_BYTES, parse};

/// The pipeline file at the project root.
pub const ROOT_FILE: &str = "wharf.yml";

/// The directory of further pipeline files (`.wharf/*.yml`), also wharf's state directory.
pub const PIPELINE_DIR: &str = ".wharf";

/// Whether `dir` is a project: it holds an entry named `wharf.yml`, or `.wharf/` holds one
/// named `*.yml` (or `*.yaml`), whatever kind of file the entry is. [`load_project`] then
/// says what is wrong with an entry that is not a pipeline file.
pub fn is_project(dir: &Path) -> bool {
    dir.join(ROOT_FILE).symlink_metadata().is_ok()
        || match dir_entries(dir) {
            Ok(names) => !names.is_empty(),
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ),
        }
}

/// The names under `.wharf/` that look like pipeline files, sorted.
fn dir_entries(root: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(PIPELINE_DIR))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    Ok(names)
}

/// Loads and validates every pipeline file of the project at `root`, judging wharf's own
/// insecure settings against the project's policy as of today (UTC).
pub fn load_project(root: &Path) -> Result<Vec<Pipeline>, Diagnostics> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive();
    load_project_on(root, today)
}

/// [`load_project`], with the day the policy's `setting` exceptions are judged on.
pub fn load_project_on(
    root: &Path,
    today: chrono::NaiveDate,
) -> Result<Vec<Pipeline>, Diagnostics> {
    let root = root.canonicalize().map_err(|e| {
        Diagnostic::whole_file(
            "",
            format!("cannot open the project `{}`: {e}", root.display()),
        )
    })?;
    let mut files: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    if root.join(ROOT_FILE).symlink_metadata().is_ok() {
        files.push(ROOT_FILE.to_string());
    }
    match dir_entries(&root) {
        Ok(names) => {
            for name in names {
                let file = format!("{PIPELINE_DIR}/{name}");
                if name.ends_with(".yaml") {
                    errors.push(FileError::YamlExtension { file }.into());
                } else {
                    files.push(file);
                }
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) => {}
        Err(e) => errors.push(Diagnostic::whole_file(
            PIPELINE_DIR,
            format!("cannot list `{PIPELINE_DIR}/`: {e}"),
        )),
    }
    if files.is_empty() && errors.is_empty() {
        return Err(Diagnostic::whole_file("", format!("no pipeline file in `{}`", root.display()))
            .with_hint("create `wharf.yml` (or files under `.wharf/*.yml`) starting with `version: 1` and a `jobs:` map")
            .into());
    }
    let mut pipelines: Vec<Pipeline> = Vec::new();
    for file in &files {
        match read(&root, file) {
            Err(e) => errors.push(e.into()),
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
    // `on.pipeline` names another pipeline of the project.
    let names: Vec<&str> = pipelines.iter().map(|p| p.name.as_str()).collect();
    for p in &pipelines {
        let Some(t) = p.triggers.as_ref().and_then(|t| t.pipeline.as_ref()) else {
            continue;
        };
        let problem = if t.name == p.name {
            Some("a pipeline cannot follow itself".to_string())
        } else if !names.contains(&t.name.as_str()) {
            Some(format!(
                "`on.pipeline` names `{}`, which is not a pipeline of the project",
                t.name
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            errors.push(
                Diagnostic::whole_file(&p.file, message)
                    .with_hint(format!("the project's pipelines: {}", names.join(", "))),
            );
        }
    }
    if errors.is_empty() {
        errors = crate::settings::check(&root, &mut pipelines, today);
    }
    if errors.is_empty() {
        Ok(pipelines)
    } else {
        let mut ds = Diagnostics(errors);
        ds.sort();
        Err(ds)
    }
}

/// Why a name in the project is not a pipeline file wharf reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// Something other than a regular file (a directory, a FIFO, a device, a socket).
    #[error("`{file}` is {kind}, not a file")]
    NotAFile { file: String, kind: &'static str },
    /// A symlink to something other than a regular file.
    #[error("`{file}` is a symlink to {}, {kind}, not a file", target.display())]
    LinkNotAFile {
        file: String,
        target: PathBuf,
        kind: &'static str,
    },
    /// A symlink whose target does not exist.
    #[error("`{file}` is a symlink to {}, which does not exist", target.display())]
    Dangling { file: String, target: PathBuf },
    /// A symlink leading out of the project.
    #[error("`{file}` is a symlink to {}, outside the project", target.display())]
    OutsideLink { file: String, target: PathBuf },
    /// A file reached through a symlinked directory (`.wharf` itself) outside the project.
    #[error("`{file}` is outside the project: it resolves to {}", real.display())]
    Outside { file: String, real: PathBuf },
    /// Over [`MAX_FILE_BYTES`].
    #[error("`{file}` is {size} bytes; pipeline files are limited to 1 MiB")]
    TooLarge { file: String, size: u64 },
    /// Not UTF-8.
    #[error("`{file}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { file: String, offset: usize },
    /// `.wharf/NAME.yaml`: read neither silently nor by surprise.
    #[error("`{file}` is not read: pipeline files under `.wharf/` end in `.yml`")]
    YamlExtension { file: String },
    /// The file system refused.
    #[error("cannot read `{file}`: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

impl FileError {
    fn file(&self) -> &str {
        match self {
            FileError::NotAFile { file, .. }
            | FileError::LinkNotAFile { file, .. }
            | FileError::Dangling { file, .. }
            | FileError::OutsideLink { file, .. }
            | FileError::Outside { file, .. }
            | FileError::TooLarge { file, .. }
            | FileError::NotUtf8 { file, .. }
            | FileError::YamlExtension { file }
            | FileError::Io { file, .. } => file,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            FileError::NotAFile { file, .. } | FileError::LinkNotAFile { file, .. } => format!(
                "a pipeline file is a regular file (or a symlink to one inside the project): replace or remove `{file}`"
            ),
            FileError::Dangling { .. } => {
                "create the file the link points to, or remove the link".to_string()
            }
            FileError::OutsideLink { .. } | FileError::Outside { .. } => {
                "wharf reads pipeline files only from inside the project: copy the file in instead of linking to it".to_string()
            }
            FileError::TooLarge { .. } => {
                "move large scripts into files in the repository and call them from `run:`"
                    .to_string()
            }
            FileError::YamlExtension { file } => {
                format!("rename it to `{}yml`", file.trim_end_matches("yaml"))
            }
            FileError::NotUtf8 { .. } | FileError::Io { .. } => return None,
        })
    }
}

impl From<FileError> for Diagnostic {
    fn from(e: FileError) -> Diagnostic {
        Diagnostic::whole_file(e.file(), e.to_string()).with_hint_opt(e.hint())
    }
}

/// What a file type is, for "`wharf.yml` is a FIFO (named pipe), not a file".
fn kind(ft: FileType) -> &'static str {
    wharf_model::state::file_kind(ft)
}

/// The real path of pipeline file `file` (relative to the canonical `root`), when it is a
/// regular file, or a symlink to one, inside the project.
fn resolve(root: &Path, file: &str) -> Result<PathBuf, FileError> {
    let io = |source| FileError::Io {
        file: file.to_string(),
        source,
    };
    let path = root.join(file);
    let meta = path.symlink_metadata().map_err(io)?;
    let link = meta.file_type().is_symlink();
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(e) if link && e.kind() == io::ErrorKind::NotFound => {
            return Err(FileError::Dangling {
                file: file.to_string(),
                target: std::fs::read_link(&path).unwrap_or_default(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    if !real.starts_with(root) {
        return Err(if link {
            FileError::OutsideLink {
                file: file.to_string(),
                target: real,
            }
        } else {
            FileError::Outside {
                file: file.to_string(),
                real,
            }
        });
    }
    let target = if link {
        std::fs::metadata(&real).map_err(io)?
    } else {
        meta
    };
    if !target.is_file() {
        let kind = kind(target.file_type());
        return Err(if link {
            FileError::LinkNotAFile {
                file: file.to_string(),
                target: real,
                kind,
            }
        } else {
            FileError::NotAFile {
                file: file.to_string(),
                kind,
            }
        });
    }
    Ok(real)
}

/// Reads pipeline file `file` of the project at the canonical `root`.
pub(crate) fn read(root: &Path, file: &str) -> Result<String, FileError> {
    let io = |source| FileError::Io {
        file: file.to_string(),
        source,
    };
    let real = resolve(root, file)?;
    // Non-blocking and not following a link: what was checked above is what is read, and a
    // FIFO or link swapped in since is refused instead of waited on or followed.
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    let f = File::options()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&real)
        .map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotAFile {
            file: file.to_string(),
            kind: kind(meta.file_type()),
        });
    }
    let too_large = |size| FileError::TooLarge {
        file: file.to_string(),
        size,
    };
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        file: file.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The diagnostic for a file over [`MAX_FILE_BYTES`].
pub(crate) fn too_large(file: &str, size: u64) -> Diagnostic {
    FileError::TooLarge {
        file: file.to_string(),
        size,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().canonicalize().expect("canonical");
        (t, root)
    }

    fn err(root: &Path, file: &str) -> String {
        read(root, file).expect_err("refused").to_string()
    }

    const BODY: &str = "version: 1\njobs:\n  t:\n    run: x\n";

    #[test]
    fn what_is_not_a_regular_file_inside_is_named_and_never_read() {
        let (_t, root) = project();
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("p.yml"), BODY).expect("write");
        let link = |target: &Path| {
            let _ = std::fs::remove_file(root.join(ROOT_FILE));
            std::os::unix::fs::symlink(target, root.join(ROOT_FILE)).expect("link");
        };

        link(Path::new("/dev/zero"));
        assert_eq!(
            err(&root, ROOT_FILE),
            "`wharf.yml` is a symlink to /dev/zero, outside the project"
        );
        link(&outside.path().join("p.yml"));
        assert!(
            err(&root, ROOT_FILE).ends_with("p.yml, outside the project"),
            "{}",
            err(&root, ROOT_FILE)
        );
        link(Path::new("missing.yml"));
        assert_eq!(
            err(&root, ROOT_FILE),
            "`wharf.yml` is a symlink to missing.yml, which does not exist"
        );
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        link(Path::new("sub"));
        assert!(
            err(&root, ROOT_FILE).ends_with("/sub, a directory, not a file"),
            "{}",
            err(&root, ROOT_FILE)
        );
        // A link to a file inside the project is read.
        std::fs::write(root.join("sub/ci.yml"), BODY).expect("write");
        link(Path::new("sub/ci.yml"));
        assert_eq!(read(&root, ROOT_FILE).expect("read"), BODY);

        std::fs::remove_file(root.join(ROOT_FILE)).expect("rm");
        std::fs::create_dir(root.join(ROOT_FILE)).expect("mkdir");
        assert_eq!(
            err(&root, ROOT_FILE),
            "`wharf.yml` is a directory, not a file"
        );
        std::fs::remove_dir(root.join(ROOT_FILE)).expect("rmdir");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            root.join(ROOT_FILE),
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .expect("fifo");
        assert_eq!(
            err(&root, ROOT_FILE),
            "`wharf.yml` is a FIFO (named pipe), not a file"
        );
    }

    #[test]
    fn a_symlinked_pipeline_directory_outside_is_refused() {
        let (_t, root) = project();
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("ci.yml"), BODY).expect("write");
        std::os::unix::fs::symlink(outside.path(), root.join(PIPELINE_DIR)).expect("link");
        assert!(is_project(&root));
        let e = load_project(&root).expect_err("outside");
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(
            e.0[0]
                .message
                .starts_with("`.wharf/ci.yml` is outside the project: it resolves to "),
            "{e}"
        );
        assert!(e.0[0].source.is_none());
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let (_t, root) = project();
        let big = File::create(root.join(ROOT_FILE)).expect("create");
        big.set_len(MAX_FILE_BYTES as u64 + 1).expect("grow");
        assert_eq!(
            err(&root, ROOT_FILE),
            format!(
                "`wharf.yml` is {} bytes; pipeline files are limited to 1 MiB",
                MAX_FILE_BYTES + 1
            )
        );
    }

    #[test]
    fn names_make_a_project_whatever_they_are() {
        let (_t, root) = project();
        assert!(!is_project(&root));
        std::fs::create_dir(root.join(PIPELINE_DIR)).expect("mkdir");
        std::fs::write(root.join(".wharf/wharf.db"), "state").expect("write");
        assert!(!is_project(&root), "a state directory alone is no project");
        std::os::unix::fs::symlink("nowhere", root.join(".wharf/ci.yml")).expect("link");
        assert!(is_project(&root));
        std::fs::remove_file(root.join(".wharf/ci.yml")).expect("rm");
        std::os::unix::fs::symlink("nowhere", root.join(ROOT_FILE)).expect("link");
        assert!(is_project(&root));
    }

    #[test]
    fn a_yaml_extension_is_named_not_skipped() {
        let (_t, root) = project();
        std::fs::write(root.join(ROOT_FILE), BODY).expect("write");
        std::fs::create_dir(root.join(PIPELINE_DIR)).expect("mkdir");
        std::fs::write(root.join(".wharf/deploy.yaml"), BODY).expect("write");
        let e = load_project(&root).expect_err("yaml");
        assert_eq!(
            e.0[0].message,
            "`.wharf/deploy.yaml` is not read: pipeline files under `.wharf/` end in `.yml`"
        );
        assert_eq!(
            e.0[0].hint.as_deref(),
            Some("rename it to `.wharf/deploy.yml`")
        );
    }
}
