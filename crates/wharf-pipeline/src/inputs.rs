//! Manual inputs: declared under `on.manual.inputs`, given by whoever starts a run.
//!
//! Inputs are outside data: they are checked against the declaration before a run starts
//! (so a typo fails early, naming the valid choices) and reach steps only as
//! `WHARF_INPUT_*` environment variables.

use std::collections::BTreeMap;

use crate::file::InputFile;
use crate::ordered_map::OrderedMap;
use crate::reporter::Reporter;
use crate::suggest::did_you_mean;

/// One declared manual input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Its name, as used in `inputs.NAME` and `WHARF_INPUT_NAME`.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The value used when none is given.
    pub default: Option<String>,
    /// The only values allowed (empty: any value).
    pub options: Vec<String>,
    /// Whether a value must be given when there is no default.
    pub required: bool,
}

/// Validates `on.manual.inputs`: names, and defaults that are among the options.
pub(crate) fn inputs_from_file(r: &mut Reporter, inputs: &OrderedMap<InputFile>) -> Vec<Input> {
    let mut out = Vec::new();
    for (name, input) in &inputs.0 {
        if !crate::validate::is_identifier(&name.value) {
            r.error(
                r.span(name),
                format!("invalid input name `{}`", name.value),
                "use letters, digits, `_` and `-`, starting with a letter or `_`",
            );
        }
        let options: Vec<String> = input
            .options
            .iter()
            .flatten()
            .map(|o| o.value.0.clone())
            .collect();
        if let Some(default) = &input.default
            && !options.is_empty()
            && !options.contains(&default.value.0)
        {
            let d = r
                .at(
                    r.span(default),
                    format!(
                        "default `{}` of input `{}` is not one of its options",
                        default.value.0, name.value
                    ),
                )
                .with_label("not in `options`")
                .with_hint(format!("choose one of: {}", options.join(", ")));
            r.push(d);
        }
        out.push(Input {
            name: name.value.clone(),
            description: input.description.clone(),
            default: input.default.as_ref().map(|d| d.value.0.clone()),
            options,
            required: input.required.unwrap_or(false),
        });
    }
    out
}

/// Checks `given` against `declared` and fills in defaults; `Err` names the problem and
/// the valid choices.
pub(crate) fn resolve(
    pipeline: &str,
    declared: Option<&[Input]>,
    given: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let declared = declared.unwrap_or(&[]);
    let names: Vec<&str> = declared.iter().map(|i| i.name.as_str()).collect();
    for name in given.keys() {
        if !names.contains(&name.as_str()) {
            let choices = if names.is_empty() {
                format!("pipeline `{pipeline}` declares no inputs")
            } else {
                format!("valid inputs: {}", names.join(", "))
            };
            let suggestion = did_you_mean(name, names.iter().copied())
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            return Err(format!("unknown input `{name}`{suggestion}; {choices}"));
        }
    }
    for input in declared {
        if !given.contains_key(&input.name)
            && let Some(default) = &input.default
        {
            given.insert(input.name.clone(), default.clone());
        }
        match given.get(&input.name) {
            None if input.required => {
                let choices = if input.options.is_empty() {
                    String::new()
                } else {
                    format!(" (one of: {})", input.options.join(", "))
                };
                return Err(format!(
                    "input `{}` is required{choices}; give it with `--input {}=VALUE`",
                    input.name, input.name
                ));
            }
            Some(value) if !input.options.is_empty() && !input.options.contains(value) => {
                return Err(format!(
                    "input `{}` must be one of: {} (got `{value}`)",
                    input.name,
                    input.options.join(", ")
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<Input> {
        vec![
            Input {
                name: "target".into(),
                description: None,
                default: Some("staging".into()),
                options: vec!["staging".into(), "production".into()],
                required: false,
            },
            Input {
                name: "reason".into(),
                description: None,
                default: None,
                options: vec![],
                required: true,
            },
        ]
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_applied() {
        let mut g = given(&[("reason", "hotfix")]);
        resolve("p", Some(&declared()), &mut g).expect("valid");
        assert_eq!(g, given(&[("reason", "hotfix"), ("target", "staging")]));
    }

    #[test]
    fn rejects_unknown_missing_and_bad_options() {
        let d = declared();
        let err = resolve(
            "p",
            Some(&d),
            &mut given(&[("reason", "x"), ("taget", "a")]),
        );
        assert_eq!(
            err.unwrap_err(),
            "unknown input `taget` (did you mean `target`?); valid inputs: target, reason"
        );
        let err = resolve("p", Some(&d), &mut given(&[]));
        assert!(err.unwrap_err().starts_with("input `reason` is required"));
        let err = resolve(
            "p",
            Some(&d),
            &mut given(&[("reason", "x"), ("target", "prod")]),
        );
        assert_eq!(
            err.unwrap_err(),
            "input `target` must be one of: staging, production (got `prod`)"
        );
        let err = resolve("p", None, &mut given(&[("a", "b")]));
        assert_eq!(
            err.unwrap_err(),
            "unknown input `a`; pipeline `p` declares no inputs"
        );
    }
}
