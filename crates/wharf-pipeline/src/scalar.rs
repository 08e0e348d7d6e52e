//! Scalar values that the file format treats as text.
//!
//! `env: { PORT: 8080, DEBUG: true }` is common and harmless, so numbers and booleans are
//! accepted where a string is meant and kept as the text a user would expect.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// A string, number or boolean scalar, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }

            fn visit_str<E: Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_bool<E: Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_i64<E: Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_u64<E: Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_i128<E: Error>(self, v: i128) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_u128<E: Error>(self, v: u128) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_f64<E: Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A key that may be present with an empty value (`push:` alone means "every push"), so
/// presence must be told apart from absence, which `Option` cannot do for `null`.
#[derive(Debug, Clone)]
pub struct Declared<T> {
    /// Whether the key was in the file.
    pub present: bool,
    /// Its value, `None` when absent or empty.
    pub value: Option<T>,
}

impl<T> Default for Declared<T> {
    fn default() -> Self {
        Declared {
            present: false,
            value: None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Declared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Declared {
            present: true,
            value: Option::<T>::deserialize(deserializer)?,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Declared<T> {
    fn schema_name() -> Cow<'static, str> {
        <Option<T>>::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Option<T>>::json_schema(generator)
    }
}

/// A list of names, or one name where the list would hold just it (`needs: build`): what
/// GitHub Actions accepts for `needs`. Each name keeps its position in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// A single name written as a scalar (its position is the whole value's).
    One(String),
    /// A list.
    Many(Vec<serde_saphyr::Spanned<String>>),
}

impl Names {
    /// The names with their positions; `at` is the position of the whole value.
    pub fn spanned(spanned: &serde_saphyr::Spanned<Names>) -> Vec<serde_saphyr::Spanned<String>> {
        match &spanned.value {
            Names::One(name) => vec![serde_saphyr::Spanned::new(
                name.clone(),
                spanned.referenced,
                spanned.defined,
            )],
            Names::Many(list) => list.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;

        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = Names;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a job name or a list of job names (`needs: build` or `needs: [build, lint]`)",
                )
            }

            fn visit_str<E: Error>(self, v: &str) -> Result<Names, E> {
                Ok(Names::One(v.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<serde_saphyr::Spanned<String>>()? {
                    out.push(item);
                }
                Ok(Names::Many(out))
            }
        }

        deserializer.deserialize_any(NamesVisitor)
    }
}

/// The JSON Schema of [`Names`]: a string or a list of strings.
#[derive(Debug)]
pub struct OneOrMany;

impl JsonSchema for OneOrMany {
    fn schema_name() -> Cow<'static, str> {
        "OneOrMany".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// The JSON Schema of a yes/no key that may also be an expression (`push:`).
#[derive(Debug)]
pub struct BoolOrExpr;

impl JsonSchema for BoolOrExpr {
    fn schema_name() -> Cow<'static, str> {
        "BoolOrExpr".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "boolean" },
                { "type": "string", "pattern": "\\$\\{\\{" }
            ]
        })
    }
}
