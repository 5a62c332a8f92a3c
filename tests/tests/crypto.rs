//! Envelope encryption against KMS (moto): round trip, owner binding, tamper detection,
//! no plaintext at rest, and how many KMS calls the data-key cache saves.

use relay::crypto::{CacheLimits, CryptoError, EncryptionContext, EnvelopeCipher, Purpose};
use relay::ids::{AccountId, TenantId};
use relay::secret::AccessToken;
use relay_tests::TestAws;

fn ctx(tenant: &str, account: &str) -> EncryptionContext {
    EncryptionContext::new(
        TenantId::parse(tenant).unwrap(),
        AccountId::parse(account).unwrap(),
        Purpose::AccessToken,
    )
}

async fn cipher(aws: &TestAws) -> EnvelopeCipher {
    EnvelopeCipher::new(aws.kms(), aws.token_key_id.clone())
}

#[tokio::test]
async fn token_round_trips_under_its_own_context() {
    let aws = TestAws::provision().await;
    let cipher = cipher(&aws).await;
    let token = AccessToken::new("IGAAroundtrip-token-value");
    let sealed = cipher
        .seal_token(&token, &ctx("acme", "1001"))
        .await
        .unwrap();
    let opened = cipher
        .open_token(&sealed, &ctx("acme", "1001"))
        .await
        .unwrap();
    assert_eq!(
        opened, token,
        "token did not survive a seal/open round trip"
    );
    assert!(
        !sealed.contains("IGAAroundtrip"),
        "sealed form shows the token"
    );
}

#[tokio::test]
async fn another_owner_cannot_open_a_token() {
    let aws = TestAws::provision().await;
    let cipher = cipher(&aws).await;
    let sealed = cipher
        .seal_token(&AccessToken::new("IGAAowned"), &ctx("acme", "1001"))
        .await
        .unwrap();
    for (label, wrong) in [
        ("other tenant", ctx("globex", "1001")),
        ("other account", ctx("acme", "1002")),
        (
            "other purpose",
            EncryptionContext::new(
                TenantId::parse("acme").unwrap(),
                AccountId::parse("1001").unwrap(),
                Purpose::UserToken,
            ),
        ),
    ] {
        let result = cipher.open_token(&sealed, &wrong).await;
        assert!(
            matches!(result, Err(CryptoError::Rejected)),
            "{label} opened a token it does not own: {result:?}"
        );
    }
}

#[tokio::test]
async fn any_flipped_bit_is_rejected() {
    let aws = TestAws::provision().await;
    let cipher = cipher(&aws).await;
    let context = ctx("acme", "1001");
    let record = cipher.seal(b"IGAAtamper", &context).await.unwrap();

    let mut ciphertext = record.clone();
    ciphertext.ciphertext[0] ^= 0x01;
    let mut tag = record.clone();
    let last = tag.ciphertext.len() - 1;
    tag.ciphertext[last] ^= 0x80;
    let mut nonce = record.clone();
    nonce.nonce[5] ^= 0x10;
    let mut wrapped = record.clone();
    let mid = wrapped.wrapped_key.len() / 2;
    wrapped.wrapped_key[mid] ^= 0x01;

    for (label, tampered) in [
        ("ciphertext", ciphertext),
        ("tag", tag),
        ("nonce", nonce),
        ("wrapped key", wrapped),
    ] {
        let result = cipher.open(&tampered, &context).await;
        assert!(result.is_err(), "a flipped bit in the {label} was accepted");
    }
    assert_eq!(
        cipher.open(&record, &context).await.unwrap().as_slice(),
        b"IGAAtamper"
    );
}

/// 1,000 seals and opens over 10 accounts, with and without the data-key cache. The
/// counts are exact: KMS is called once per distinct context until max_uses is reached.
#[tokio::test]
async fn data_key_cache_saves_kms_calls() {
    let aws = TestAws::provision().await;
    let plain = cipher(&aws).await;
    let cached = cipher(&aws).await.with_cache(CacheLimits {
        max_uses: 100,
        ..CacheLimits::default()
    });
    let contexts: Vec<_> = (0..10)
        .map(|i| ctx("acme", &format!("{}", 2000 + i)))
        .collect();
    for cipher in [&plain, &cached] {
        let mut sealed = Vec::new();
        for i in 0..1_000 {
            let c = &contexts[i % contexts.len()];
            let token = AccessToken::new(format!("IGAAtoken{i}"));
            sealed.push((cipher.seal_token(&token, c).await.unwrap(), c, token));
        }
        for (stored, c, token) in &sealed {
            assert_eq!(&cipher.open_token(stored, c).await.unwrap(), token);
        }
    }
    let without = plain.kms_calls().total();
    let with = cached.kms_calls().total();
    println!(
        "KMS calls for 1,000 seals + 1,000 opens over 10 accounts: without cache {without}, with cache {with}"
    );
    assert_eq!(
        without, 2_000,
        "every seal and open calls KMS without a cache"
    );
    // 10 contexts x 100 uses per key: 10 GenerateDataKey; each open shares one
    // cached key per wrapped key: at most 10 distinct wrapped keys -> 10 Decrypt.
    assert_eq!(
        with, 20,
        "the cache should call KMS once per context and key"
    );
}
