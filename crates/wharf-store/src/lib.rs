//! The run history (SQLite) and the content-addressed artifact store.
