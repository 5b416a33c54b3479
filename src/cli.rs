//! CLI definitions (clap).
