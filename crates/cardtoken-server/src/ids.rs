//! Random identifiers and secrets.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `buf` from the operating system's generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// `len` characters of [0-9A-Za-z], uniformly (rejection sampling; ~5.95 bits each).
pub fn random_alnum(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes: [u8; 32] = random_bytes()?;
        for b in bytes {
            // 248 = 4 × 62: reject the top of the range so every character is equally likely.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// `prefix_` followed by 24 random characters (about 143 bits).
pub fn new_id(prefix: &str) -> Result<String, getrandom::Error> {
    Ok(format!("{prefix}_{}", random_alnum(24)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_prefix_and_differ() {
        let a = super::new_id("tok").unwrap();
        let b = super::new_id("tok").unwrap();
        assert!(a.starts_with("tok_") && a.len() == 28 && a != b);
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
