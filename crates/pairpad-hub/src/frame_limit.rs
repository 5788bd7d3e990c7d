//! Enforces the message size limit on the raw bytes of a WebSocket, before any frame is buffered.
//!
//! actix-http's frame parser buffers a frame until all of it has arrived and only then compares
//! its length with the limit, so a header declaring 2^63 bytes followed by an endless stream
//! would be kept in memory. [`FrameLimit`] reads each frame header as it streams past and fails
//! the stream (`PayloadError::Overflow`, which the session turns into close code 1009) as soon as
//! a frame declares more than the limit, or the fragments of one message add up to more than it.
//! The bytes themselves pass through untouched, so memory per connection stays bounded by the
//! limit whatever a client sends.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;
const OPCODE_CONTINUATION: u8 = 0x0;
/// Opcodes 0x8 and above are control frames (close, ping, pong): never fragmented, at most 125
/// bytes (actix-http checks that), and allowed between the fragments of a message.
const FIRST_CONTROL_OPCODE: u8 = 0x8;

/// Where the reader is in the byte stream.
#[derive(Debug)]
enum Position {
    /// Collecting a frame header; `len` bytes of it are in `header`.
    Header { header: [u8; MAX_HEADER], len: usize },
    /// Inside a frame's payload, with this many bytes still to pass.
    Payload { remaining: u64 },
}

/// A WebSocket byte stream that fails as soon as a message would exceed `max_message_bytes`.
pub struct FrameLimit<S> {
    inner: S,
    max_message_bytes: u64,
    position: Position,
    /// The payload bytes of the data message being received, over all its fragments so far.
    message_bytes: u64,
    failed: bool,
}

impl<S> FrameLimit<S> {
    /// Wraps the raw bytes a client sends.
    pub fn new(inner: S, max_message_bytes: usize) -> Self {
        Self {
            inner,
            max_message_bytes: max_message_bytes as u64,
            position: Position::Header { header: [0; MAX_HEADER], len: 0 },
            message_bytes: 0,
            failed: false,
        }
    }

    /// Follows the frames in `bytes`; `Err` when one breaks the limit.
    fn inspect(&mut self, mut bytes: &[u8]) -> Result<(), PayloadError> {
        while !bytes.is_empty() {
            match &mut self.position {
                Position::Payload { remaining } => {
                    let passed = (*remaining).min(bytes.len() as u64);
                    *remaining -= passed;
                    bytes = &bytes[passed as usize..];
                    if *remaining == 0 {
                        self.position = Position::Header { header: [0; MAX_HEADER], len: 0 };
                    }
                }
                Position::Header { header, len } => {
                    let take = (MAX_HEADER - *len).min(bytes.len());
                    header[*len..*len + take].copy_from_slice(&bytes[..take]);
                    let available = *len + take;
                    match parse_header(&header[..available]) {
                        None => {
                            *len = available;
                            bytes = &bytes[take..];
                        }
                        Some(frame) => {
                            // Only the header's own bytes are consumed; the rest is payload.
                            bytes = &bytes[frame.header_len - *len..];
                            self.on_frame(&frame)?;
                            self.position = if frame.payload_len == 0 {
                                Position::Header { header: [0; MAX_HEADER], len: 0 }
                            } else {
                                Position::Payload { remaining: frame.payload_len }
                            };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: &FrameHeader) -> Result<(), PayloadError> {
        if frame.opcode >= FIRST_CONTROL_OPCODE {
            return Ok(());
        }
        if frame.opcode != OPCODE_CONTINUATION {
            self.message_bytes = 0;
        }
        self.message_bytes = self.message_bytes.saturating_add(frame.payload_len);
        if self.message_bytes > self.max_message_bytes {
            return Err(PayloadError::Overflow);
        }
        if frame.fin {
            self.message_bytes = 0;
        }
        Ok(())
    }
}

struct FrameHeader {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: u64,
}

/// Reads a frame header (RFC 6455 §5.2) from its first bytes, or `None` while incomplete.
fn parse_header(bytes: &[u8]) -> Option<FrameHeader> {
    let [first, second, rest @ ..] = bytes else { return None };
    let masked = second & 0x80 != 0;
    let (payload_len, length_bytes) = match second & 0x7f {
        126 => (u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)), 2),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
        short => (u64::from(short), 0),
    };
    let header_len = 2 + length_bytes + if masked { 4 } else { 0 };
    (bytes.len() >= header_len).then_some(FrameHeader {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        header_len,
        payload_len,
    })
}

impl<S> Stream for FrameLimit<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(Ok(bytes)) = &item
            && let Err(error) = self.inspect(bytes)
        {
            self.failed = true;
            return Poll::Ready(Some(Err(error)));
        }
        Poll::Ready(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header.
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut out = header(fin, opcode, len as u64);
        out.resize(out.len() + len, b'x');
        out
    }

    fn limit() -> FrameLimit<()> {
        FrameLimit::new((), 100)
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let bytes: Vec<u8> = [frame(true, 1, 100), frame(true, 9, 5), frame(true, 2, 100), frame(true, 1, 0)].concat();
        for chunk in [1, 2, 3, 7, 13, 64, bytes.len()] {
            let mut guard = limit();
            for piece in bytes.chunks(chunk) {
                guard.inspect(piece).unwrap();
            }
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_fails_at_its_header() {
        let mut guard = limit();
        assert!(guard.inspect(&header(true, 1, u64::MAX >> 1)).is_err());
        let mut guard = limit();
        assert!(guard.inspect(&header(true, 2, 101)).is_err());
    }

    #[test]
    fn fragments_count_against_the_same_limit() {
        let mut guard = limit();
        guard.inspect(&frame(false, 1, 60)).unwrap();
        guard.inspect(&frame(true, 10, 4)).unwrap(); // a pong between fragments does not count
        assert!(guard.inspect(&frame(true, 0, 41)).is_err());
        // A finished message resets the count.
        let mut guard = limit();
        guard.inspect(&[frame(false, 1, 60), frame(true, 0, 40), frame(false, 1, 60)].concat()).unwrap();
    }
}
