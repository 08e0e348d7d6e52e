//! pypiserver launcher (to be written).
