//! OCI Distribution client (to be written).
