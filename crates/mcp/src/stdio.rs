//! The stdio transport of `fusion mcp`: rmcp's own newline-delimited JSON-RPC codec over
//! rmcp's stdin/stdout pipes, with one difference from rmcp's stdio transport. A line that is
//! JSON but not a valid JSON-RPC message is answered Invalid Request (-32600) carrying the
//! message's `id` whenever it has a readable one; rmcp 3.9.0 (`AsyncRwTransport::receive`)
//! always answers it without an `id`, so a client could not tell which request failed. As in
//! every MCP SDK, a line that is not JSON at all, and a notification that does not parse, get
//! no answer.

use std::future::Future;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{
    DEFAULT_MAX_LINE_LENGTH, JsonRpcMessageCodec, JsonRpcMessageCodecError,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite};

const INVALID_REQUEST: &str = "Invalid Request: not a JSON-RPC 2.0 message (a request needs \
     \"jsonrpc\": \"2.0\", an \"id\" and a \"method\" string; a response a \"result\" or an \
     \"error\")";

type Writer<W> = FramedWrite<W, JsonRpcMessageCodec<ServerJsonRpcMessage>>;

/// rmcp's codec with Fusion's reading of each line: see the module doc.
pub struct StdioTransport<R, W> {
    read: FramedRead<R, IncomingCodec>,
    /// `None` once closed.
    write: Arc<Mutex<Option<Writer<W>>>>,
    /// The Invalid Request answer being written; `receive` may be cancelled half-way (the
    /// service polls it in a `select!`), so the answer waits here until it is flushed.
    answer: Option<Answer>,
}

enum Answer {
    Queued(Box<ServerJsonRpcMessage>),
    /// Handed to the writer; it still has to be flushed.
    Written,
}

impl<R: AsyncRead, W: AsyncWrite> StdioTransport<R, W> {
    pub fn new(read: R, write: W) -> Self {
        Self {
            read: FramedRead::new(
                read,
                IncomingCodec(JsonRpcMessageCodec::new_with_max_length(
                    DEFAULT_MAX_LINE_LENGTH,
                )),
            ),
            write: Arc::new(Mutex::new(Some(FramedWrite::new(
                write,
                JsonRpcMessageCodec::default(),
            )))),
            answer: None,
        }
    }
}

impl<R, W> StdioTransport<R, W>
where
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// Writes the pending Invalid Request answer; `None` when the output is gone.
    async fn write_answer(&mut self) -> Option<()> {
        let mut write = self.write.lock().await;
        let framed = write.as_mut()?;
        if let Some(Answer::Queued(_)) = &self.answer {
            std::future::poll_fn(|cx| framed.poll_ready_unpin(cx))
                .await
                .ok()?;
            if let Some(Answer::Queued(message)) = self.answer.replace(Answer::Written) {
                framed.start_send_unpin(*message).ok()?;
            }
        }
        framed.flush().await.ok()?;
        self.answer = None;
        Some(())
    }
}

impl<R, W> Transport<RoleServer> for StdioTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = Arc::clone(&self.write);
        async move {
            match write.lock().await.as_mut() {
                Some(framed) => framed.send(item).await.map_err(Into::into),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the stdio transport is closed",
                )),
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if self.answer.is_some() {
                self.write_answer().await?;
            }
            match self.read.next().await? {
                Ok(Incoming::Message(message)) => return Some(*message),
                Ok(Incoming::Unanswered) => {}
                Ok(Incoming::Invalid { id }) => {
                    let error = ErrorData::invalid_request(INVALID_REQUEST, None);
                    let answer = ServerJsonRpcMessage::error(error, id);
                    self.answer = Some(Answer::Queued(Box::new(answer)));
                }
                Err(e) => {
                    tracing::error!("MCP stdio: cannot read stdin: {e}");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        drop(self.write.lock().await.take());
        Ok(())
    }
}

/// One line from the client, as far as it could be read.
#[derive(Debug)]
enum Incoming {
    Message(Box<ClientJsonRpcMessage>),
    /// JSON, but not a JSON-RPC message: answered Invalid Request, with its `id` if readable.
    Invalid {
        id: Option<RequestId>,
    },
    /// Not answered: a line that is not JSON, or a notification that does not parse.
    Unanswered,
}

impl Incoming {
    fn read(value: &Value) -> Self {
        match ClientJsonRpcMessage::deserialize(value) {
            Ok(message) => Incoming::Message(Box::new(message)),
            Err(e) if value.get("id").is_none() && value.get("method").is_some() => {
                tracing::debug!("MCP stdio: ignoring a notification that does not parse: {e}");
                Incoming::Unanswered
            }
            Err(e) => {
                tracing::debug!("MCP stdio: invalid request: {e}");
                let id = value
                    .get("id")
                    .and_then(|id| RequestId::deserialize(id).ok());
                Incoming::Invalid { id }
            }
        }
    }
}

/// rmcp's line codec reading each line as JSON, then as a message (see [`Incoming::read`]).
/// Its errors for a line that is not JSON or too long become [`Incoming::Unanswered`]: a
/// decoder error would end the stream.
struct IncomingCodec(JsonRpcMessageCodec<Value>);

impl IncomingCodec {
    fn settle(
        decoded: Result<Option<Value>, JsonRpcMessageCodecError>,
    ) -> Result<Option<Incoming>, std::io::Error> {
        match decoded {
            Ok(value) => Ok(value.map(|value| Incoming::read(&value))),
            Err(JsonRpcMessageCodecError::Serde(e)) => {
                tracing::debug!("MCP stdio: ignoring a line that is not JSON: {e}");
                Ok(Some(Incoming::Unanswered))
            }
            Err(JsonRpcMessageCodecError::MaxLineLengthExceeded) => {
                tracing::error!(
                    "MCP stdio: a message longer than {DEFAULT_MAX_LINE_LENGTH} bytes was dropped"
                );
                Ok(Some(Incoming::Unanswered))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Decoder for IncomingCodec {
    type Item = Incoming;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, std::io::Error> {
        Self::settle(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, std::io::Error> {
        Self::settle(self.0.decode_eof(buf))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    #[test]
    fn an_invalid_request_keeps_its_id() {
        let read = |value: Value| Incoming::read(&value);
        assert!(matches!(
            read(json!({"jsonrpc": "2.0", "id": 7})),
            Incoming::Invalid {
                id: Some(RequestId::Number(7))
            }
        ));
        assert!(matches!(
            read(json!({"jsonrpc": "1.0", "id": "a", "method": "ping"})),
            Incoming::Invalid {
                id: Some(RequestId::String(_))
            }
        ));
        assert!(matches!(
            read(json!({"hello": "world"})),
            Incoming::Invalid { id: None }
        ));
        assert!(matches!(
            read(json!({"jsonrpc": "2.0", "method": 5})),
            Incoming::Unanswered
        ));
        assert!(matches!(
            read(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            Incoming::Message(_)
        ));
    }

    #[tokio::test]
    async fn garbage_is_skipped_and_invalid_requests_are_answered_in_order() {
        let (client, server) = tokio::io::duplex(4096);
        let (server_read, server_write) = tokio::io::split(server);
        let mut transport = StdioTransport::new(server_read, server_write);
        let (client_read, mut client_write) = tokio::io::split(client);
        client_write
            .write_all(
                b"not json {\n{\"jsonrpc\":\"2.0\",\"id\":3}\n\
                  {\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\n",
            )
            .await
            .unwrap();
        let message = transport.receive().await.unwrap();
        assert!(
            matches!(message, ClientJsonRpcMessage::Request(r) if r.id == RequestId::Number(4))
        );
        let mut lines = BufReader::new(client_read).lines();
        let answer: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(answer["id"], 3);
        assert_eq!(answer["error"]["code"], -32600);
    }
}
