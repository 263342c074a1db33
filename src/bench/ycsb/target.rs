//! What one column of the report measures: directdb on one I/O mode, or (built with the
//! `peers` feature) another engine, each behind the same [`Store`] trait and driver.

use std::path::{Path, PathBuf};

use disk::{Disk, DiskOptions, OpenOptions, RealDisk};
use engine::{DATA_FILE_NAME, Db, IoMode};

#[cfg(feature = "peers")]
use crate::bench::peers::{self, PeerKind, PeerSettings};

use super::YcsbOptions;
use super::report::FileFacts;
use crate::bench::kv::Store;

/// The name of directdb in `--engines`.
pub(crate) const DIRECTDB: &str = "directdb";

/// One engine on one I/O path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Directdb(IoMode),
    #[cfg(feature = "peers")]
    Peer(PeerKind),
}

/// Checks `--engines`: `directdb` and, in a build with the `peers` feature, the other engines'
/// names.
pub(crate) fn parse_engines(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = list.split(',').map(|name| name.trim().to_string()).collect();
    for name in &names {
        if name != DIRECTDB {
            peer_check(name)?;
        }
    }
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(format!("--engines: {list:?}: expected a comma-separated list"));
    }
    Ok(names)
}

#[cfg(feature = "peers")]
fn peer_check(name: &str) -> Result<(), String> {
    PeerKind::parse(name).map(drop).map_err(|error| format!("--engines: {error}"))
}

#[cfg(not(feature = "peers"))]
fn peer_check(name: &str) -> Result<(), String> {
    Err(format!(
        "--engines: {name:?}: other engines (lmdb, sqlite, redb, fjall) need a build with the \
         `peers` feature, and rocksdb with `peer-rocksdb`: cargo run --release --features peers \
         -- bench ycsb --engines ..."
    ))
}

impl Target {
    /// Every column `options` asks for: directdb on each of `--io`, then the other engines,
    /// in `--engines` order.
    pub(crate) fn all(options: &YcsbOptions) -> Vec<Target> {
        let mut targets = Vec::new();
        for name in &options.engines {
            if name == DIRECTDB {
                targets.extend(options.io_modes.iter().map(|&mode| Target::Directdb(mode)));
            } else {
                targets.extend(Target::peer(name));
            }
        }
        targets
    }

    #[cfg(feature = "peers")]
    fn peer(name: &str) -> Option<Target> {
        PeerKind::parse(name).ok().map(Target::Peer)
    }

    #[cfg(not(feature = "peers"))]
    fn peer(_name: &str) -> Option<Target> {
        None
    }

    /// The column's label: the I/O mode for directdb, the engine's name otherwise.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Directdb(mode) => mode.name(),
            #[cfg(feature = "peers")]
            Target::Peer(kind) => kind.name(),
        }
    }

    /// The inverse of [`Target::name`].
    pub(crate) fn parse(name: &str) -> Result<Target, String> {
        if let Ok(mode) = name.parse::<IoMode>() {
            return Ok(Target::Directdb(mode));
        }
        Target::peer(name).ok_or_else(|| format!("no engine or I/O mode is called {name:?}"))
    }

    /// directdb's I/O mode; none for another engine.
    pub(crate) fn io_mode(self) -> Option<IoMode> {
        match self {
            Target::Directdb(mode) => Some(mode),
            #[cfg(feature = "peers")]
            Target::Peer(_) => None,
        }
    }

    pub(crate) fn engine(self) -> &'static str {
        match self {
            Target::Directdb(_) => DIRECTDB,
            #[cfg(feature = "peers")]
            Target::Peer(kind) => kind.name(),
        }
    }

    /// The cache the engine is given: directdb's pool (the whole budget on direct I/O, a share
    /// on the others); another engine's own cache gets the share too, as directdb on buffered
    /// I/O does, and the page cache the rest under the same limit.
    pub(crate) fn cache_bytes(self, options: &YcsbOptions) -> u64 {
        match self {
            Target::Directdb(mode) => options.pool_bytes_of(mode),
            #[cfg(feature = "peers")]
            Target::Peer(_) => options.pool_bytes_of(IoMode::Buffered),
        }
    }

    /// Opens (creating or reopening) the store in `directory`.
    pub(crate) fn open(
        self,
        options: &YcsbOptions,
        directory: &Path,
    ) -> Result<Box<dyn Store>, String> {
        match self {
            Target::Directdb(mode) => {
                let db = Db::open(directory, options.engine_options(mode))
                    .map_err(|error| format!("opening {}: {error}", directory.display()))?;
                Ok(Box::new(db))
            }
            #[cfg(feature = "peers")]
            Target::Peer(kind) => peers::open(kind, directory, &self.peer_settings(options)),
        }
    }

    #[cfg(feature = "peers")]
    fn peer_settings(self, options: &YcsbOptions) -> PeerSettings {
        PeerSettings {
            cache_bytes: self.cache_bytes(options),
            budget_bytes: options.memory.budget_bytes,
            durability: options.durability,
        }
    }

    /// What the engine says about how it runs: versions, cache and durability as applied.
    pub(crate) fn notes(self, options: &YcsbOptions) -> Vec<String> {
        match self {
            Target::Directdb(_) => {
                let _ = options;
                Vec::new()
            }
            #[cfg(feature = "peers")]
            Target::Peer(kind) => {
                let facts = peers::facts(kind, &self.peer_settings(options));
                vec![
                    format!("{} {}", facts.engine, facts.crate_version),
                    format!("I/O: {}", facts.io_path),
                    format!("cache: {}", facts.cache),
                    format!("durability: {}", facts.durability),
                ]
            }
        }
    }

    /// The files the engine keeps its data in (for the page-cache residency readings).
    pub(crate) fn data_files(self, directory: &Path) -> Vec<PathBuf> {
        match self {
            Target::Directdb(_) => vec![directory.join(DATA_FILE_NAME)],
            #[cfg(feature = "peers")]
            Target::Peer(_) => files_under(directory),
        }
    }

    /// The data as the engine keeps it after the load: where, on which file system, how big.
    pub(crate) fn file_facts(
        self,
        directory: &Path,
        free_pages: usize,
    ) -> Result<FileFacts, String> {
        match self {
            Target::Directdb(io_mode) => {
                let disk = RealDisk::new(DiskOptions { io_mode, ..DiskOptions::default() });
                let path = directory.join(DATA_FILE_NAME);
                let file =
                    disk.open(&path, OpenOptions::existing()).map_err(|error| error.to_string())?;
                let info = file.info();
                Ok(FileFacts {
                    file_system: info.file_system.clone(),
                    io_mode_used: info.io_mode.name().into(),
                    fallback_reasons: info.fallback_reasons.clone(),
                    size_bytes_after_load: file.size_bytes().map_err(|error| error.to_string())?,
                    free_pages_after_load: free_pages,
                    path,
                })
            }
            #[cfg(feature = "peers")]
            Target::Peer(kind) => {
                let files = files_under(directory);
                let size_bytes_after_load = files
                    .iter()
                    .filter_map(|file| std::fs::metadata(file).ok())
                    .map(|metadata| metadata.len())
                    .sum();
                Ok(FileFacts {
                    path: directory.to_path_buf(),
                    file_system: String::new(),
                    io_mode_used: peers::facts(
                        kind,
                        &PeerSettings {
                            cache_bytes: 0,
                            budget_bytes: 0,
                            durability: engine::Durability::None,
                        },
                    )
                    .io_path,
                    fallback_reasons: Vec::new(),
                    size_bytes_after_load,
                    free_pages_after_load: free_pages,
                })
            }
        }
    }
}

/// Every regular file under `directory`, recursively (engines keep subdirectories).
#[cfg(feature = "peers")]
fn files_under(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files.sort();
    files
}

impl crate::bench::memory_budget::BenchTarget for Target {
    fn name(self) -> &'static str {
        Target::name(self)
    }

    fn io_mode(self) -> Option<IoMode> {
        Target::io_mode(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for mode in [IoMode::Direct, IoMode::Buffered, IoMode::Mmap] {
            assert_eq!(Target::parse(Target::Directdb(mode).name()), Ok(Target::Directdb(mode)));
        }
        assert!(Target::parse("nonsense").is_err());
        assert_eq!(parse_engines("directdb"), Ok(vec![DIRECTDB.to_string()]));
        assert!(parse_engines("directdb,").is_err());
        assert!(parse_engines("mysql").unwrap_err().contains("--engines"));
    }
}
