//! Finding the project (the directory holding `wharf.yml` or `.wharf/*.yml`) and loading
//! its pipelines, with diagnostics printed the same way by every command.

use std::path::{Path, PathBuf};

use crate::exit::UserError;

/// The project root: `start` or the nearest parent holding a pipeline file. A name is
/// enough (see [`wharf_pipeline::is_project`]): a `wharf.yml` that is a FIFO, a directory
/// or a dangling link stops the search here, and loading then says what is wrong with it,
/// instead of running the parent directory's pipeline.
pub fn find_root(start: &Path) -> Result<PathBuf, UserError> {
    let start = start
        .canonicalize()
        .map_err(|e| UserError::invalid(format!("{}: {e}", start.display())))?;
    start
        .ancestors()
        .find(|dir| wharf_pipeline::is_project(dir))
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            UserError::invalid(format!(
                "no pipeline file in {} or any parent directory",
                start.display()
            ))
            .hint("create wharf.yml (see docs/pipeline.md), or pass -C DIR")
        })
}

/// The `.wharf` state directory of a project.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".wharf")
}

/// Loads every pipeline of the project; on invalid files prints the diagnostics to stderr
/// (ending in `error: N problems found`) and returns an error that exits 2 and says
/// nothing more.
pub fn load(root: &Path) -> Result<Vec<wharf_pipeline::Pipeline>, UserError> {
    wharf_pipeline::load_project(root).map_err(|diags| {
        let color = console::colors_enabled_stderr();
        eprint!("{}", diags.render(color));
        UserError::reported()
    })
}

/// The project's job cache (`.wharf/cache/jobs`), capped by `WHARF_CACHE_MAX_SIZE`
/// (default 5 GiB).
pub fn job_cache(root: &Path) -> Result<wharf_engine::cache::JobCache, UserError> {
    use wharf_engine::cache;
    let max = match std::env::var(cache::MAX_SIZE_ENV) {
        Ok(text) => cache::parse_size(&text).ok_or_else(|| {
            UserError::invalid(format!("{}=`{text}` is not a size", cache::MAX_SIZE_ENV))
                .hint("write a number and a unit: `500M`, `5G`")
        })?,
        Err(_) => cache::DEFAULT_MAX_BYTES,
    };
    Ok(cache::JobCache::new(
        state_dir(root).join("cache").join("jobs"),
        max,
    ))
}

/// The user running wharf on this machine (`USER`, else `LOGNAME`, else the account of
/// the process's user id in `/etc/passwd`, as `whoami` finds it where the environment has
/// no user, in a container or under cron): the actor of the runs and deployments it
/// starts, and who `wharf approve` approves as.
pub fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            account_of(&passwd, rustix::process::getuid().as_raw())
        })
}

/// The name of the account with user id `uid` in a `passwd` file's text.
fn account_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_account_is_found_by_its_user_id() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# a comment\n\
                      broken\nci:x:1001:1001::/home/ci:/bin/sh\n";
        assert_eq!(super::account_of(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::account_of(passwd, 1001).as_deref(), Some("ci"));
        assert_eq!(super::account_of(passwd, 7), None);
    }
}
