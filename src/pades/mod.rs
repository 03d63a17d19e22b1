//! PAdES signatures (see ../shared/PADES.md): the development PKI, the
//! signer abstraction, the CMS SignedData that goes into a signature's
//! /Contents, and the incremental revision that carries it.

pub mod appearance;
mod check;
pub mod cms;
pub mod devpki;
mod error;
pub mod external;
pub mod fill;
mod font;
pub mod oid;
pub mod pkcs11;
pub mod repair;
pub mod sign;
pub mod signer;
pub mod tsa;
pub mod verify;
pub mod writer;

pub use appearance::{TextField, Visible};
pub use error::SignError;
pub use fill::fill_fields;
pub use signer::{KeyFileSigner, SignatureAlgorithm, Signer};

#[cfg(test)]
mod test_pki;
