//! STUB — being written by a helper.

use fusion_types::{ChatRequest, ChatResponse};

use super::ChunkStream;
use crate::config::ProviderConfig;
use crate::{ErrorKind, Result};

pub struct ExecBackend {
    name: String,
}

impl ExecBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        Ok(Self {
            name: config.name.clone(),
        })
    }

    pub async fn chat(&self, _request: &ChatRequest) -> Result<ChatResponse> {
        Err(ErrorKind::Invalid(format!("{}: not implemented", self.name)).into())
    }

    pub async fn chat_stream(&self, _request: &ChatRequest) -> Result<ChunkStream> {
        Err(ErrorKind::Invalid(format!("{}: not implemented", self.name)).into())
    }
}
