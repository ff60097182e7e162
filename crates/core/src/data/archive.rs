//! Reading `cifar-10-binary.tar.gz` in pure Rust, streaming: gzip through `flate2`'s Rust
//! backend, then tar entries one after the other, keeping only the files asked for.
//!
//! It reads POSIX ustar and GNU tar (long names, base-256 sizes) and pax path records, verifies
//! each header's checksum and the gzip CRC, and requires the end-of-archive block, so a truncated
//! archive is an error rather than a smaller dataset.

use std::io::{self, Read};

use flate2::read::GzDecoder;

use super::DataError;
use super::cifar::CifarFiles;
use super::cifar::{BATCH_FILES, META_FILE};

const BLOCK: usize = 512;
/// Largest member kept in memory: CIFAR-10's batch files are 30,730,000 bytes. A larger header
/// is a corrupt archive or a decompression bomb, refused before anything is allocated.
pub const MAX_MEMBER_BYTES: u64 = 100_000_000;
/// Largest total of kept members: CIFAR-10's seven files hold 184,389,398 bytes. Repeating a wanted
/// name cannot make the reader keep more.
pub const MAX_KEPT_BYTES: u64 = 250_000_000;
/// Most bytes the archive may expand to, kept or not (CIFAR-10's tar is 184,473,600 bytes): a
/// gzip bomb of skipped members is cut off instead of running for minutes.
pub const MAX_EXPANDED_BYTES: u64 = 1_000_000_000;

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
    let mut tar = TarReader { file, inner: GzDecoder::new(reader), expanded: 0, kept: 0 };
    tar.members(wanted)
}

fn gzip_error(file: &str, err: &io::Error) -> DataError {
    let reason = match err.kind() {
        io::ErrorKind::UnexpectedEof => "it ends too early (truncated download?)".to_string(),
        _ => err.to_string(),
    };
    DataError::Gzip { file: file.to_string(), reason }
}

struct TarReader<'a, R> {
    file: &'a str,
    inner: GzDecoder<R>,
    /// Bytes decompressed so far, and kept so far.
    expanded: u64,
    kept: u64,
}

impl<R: Read> TarReader<'_, R> {
    fn tar_error(&self, reason: impl Into<String>) -> DataError {
        DataError::Tar { file: self.file.to_string(), reason: reason.into() }
    }

    /// Fill `buf` as far as the stream goes; returns how many bytes were read (less than
    /// `buf.len()` only at the end of the stream).
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(read) => {
                    filled += read;
                    self.expanded += read as u64;
                    if self.expanded > MAX_EXPANDED_BYTES {
                        return Err(self.tar_error(format!(
                            "it expands to more than {MAX_EXPANDED_BYTES} bytes, which no CIFAR-10 archive does \
                             (a decompression bomb?)"
                        )));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(gzip_error(self.file, &err)),
            }
        }
        Ok(filled)
    }

    /// Fill `buf` completely. `Ok(false)` when the stream ended before the first byte.
    fn read_block(&mut self, buf: &mut [u8]) -> Result<bool, DataError> {
        match self.read_full(buf)? {
            0 => Ok(false),
            n if n == buf.len() => Ok(true),
            _ => Err(self.tar_error("it ends in the middle of a block (truncated?)")),
        }
    }

    /// Read `size` bytes of entry data (plus padding), keeping them when `keep`.
    fn read_data(&mut self, size: u64, keep: bool, path: &str) -> Result<Vec<u8>, DataError> {
        let mut data = Vec::new();
        let mut left = size;
        let mut chunk = [0u8; 64 * 1024];
        while left > 0 {
            let want = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            let got = self.read_full(&mut chunk[..want])?;
            if got < want {
                let missing = left - got as u64;
                return Err(
                    self.tar_error(format!("it ends inside {path} ({missing} of {size} bytes missing; truncated?)"))
                );
            }
            if keep {
                data.extend_from_slice(&chunk[..want]);
            }
            left -= want as u64;
        }
        let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        if padding > 0 && !self.read_block(&mut chunk[..padding])? {
            return Err(self.tar_error(format!("it ends after {path} without padding (truncated?)")));
        }
        Ok(data)
    }

    fn members(&mut self, wanted: impl Fn(&str) -> bool) -> Result<Vec<(String, Vec<u8>)>, DataError> {
        let mut members = Vec::new();
        let mut header = [0u8; BLOCK];
        let mut long_name: Option<String> = None;
        loop {
            if !self.read_block(&mut header)? {
                return Err(self.tar_error("it has no end-of-archive block (truncated?)"));
            }
            if header.iter().all(|&byte| byte == 0) {
                // Read the rest of the stream (zero padding) so gzip checks its CRC and length:
                // a damaged or cut-off end of the file is an error too.
                let mut rest = [0u8; 64 * 1024];
                while self.read_full(&mut rest)? > 0 {}
                return Ok(members);
            }
            verify_checksum(&header).map_err(|reason| self.tar_error(reason))?;
            let size =
                parse_size(&header[124..136]).ok_or_else(|| self.tar_error("a header has an unreadable size field"))?;
            let path = match long_name.take() {
                Some(name) => name,
                None => header_path(&header),
            };
            match header[156] {
                b'0' | 0 | b'7' => {
                    let keep = wanted(&path);
                    if keep && size > MAX_MEMBER_BYTES {
                        return Err(self.tar_error(format!(
                            "{path} claims {size} bytes, more than the {MAX_MEMBER_BYTES} a dataset file may have"
                        )));
                    }
                    if keep {
                        self.kept += size;
                        if self.kept > MAX_KEPT_BYTES {
                            return Err(self.tar_error(format!(
                                "its dataset files add up to more than {MAX_KEPT_BYTES} bytes (at {path}), more \
                                 than CIFAR-10 has"
                            )));
                        }
                    }
                    let data = self.read_data(size, keep, &path)?;
                    if keep {
                        members.push((path, data));
                    }
                }
                b'L' | b'x' if size > 1_000_000 => {
                    return Err(self.tar_error(format!("a {size}-byte extended header is not plausible")));
                }
                b'L' => {
                    let data = self.read_data(size, true, "a GNU long name")?;
                    long_name = Some(c_string(&data));
                }
                b'x' => {
                    let data = self.read_data(size, true, "a pax header")?;
                    long_name = pax_path(&data);
                }
                _ => {
                    // Directories, links, global pax headers: nothing to keep.
                    self.read_data(size, false, &path)?;
                }
            }
        }
    }
}

fn verify_checksum(header: &[u8; BLOCK]) -> Result<(), String> {
    let stored = parse_octal(&header[148..156]).ok_or("a header has an unreadable checksum")?;
    let computed: u64 = header
        .iter()
        .enumerate()
        .map(|(at, &byte)| if (148..156).contains(&at) { u64::from(b' ') } else { u64::from(byte) })
        .sum();
    if stored == computed {
        Ok(())
    } else {
        Err(format!("a header's checksum is {stored} but its bytes sum to {computed} (corrupt)"))
    }
}

/// An octal number field: digits, optionally surrounded by spaces and NULs.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The size field: octal, or GNU base-256 when the high bit of its first byte is set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &byte in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(byte))?;
        }
        Some(value)
    } else {
        parse_octal(field)
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&byte| byte == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn header_path(header: &[u8; BLOCK]) -> String {
    let name = c_string(&header[0..100]);
    let is_ustar = &header[257..262] == b"ustar";
    let prefix = if is_ustar { c_string(&header[345..500]) } else { String::new() };
    if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
}

/// The `path` record of a pax extended header ("<len> path=<value>\n" records).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|record| {
        let (_, key_value) = record.split_once(' ')?;
        key_value.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

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

    #[test]
    fn base256_and_octal_sizes() {
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 0x10;
        field[10] = 0x01;
        assert_eq!(parse_size(&field), Some(0x0110));
        assert_eq!(parse_octal(b"12x4"), None);
    }

    #[test]
    fn pax_path_records() {
        assert_eq!(pax_path(b"30 path=some/long/name.bin\n20 mtime=1\n"), Some("some/long/name.bin".into()));
        assert_eq!(pax_path(b"20 mtime=1\n"), None);
    }
}
