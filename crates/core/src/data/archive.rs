//! Reading `cifar-10-binary.tar.gz` in pure Rust, streaming: gzip through `flate2`'s Rust
//! backend, tar through the `tar` crate (POSIX ustar, GNU base-256 sizes, header checksums), one
//! entry after the other, keeping only the files asked for.
//!
//! The `tar` crate reads its entries in raw mode here, so that GNU long names and pax path
//! records are read by us, within a size limit: the crate would read any size into memory. Every
//! other limit is ours too (one member, all kept members, everything the gzip stream expands to),
//! and the end-of-archive block is required, so a truncated archive is an error rather than a
//! smaller dataset.

use std::io::{self, Read};

use flate2::read::GzDecoder;

use super::DataError;
use super::cifar::CifarFiles;
use super::cifar::{BATCH_FILES, META_FILE};

/// Largest member kept in memory: CIFAR-10's batch files are 30,730,000 bytes. A larger header
/// is a corrupt archive or a decompression bomb, refused before anything is allocated.
pub const MAX_MEMBER_BYTES: u64 = 100_000_000;
/// Largest total of kept members: CIFAR-10's seven files hold 184,389,398 bytes. Repeating a wanted
/// name cannot make the reader keep more.
pub const MAX_KEPT_BYTES: u64 = 250_000_000;
/// Most bytes the archive may expand to, kept or not (CIFAR-10's tar is 184,473,600 bytes): a
/// gzip bomb of skipped members is cut off instead of running for minutes.
pub const MAX_EXPANDED_BYTES: u64 = 1_000_000_000;
/// Largest GNU long name or pax header read.
const MAX_EXTENDED_HEADER: u64 = 1_000_000;

/// Read a CIFAR-10 binary `.tar.gz`. `file` names the archive in errors.
pub fn read_cifar_tar_gz(file: &str, reader: impl Read) -> Result<CifarFiles, DataError> {
    let members = read_tar_gz(file, reader, |path| {
        let base = path.rsplit('/').next().unwrap_or(path);
        base == META_FILE || BATCH_FILES.contains(&base)
    })?;
    let files = members.iter().map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
    CifarFiles::parse(file, files)
}

/// The regular files of a gzipped tar whose path `wanted` accepts, in archive order.
pub fn read_tar_gz(
    file: &str,
    reader: impl Read,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let tar_error = |reason: String| DataError::Tar { file: file.to_string(), reason };
    let mut stream = Counted { inner: GzDecoder::new(reader), expanded: 0, ended: false, gzip: None };
    let outcome = members(file, &mut stream, &wanted);
    if stream.expanded > MAX_EXPANDED_BYTES {
        return Err(tar_error(format!(
            "it expands to more than {MAX_EXPANDED_BYTES} bytes, which no CIFAR-10 archive does (a decompression \
             bomb?)"
        )));
    }
    if let Some(err) = &stream.gzip {
        return Err(gzip_error(file, err));
    }
    let members = match outcome {
        Ok(members) => members,
        Err(Failure::Data(err)) => return Err(err),
        Err(Failure::Io(err)) => return Err(tar_error(err.to_string())),
    };
    if stream.ended {
        return Err(tar_error("it has no end-of-archive block (truncated?)".into()));
    }
    // Read the rest of the stream (zero padding) so gzip checks its CRC and length: a damaged or
    // cut-off end of the file is an error too.
    let drained = io::copy(&mut stream, &mut io::sink());
    match (&stream.gzip, drained) {
        (Some(err), _) => Err(gzip_error(file, err)),
        (None, Err(err)) => Err(tar_error(err.to_string())),
        (None, Ok(_)) => Ok(members),
    }
}

enum Failure {
    Io(io::Error),
    Data(DataError),
}

fn members<R: Read>(
    file: &str,
    stream: &mut Counted<R>,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let tar_error = |reason: String| Failure::Data(DataError::Tar { file: file.to_string(), reason });
    let mut archive = tar::Archive::new(stream);
    let mut members = Vec::new();
    let mut kept = 0u64;
    let mut long_name: Option<String> = None;
    for entry in archive.entries().map_err(Failure::Io)?.raw(true) {
        let mut entry = entry.map_err(Failure::Io)?;
        let size = entry.size();
        let kind = entry.header().entry_type();
        let path = match long_name.take() {
            Some(name) => name,
            None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            if size > MAX_EXTENDED_HEADER {
                return Err(tar_error(format!("a {size}-byte extended header is not plausible")));
            }
            let what = if kind.is_gnu_longname() { "a GNU long name" } else { "a pax header" };
            let data = read_member(file, &mut entry, size, what)?;
            long_name = if kind.is_gnu_longname() { Some(c_string(&data)) } else { pax_path(&data) };
            continue;
        }
        // Directories, links, global pax headers: nothing to keep (tar skips their data).
        if !(kind.is_file() || kind.is_contiguous()) || !wanted(&path) {
            continue;
        }
        if size > MAX_MEMBER_BYTES {
            return Err(tar_error(format!(
                "{path} claims {size} bytes, more than the {MAX_MEMBER_BYTES} a dataset file may have"
            )));
        }
        kept += size;
        if kept > MAX_KEPT_BYTES {
            return Err(tar_error(format!(
                "its dataset files add up to more than {MAX_KEPT_BYTES} bytes (at {path}), more than CIFAR-10 has"
            )));
        }
        let data = read_member(file, &mut entry, size, &path)?;
        members.push((path, data));
    }
    Ok(members)
}

/// All `size` bytes of an entry, or an error that names it.
fn read_member(file: &str, entry: &mut impl Read, size: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::with_capacity(usize::try_from(size.min(MAX_MEMBER_BYTES)).unwrap_or(0));
    entry.take(size).read_to_end(&mut data).map_err(Failure::Io)?;
    let got = data.len() as u64;
    if got < size {
        let missing = size - got;
        return Err(Failure::Data(DataError::Tar {
            file: file.to_string(),
            reason: format!("it ends inside {what} ({missing} of {size} bytes missing; truncated?)"),
        }));
    }
    Ok(data)
}

/// The decompressed stream, counted: it stops (with an error) past [`MAX_EXPANDED_BYTES`], keeps
/// gzip's own error apart from tar's, and notes the end of the stream.
struct Counted<R> {
    inner: GzDecoder<R>,
    expanded: u64,
    /// The stream ended (a read returned nothing).
    ended: bool,
    /// What gzip said, when it failed.
    gzip: Option<io::Error>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.expanded > MAX_EXPANDED_BYTES {
            return Err(io::Error::other("the expansion limit was reached"));
        }
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.ended = true;
                Ok(0)
            }
            Ok(read) => {
                self.expanded += read as u64;
                Ok(read)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => {
                let echo = io::Error::new(err.kind(), err.to_string());
                self.gzip = Some(err);
                Err(echo)
            }
        }
    }
}

fn gzip_error(file: &str, err: &io::Error) -> DataError {
    let reason = match err.kind() {
        io::ErrorKind::UnexpectedEof => "it ends too early (truncated download?)".to_string(),
        _ => err.to_string(),
    };
    DataError::Gzip { file: file.to_string(), reason }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&byte| byte == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    tar::PaxExtensions::new(data)
        .filter_map(Result::ok)
        .find(|record| record.key_bytes() == b"path")
        .map(|record| String::from_utf8_lossy(record.value_bytes()).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    const BLOCK: usize = 512;

    /// A minimal ustar archive of `files`, with the two end blocks (as GNU tar writes it).
    pub(crate) fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, data) in files {
            let mut header = [0u8; BLOCK];
            header[..path.len()].copy_from_slice(path.as_bytes());
            header[100..107].copy_from_slice(b"0000644");
            header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            header[263..265].copy_from_slice(b"00");
            header[148..156].copy_from_slice(b"        ");
            let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn reads_the_wanted_members_in_order() {
        let archive = gzip(&tar(&[("d/a.txt", b"alpha"), ("d/skip", b"x"), ("d/b.bin", &[7u8; 1000])]));
        let members = read_tar_gz("t.tar.gz", archive.as_slice(), |p| p != "d/skip").expect("valid");
        assert_eq!(members.len(), 2);
        assert_eq!(members[0], ("d/a.txt".to_string(), b"alpha".to_vec()));
        assert_eq!(members[1].1, vec![7u8; 1000]);
    }

    /// A gzipped tar whose members are `size` zero bytes each, streamed (never held in memory).
    fn zeros_archive(members: &[(&str, u64)]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for (path, size) in members {
            let header = tar(&[(path, &[])]);
            let mut header: [u8; BLOCK] = header[..BLOCK].try_into().expect("a block");
            header[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
            header[148..156].copy_from_slice(b"        ");
            let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            encoder.write_all(&header).expect("in memory");
            let mut left = *size;
            while left > 0 {
                let now = left.min(zeros.len() as u64) as usize;
                encoder.write_all(&zeros[..now]).expect("in memory");
                left -= now as u64;
            }
            let padding = (BLOCK - (*size % BLOCK as u64) as usize) % BLOCK;
            encoder.write_all(&zeros[..padding]).expect("in memory");
        }
        encoder.write_all(&[0u8; 2 * BLOCK]).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn a_gzip_bomb_of_skipped_data_is_cut_off() {
        let bomb = zeros_archive(&[("padding.bin", MAX_EXPANDED_BYTES + (1 << 20))]);
        assert!(bomb.len() < 10_000_000, "a small fraction of what it expands to: {}", bomb.len());
        let err = read_tar_gz("bomb.tar.gz", bomb.as_slice(), |_| false).map(|members| members.len()).unwrap_err();
        assert!(err.to_string().contains("expands to more than 1000000000 bytes"), "{err}");
    }

    #[test]
    fn repeated_wanted_members_cannot_exceed_the_kept_limit() {
        let size = 90_000_000;
        let archive =
            zeros_archive(&[("a/data_batch_1.bin", size), ("b/data_batch_1.bin", size), ("c/data_batch_1.bin", size)]);
        let outcome = read_tar_gz("many.tar.gz", archive.as_slice(), |_| true);
        let err = outcome.map(|members| members.len()).unwrap_err();
        assert!(err.to_string().contains("add up to more than 250000000 bytes (at c/data_batch_1.bin)"), "{err}");
    }

    #[test]
    fn not_gzip_is_a_gzip_error() {
        let err = read_tar_gz("x.tar.gz", b"plain text, not gzip".as_slice(), |_| true).unwrap_err();
        assert!(matches!(err, DataError::Gzip { ref file, .. } if file == "x.tar.gz"), "{err}");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let archive = gzip(&tar(&[("a", &[1u8; 5000])]));
        let cut = &archive[..archive.len() - 20];
        let err = read_tar_gz("x.tar.gz", cut, |_| true).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. } | DataError::Tar { .. }), "{err}");
    }

    #[test]
    fn a_corrupt_header_fails_its_checksum() {
        let mut raw = tar(&[("a", b"data")]);
        raw[10] = b'Z';
        let err = read_tar_gz("x.tar.gz", gzip(&raw).as_slice(), |_| true).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn a_tar_without_end_block_is_truncated() {
        let raw = tar(&[("a", b"data")]);
        let cut = &raw[..raw.len() - 2 * BLOCK];
        let err = read_tar_gz("x.tar.gz", gzip(cut).as_slice(), |_| true).unwrap_err();
        assert!(matches!(err, DataError::Tar { .. }) && err.to_string().contains("end-of-archive"), "{err}");
    }

    #[test]
    fn a_tar_cut_inside_a_member_names_it() {
        let raw = tar(&[("dir/test_batch.bin", &[0u8; 3073])]);
        let cut = &raw[..BLOCK + 1000];
        let err = read_tar_gz("x.tar.gz", gzip(cut).as_slice(), |_| true).unwrap_err();
        assert!(err.to_string().contains("dir/test_batch.bin"), "{err}");
    }

    /// Long names (GNU `L` entries, as GNU tar writes names over 100 bytes) and pax path records
    /// name their members; a huge extended header is refused before it is read.
    #[test]
    fn long_names_and_pax_paths() {
        let long = format!("cifar-10-batches-bin/{}/data_batch_1.bin", "deep".repeat(40));
        let mut gnu = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        gnu.append_data(&mut header, &long, b"abc".as_slice()).expect("in memory");
        let archive = gzip(&gnu.into_inner().expect("in memory"));
        let members = read_tar_gz("gnu.tar.gz", archive.as_slice(), |_| true).expect("valid");
        assert_eq!(members, vec![(long.clone(), b"abc".to_vec())]);

        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("path", long.as_bytes())]).expect("in memory");
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        pax.append_data(&mut header, "short", b"xy".as_slice()).expect("in memory");
        let archive = gzip(&pax.into_inner().expect("in memory"));
        let members = read_tar_gz("pax.tar.gz", archive.as_slice(), |_| true).expect("valid");
        assert_eq!(members, vec![(long, b"xy".to_vec())]);
        assert_eq!(pax_path(b"20 mtime=1\n"), None);

        let mut raw = tar(&[("name", &[])]);
        raw[156] = b'L';
        raw[124..135].copy_from_slice(format!("{:011o}", 2_000_000).as_bytes());
        raw[148..156].copy_from_slice(b"        ");
        let sum: u32 = raw[..BLOCK].iter().map(|&b| u32::from(b)).sum();
        raw[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let err = read_tar_gz("l.tar.gz", gzip(&raw).as_slice(), |_| true).unwrap_err();
        assert!(err.to_string().contains("2000000-byte extended header is not plausible"), "{err}");
    }
}
