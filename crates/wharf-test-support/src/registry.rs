//! docker-registry launcher (to be written).
