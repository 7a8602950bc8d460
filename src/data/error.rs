//! Errors of the data module. Every variant names the file, key or value at
//! fault, and its `Display` is one line (the binary prints `error: {e}`).

use std::path::PathBuf;

use crate::config::ConfigError;

/// Anything that can go wrong building, importing, reading or batching a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A dataset name or import that cannot be a dataset (bad characters, a clash
    /// with a synthetic profile, too few videos to split).
    #[error("{}: {message}", path.display())]
    Profile { path: PathBuf, message: String },

    /// A dataset profile did not resolve: a missing or cyclic `extends`, TOML
    /// syntax, an unknown key, a wrongly typed value. Loaded as experiment
    /// configs are, so the message names `file:line:col` and the key.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A dataset profile (`path`) parsed but broke range or cross-field rules;
    /// each problem names the `file:line:col` its value came from.
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid { path: PathBuf, problems: Vec<ConfigError> },

    /// Neither `<root>/<name>.toml` nor an imported `<root>/<name>/manifest.json` exists.
    #[error("unknown dataset `{name}`: no profile {} and no built dataset there (available: {})", path.display(), if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    UnknownDataset {
        name: String,
        path: PathBuf,
        available: Vec<String>,
    },

    /// The dataset's frames are not the size the model is built for.
    #[error("data.dataset `{name}` has {height}x{width} frames ({}), but model.image_size = {image_size}: expected a {image_size}x{image_size} dataset profile (height = width = {image_size}) or model.image_size = {height}", source_path.display())]
    Resolution {
        name: String,
        source_path: PathBuf,
        height: usize,
        width: usize,
        image_size: usize,
    },

    /// An image file could not be decoded (corrupt, truncated, unsupported).
    #[error("{}: cannot decode image: {message}", path.display())]
    Image { path: PathBuf, message: String },

    /// A frame has no pose image of the same stem in the parallel pose folder.
    #[error("{}: frame has no pose image (expected {})", frame.display(), expected.display())]
    MissingPose { frame: PathBuf, expected: PathBuf },

    /// A frame (or its pose image) differs in size from the first frame of its video.
    #[error("{}: image is {}x{}, expected {}x{} like {}", path.display(), size.0, size.1, expected.0, expected.1, reference.display())]
    MixedSizes {
        path: PathBuf,
        size: (u32, u32),
        expected: (u32, u32),
        reference: PathBuf,
    },

    /// A folder that must hold videos or frames holds none.
    #[error("{}: empty folder, expected {what}", path.display())]
    EmptyFolder { path: PathBuf, what: String },

    /// A Parquet shard could not be written or read, or has an unexpected schema.
    #[error("{}: parquet: {message}", path.display())]
    Parquet { path: PathBuf, message: String },

    /// A manifest is missing, malformed, or disagrees with the shards on disk.
    #[error("{}: manifest: {message}", path.display())]
    Manifest { path: PathBuf, message: String },

    /// A loader was asked for something the dataset cannot give.
    #[error("loader: {0}")]
    Loader(String),

    /// A Hub dataset reference (`hf://datasets/...`) did not resolve, pull or check.
    #[error(transparent)]
    Hub(#[from] Box<crate::hub::HubError>),

    /// A tensor could not be built on the requested device.
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl DataError {
    /// Wraps an IO error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }
}
