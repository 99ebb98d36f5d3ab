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

/// `prefix_` followed by 24 characters: 7 of the creation time (milliseconds, base 62, so ids sort by
/// age for 111 years) and 17 random ones (about 101 bits). Ids made one after another land side by side
/// in an index, so a batch of inserts writes a few pages instead of one page each.
pub fn new_id(prefix: &str) -> Result<String, getrandom::Error> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut out = String::with_capacity(prefix.len() + 25);
    out.push_str(prefix);
    out.push('_');
    let mut time = [0u8; 7];
    let mut t = millis;
    for slot in time.iter_mut().rev() {
        *slot = ALPHABET[(t % 62) as usize];
        t /= 62;
    }
    out.extend(time.iter().map(|b| char::from(*b)));
    out.push_str(&random_alnum(17)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_prefix_and_differ() {
        let a = super::new_id("tok").unwrap();
        let b = super::new_id("tok").unwrap();
        assert!(a.starts_with("tok_") && a.len() == 28 && a != b);
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = super::new_id("tok").unwrap();
        assert!(a[..11] < c[..11], "later ids sort after earlier ones: {a} {c}");
    }
}
