//! PLACEHOLDER being written (connector for trackier).

use domain::crypto::Credentials;

use super::{Connector, ConnectorInfo, Cursor, FetchError, Page, PageRequest, PagingStyle, RawResponse};

pub struct Trackier {
    info: ConnectorInfo,
}

impl Trackier {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "trackier".into(),
                display_name: "Trackier".into(),
                kind: "native",
                credential_fields: vec![],
                paging: PagingStyle::PageTotal,
                default_page_size: 100,
                rate_limit_requests: 2,
                rate_limit_per: std::time::Duration::from_secs(1),
                approved_only: false,
                docs_url: None,
            },
        }
    }
}

impl Connector for Trackier {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }
    fn page_request(&self, _creds: &Credentials, _cursor: Cursor) -> Result<PageRequest, FetchError> {
        Err(FetchError::Config("not yet written".into()))
    }
    fn parse_page(&self, _creds: &Credentials, _resp: &RawResponse) -> Result<Page, FetchError> {
        Err(FetchError::Config("not yet written".into()))
    }
}
