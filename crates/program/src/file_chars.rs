//! The characters of a file, decoded from UTF-8 as they are read, so that a suite of any
//! size is parsed without holding its text.

use std::io::{self, Read};

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// An iterator over the characters of a reader. A read error or invalid UTF-8 ends the
/// characters early; [`FileChars::failed`] then says so, and the caller reads the file
/// whole to report the error as `fs::read_to_string` words it.
pub(crate) struct FileChars<R> {
    reader: R,
    /// Decoded characters not handed out yet start at `pos`.
    decoded: String,
    pos: usize,
    /// Raw bytes: a character split by the end of the last read waits here.
    raw: Vec<u8>,
    ended: bool,
    failed: bool,
}

impl<R: Read> FileChars<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            decoded: String::new(),
            pos: 0,
            raw: Vec::with_capacity(CHUNK),
            ended: false,
            failed: false,
        }
    }

    /// Whether reading stopped on an error or invalid UTF-8.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Decode the next chunk into `decoded`; false at the end or on a failure.
    fn refill(&mut self) -> bool {
        self.decoded.clear();
        self.pos = 0;
        let kept = self.raw.len();
        self.raw.resize(kept + CHUNK, 0);
        let n = loop {
            match self.reader.read(&mut self.raw[kept..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.failed = true;
                    return false;
                }
            }
        };
        self.raw.truncate(kept + n);
        if n == 0 {
            self.ended = true;
            // A character cut short by the end of the file.
            self.failed = !self.raw.is_empty();
            return false;
        }
        let valid = match std::str::from_utf8(&self.raw) {
            Ok(s) => s.len(),
            // Only a character split by the read may wait for the next one.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => {
                self.failed = true;
                return false;
            }
        };
        // `valid` bytes were checked just above.
        self.decoded
            .push_str(std::str::from_utf8(&self.raw[..valid]).unwrap_or_default());
        self.raw.drain(..valid);
        true
    }
}

impl<R: Read> Iterator for FileChars<R> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            if let Some(c) = self.decoded.get(self.pos..).and_then(|s| s.chars().next()) {
                self.pos += c.len_utf8();
                return Some(c);
            }
            if self.ended || self.failed || !self.refill() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A reader that hands out at most `step` bytes a call, to split characters.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn decodes_characters_split_across_reads() {
        let text = "a: héllo — ünïcödé 🦀\nb: ok\n".repeat(5000);
        for step in [1, 2, 3, 7, CHUNK, usize::MAX] {
            let mut chars = FileChars::new(Trickle {
                bytes: text.as_bytes(),
                step,
            });
            let got: String = chars.by_ref().collect();
            assert_eq!(got, text, "step {step}");
            assert!(!chars.failed());
        }
    }

    #[test]
    fn invalid_utf8_stops_and_says_so() {
        for bytes in [&b"ok: \xff\xfe more"[..], &b"cut: \xe2\x80"[..]] {
            let mut chars = FileChars::new(Trickle { bytes, step: 3 });
            let got: String = chars.by_ref().collect();
            assert!(chars.failed(), "{bytes:?}");
            assert!(got.len() < bytes.len());
        }
    }

    #[test]
    fn empty_input_is_no_characters() {
        let mut chars = FileChars::new(&b""[..]);
        assert_eq!(chars.next(), None);
        assert!(!chars.failed());
    }
}
