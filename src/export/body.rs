//! A streamed HTTP body fed by a blocking producer thread through a bounded channel: the
//! producer blocks when the client reads slowly, so memory stays bounded by the channel.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use tokio::sync::mpsc;

use crate::error::Error;

/// Chunks in flight between the producer and the socket.
const CHANNEL_CHUNKS: usize = 16;
/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// The receiving end, used as an actix response body.
pub struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, Error>>,
}

impl MessageBody for ChannelBody {
    type Error = Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.receiver.poll_recv(cx)
    }
}

/// The producing end: an `io::Write` that sends 64 KiB chunks. A write fails once the client
/// has gone, which stops the producer.
pub struct ChannelWriter {
    sender: mpsc::Sender<Result<Bytes, Error>>,
    buffer: Vec<u8>,
}

/// A connected writer/body pair.
pub fn channel() -> (ChannelWriter, ChannelBody) {
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    (ChannelWriter { sender, buffer: Vec::with_capacity(CHUNK_BYTES) }, ChannelBody { receiver })
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES)));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Report a failure in the middle of the stream: the connection is cut, so the client sees
    /// a truncated body rather than a silently short extract.
    pub fn fail(mut self, error: Error) {
        let _ = self.send_buffer();
        let _ = self.sender.blocking_send(Err(error));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buffer()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send_buffer();
    }
}
