//! The log pipeline: bytes a step prints -> the step's log file and live line events.
//!
//! Logs are written to disk as they stream (nothing is held back until a step ends), and
//! the complete lines of each read are sent as one [`RunEvent::Lines`] for live display. Lines longer than
//! [`MAX_LINE`] are cut into pieces so a step printing without newlines cannot grow memory.
//!
//! When the run has secrets, every byte goes through a streaming masker first, so the file,
//! the terminal and the JSON events only ever see `***`. The masker holds back only bytes
//! that could still be the start of a secret, so a secret split across writes (or lines,
//! for a multi-line value) is caught and ordinary output is not delayed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use wharf_model::{LogStream, RunEvent};
use wharf_secrets::mask::{MaskSet, StreamMasker};

/// The longest line sent as one event; longer ones are split.
pub const MAX_LINE: usize = 64 * 1024;

/// Writes one step's output to its log file and to the event stream.
pub struct LogWriter {
    job: String,
    step: usize,
    /// Where the log goes; the file is created with the first byte, so a silent step
    /// leaves no empty file behind (and costs no inode: creating files is a measurable
    /// part of a step on ext4).
    path: Option<std::path::PathBuf>,
    file: Option<BufWriter<File>>,
    events: UnboundedSender<RunEvent>,
    partial: [Vec<u8>; 3],
    error: Option<std::io::Error>,
    /// The run's secrets, when it has any, and the masker state of the current line.
    masks: Option<(Arc<MaskSet>, StreamMasker)>,
    /// Where line buffers come from (and go back to, once displayed).
    pool: Arc<TextPool>,
}

/// Recycles the buffers of [`RunEvent::Lines`]: the engine takes one per read, the display
/// gives it back once shown. A buffer of a few hundred KiB is above the allocator's mmap
/// threshold, so without reuse each read costs fresh pages (~10 % of a chatty step).
#[derive(Debug, Default)]
pub struct TextPool(std::sync::Mutex<Vec<String>>);

impl TextPool {
    /// At most this many buffers wait in the pool.
    const KEEP: usize = 32;

    /// An empty string with room for `cap` bytes, reused when possible.
    pub fn take(&self, cap: usize) -> String {
        let mut s = self
            .0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        s.clear();
        s.reserve(cap);
        s
    }

    /// Returns a buffer for reuse (its text is dropped: it was already shown).
    pub fn give(&self, mut s: String) {
        s.clear();
        if let Ok(mut pool) = self.0.lock()
            && pool.len() < Self::KEEP
        {
            pool.push(s);
        }
    }
}

impl LogWriter {
    /// A writer for `job`'s step `step` into `path` (created, or truncated, on the first
    /// output).
    pub fn create(
        job: &str,
        step: usize,
        path: &Path,
        events: UnboundedSender<RunEvent>,
    ) -> std::io::Result<LogWriter> {
        Ok(LogWriter {
            job: job.to_string(),
            step,
            path: Some(path.to_path_buf()),
            file: None,
            events,
            partial: [Vec::new(), Vec::new(), Vec::new()],
            error: None,
            masks: None,
            pool: Arc::default(),
        })
    }

    /// Takes line buffers from `pool` (shared with whoever displays the lines).
    pub fn with_pool(mut self, pool: &Arc<TextPool>) -> LogWriter {
        self.pool = pool.clone();
        self
    }

    /// Masks every form of these secrets in everything written (no-op when empty).
    pub fn with_masks(mut self, masks: Option<&Arc<MaskSet>>) -> LogWriter {
        self.masks = masks
            .filter(|m| !m.is_empty())
            .map(|m| (m.clone(), m.stream()));
        self
    }

    /// Takes a chunk of output from `stream`.
    pub fn write(&mut self, stream: LogStream, chunk: &[u8]) {
        self.push(stream, chunk, true);
    }

    /// Appends `chunk` (masked when `mask` and the run has secrets) to the buffer that
    /// becomes the event's text, after the carried start of an unfinished line: the output
    /// is copied once, whether masked or not.
    fn push(&mut self, stream: LogStream, chunk: &[u8], mask: bool) {
        let idx = stream as usize;
        let carried = self.partial[idx].len();
        let mut buf = self.pool.take(carried + chunk.len()).into_bytes();
        buf.extend_from_slice(&self.partial[idx]);
        self.partial[idx].clear();
        match &mut self.masks {
            Some((_, masker)) if mask => masker.write(chunk, &mut buf),
            _ => buf.extend_from_slice(chunk),
        }
        self.write_file(&buf[carried..]);
        match memchr::memrchr(b'\n', &buf[carried..]) {
            // No line ends yet: all of it is the unfinished line.
            None => self.partial[idx] = buf,
            Some(rel) => {
                let nl = carried + rel;
                self.partial[idx].extend_from_slice(&buf[nl + 1..]);
                buf.truncate(nl);
                let text = match String::from_utf8(buf) {
                    Ok(s) if !s.contains('\r') => s,
                    Ok(s) => lines_text(&self.pool, s.as_bytes()),
                    Err(e) => lines_text(&self.pool, e.as_bytes()),
                };
                let _ = self.events.send(self.lines_event(stream, text));
            }
        }
        self.cut_long_line(stream);
    }

    /// Appends already-masked bytes to the log file (created on the first byte).
    fn write_file(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.file.is_none()
            && let Some(path) = self.path.take()
        {
            match open(&path) {
                Ok(f) => self.file = Some(BufWriter::with_capacity(64 * 1024, f)),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
        if let Some(f) = &mut self.file
            && let Err(e) = f.write_all(bytes)
        {
            self.error.get_or_insert(e);
            self.file = None;
        }
    }

    /// Sends the start of an unterminated line that grew past [`MAX_LINE`] as lines of its
    /// own, so a step printing without newlines cannot grow memory.
    fn cut_long_line(&mut self, stream: LogStream) {
        let idx = stream as usize;
        while self.partial[idx].len() >= MAX_LINE {
            let piece: Vec<u8> = self.partial[idx].drain(..MAX_LINE).collect();
            let _ = self
                .events
                .send(self.lines_event(stream, lines_text(&self.pool, &piece)));
        }
    }

    /// Writes a line from wharf itself (e.g. why a step could not start).
    pub fn note(&mut self, text: &str) {
        let text = match &self.masks {
            Some((set, _)) => set.mask_str(text),
            None => text.to_string(),
        };
        let mut line = format!("wharf: {text}");
        line.push('\n');
        self.push(LogStream::Stderr, line.as_bytes(), false);
    }

    /// Flushes the file and emits unterminated last lines. Returns the first write error.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some((_, masker)) = &mut self.masks {
            let mut out = Vec::new();
            masker.finish(&mut out);
            self.push(LogStream::Output, &out, false);
        }
        for stream in [LogStream::Output, LogStream::Stdout, LogStream::Stderr] {
            let partial = std::mem::take(&mut self.partial[stream as usize]);
            if !partial.is_empty() {
                let _ = self
                    .events
                    .send(self.lines_event(stream, lines_text(&self.pool, &partial)));
            }
        }
        if let Some(mut f) = self.file.take()
            && let Err(e) = f.flush()
        {
            self.error.get_or_insert(e);
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn lines_event(&self, stream: LogStream, text: String) -> RunEvent {
        RunEvent::Lines {
            job: self.job.clone(),
            step: self.step,
            stream,
            text,
        }
    }
}

/// Creates `path`, and its directory when missing (usually it exists: try the file first).
fn open(path: &Path) -> std::io::Result<File> {
    match File::create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            File::create(path)
        }
        other => other,
    }
}

/// `\n`-separated lines as text: invalid UTF-8 replaced, a `\r` before each newline
/// dropped. The common case (valid UTF-8, no `\r`) is one validation and one copy for the
/// whole region, with no work per line.
fn lines_text(pool: &TextPool, region: &[u8]) -> String {
    let mut text = pool.take(region.len());
    if let Ok(s) = std::str::from_utf8(region)
        && !s.contains('\r')
    {
        text.push_str(s);
        return text;
    }
    for (i, line) in region.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        text.push_str(&String::from_utf8_lossy(line));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rx: &mut tokio::sync::mpsc::UnboundedReceiver<RunEvent>) -> Vec<(LogStream, String)> {
        let mut out = Vec::new();
        while let Ok(RunEvent::Lines { stream, text, .. }) = rx.try_recv() {
            out.extend(text.split('\n').map(|l| (stream, l.to_string())));
        }
        out
    }

    #[test]
    fn splits_lines_across_chunks_per_stream_and_keeps_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.log");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = LogWriter::create("j", 0, &path, tx).unwrap();
        w.write(LogStream::Stdout, b"hel");
        w.write(LogStream::Stderr, b"err1\nerr");
        w.write(LogStream::Stdout, b"lo\r\nworld\n\nlast");
        w.finish().unwrap();
        assert_eq!(
            lines(&mut rx),
            vec![
                (LogStream::Stderr, "err1".into()),
                (LogStream::Stdout, "hello".into()),
                (LogStream::Stdout, "world".into()),
                (LogStream::Stdout, "".into()),
                (LogStream::Stdout, "last".into()),
                (LogStream::Stderr, "err".into()),
            ]
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"helerr1\nerrlo\r\nworld\n\nlast"
        );
    }

    #[test]
    fn masked_lines_across_chunks_keep_their_text_and_hide_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.log");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let masks = Arc::new(MaskSet::new(&["s3cr3t-value"]));
        let mut w = LogWriter::create("j", 0, &path, tx)
            .unwrap()
            .with_masks(Some(&masks));
        for piece in [
            &b"first li"[..],
            b"ne\ntoken=s3c",
            b"r3t-va",
            b"lue end\nla",
            b"st",
        ] {
            w.write(LogStream::Output, piece);
        }
        w.finish().unwrap();
        let got: Vec<String> = lines(&mut rx).into_iter().map(|(_, l)| l).collect();
        assert_eq!(got, vec!["first line", "token=*** end", "last"]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first line\ntoken=*** end\nlast"
        );
    }

    #[test]
    fn a_silent_step_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/silent.log");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        LogWriter::create("j", 0, &path, tx)
            .unwrap()
            .finish()
            .unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn long_lines_are_cut() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create("j", 0, &dir.path().join("l"), tx).unwrap();
        w.write(LogStream::Stdout, &vec![b'x'; MAX_LINE * 2 + 5]);
        w.finish().unwrap();
        let l = lines(&mut rx);
        assert_eq!(l.len(), 3);
        assert_eq!(l[2].1.len(), 5);
    }
}
