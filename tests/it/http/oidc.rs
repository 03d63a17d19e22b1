//! Tokens of an external OpenID Connect issuer (ES256, JWKS file) are
//! accepted beside the server's own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::spawn_with;

const ISS: &str = "https://sso.example.gov.vn/realms/ubnd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_token_names_an_official_of_the_directory() {
    let rng = SystemRandom::new();
    let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng)
        .expect("key pair");
    let point = pair.public_key().as_ref().to_vec();
    let dir = tempfile::tempdir().expect("temp dir");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]})
        .to_string(),
    )
    .expect("write the JWKS");
    let data = dir.path().join("data");
    let app = spawn_with(&data, |s| {
        s.oidc_issuer = Some(ISS.into());
        s.oidc_audience = Some("congvan".into());
        s.oidc_jwks_file = Some(jwks.clone());
    })
    .await;
    let token = |user: &str, aud: &str| {
        let exp = jiff::Timestamp::now().as_second() + 300;
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "k1"}).to_string());
        let p = URL_SAFE_NO_PAD.encode(
            json!({"iss": ISS, "aud": aud, "exp": exp, "preferred_username": user}).to_string(),
        );
        let input = format!("{h}.{p}");
        let sig = pair.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    };
    let r = app.get(&token("chuyenvien", "congvan"), "/api/v1/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.expect("json");
    assert_eq!(
        (me["user"].as_str(), me["unit"].as_str()),
        (Some("chuyenvien"), Some("TH"))
    );
    // Not an official here, or meant for another audience: 401.
    let r = app.get(&token("nobody", "congvan"), "/api/v1/me").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.get(&token("chuyenvien", "mail"), "/api/v1/me").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The server's own tokens still work.
    let local = app.token("vanthu").await;
    assert_eq!(app.get(&local, "/api/v1/me").await.status(), StatusCode::OK);
    app.stop().await;
}
