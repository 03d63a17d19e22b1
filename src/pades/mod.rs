//! PAdES signatures: the signer abstraction and the CMS SignedData that goes
//! into a PDF signature's /Contents. See ../shared/PADES.md.

pub mod cms;
mod error;
pub mod oid;
pub mod signer;

pub use error::SignError;
pub use signer::{KeyFileSigner, SignatureAlgorithm, Signer};

#[cfg(test)]
mod test_pki;
