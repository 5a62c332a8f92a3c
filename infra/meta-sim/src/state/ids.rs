//! Identifiers shaped like Meta's.
//!
//! Ids are random (not sequential) so that a product database that survives a
//! simulator reset never sees an old id reused for a different object. Their shapes
//! follow what Meta hands out, so parsers in the product meet realistic input:
//! Instagram professional account ids start with `17841`, Instagram Login tokens with
//! `IGAA`, Facebook tokens with `EAA`, Instagram message ids are base64 text starting
//! `aWdf` ("ig_"), Messenger message ids start with `m_`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use rand::distributions::{Alphanumeric, DistString as _};

/// `prefix` followed by random digits, `total_len` characters in all.
pub fn numeric(prefix: &str, total_len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut out = String::with_capacity(total_len);
    out.push_str(prefix);
    while out.len() < total_len {
        out.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    out
}

/// Instagram professional account id (what webhooks carry as `entry.id`).
pub fn ig_account_id() -> String {
    numeric("17841", 17)
}

/// App-scoped Instagram user id (what `/me` returns as `id`).
pub fn ig_app_scoped_id() -> String {
    let lead = rand::thread_rng().gen_range(1..10u8);
    numeric(&lead.to_string(), 16)
}

/// Instagram-scoped id (IGSID) or page-scoped id (PSID) of a customer.
pub fn scoped_customer_id() -> String {
    let lead = rand::thread_rng().gen_range(1..10u8);
    numeric(&lead.to_string(), 16)
}

pub fn fb_user_id() -> String {
    numeric("10", 15)
}

pub fn page_id() -> String {
    numeric("1", 15)
}

pub fn container_id() -> String {
    numeric("180", 17)
}

pub fn media_id() -> String {
    numeric("179", 17)
}

pub fn comment_id() -> String {
    numeric("178", 17)
}

pub fn page_post_id() -> String {
    numeric("12", 15)
}

/// An Instagram Login access token.
pub fn ig_token() -> String {
    format!(
        "IGAA{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 120)
    )
}

/// A Facebook Login (user or page) access token.
pub fn fb_token() -> String {
    format!(
        "EAA{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 120)
    )
}

/// An OAuth authorization code.
pub fn auth_code() -> String {
    let mut bytes = [0u8; 72];
    rand::thread_rng().fill(&mut bytes[..]);
    format!("AQ{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// An Instagram message id: base64 of an `ig_…` descriptor naming the account.
pub fn ig_mid(account_id: &str) -> String {
    let descriptor = format!(
        "ig_dm_item:1:IGMessageData:{account_id}:{}",
        numeric("3", 39)
    );
    URL_SAFE_NO_PAD.encode(descriptor)
}

/// A Messenger message id.
pub fn messenger_mid() -> String {
    let mut bytes = [0u8; 60];
    rand::thread_rng().fill(&mut bytes[..]);
    format!("m_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn fbtrace_id() -> String {
    format!(
        "A{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 22)
    )
}

/// The shortcode in an Instagram permalink (`https://www.instagram.com/p/<code>/`).
pub fn shortcode() -> String {
    let bytes: [u8; 8] = rand::thread_rng().r#gen();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_metas_shapes() {
        let ig = ig_account_id();
        assert!(ig.starts_with("17841") && ig.len() == 17);
        assert!(ig.chars().all(|c| c.is_ascii_digit()));
        assert!(ig_token().starts_with("IGAA"));
        assert!(fb_token().starts_with("EAA"));
        assert!(ig_mid(&ig).starts_with("aWdfZ"));
        assert!(messenger_mid().starts_with("m_"));
        assert_eq!(ig_app_scoped_id().len(), 16);
    }

    #[test]
    fn ig_mid_names_the_account() {
        let mid = ig_mid("17841400000000001");
        let decoded = URL_SAFE_NO_PAD.decode(mid).expect("mid is base64url");
        let text = String::from_utf8(decoded).expect("descriptor is text");
        assert!(text.starts_with("ig_dm_item:1:IGMessageData:17841400000000001:"));
    }

    #[test]
    fn random_ids_do_not_repeat() {
        let a: std::collections::HashSet<_> = (0..200).map(|_| media_id()).collect();
        assert_eq!(a.len(), 200);
    }
}
