//! wharf-proxy end to end on 127.0.0.1: real upstream servers, real TCP, the control API
//! over HTTP.

mod api;
mod canary;
mod deploy;
mod rollback;
mod support;
