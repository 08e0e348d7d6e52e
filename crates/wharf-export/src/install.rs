//! How an exported platform job gets wharf. `cargo install wharf` would take whatever
//! crate owns the name `wharf` on crates.io, and anyone can register a name: that crate
//! would then run inside the user's CI with its secrets (dependency confusion, OWASP
//! CI/CD risk 3). So the install step comes only from a source the user names and the job
//! verifies: a git commit (git checks the content by its hash), a release file with its
//! sha256 (checked before it runs), or a container image by digest (checked by the
//! runtime that pulls it) — or, as the user's own responsibility, a command they write.
//!
//! The source is recorded in the file's header as the flags that name it, so a later
//! `wharf export` keeps it and `wharf export --check` can tell when it changed.

use std::fmt;

use crate::Platform;
use crate::error::{Error, Result};

/// The header line recording the install source; the flags follow, shell-quoted.
pub(crate) const HEADER_PREFIX: &str = "# wharf install: ";

/// Where an exported job gets wharf from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `cargo install --locked --git URL --rev REV wharf`: the commit (full hash) pins
    /// the source and its `Cargo.lock` pins the dependencies.
    Git {
        /// The repository.
        url: String,
        /// The full commit hash, lower case.
        rev: String,
    },
    /// A release file — the `wharf` binary itself, or a `.tar.gz`/`.tgz`/`.tar.xz`
    /// holding it — downloaded and checked against `sha256` before anything in it runs.
    Release {
        /// Where to download it.
        url: String,
        /// Its sha256, 64 lower-case hex digits.
        sha256: String,
    },
    /// Jobs run in this image (`NAME@sha256:HEX`), which carries wharf.
    Image {
        /// The reference, with its digest.
        reference: String,
    },
    /// The user's own command, as written: wharf cannot check what it installs.
    Command(String),
}

impl Install {
    /// A git repository and a full commit hash (40 hex digits, or 64 in a SHA-256
    /// repository).
    pub fn git(url: &str, rev: &str) -> Result<Install> {
        let url = checked_url(
            "--install-git",
            url,
            &["https://", "http://", "ssh://", "git://", "file://"],
        )?;
        Ok(Install::Git {
            url,
            rev: commit(rev)?,
        })
    }

    /// A release file and its sha256 (a `sha256:` prefix is accepted).
    pub fn release(url: &str, sha256: &str) -> Result<Install> {
        let url = checked_url("--install-url", url, &["https://", "http://", "file://"])?;
        let path = url.split(['?', '#']).next().unwrap_or(&url);
        if path.ends_with(".zip") {
            return Err(Error::Url {
                flag: "--install-url",
                url,
                why: "zip archives are not supported (`unzip` is missing from many CI images); \
                      use the .tar.gz or the bare binary"
                    .to_string(),
            });
        }
        Ok(Install::Release {
            url,
            sha256: hex64(
                sha256
                    .trim()
                    .strip_prefix("sha256:")
                    .unwrap_or(sha256.trim()),
            )
            .map_err(|why| Error::Sha256 {
                value: sha256.to_string(),
                why,
            })?,
        })
    }

    /// An image by digest: `NAME@sha256:HEX` (a tag before the `@` is allowed).
    pub fn image(reference: &str) -> Result<Install> {
        let r = reference.trim();
        let err = |why: String| Error::Image {
            reference: reference.to_string(),
            why,
        };
        let Some((name, digest)) = r.rsplit_once('@') else {
            return Err(err(
                "no digest: a tag can be moved to another image".to_string()
            ));
        };
        if name.is_empty() {
            return Err(err("no image name before the `@`".to_string()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._/:-".contains(*c)))
        {
            return Err(err(format!("{c:?} is not allowed in an image name")));
        }
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return Err(err(format!(
                "the digest `{digest}` is not `sha256:` and 64 hex digits"
            )));
        };
        let hex = hex64(hex).map_err(|why| err(format!("the digest: {why}")))?;
        Ok(Install::Image {
            reference: format!("{name}@sha256:{hex}"),
        })
    }

    /// The user's own install command: one line, and not a `cargo install` of the crate
    /// named `wharf` from a registry.
    pub fn command(command: &str) -> Result<Install> {
        let c = command.trim();
        let err = |why: &str| Error::Command {
            command: command.to_string(),
            why: why.to_string(),
        };
        if c.is_empty() {
            return Err(err("the command is empty"));
        }
        if c.chars().any(char::is_control) {
            return Err(err(
                "the command spans lines; chain commands with `&&`, or call a script",
            ));
        }
        if installs_by_name(c) {
            return Err(err(
                "it installs whatever crate owns the name `wharf` in the registry; \
                 whoever registers it would run in your CI with its secrets",
            ));
        }
        Ok(Install::Command(c.to_string()))
    }

    /// The image jobs must run in, for an image pin.
    pub fn image_ref(&self) -> Option<&str> {
        match self {
            Install::Image { reference } => Some(reference),
            _ => None,
        }
    }

    /// The command-line flags that name this source, shell-quoted: what the header
    /// records, and what a hint tells the user to type.
    pub fn flags(&self) -> String {
        let pairs: Vec<(&str, &str)> = match self {
            Install::Git { url, rev } => vec![("--install-git", url), ("--install-rev", rev)],
            Install::Release { url, sha256 } => {
                vec![("--install-url", url), ("--install-sha256", sha256)]
            }
            Install::Image { reference } => vec![("--install-image", reference)],
            Install::Command(c) => vec![("--install", c)],
        };
        pairs
            .iter()
            .map(|(flag, value)| format!("{flag} {}", quote(value)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The install source an exported file's header records: `None` when it records
    /// none (a file exported before sources were pinned, or not by wharf).
    pub fn recorded(text: &str) -> Option<Result<Install>> {
        // Only the comment block at the top counts.
        let line = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(HEADER_PREFIX))?;
        Some(parse_flags(line))
    }

    /// The shell command of the install step on `platform`.
    pub(crate) fn script(&self, platform: Platform) -> String {
        let text = match self {
            Install::Git { url, rev } => {
                format!(
                    "cargo install --locked --git {} --rev {rev} wharf",
                    quote(url)
                )
            }
            Install::Release { url, sha256 } => release_script(url, sha256, platform),
            // The runtime checked the digest when it pulled the image; this says which
            // wharf it carries, and fails early when it carries none.
            Install::Image { .. } => "wharf --version".to_string(),
            Install::Command(c) => return c.clone(),
        };
        if platform == Platform::Woodpecker {
            // Woodpecker substitutes `$NAME` and `${NAME}` in the file before the shell
            // sees it; `$$` is its escape for a literal `$`.
            text.replace('$', "$$")
        } else {
            text
        }
    }
}

impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Install::Git { url, rev } => write!(f, "git {url} at {rev}"),
            Install::Release { url, sha256 } => write!(f, "{url} (sha256 {sha256})"),
            Install::Image { reference } => write!(f, "image {reference}"),
            Install::Command(c) => write!(f, "your command `{c}`"),
        }
    }
}

/// Downloads the file into a new temporary directory (never the checkout, whose files
/// `wharf run` would take into job workspaces), checks its sha256 before anything else
/// touches it, unpacks `wharf`, runs `wharf --version` and puts it on PATH.
fn release_script(url: &str, sha256: &str, platform: Platform) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let unpack = if path.ends_with(".tar.gz") || path.ends_with(".tgz") {
        Some("z")
    } else if path.ends_with(".tar.xz") || path.ends_with(".txz") {
        Some("J")
    } else {
        None
    };
    let unpack = match unpack {
        Some(flag) => format!(
            "mkdir \"$d/x\" && tar -x{flag}f \"$d/download\" -C \"$d/x\" && \
             find \"$d/x\" -type f -name wharf -exec mv {{}} \"$d/bin/wharf\" ';'"
        ),
        None => "mv \"$d/download\" \"$d/bin/wharf\"".to_string(),
    };
    let on_path = match platform {
        // Each GitHub step is a shell of its own: the runner adds `$GITHUB_PATH`'s lines
        // to PATH for the steps after this one.
        Platform::Github => "echo \"$d/bin\" >> \"$GITHUB_PATH\"",
        _ => "export PATH=\"$d/bin:$PATH\"",
    };
    format!(
        "d=\"$(mktemp -d)\" && mkdir \"$d/bin\" && curl -fsSL --retry 3 -o \"$d/download\" {url} \
         && (cd \"$d\" && echo '{sha256}  download' | sha256sum -c -) && {unpack} \
         && chmod +x \"$d/bin/wharf\" && \"$d/bin/wharf\" --version && {on_path}",
        url = quote(url)
    )
}

/// A full commit hash, lower case.
fn commit(rev: &str) -> Result<String> {
    let r = rev.trim();
    let err = |why: String| {
        Err(Error::Rev {
            rev: rev.to_string(),
            why,
        })
    };
    if r.is_empty() {
        return err("it is empty".to_string());
    }
    if !r.chars().all(|c| c.is_ascii_hexdigit()) {
        return err("a branch or tag name, which can be moved to another commit".to_string());
    }
    match r.len() {
        40 | 64 => Ok(r.to_ascii_lowercase()),
        n => err(format!(
            "{n} hex digits; a commit hash has 40 (64 in a SHA-256 repository)"
        )),
    }
}

/// 64 hex digits, lower case; otherwise what is wrong.
fn hex64(hex: &str) -> std::result::Result<String, String> {
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit"));
    }
    if hex.len() != 64 {
        return Err(format!(
            "{} hex digits; a sha256 has 64",
            hex.chars().count()
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// A URL with one of `schemes`, a host (except `file://`), no password, and only
/// characters that mean nothing to a shell inside single quotes nor to a platform's
/// expression syntax (`${{ }}`, `$VAR`).
fn checked_url(flag: &'static str, url: &str, schemes: &[&str]) -> Result<String> {
    let u = url.trim();
    let err = |why: String| {
        Err(Error::Url {
            flag,
            url: url.to_string(),
            why,
        })
    };
    let lower = u.to_ascii_lowercase();
    let Some(scheme) = schemes.iter().find(|s| lower.starts_with(**s)) else {
        return err(format!("the URL must start with {}", schemes.join(", ")));
    };
    if let Some(c) = u
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~:/?#@&+,=%".contains(*c)))
    {
        return err(format!("{c:?} is not allowed in the URL"));
    }
    let rest = &u[scheme.len()..];
    let authority = rest.split('/').next().unwrap_or("");
    if *scheme != "file://" && authority.is_empty() {
        return err("the URL has no host".to_string());
    }
    if let Some((user, _)) = authority.rsplit_once('@')
        && user.contains(':')
    {
        return err(
            "the URL holds a password, which would be written into the platform file; \
             use the platform's credentials for the host instead"
                .to_string(),
        );
    }
    Ok(u.to_string())
}

/// Whether `command` runs `cargo install` (or `cargo binstall`) of the crate named
/// `wharf` without naming where it comes from (`--git`, `--path`, `--registry`,
/// `--index`).
fn installs_by_name(command: &str) -> bool {
    command.split(['&', '|', ';']).any(|part| {
        let words: Vec<&str> = part.split_whitespace().collect();
        let install = words
            .windows(2)
            .any(|w| w[0] == "cargo" && (w[1] == "install" || w[1] == "binstall"));
        let named_source = words.iter().any(|w| {
            ["--git", "--path", "--registry", "--index"]
                .iter()
                .any(|f| w.starts_with(f))
        });
        let wharf = words
            .iter()
            .any(|w| *w == "wharf" || w.starts_with("wharf@"));
        install && wharf && !named_source
    })
}

/// `value` as one shell word: as is when it holds nothing a shell treats specially,
/// otherwise in single quotes.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/@%+=,".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Splits shell words: single quotes, and backslash escapes outside them.
fn words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => w.push(q),
                        None => return Err("an unclosed quote".to_string()),
                    }
                }
            }
            '\\' => {
                let escaped = chars.next().ok_or("a trailing backslash")?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Ok(out)
}

/// The source the recorded flags name.
fn parse_flags(line: &str) -> Result<Install> {
    let words = words(line.trim()).map_err(Error::Recorded)?;
    let mut values: Vec<(&str, &str)> = Vec::new();
    let mut it = words.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| Error::Recorded(format!("`{flag}` has no value")))?;
        values.push((flag.as_str(), value.as_str()));
    }
    let get = |name: &str| values.iter().find(|(f, _)| *f == name).map(|(_, v)| *v);
    let known = [
        "--install-git",
        "--install-rev",
        "--install-url",
        "--install-sha256",
        "--install-image",
        "--install",
    ];
    if let Some((flag, _)) = values.iter().find(|(f, _)| !known.contains(f)) {
        return Err(Error::Recorded(format!("unknown flag `{flag}`")));
    }
    match (
        get("--install-git"),
        get("--install-rev"),
        get("--install-url"),
        get("--install-sha256"),
        get("--install-image"),
        get("--install"),
    ) {
        (Some(url), Some(rev), None, None, None, None) => Install::git(url, rev),
        (None, None, Some(url), Some(sha), None, None) => Install::release(url, sha),
        (None, None, None, None, Some(image), None) => Install::image(image),
        (None, None, None, None, None, Some(c)) => Install::command(c),
        _ => Err(Error::Recorded(format!(
            "`{line}` is not one install source"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";
    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn git_pins_need_a_full_commit() {
        let pin = Install::git("https://github.com/acme/wharf", &REV.to_uppercase()).unwrap();
        assert_eq!(
            pin.script(Platform::Github),
            format!("cargo install --locked --git https://github.com/acme/wharf --rev {REV} wharf")
        );
        for (rev, why) in [
            ("v0.3.0", "a branch or tag name"),
            ("main", "a branch or tag name"),
            ("0123abc", "7 hex digits; a commit hash has 40"),
            ("", "it is empty"),
        ] {
            let e = Install::git("https://github.com/acme/wharf", rev).unwrap_err();
            assert!(e.to_string().contains(why), "{rev}: {e}");
            assert!(e.hint().contains("git ls-remote"), "{e}");
        }
        assert!(Install::git("ssh://git@example.com/acme/wharf.git", &"a".repeat(64)).is_ok());
    }

    #[test]
    fn urls_that_would_change_the_shell_or_leak_are_refused() {
        for (url, why) in [
            ("github.com/acme/wharf", "must start with https://"),
            ("https://", "no host"),
            ("https://x.invalid/$(id)", "'$' is not allowed"),
            ("https://x.invalid/a b", "' ' is not allowed"),
            (
                "https://x.invalid/${{ github.token }}",
                "'$' is not allowed",
            ),
            ("https://x.invalid/a'b", "'\\'' is not allowed"),
            ("https://me:pw@x.invalid/w", "holds a password"),
        ] {
            let e = Install::git(url, REV).unwrap_err();
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
        let e = Install::release("https://x.invalid/wharf.zip", SHA).unwrap_err();
        assert!(e.to_string().contains("zip archives"), "{e}");
    }

    #[test]
    fn release_pins_check_the_sha256_before_running_anything() {
        let pin = Install::release(
            "https://x.invalid/dl/wharf-x86_64-linux.tar.gz?v=1",
            &format!("sha256:{}", SHA.to_uppercase()),
        )
        .unwrap();
        let gitlab = pin.script(Platform::Gitlab);
        let check = gitlab.find("sha256sum -c").unwrap();
        assert!(
            gitlab.contains(&format!("echo '{SHA}  download' | sha256sum -c -")),
            "{gitlab}"
        );
        assert!(gitlab.find("tar -xzf").unwrap() > check, "{gitlab}");
        assert!(gitlab.find("--version").unwrap() > check, "{gitlab}");
        assert!(
            gitlab.contains("'https://x.invalid/dl/wharf-x86_64-linux.tar.gz?v=1'"),
            "{gitlab}"
        );
        assert!(gitlab.ends_with("export PATH=\"$d/bin:$PATH\""), "{gitlab}");
        assert!(
            pin.script(Platform::Github)
                .ends_with("echo \"$d/bin\" >> \"$GITHUB_PATH\"")
        );
        let woodpecker = pin.script(Platform::Woodpecker);
        assert!(
            woodpecker.starts_with("d=\"$$(mktemp -d)\""),
            "{woodpecker}"
        );
        assert!(!woodpecker.replace("$$", "").contains('$'), "{woodpecker}");
        let binary = Install::release("https://x.invalid/wharf", SHA).unwrap();
        assert!(
            binary
                .script(Platform::Bitbucket)
                .contains("mv \"$d/download\" \"$d/bin/wharf\"")
        );
        for (sha, why) in [
            ("abc", "3 hex digits; a sha256 has 64"),
            (&"g".repeat(64), "'g' is not a hex digit"),
            (&SHA[..63], "63 hex digits"),
        ] {
            let e = Install::release("https://x.invalid/wharf", sha).unwrap_err();
            assert!(e.to_string().contains(why), "{sha}: {e}");
            assert!(e.to_string().starts_with("--install-sha256 `"), "{e}");
        }
    }

    #[test]
    fn images_are_named_by_digest() {
        let pin = Install::image(&format!("ghcr.io/acme/wharf:0.3@sha256:{SHA}")).unwrap();
        assert_eq!(
            pin.image_ref(),
            Some(format!("ghcr.io/acme/wharf:0.3@sha256:{SHA}").as_str())
        );
        assert_eq!(pin.script(Platform::Gitlab), "wharf --version");
        for (r, why) in [
            ("ghcr.io/acme/wharf:0.3", "no digest"),
            (&format!("@sha256:{SHA}"), "no image name"),
            ("ghcr.io/acme/wharf@sha512:abc", "is not `sha256:`"),
            ("ghcr.io/acme/wharf@sha256:abc", "3 hex digits"),
            (
                &format!("ghcr.io/ac me/wharf@sha256:{SHA}"),
                "' ' is not allowed",
            ),
        ] {
            let e = Install::image(r).unwrap_err();
            assert!(e.to_string().contains(why), "{r}: {e}");
        }
    }

    #[test]
    fn commands_that_install_the_crate_by_name_are_refused() {
        for c in [
            "cargo install --locked wharf",
            "command -v wharf >/dev/null || cargo install --locked wharf",
            "cargo install wharf@0.3.0",
            "cargo binstall -y wharf",
        ] {
            let e = Install::command(c).unwrap_err();
            assert!(e.to_string().contains("owns the name `wharf`"), "{c}: {e}");
        }
        for c in [
            "wharf --version",
            "cargo install --locked --path . wharf",
            "cargo install --registry ours wharf",
            "cargo install --locked just && wharf --version",
        ] {
            assert!(Install::command(c).is_ok(), "{c}");
        }
        assert!(Install::command("a\nb").is_err());
        assert!(Install::command("  ").is_err());
    }

    #[test]
    fn flags_round_trip_through_the_header() {
        for pin in [
            Install::git("https://github.com/acme/wharf", REV).unwrap(),
            Install::release("https://x.invalid/w.tgz?a=1&b=2", SHA).unwrap(),
            Install::image(&format!("r.invalid/w@sha256:{SHA}")).unwrap(),
            Install::command("test -x \"$HOME/bin/wharf\" && echo 'it'\\''s here'").unwrap(),
        ] {
            let text = format!("# x\n{HEADER_PREFIX}{}\nname: y\n", pin.flags());
            assert_eq!(Install::recorded(&text), Some(Ok(pin.clone())), "{text}");
        }
        assert_eq!(Install::recorded("# x\nname: y\n"), None);
        // below the header it is not the header
        assert_eq!(
            Install::recorded(&format!("name: y\n{HEADER_PREFIX}--install x\n")),
            None
        );
        let bad = Install::recorded(&format!("{HEADER_PREFIX}--install-git")).unwrap();
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("`--install-git` has no value"),
            "a flag without its value"
        );
        let bad = Install::recorded(&format!("{HEADER_PREFIX}--install-git x")).unwrap();
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("`--install-git x` is not one install source"),
            "half a source"
        );
        let bad = Install::recorded(&format!(
            "{HEADER_PREFIX}--install-git https://x.invalid/w --install-rev main"
        ))
        .unwrap();
        assert!(matches!(bad, Err(Error::Rev { .. })));
    }
}
