//! Compile-time guards: filled in by the compile-fail work.
