//! `~/.mylogin.cnf` (or `MYSQL_TEST_LOGIN_FILE`), written by
//! `mysql_config_editor`. Its format is public (mysys/my_default.cc): 4
//! unused bytes, a 20-byte key, then for each line of an option file a
//! 4-byte little-endian length and that many bytes of AES-128-ECB
//! ciphertext (PKCS#7 padded), the AES key being the 20-byte key XOR-folded
//! into 16 bytes. It is obfuscation, not encryption: the key is in the file.
//! Each login path (`[name]`) becomes a connection of that name (`[client]`
//! one named `host/db`).

use std::path::{Path, PathBuf};

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};

use super::{mycnf, Context, Discovery, Source};

/// Why a login file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginFileError {
    #[error("too short for a login file")]
    TooShort,
    #[error("a line is cut short (the file is truncated)")]
    Truncated,
    #[error("a line does not decrypt (wrong length or padding)")]
    BadBlock,
}

/// The AES key: the 20-byte key XOR-folded into 16 bytes.
pub fn fold_key(key: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    for (i, b) in key.iter().enumerate() {
        k[i % 16] ^= b;
    }
    k
}

/// Decrypts a `.mylogin.cnf` into option-file text.
pub fn decrypt(bytes: &[u8]) -> Result<String, LoginFileError> {
    if bytes.len() < 24 {
        return Err(LoginFileError::TooShort);
    }
    let key = fold_key(&bytes[4..24]);
    let cipher = aes::Aes128::new(GenericArray::from_slice(&key));
    let mut rest = &bytes[24..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(LoginFileError::Truncated);
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if len == 0 || !len.is_multiple_of(16) {
            return Err(LoginFileError::BadBlock);
        }
        if rest.len() < len {
            return Err(LoginFileError::Truncated);
        }
        let mut chunk = rest[..len].to_vec();
        rest = &rest[len..];
        for block in chunk.chunks_mut(16) {
            cipher.decrypt_block(GenericArray::from_mut_slice(block));
        }
        let pad = *chunk.last().unwrap_or(&0) as usize;
        if pad == 0 || pad > 16 || chunk[len - pad..].iter().any(|&b| b as usize != pad) {
            return Err(LoginFileError::BadBlock);
        }
        chunk.truncate(len - pad);
        out.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn path(cx: &Context) -> PathBuf {
    cx.var("MYSQL_TEST_LOGIN_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cx.home.join(".mylogin.cnf"))
}

pub fn discover(cx: &Context, d: &mut Discovery) {
    let path = path(cx);
    let Some(bytes) = super::read_file(d, &path) else {
        return;
    };
    let text = match decrypt(&bytes) {
        Ok(t) => t,
        Err(e) => {
            d.problem(&path, None, e.to_string());
            return;
        }
    };
    let mut opts = Vec::new();
    // A login file has no includes: parse with includes at their limit.
    mycnf::parse_into(cx, &text, Path::new(&path), 8, d, &mut opts);
    let mut groups: Vec<String> = Vec::new();
    for o in &opts {
        if !groups.contains(&o.group) {
            groups.push(o.group.clone());
        }
    }
    for g in groups {
        let of: Vec<&mycnf::Opt> = opts.iter().filter(|o| o.group == g).collect();
        let name = (g != "client").then(|| super::clean_name(&g));
        let origin = format!("{} login path [{g}]", cx.show(&path));
        if let Some(f) = mycnf::connection(cx, &of, Source::Mylogin, origin, name, d) {
            d.found.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_truncated_files_are_refused() {
        assert_eq!(decrypt(&[0; 10]), Err(LoginFileError::TooShort));
        let mut b = vec![0u8; 24];
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        assert_eq!(decrypt(&b), Err(LoginFileError::Truncated));
    }

    #[test]
    fn the_key_is_folded() {
        let key: Vec<u8> = (1..=20).collect();
        let k = fold_key(&key);
        assert_eq!(k[0], 1 ^ 17);
        assert_eq!(k[3], 4 ^ 20);
        assert_eq!(k[4], 5);
    }
}
