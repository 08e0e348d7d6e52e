//! The log pipeline: bytes a step prints -> the step's log file and live line events.
//!
//! Every read of a step's output is written to its log file before any of it is shown
//! (one `write`, no buffer in this process: a line on screen is a line on disk, and a
//! killed wharf loses nothing it showed). The complete lines of each read then go as one
//! [`RunEvent::Lines`] for live display, within a budget of bytes in flight
//! ([`TextPool::bounded`]): when the display falls behind, lines are skipped for display
//! only and a [`RunEvent::LinesSkipped`] says how many. A line longer than [`MAX_LINE`] is
//! shown once, cut, with its full size; the file keeps all of it.
//!
//! When the run has secrets, every byte goes through a streaming masker first, so the file,
//! the terminal and the JSON events only ever see `***`. The masker holds back only bytes
//! that could still be the start of a secret, so a secret split across writes (or lines,
//! for a multi-line value) is caught and ordinary output is not delayed.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use wharf_model::{LogStream, RunEvent};
use wharf_secrets::mask::{MaskSet, StreamMasker};

/// The longest line shown whole; a longer one is shown cut to this, with its size.
pub const MAX_LINE: usize = 64 * 1024;

/// Writes one step's output to its log file and to the event stream.
pub struct LogWriter {
    job: String,
    step: usize,
    /// Where the log goes; the file is created with the first byte, so a silent step
    /// leaves no empty file behind (and costs no inode: creating files is a measurable
    /// part of a step on ext4).
    path: Option<std::path::PathBuf>,
    file: Option<File>,
    events: UnboundedSender<RunEvent>,
    /// Per stream, the start of the line not yet ended (at most [`MAX_LINE`] bytes)...
    partial: [Vec<u8>; 3],
    /// ...and how many bytes of it were past [`MAX_LINE`] (kept in the file only).
    cut: [u64; 3],
    /// Lines (and their bytes) not shown because the display was behind, not yet told.
    skipped: (u64, u64),
    error: Option<std::io::Error>,
    /// The run's secrets, when it has any, and the masker state of the current line.
    masks: Option<(Arc<MaskSet>, StreamMasker)>,
    /// Where line buffers come from (and go back to, once displayed).
    pool: Arc<TextPool>,
    /// The carried bytes in front of the buffer lent by [`LogWriter::output_buffer`].
    lent: usize,
    /// The read buffer when output is masked (masking copies it into the event's text).
    scratch: Vec<u8>,
}

/// Recycles the buffers of [`RunEvent::Lines`]: the engine takes one per read, the display
/// gives it back once shown. A buffer of a few hundred KiB is above the allocator's mmap
/// threshold, so without reuse each read costs fresh pages (~10 % of a chatty step).
///
/// A bounded pool also caps the bytes of lines sent and not yet shown: what keeps memory
/// flat when a step prints faster than the display (a slow terminal, a paused pipe) can go.
#[derive(Debug, Default)]
pub struct TextPool {
    free: std::sync::Mutex<Vec<String>>,
    /// Bytes of [`RunEvent::Lines`] sent and not yet [`TextPool::shown`], counted by their
    /// buffers' capacity (what they hold in memory: a read buffer is larger than the read).
    in_flight: AtomicUsize,
    /// The most bytes in flight (0: no limit).
    cap: usize,
    /// Nobody shows lines (the server): steps' output only goes to the log files.
    silent: bool,
}

impl TextPool {
    /// At most this many buffers wait in the pool.
    const KEEP: usize = 32;

    /// A pool whose lines in flight to the display never exceed `cap` bytes. Whoever
    /// shows the lines must hand each text back with [`TextPool::shown`].
    pub fn bounded(cap: usize) -> TextPool {
        TextPool {
            cap,
            ..TextPool::default()
        }
    }

    /// A pool for a run nobody watches line by line (the server: followers read the log
    /// files): output is written to the log and no line event is made, so the output is
    /// neither split into lines nor copied again.
    pub fn silent() -> TextPool {
        TextPool {
            silent: true,
            ..TextPool::default()
        }
    }

    /// Whether lines are sent for display at all.
    pub fn displays(&self) -> bool {
        !self.silent
    }

    /// Counts `len` bytes (a buffer's capacity) about to be sent for display; false (and
    /// nothing counted) when that would pass the cap.
    fn admit(&self, len: usize) -> bool {
        if self.cap == 0 {
            return true;
        }
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n == 0 || n + len <= self.cap).then_some(n + len)
            })
            .is_ok()
    }

    /// Counts `len` bytes (a buffer's capacity) sent for display whatever the cap (wharf's
    /// own notes).
    pub fn force(&self, len: usize) {
        if self.cap != 0 {
            self.in_flight.fetch_add(len, Ordering::AcqRel);
        }
    }

    /// The text of a [`RunEvent::Lines`] was shown (or dropped): its bytes leave the
    /// budget and its buffer is reused.
    pub fn shown(&self, text: String) {
        if self.cap != 0 {
            let len = text.capacity();
            let _ = self
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(len))
                });
        }
        self.give(text);
    }

    /// An empty string with room for `cap` bytes, reused when possible.
    pub fn take(&self, cap: usize) -> String {
        let mut s = self
            .free
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        s.clear();
        s.reserve(cap);
        s
    }

    /// Returns a buffer for reuse (its text is dropped).
    pub(crate) fn give(&self, mut s: String) {
        s.clear();
        if let Ok(mut pool) = self.free.lock()
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
            cut: [0; 3],
            skipped: (0, 0),
            error: None,
            masks: None,
            pool: Arc::default(),
            lent: 0,
            scratch: Vec::new(),
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
        self.process(stream, buf, carried);
    }

    /// A buffer to read the step's next output into, in place: with no secrets to mask,
    /// the unfinished line of the output is already in front of its free room, so what is
    /// read becomes the event's text without another copy. Give it back with
    /// [`LogWriter::output_read`] once read into, or [`LogWriter::output_unread`].
    pub fn output_buffer(&mut self, room: usize) -> Vec<u8> {
        let idx = LogStream::Output as usize;
        if self.masks.is_some() {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            buf.reserve(room);
            return buf;
        }
        let carried = self.partial[idx].len();
        let mut buf = self.pool.take(carried + room).into_bytes();
        buf.append(&mut self.partial[idx]);
        self.lent = carried;
        buf
    }

    /// Takes a buffer from [`LogWriter::output_buffer`] with the output read into it.
    pub fn output_read(&mut self, buf: Vec<u8>) {
        if self.masks.is_some() {
            self.push(LogStream::Output, &buf, true);
            self.scratch = buf;
            return;
        }
        let carried = std::mem::take(&mut self.lent);
        self.process(LogStream::Output, buf, carried);
    }

    /// Gives back a buffer from [`LogWriter::output_buffer`] that nothing was read into.
    pub fn output_unread(&mut self, mut buf: Vec<u8>) {
        if self.masks.is_some() {
            self.scratch = buf;
            return;
        }
        let carried = std::mem::take(&mut self.lent);
        buf.truncate(carried);
        let idx = LogStream::Output as usize;
        self.partial[idx].extend_from_slice(&buf);
        buf.clear();
        self.pool.give(String::from_utf8(buf).unwrap_or_default());
    }

    /// The rest of [`LogWriter::push`]: `buf` holds the stream's unfinished line
    /// (`carried` bytes) then new output, already masked.
    fn process(&mut self, stream: LogStream, mut buf: Vec<u8>, mut carried: usize) {
        let idx = stream as usize;
        self.write_file(&buf[carried..]);
        if self.pool.silent {
            // Nobody shows lines: the log file is all. Nothing is carried either, so the
            // next read starts on an empty buffer.
            buf.clear();
            self.pool.give(String::from_utf8(buf).unwrap_or_default());
            return;
        }
        if self.cut[idx] > 0 {
            // The carried bytes start a line already past MAX_LINE: the rest of it is
            // only counted, and the line is shown once it ends.
            match memchr::memchr(b'\n', &buf[carried..]) {
                None => {
                    self.cut[idx] += (buf.len() - carried) as u64;
                    buf.truncate(carried);
                    self.partial[idx] = buf;
                    return;
                }
                Some(rel) => {
                    let total = (carried + rel) as u64 + self.cut[idx];
                    let line = cut_line(&self.pool, &buf[..carried], total);
                    self.cut[idx] = 0;
                    self.send_lines(stream, line);
                    buf.drain(..carried + rel + 1);
                    carried = 0;
                }
            }
        }
        match memchr::memrchr(b'\n', &buf[carried..]) {
            // No line ends yet: all of it is the unfinished line.
            None => self.partial[idx] = buf,
            Some(rel) => {
                let nl = carried + rel;
                self.partial[idx].extend_from_slice(&buf[nl + 1..]);
                buf.truncate(nl);
                let text = if has_long_line(&buf) {
                    cut_long_lines(&self.pool, &buf)
                } else {
                    match String::from_utf8(buf) {
                        Ok(s) if !s.contains('\r') => s,
                        Ok(s) => lines_text(&self.pool, s.as_bytes()),
                        Err(e) => lines_text(&self.pool, e.as_bytes()),
                    }
                };
                self.send_lines(stream, text);
            }
        }
        // An unfinished line keeps at most MAX_LINE bytes for display: memory stays flat
        // however long a line a step prints.
        let partial = &mut self.partial[idx];
        if partial.len() > MAX_LINE {
            self.cut[idx] += (partial.len() - MAX_LINE) as u64;
            partial.truncate(MAX_LINE);
        }
    }

    /// Sends lines for display, unless the display is too far behind: then they are only
    /// counted, and said once it has caught up (or at the end of the step).
    fn send_lines(&mut self, stream: LogStream, text: String) {
        if self.pool.admit(text.capacity()) {
            self.tell_skipped();
            let _ = self.events.send(self.lines_event(stream, text));
        } else {
            self.skipped.0 += 1 + memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
            self.skipped.1 += text.len() as u64;
            self.pool.give(text);
        }
    }

    fn tell_skipped(&mut self) {
        let (lines, bytes) = std::mem::take(&mut self.skipped);
        if lines > 0 {
            let _ = self.events.send(RunEvent::LinesSkipped {
                job: self.job.clone(),
                step: self.step,
                lines,
                bytes,
            });
        }
    }

    /// Appends already-masked bytes to the log file (created on the first byte), with
    /// one `write` and no buffer in between: what is shown next is already in the file.
    fn write_file(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.file.is_none()
            && let Some(path) = self.path.take()
        {
            match open(&path) {
                Ok(f) => self.file = Some(f),
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
            let idx = stream as usize;
            let partial = std::mem::take(&mut self.partial[idx]);
            if !partial.is_empty() {
                let text = match std::mem::take(&mut self.cut[idx]) {
                    0 => lines_text(&self.pool, &partial),
                    cut => cut_line(&self.pool, &partial, partial.len() as u64 + cut),
                };
                self.send_lines(stream, text);
            }
        }
        self.tell_skipped();
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

/// Whether some `\n`-separated line of `region` is longer than [`MAX_LINE`]: a jump of
/// about MAX_LINE bytes per look, so the common case costs a few probes per read.
fn has_long_line(region: &[u8]) -> bool {
    let mut at = 0;
    while region.len() - at > MAX_LINE {
        match memchr::memrchr(b'\n', &region[at..at + MAX_LINE + 1]) {
            Some(i) => at += i + 1,
            None => return true,
        }
    }
    false
}

/// `region`'s lines as text, each longer than [`MAX_LINE`] cut (see [`cut_line`]).
fn cut_long_lines(pool: &TextPool, region: &[u8]) -> String {
    let mut text = pool.take(region.len().min(1 << 20));
    for (i, line) in region.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            text.push('\n');
        }
        if line.len() > MAX_LINE {
            text.push_str(&cut_line(pool, &line[..MAX_LINE], line.len() as u64));
        } else {
            text.push_str(&lines_text(pool, line));
        }
    }
    text
}

/// A line of `total` bytes shown by its first bytes `head` (at most [`MAX_LINE`], cut back
/// to a whole character) and its size.
fn cut_line(pool: &TextPool, head: &[u8], total: u64) -> String {
    let mut end = head.len().min(MAX_LINE);
    while end > 0 && end < head.len() && (head[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    let mut text = lines_text(pool, &head[..end]);
    text.push_str(&format!(
        " … [line of {} cut to its first {} for display; the log file has all of it]",
        crate::cache::human(total),
        crate::cache::human(end as u64)
    ));
    text
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

    /// What the executor does: reads into the writer's own buffer, piece by piece, with a
    /// note on stderr in between and an unread buffer given back at the end.
    fn read_in_place(w: &mut LogWriter, pieces: &[&[u8]]) {
        for piece in pieces {
            let mut buf = w.output_buffer(16);
            buf.extend_from_slice(piece);
            w.output_read(buf);
            w.note("between reads");
        }
        let buf = w.output_buffer(16);
        w.output_unread(buf);
    }

    #[test]
    fn output_read_in_place_is_split_and_stored_as_written() {
        for masked in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.log");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let masks = Arc::new(MaskSet::new(&["s3cr3t-value"]));
            let mut w = LogWriter::create("j", 0, &path, tx)
                .unwrap()
                .with_masks(masked.then_some(&masks));
            read_in_place(
                &mut w,
                &[b"first li", b"ne\nsecond s3c", b"r3t-value\nla", b"st"],
            );
            w.finish().unwrap();
            let output: Vec<String> = lines(&mut rx)
                .into_iter()
                .filter(|(s, _)| *s == LogStream::Output)
                .map(|(_, l)| l)
                .collect();
            let second = if masked {
                "second ***"
            } else {
                "second s3cr3t-value"
            };
            assert_eq!(
                output,
                vec!["first line", second, "last"],
                "masked: {masked}"
            );
            // The file is in the order things were written: the notes cut into the
            // unfinished lines, the output around them is whole.
            let file = std::fs::read_to_string(&path).unwrap();
            assert_eq!(file.matches("wharf: between reads\n").count(), 4, "{file}");
            assert_eq!(
                file.replace("wharf: between reads\n", ""),
                format!("first line\n{second}\nlast"),
                "masked: {masked}"
            );
        }
    }

    #[test]
    fn a_silent_pool_keeps_the_log_file_and_makes_no_line_events() {
        for masked in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.log");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let masks = Arc::new(MaskSet::new(&["s3cr3t-value"]));
            let pool = Arc::new(TextPool::silent());
            let mut w = LogWriter::create("j", 0, &path, tx)
                .unwrap()
                .with_masks(masked.then_some(&masks))
                .with_pool(&pool);
            for piece in [
                &b"first li"[..],
                b"ne
second s3c",
                b"r3t-value
la",
                b"st",
            ] {
                let mut buf = w.output_buffer(piece.len());
                buf.extend_from_slice(piece);
                w.output_read(buf);
            }
            w.write(LogStream::Stderr, b"err\n");
            w.finish().unwrap();
            assert!(lines(&mut rx).is_empty(), "no line events");
            let second = if masked {
                "second ***"
            } else {
                "second s3cr3t-value"
            };
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                format!("first line\n{second}\nlasterr\n"),
                "masked: {masked}"
            );
        }
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
    fn a_long_line_shows_once_cut_with_its_size_and_the_file_keeps_it() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut w = LogWriter::create("j", 0, &path, tx).unwrap();
        w.write(LogStream::Output, b"before\n");
        // 3 MiB without a newline, in reads of 256 KiB, then the end of the line.
        let piece = vec![b'x'; 256 * 1024];
        for _ in 0..12 {
            w.write(LogStream::Output, &piece);
        }
        w.write(LogStream::Output, b"\nafter\n");
        w.finish().unwrap();
        let l = lines(&mut rx);
        assert_eq!(
            l.len(),
            3,
            "{:?}",
            l.iter().map(|(_, t)| t.len()).collect::<Vec<_>>()
        );
        assert_eq!(l[0].1, "before");
        assert!(l[1].1.starts_with(&"x".repeat(MAX_LINE)));
        assert!(
            l[1].1.ends_with("[line of 3.0 MiB cut to its first 64.0 KiB for display; the log file has all of it]"),
            "{}",
            &l[1].1[MAX_LINE..]
        );
        assert_eq!(l[2].1, "after");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            7 + 3 * 1024 * 1024 + 7
        );
    }

    #[test]
    fn a_long_line_inside_one_read_is_cut_too() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create("j", 0, &dir.path().join("l"), tx).unwrap();
        let mut chunk = b"a\n".to_vec();
        chunk.extend(vec![b'y'; MAX_LINE + 10]);
        chunk.extend(b"\nb\nunfinished");
        w.write(LogStream::Output, &chunk);
        w.finish().unwrap();
        let l: Vec<String> = lines(&mut rx).into_iter().map(|(_, t)| t).collect();
        assert_eq!(l.len(), 4);
        assert_eq!(
            (l[0].as_str(), l[2].as_str(), l[3].as_str()),
            ("a", "b", "unfinished")
        );
        assert!(
            l[1].contains("[line of 64.0 KiB cut to its first 64.0 KiB"),
            "{}",
            &l[1][MAX_LINE..]
        );
    }

    #[test]
    fn output_is_in_the_file_as_soon_as_it_is_written() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q");
        let mut w = LogWriter::create("j", 0, &path, tx).unwrap();
        w.write(LogStream::Output, b"one quiet line\n");
        // Not finished, nothing flushed: another process reading the file sees the line.
        assert_eq!(std::fs::read(&path).unwrap(), b"one quiet line\n");
        w.finish().unwrap();
    }

    #[test]
    fn a_display_behind_skips_lines_and_says_how_many_but_the_file_has_all() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        // Room for about one read in flight; nothing is handed back while writing.
        let pool = Arc::new(TextPool::bounded(1000));
        let mut w = LogWriter::create("j", 0, &path, tx)
            .unwrap()
            .with_pool(&pool);
        let read: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i:04}\n").into_bytes())
            .collect();
        for _ in 0..5 {
            w.write(LogStream::Output, &read);
        }
        w.finish().unwrap();
        let mut shown = 0;
        let mut skipped = (0, 0);
        while let Ok(ev) = rx.try_recv() {
            match ev {
                RunEvent::Lines { text, .. } => shown += text.split('\n').count(),
                RunEvent::LinesSkipped { lines, bytes, .. } => {
                    skipped.0 += lines;
                    skipped.1 += bytes;
                }
                _ => {}
            }
        }
        assert_eq!(
            shown, 100,
            "the first read fits the budget, the others do not"
        );
        assert_eq!(skipped, (400, 4 * 999));
        assert_eq!(std::fs::read(&path).unwrap().len(), 5 * 1000);
    }
}
