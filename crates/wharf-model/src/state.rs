//! What wharf keeps in a project's `.wharf` directory, beside the pipeline files there.

/// Entries of the `.wharf` state directory that are wharf's, not the project's: the run
/// history (which also holds the encrypted secrets), logs, artifacts, caches, image
/// layouts, hand-offs and workspaces. They are never part of a job's workspace, and the
/// `.gitignore` wharf writes keeps them out of git. Pipeline files under `.wharf/` are the
/// project's and are neither.
pub const STATE_ENTRIES: &[&str] = &[
    "wharf.db",
    "wharf.db-wal",
    "wharf.db-shm",
    "wharf.db-journal",
    "wharf.db.lock",
    "logs",
    "artifacts",
    "tmp",
    "cache",
    "images",
    "handoff",
    "workspaces",
];

/// The `.wharf/.gitignore` wharf writes: its state out of git, pipeline files in. It ignores
/// itself, so a project whose `.wharf` holds only state shows nothing in `git status`.
pub fn gitignore() -> String {
    let mut text = String::from(
        "# Written by wharf. Its state stays out of git: the run history (with the\n\
         # encrypted secrets), logs, artifacts, caches, images and workspaces.\n\
         # Pipeline files here (*.yml) are yours to commit. Edit freely: wharf writes this\n\
         # file only when it is missing.\n\
         /.gitignore\n",
    );
    for entry in STATE_ENTRIES {
        text.push('/');
        text.push_str(entry);
        text.push('\n');
    }
    text
}

/// What a file type is, for messages such as "`wharf.yml` is a FIFO (named pipe), not a
/// file" or "`dist/x` is a socket": pipeline files and artifacts must be regular files.
pub fn file_kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symlink"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}
