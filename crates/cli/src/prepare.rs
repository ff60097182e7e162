//! `tripletlab prepare`: a dataset source in, the files the page serves out.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use tripletlab_core::data::archive::read_cifar_tar_gz;
use tripletlab_core::data::cifar::{BATCH_FILES, META_FILE};
use tripletlab_core::data::import::{self, UnzipLimits};
use tripletlab_core::data::manifest::{DatasetIndex, FORMAT_VERSION, INDEX_FILE, MANIFEST_FILE, Manifest, Shard};
use tripletlab_core::data::{Batch, CifarFiles, pictures, synthetic};
use tripletlab_core::explore::rgba_to_planar;

use crate::error::CliError;

/// Where the official archive lives.
pub const CIFAR_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Its size in bytes, as published.
pub const CIFAR_ARCHIVE_BYTES: u64 = 170_052_171;
pub const CIFAR_NAME: &str = "cifar-10";

pub struct Options {
    pub shards: Option<usize>,
    pub images_per_shard: usize,
    pub seed: u64,
}

pub fn run(source: &str, out: Option<PathBuf>, options: &Options) -> Result<(), CliError> {
    let shards = load(source, out.as_deref(), options)?;
    write(shards, out, options)
}

/// `prepare --from-folders DIR`: a folder of class sub-folders of pictures, made a dataset as the
/// page makes one (`tripletlab_core::data::pictures`), written as CIFAR-10 shards.
pub fn run_pictures(folder: &Path, out: Option<PathBuf>) -> Result<(), CliError> {
    let name = folder
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| !name.is_empty())
        .unwrap_or("your-pictures")
        .to_string();
    let dataset = read_pictures(folder, &name)?;
    let files = pictures::to_cifar_files(&dataset);
    let parsed = CifarFiles::parse(&name, files.iter().map(|(file, bytes)| (file.as_str(), bytes.as_slice())))?;
    let loaded = Loaded { name, synthetic: false, class_names: parsed.class_names, batches: parsed.batches };
    write(loaded, out, &Options { shards: None, images_per_shard: 0, seed: 0 })
}

/// Every picture under `folder` (or in a `.zip` of it), by class (its top sub-folder), decoded
/// and made 32 x 32: its centred square scaled with a triangle (bilinear) filter. A file that is
/// not a picture, or not in a class sub-folder, is named on standard error and left out.
fn read_pictures(folder: &Path, name: &str) -> Result<tripletlab_core::data::Dataset, CliError> {
    let mut found = Vec::new();
    let mut take = |inside: &str, bytes: &[u8]| {
        let Some((class, file)) = pictures::class_of_path(inside) else {
            if !inside.rsplit(['/', '\\']).next().unwrap_or_default().starts_with('.') {
                eprintln!("skipped {inside}: not in a class sub-folder");
            }
            return;
        };
        match thirty_two(inside, bytes) {
            Ok(pixels) => found.push(pictures::Picture { class, file, pixels }),
            Err(reason) => eprintln!("skipped {inside}: {reason}"),
        }
    };
    if folder.is_file() && folder.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("zip")) {
        let bytes = fs::read(folder).map_err(CliError::io(folder))?;
        let zip = folder.file_name().map_or_else(|| folder.display().to_string(), |n| n.to_string_lossy().into_owned());
        let files =
            import::unzip_folder(&zip, &bytes, UnzipLimits::CLI).map_err(|err| CliError::Source(err.to_string()))?;
        drop(bytes);
        for (inside, bytes) in files {
            take(&inside, &bytes);
        }
    } else if folder.is_dir() {
        let mut paths = Vec::new();
        let mut pending = vec![folder.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).map_err(CliError::io(&dir))? {
                let path = entry.map_err(CliError::io(&dir))?.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        for path in paths {
            let inside = path.strip_prefix(folder).unwrap_or(&path).to_string_lossy().into_owned();
            match read_limited(&path) {
                Ok(bytes) => take(&inside, &bytes),
                Err(reason) => eprintln!("skipped {inside}: {reason}"),
            }
        }
    } else {
        return Err(CliError::Source(format!(
            "{} is not a folder or a .zip: give a folder whose sub-folders (one a class) hold pictures",
            folder.display()
        )));
    }
    pictures::pictures_dataset(name, found).map_err(|err| CliError::Source(format!("{}: {err}", folder.display())))
}

/// A file's bytes, when it is at most [`import::MAX_PICTURE_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let size = fs::metadata(path).map_err(|err| err.to_string())?.len();
    if size > import::MAX_PICTURE_BYTES {
        return Err(format!("{:.0} MB; pictures up to 25 MB are read", size as f64 / 1e6));
    }
    fs::read(path).map_err(|err| err.to_string())
}

/// A picture file's bytes as 32 x 32 R, G, B planes (its size checked from its header first).
fn thirty_two(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    import::check_picture_size(name, bytes).map_err(|err| err.to_string())?;
    let picture = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| err.to_string())?
        .decode()
        .map_err(|err| format!("not a picture this tool reads ({err})"))?;
    let (x, y, side) = pictures::centre_square(picture.width(), picture.height());
    if side == 0 {
        return Err("the picture is empty".into());
    }
    let small = picture.crop_imm(x, y, side, side).resize_exact(32, 32, image::imageops::FilterType::Triangle);
    rgba_to_planar(small.to_rgba8().as_raw()).ok_or_else(|| "could not be made 32 x 32".into())
}

fn write(shards: Loaded, out: Option<PathBuf>, options: &Options) -> Result<(), CliError> {
    let (name, synthetic, class_names) = (shards.name, shards.synthetic, shards.class_names);
    let mut batches = shards.batches;
    if let Some(keep) = options.shards {
        if keep == 0 {
            return Err(CliError::Source("--shards must be at least 1".into()));
        }
        batches.truncate(keep);
    }
    let out = out.unwrap_or_else(|| PathBuf::from("public/data").join(&name));
    fs::create_dir_all(&out).map_err(CliError::io(&out))?;

    let mut manifest =
        Manifest { format: FORMAT_VERSION, name: name.clone(), synthetic, class_names, shards: Vec::new() };
    for (file, batch) in &batches {
        let bytes = batch.to_bytes();
        let path = out.join(file);
        fs::write(&path, &bytes).map_err(CliError::io(&path))?;
        manifest.shards.push(Shard::describe(*file, &bytes));
    }
    let manifest_path = out.join(MANIFEST_FILE);
    fs::write(&manifest_path, manifest.to_json()).map_err(CliError::io(&manifest_path))?;
    update_index(&out, &manifest)?;

    let kind = if synthetic { "synthetic (generated shapes, not CIFAR-10)" } else { "real" };
    println!(
        "prepared {name}, {kind}: {} shards, {} images, {} bytes in {}",
        manifest.shards.len(),
        manifest.total_images(),
        manifest.total_bytes(),
        out.display()
    );
    Ok(())
}

struct Loaded {
    name: String,
    synthetic: bool,
    class_names: Vec<String>,
    /// (official file name, batch) in the official order.
    batches: Vec<(&'static str, Batch)>,
}

fn load(source: &str, out: Option<&Path>, options: &Options) -> Result<Loaded, CliError> {
    match source {
        "synthetic" => {
            if options.images_per_shard == 0 {
                return Err(CliError::Source("--images-per-shard must be at least 1".into()));
            }
            let files = options.shards.unwrap_or(BATCH_FILES.len()).min(BATCH_FILES.len());
            Ok(Loaded {
                name: synthetic::NAME.to_string(),
                synthetic: true,
                class_names: synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect(),
                batches: synthetic::batches(options.seed, options.images_per_shard, files),
            })
        }
        "download" => {
            let folder = out.and_then(Path::parent).unwrap_or(Path::new("public/data"));
            let archive = download(&folder.join("downloads"))?;
            Ok(cifar(read_archive(&archive)?))
        }
        path => {
            let path = Path::new(path);
            if path.is_dir() {
                Ok(cifar(read_folder(path)?))
            } else if path.is_file() {
                Ok(cifar(read_archive(path)?))
            } else {
                Err(CliError::Source(format!(
                    "{} does not exist: give a cifar-10-binary.tar.gz, a folder of CIFAR-10 .bin \
                     files with batches.meta.txt, `download` or `synthetic`",
                    path.display()
                )))
            }
        }
    }
}

fn cifar(files: CifarFiles) -> Loaded {
    Loaded { name: CIFAR_NAME.into(), synthetic: false, class_names: files.class_names, batches: files.batches }
}

/// A folder of batch files (or one holding `cifar-10-batches-bin/`, as the archive unpacks).
fn read_folder(path: &Path) -> Result<CifarFiles, CliError> {
    let inner = path.join("cifar-10-batches-bin");
    let folder = if inner.is_dir() { inner } else { path.to_path_buf() };
    let mut files = Vec::new();
    for name in std::iter::once(META_FILE).chain(BATCH_FILES) {
        let file = folder.join(name);
        if file.is_file() {
            files.push((file.display().to_string(), fs::read(&file).map_err(CliError::io(&file))?));
        }
    }
    let parsed = CifarFiles::parse(
        &folder.display().to_string(),
        files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
    )?;
    Ok(parsed)
}

fn read_archive(path: &Path) -> Result<CifarFiles, CliError> {
    let file = fs::File::open(path).map_err(CliError::io(path))?;
    Ok(read_cifar_tar_gz(&path.display().to_string(), BufReader::new(file))?)
}

fn download(folder: &Path) -> Result<PathBuf, CliError> {
    fs::create_dir_all(folder).map_err(CliError::io(folder))?;
    let target = folder.join("cifar-10-binary.tar.gz");
    let have = fs::metadata(&target).map(|meta| meta.len()).unwrap_or(0);
    if have == CIFAR_ARCHIVE_BYTES {
        println!("using {} (already downloaded)", target.display());
        return Ok(target);
    }
    let partial = folder.join("cifar-10-binary.tar.gz.part");
    println!("downloading {CIFAR_URL} ({CIFAR_ARCHIVE_BYTES} bytes) with curl");
    let failed = |reason: String| CliError::Download { url: CIFAR_URL.into(), reason };
    let status = Command::new("curl")
        .args(["--fail", "--location", "--retry", "3", "--connect-timeout", "20", "--output"])
        .arg(&partial)
        .arg(CIFAR_URL)
        .status()
        .map_err(|err| failed(format!("could not run curl ({err}); install curl or download it yourself")))?;
    if !status.success() {
        return Err(failed(format!(
            "curl exited with {status}; is this machine online? Otherwise bring the archive and \
             pass its path to --from"
        )));
    }
    let got = fs::metadata(&partial).map_err(CliError::io(&partial))?.len();
    if got != CIFAR_ARCHIVE_BYTES {
        return Err(failed(format!("got {got} bytes, expected {CIFAR_ARCHIVE_BYTES}")));
    }
    fs::rename(&partial, &target).map_err(CliError::io(&target))?;
    Ok(target)
}

fn update_index(out: &Path, manifest: &Manifest) -> Result<(), CliError> {
    let Some(parent) = out.parent() else { return Ok(()) };
    let index_path = parent.join(INDEX_FILE);
    // An unreadable old index is replaced: it only lists what was prepared here.
    let mut index =
        fs::read(&index_path).ok().and_then(|bytes| DatasetIndex::parse(INDEX_FILE, &bytes).ok()).unwrap_or_default();
    let folder = out.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    index.upsert(&folder, manifest);
    fs::write(&index_path, index.to_json()).map_err(CliError::io(&index_path))
}
