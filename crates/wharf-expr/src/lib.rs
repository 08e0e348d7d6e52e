//! The expression language of pipeline files: `${{ … }}` templates and `if:` conditions.
