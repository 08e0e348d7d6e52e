//! Runs a Plan: the scheduler state machine, executors, the log pipeline.
