//! How a step's `run:` text becomes a process.
//!
//! `bash` runs with `-e -o pipefail` and without profile files, `sh` with `-e`, like
//! GitHub Actions. A step that is one simple command (plain words, no quoting, variables,
//! redirections or shell keywords) is executed directly, as make does: the result is the
//! same and it saves starting a shell (about 1 ms of the ~1.2 ms a step costs).

/// Shell builtins and keywords: a command starting with one of these needs the shell.
const NEEDS_SHELL: &[&str] = &[
    "alias", "bg", "bind", "break", "builtin", "case", "cd", "command", "continue", "declare",
    "dirs", "disown", "echo", "enable", "eval", "exec", "exit", "export", "false", "fc", "fg",
    "for", "function", "getopts", "hash", "if", "jobs", "kill", "let", "local", "logout", "popd",
    "printf", "pushd", "pwd", "read", "readonly", "return", "select", "set", "shift", "shopt",
    "source", "suspend", "test", "time", "times", "trap", "type", "typeset", "ulimit", "umask",
    "unalias", "unset", "until", "wait", "while", "[", "[[", ".", ":",
];

/// The argv that runs `script` with `shell`.
pub fn argv(shell: &str, script: &str) -> Vec<String> {
    if matches!(shell, "bash" | "sh")
        && let Some(words) = simple_command(script)
    {
        return words;
    }
    let s = |x: &str| x.to_string();
    match shell {
        "bash" => vec![
            s("bash"),
            s("--noprofile"),
            s("--norc"),
            s("-e"),
            s("-o"),
            s("pipefail"),
            s("-c"),
            s(script),
        ],
        "sh" => vec![s("sh"), s("-e"), s("-c"), s(script)],
        other => {
            // `shell: python3` and the like: the program takes `-c SCRIPT`.
            let mut v: Vec<String> = other.split_whitespace().map(String::from).collect();
            v.push(s("-c"));
            v.push(s(script));
            v
        }
    }
}

/// The words of `script` when it is one simple command that any shell would run as
/// `execvp(words)`, else `None`.
pub fn simple_command(script: &str) -> Option<Vec<String>> {
    let line = script.trim();
    if line.is_empty() || line.contains('\n') {
        return None;
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:,+@%^-=".contains(c);
    if !line.chars().all(|c| plain(c) || c == ' ' || c == '\t') {
        return None;
    }
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    let first = words.first()?;
    // `A=1 cmd` is an assignment prefix; `-x` is not a program.
    if first.contains('=') || first.starts_with('-') || NEEDS_SHELL.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_skip_the_shell() {
        assert_eq!(simple_command("true"), Some(vec!["true".into()]));
        assert_eq!(
            simple_command("  nox -s tests  "),
            Some(vec!["nox".into(), "-s".into(), "tests".into()])
        );
        for s in [
            "echo hi",
            "cd x",
            "a && b",
            "ls *.txt",
            "echo $HOME",
            "X=1 make",
            "cat <f",
            "a\nb",
            "exit 1",
            "'quoted'",
            "ls ~",
        ] {
            assert_eq!(simple_command(s), None, "{s}");
        }
    }

    #[test]
    fn shells() {
        assert_eq!(
            argv("bash", "a | b")[..6],
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail"]
        );
        assert_eq!(argv("sh", "a | b"), vec!["sh", "-e", "-c", "a | b"]);
        assert_eq!(
            argv("python3 -u", "print(1); x"),
            vec!["python3", "-u", "-c", "print(1); x"]
        );
        assert_eq!(argv("python3", "quit"), vec!["python3", "-c", "quit"]);
    }
}
