//! Integration tests: real git histories in temporary directories, and the real binary.

mod support;
