//! Control-plane tests (being written).
