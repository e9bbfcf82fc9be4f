//! Secrets: credentials sealed at rest with ChaCha20-Poly1305, API tokens hashed.

use std::{collections::BTreeMap, path::Path};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("secret key must be base64 of 32 bytes")]
    BadKey,
    #[error("cannot read or write the secret key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("sealed credentials cannot be opened (wrong secret key or corrupt data)")]
    Open,
}

/// Writes a key to a new file (never over an existing one) readable by this user only from
/// its first byte, flushed to disk with its folder entry.
pub fn write_key_file(path: &Path, key: &SecretString) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(key.expose_secret().as_bytes())?;
    f.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Flushes a folder's entries (a created or renamed file) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The fingerprint of the installation's key, once a process has recorded it.
pub async fn installed_fingerprint(db: &sea_orm::DatabaseConnection) -> Result<Option<String>, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    Ok(crate::entity::instance_meta::Entity::find_by_id("key_fingerprint".to_string()).one(db).await?.map(|m| m.value))
}

/// Why a key rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Nothing was changed: the old key is still the installation's.
    #[error("{0}")]
    RolledBack(String),
    /// The COMMIT failed: the database may hold the new key's credentials or the old ones.
    #[error("the commit failed, so the rotation may or may not have been applied: {0}")]
    Commit(String),
}

/// Seals and opens credential documents. The key never leaves this type.
#[derive(Clone)]
pub struct Cipher(ChaCha20Poly1305, String);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// A credential document: field name -> value (`api_key`, `network_id`, ...).
pub type Credentials = BTreeMap<String, String>;

impl Cipher {
    pub fn from_base64(key: &SecretString) -> Result<Self, CryptoError> {
        let bytes = B64.decode(key.expose_secret().trim()).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        let fingerprint = hex::encode(&Sha256::digest([b"offerbridge key fingerprint v1:".as_slice(), &bytes].concat())[..8]);
        Ok(Self(ChaCha20Poly1305::new(Key::from_slice(&bytes)), fingerprint))
    }

    /// Uses the configured key, or reads `<dir>/secret.key`, creating it (mode 0600) once.
    pub fn from_config_or_file(key: Option<&SecretString>, dir: &Path) -> Result<Self, CryptoError> {
        if let Some(k) = key {
            return Self::from_base64(k);
        }
        let path = dir.join("secret.key");
        let io = |e| CryptoError::KeyFile(path.display().to_string(), e);
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            // Two processes starting at once: the second one reads the first one's key.
            match write_key_file(&path, &Self::generate_key()) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
                _ => {}
            }
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        Self::from_base64(&SecretString::from(text))
    }

    /// A short hash of the key (not the key): what `instance_meta.key_fingerprint` holds.
    pub fn fingerprint(&self) -> &str {
        &self.1
    }

    /// Checks this key against the installation's: the first process to start records its
    /// fingerprint (after checking that it opens any credentials already stored); every later
    /// process must have the same key. A different key is an error saying what to do, never a
    /// silently regenerated key whose syncs fail with "credential missing".
    pub async fn verify_installation(&self, db: &sea_orm::DatabaseConnection) -> Result<(), String> {
        use crate::entity::{instance_meta, integration};
        use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
        let err = |e: sea_orm::DbErr| format!("cannot read the key fingerprint: {e}");
        let stored = instance_meta::Entity::find_by_id("key_fingerprint".to_string()).one(db).await.map_err(err)?;
        let mismatch = |theirs: &str| {
            format!(
                "the secret key (fingerprint {}) is not the key that sealed the stored credentials (fingerprint {theirs}). \
                 The gateway and every agent must share one key: copy data/secret.key from the first machine or set \
                 OFFERBRIDGE_SECRET_KEY to the same value everywhere",
                self.1
            )
        };
        match stored {
            Some(m) if m.value == self.1 => Ok(()),
            Some(m) => Err(mismatch(&m.value)),
            None => {
                let sealed =
                    integration::Entity::find().filter(integration::Column::CredentialsSealed.is_not_null()).one(db).await.map_err(err)?;
                if let Some(s) = sealed.and_then(|i| i.credentials_sealed)
                    && self.open(&s).is_err()
                {
                    return Err(mismatch("unknown, from before fingerprints were kept"));
                }
                let row = instance_meta::ActiveModel { key: Set("key_fingerprint".into()), value: Set(self.1.clone()) };
                // Two processes starting at once both insert: the second one's insert fails
                // and it checks again.
                if row.insert(db).await.is_err() {
                    let again = instance_meta::Entity::find_by_id("key_fingerprint".to_string()).one(db).await.map_err(err)?;
                    return match again {
                        Some(m) if m.value == self.1 => Ok(()),
                        Some(m) => Err(mismatch(&m.value)),
                        None => Err("cannot record the key fingerprint".into()),
                    };
                }
                Ok(())
            }
        }
    }

    /// A new random key, base64 (what `secret.key` holds).
    pub fn generate_key() -> SecretString {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        SecretString::from(B64.encode(k))
    }

    /// Re-seals every stored credential from this key to `new` and records `new`'s fingerprint,
    /// in one transaction: either every integration moves to the new key or none does. A
    /// credential this key cannot open stops the rotation (naming the integration) with nothing
    /// changed. Returns how many integrations were re-sealed.
    ///
    /// A failed COMMIT is ambiguous (the server may have committed before the connection
    /// dropped): it is reported as [`RotateError::Commit`], and the caller must keep the new
    /// key.
    pub async fn rotate_to(&self, db: &sea_orm::DatabaseConnection, new: &Cipher) -> Result<u64, RotateError> {
        use crate::entity::{instance_meta, integration};
        use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
        let err = |e: sea_orm::DbErr| RotateError::RolledBack(format!("the rotation was rolled back: {e}"));
        let tx = db.begin().await.map_err(err)?;
        let rows = integration::Entity::find().filter(integration::Column::CredentialsSealed.is_not_null()).all(&tx).await.map_err(err)?;
        let mut n = 0;
        for row in rows {
            let Some(sealed) = &row.credentials_sealed else { continue };
            let creds = self.open(sealed).map_err(|_| {
                RotateError::RolledBack(format!(
                    "the credentials of integration {} ('{}') do not open with the current key; nothing was changed",
                    row.id, row.name
                ))
            })?;
            let mut am: integration::ActiveModel = row.into();
            am.credentials_sealed = Set(Some(new.seal(&creds)));
            am.update(&tx).await.map_err(err)?;
            n += 1;
        }
        let meta = instance_meta::ActiveModel { key: Set("key_fingerprint".into()), value: Set(new.1.clone()) };
        match instance_meta::Entity::find_by_id("key_fingerprint".to_string()).one(&tx).await.map_err(err)? {
            Some(_) => meta.update(&tx).await.map_err(err)?,
            None => meta.insert(&tx).await.map_err(err)?,
        };
        tx.commit().await.map_err(|e| RotateError::Commit(e.to_string()))?;
        Ok(n)
    }

    pub fn seal(&self, creds: &Credentials) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let plain = serde_json::to_vec(creds).unwrap_or_default();
        // Encryption with a fresh nonce and a valid key cannot fail.
        let ct = self.0.encrypt(Nonce::from_slice(&nonce), plain.as_slice()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Credentials, CryptoError> {
        let raw = B64.decode(sealed).map_err(|_| CryptoError::Open)?;
        if raw.len() < 12 {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self.0.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| CryptoError::Open)?;
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Open)
    }
}

/// What the API may show about a stored credential: that it is set, and its last 4 characters
/// for secrets longer than 8 characters (never for short ones, which 4 characters would expose).
pub fn hint(value: &str) -> Option<String> {
    let n = value.chars().count();
    (n > 8).then(|| value.chars().skip(n - 4).collect())
}

/// What the API shows of a credential that is not secret (an API URL): the value, except a
/// user name and password written into a URL (`https://user:pass@host`), which become `***`.
pub fn public_hint(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("***");
            u.to_string()
        }
        _ => value.to_string(),
    }
}

/// A new API token (`obt_` + 43 base64url chars) and its SHA-256 hash (hex), which is all
/// that is stored. Tokens are 256-bit random, so a fast hash is the right tool.
pub fn new_token() -> (String, String) {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    let token = format!("obt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k));
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::from_base64(&SecretString::from(B64.encode([7u8; 32]))).expect("key")
    }

    #[test]
    fn sealed_credentials_round_trip_and_hide_the_secret() {
        let c = cipher();
        let mut creds = Credentials::new();
        creds.insert("api_key".into(), "super-secret-key-123".into());
        let sealed = c.seal(&creds);
        assert!(!sealed.contains("super-secret"));
        assert_eq!(c.open(&sealed).expect("open"), creds);
        let other = Cipher::from_base64(&SecretString::from(B64.encode([8u8; 32]))).expect("key");
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn a_password_in_a_url_is_never_hinted() {
        assert_eq!(public_hint("https://bob:hunter22@api.example.com/v2"), "https://***@api.example.com/v2");
        assert_eq!(public_hint("https://api.example.com/v2"), "https://api.example.com/v2");
        assert_eq!(public_hint("not a url"), "not a url");
    }

    #[test]
    fn hints_show_last4_of_long_secrets_only() {
        assert_eq!(hint("abcdefghijkl").as_deref(), Some("ijkl"));
        assert_eq!(hint("12345"), None);
    }

    #[test]
    fn tokens_are_hashed() {
        let (t, h) = new_token();
        assert!(t.starts_with("obt_"));
        assert_eq!(hash_token(&t), h);
        assert_ne!(t, h);
    }
}
