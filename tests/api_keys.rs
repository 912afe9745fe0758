//! API key tests (being written).
