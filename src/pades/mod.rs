//! PAdES signatures: the signing revision, CMS, signers, verification.

pub mod devpki;
pub mod writer;
