//! The `pairpad-server` command line: `--help`, `--version`, `serve`, `migrate`, `check-config`,
//! `token`.
