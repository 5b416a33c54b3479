//! Logging to the state dir, never with secrets.
