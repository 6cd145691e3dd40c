//! Detectors for personal data and credentials in text: the `no-pii` check and redaction share
//! them, so what a check flags is exactly what a report masks.
//!
//! Each kind is a regex for the shape plus, where one exists, the validation the issuer defines
//! (Luhn for payment cards, mod-97 for IBANs, the SSA's never-issued ranges for SSNs): a shape
//! alone would flag every order number and tracking code.

use std::sync::OnceLock;

use regex::Regex;

/// One kind of personal data or credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Card,
    Iban,
    Ssn,
    ApiKey,
    Jwt,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Iban,
        PiiKind::Ssn,
        PiiKind::ApiKey,
        PiiKind::Jwt,
    ];

    /// The name used in the suite file (`kinds = ["email", "card"]`).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Card => "card",
            PiiKind::Iban => "iban",
            PiiKind::Ssn => "ssn",
            PiiKind::ApiKey => "api-key",
            PiiKind::Jwt => "jwt",
        }
    }

    pub fn parse(name: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every kind name, for messages and "did you mean".
    pub fn names() -> impl Iterator<Item = &'static str> {
        PiiKind::ALL.into_iter().map(PiiKind::as_str)
    }
}

/// One detected span of `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

struct Patterns {
    email: Regex,
    phone: Regex,
    card: Regex,
    iban: Regex,
    ssn: Regex,
    api_key: Regex,
    jwt: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants, compiled by the tests below: a failure is a bug in this
        // file, never bad input.
        let re = |p: &str| Regex::new(p).expect("constant pattern");
        Patterns {
            email: re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"),
            // International (+CC ...) or North American (555) 123-4567 / 555-123-4567 shapes;
            // the digit count is checked afterwards.
            phone: re(
                r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4})\b",
            ),
            // 13–19 digits in one run, or grouped as cards are printed: fours (the last group
            // shorter), or American Express's 4-6-5. Ungrouped digits in other shapes (dates,
            // phone-like runs) are not card numbers.
            card: re(
                r"\b(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{4,5})\b",
            ),
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            ssn: re(r"\b(\d{3})-(\d{2})-(\d{4})\b"),
            api_key: re(concat!(
                r"\bsk-[A-Za-z0-9_-]{20,}",
                r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b",
                r"|\bgithub_pat_[A-Za-z0-9_]{22,}",
                r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                r"|\bxox[abposr]-[A-Za-z0-9-]{10,}",
            )),
            jwt: re(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
        }
    })
}

/// Every span of `text` of one of `kinds`, sorted by position, overlapping spans merged (the
/// first kind found at a position wins).
pub fn find(text: &str, kinds: &[PiiKind]) -> Vec<Found> {
    let p = patterns();
    let mut found = Vec::new();
    for &kind in kinds {
        let mut push = |start, end| found.push(Found { kind, start, end });
        match kind {
            PiiKind::Email => p
                .email
                .find_iter(text)
                .for_each(|m| push(m.start(), m.end())),
            PiiKind::Phone => {
                for m in p.phone.find_iter(text) {
                    let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
                    if (10..=15).contains(&digits) {
                        push(m.start(), m.end());
                    }
                }
            }
            PiiKind::Card => {
                for m in p.card.find_iter(text) {
                    // Card numbers start with 2–6 (Mastercard, Amex, Visa, Discover, ...): a
                    // 13-digit run starting with 1 is a millisecond timestamp far more often.
                    if !matches!(m.as_str().as_bytes().first(), Some(b'2'..=b'6')) {
                        continue;
                    }
                    // A grouped number may be followed by a CVV or an expiry group: the card is
                    // any whole-group prefix of 13–19 digits that passes Luhn.
                    let mut digits = Vec::new();
                    let found = m.as_str().split([' ', '-']).any(|group| {
                        digits.extend(digits_of(group));
                        (13..=19).contains(&digits.len()) && luhn_valid(&digits)
                    });
                    if found {
                        push(m.start(), m.end());
                    }
                }
            }
            PiiKind::Iban => {
                for m in p.iban.find_iter(text) {
                    // Likewise an IBAN followed by another group of four: any whole-group
                    // prefix that passes mod 97.
                    let mut prefix = String::new();
                    let found = m.as_str().split(' ').any(|group| {
                        prefix.push_str(group);
                        iban_valid(&prefix)
                    });
                    if found {
                        push(m.start(), m.end());
                    }
                }
            }
            PiiKind::Ssn => {
                for c in p.ssn.captures_iter(text) {
                    let (Some(all), Some(area), Some(group), Some(serial)) =
                        (c.get(0), c.get(1), c.get(2), c.get(3))
                    else {
                        continue;
                    };
                    // Never issued: area 000, 666 or 900-999; group 00; serial 0000.
                    let area = area.as_str();
                    if area != "000"
                        && area != "666"
                        && !area.starts_with('9')
                        && group.as_str() != "00"
                        && serial.as_str() != "0000"
                    {
                        push(all.start(), all.end());
                    }
                }
            }
            PiiKind::ApiKey => p
                .api_key
                .find_iter(text)
                .for_each(|m| push(m.start(), m.end())),
            PiiKind::Jwt => p.jwt.find_iter(text).for_each(|m| push(m.start(), m.end())),
        }
    }
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut merged: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        match merged.last_mut() {
            Some(last) if f.start < last.end => last.end = last.end.max(f.end),
            _ => merged.push(f),
        }
    }
    merged
}

fn digits_of(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn checksum (ISO/IEC 7812) that every payment card number satisfies.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The IBAN check (ISO 13616): move the first four characters to the end, letters to numbers
/// (A = 10 … Z = 35), and the number mod 97 must be 1. Spaces are ignored.
pub fn iban_valid(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut remainder: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds_in(text: &str) -> Vec<&'static str> {
        find(text, &PiiKind::ALL)
            .iter()
            .map(|f| f.kind.as_str())
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        let _ = patterns();
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(
            kinds_in("write to ana.lopez+eu@example.co.uk today"),
            ["email"]
        );
        assert_eq!(kinds_in("call +44 20 7946 0958 now"), ["phone"]);
        assert_eq!(kinds_in("call (415) 555-2671"), ["phone"]);
        assert_eq!(kinds_in("card 4111 1111 1111 1111 ok"), ["card"]);
        // With a CVV or an expiry after it.
        assert_eq!(kinds_in("card 4111 1111 1111 1111 123"), ["card"]);
        assert_eq!(kinds_in("4111-1111-1111-1111 05 27"), ["card"]);
        // Not cards: a millisecond timestamp (Luhn-valid), two ISO dates.
        assert!(luhn_valid(&digits_of("1732492807000")));
        assert!(kinds_in(r#"{"created_ms": 1732492807000}"#).is_empty());
        assert!(kinds_in("from 2024-01-15 2024-06-28").is_empty());
        // An IBAN followed by another group.
        assert_eq!(kinds_in("BE68 5390 0754 7034 2024"), ["iban"]);
        assert_eq!(kinds_in("IBAN GB82 WEST 1234 5698 7654 32."), ["iban"]);
        assert_eq!(kinds_in("IBAN DE89370400440532013000"), ["iban"]);
        assert_eq!(kinds_in("ssn 123-45-6789"), ["ssn"]);
        assert_eq!(
            kinds_in("key sk-proj-abcdefghijklmnopqrstuvwx"),
            ["api-key"]
        );
        assert_eq!(
            kinds_in("token ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
            ["api-key"]
        );
        assert_eq!(kinds_in("aws AKIAIOSFODNN7EXAMPLE"), ["api-key"]);
        assert_eq!(kinds_in("slack xoxb-1234567890-abcdefghij"), ["api-key"]);
        assert_eq!(
            kinds_in("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_nature-123"),
            ["jwt"]
        );
    }

    #[test]
    fn near_misses_are_not_flagged() {
        // Luhn-invalid, wrong IBAN checksum, never-issued SSN ranges, short numbers, versions.
        assert!(kinds_in("order 4111 1111 1111 1112").is_empty());
        assert!(kinds_in("GB83 WEST 1234 5698 7654 32").is_empty());
        assert!(kinds_in("000-12-3456 and 666-12-3456 and 912-34-5678").is_empty());
        assert!(kinds_in("room 1234, version 1.2.3, 2024-05-01, 3.14159").is_empty());
        assert!(kinds_in("sk-short and ghp_short").is_empty());
        assert!(kinds_in("no personal data here @ all").is_empty());
    }

    #[test]
    fn only_the_requested_kinds_are_searched() {
        let text = "mail a@b.io, card 4111111111111111";
        let found = find(text, &[PiiKind::Card]);
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].start..found[0].end], "4111111111111111");
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in PiiKind::ALL {
            assert_eq!(PiiKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PiiKind::parse("emails"), None);
    }

    /// Appends the Luhn check digit to `body`.
    fn with_check_digit(body: &[u8]) -> Vec<u8> {
        let mut digits = body.to_vec();
        digits.push(0);
        for check in 0..10 {
            if let Some(last) = digits.last_mut() {
                *last = check;
            }
            if luhn_valid(&digits) {
                break;
            }
        }
        digits
    }

    fn text_of(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// Builds a valid IBAN for a country and a BBAN by computing its check digits.
    fn make_iban(country: &str, bban: &str) -> String {
        for check in 2..=98 {
            let candidate = format!("{country}{check:02}{bban}");
            if iban_valid(&candidate) {
                return candidate;
            }
        }
        unreachable!("some check digits in 2..=98 always satisfy mod 97")
    }

    proptest! {
        #[test]
        fn luhn_valid_card_numbers_are_found(first in 2u8..=6, rest in proptest::collection::vec(0u8..10, 11..=17), sep in prop_oneof![Just(""), Just(" "), Just("-")]) {
            let mut body = vec![first];
            body.extend(rest);
            let digits = with_check_digit(&body);
            let plain = text_of(&digits);
            let grouped: Vec<String> = plain.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            let text = format!("pay with {} today", grouped.join(sep));
            let found = find(&text, &[PiiKind::Card]);
            prop_assert_eq!(found.len(), 1, "{}", text);
        }

        #[test]
        fn a_single_wrong_digit_breaks_luhn(body in proptest::collection::vec(0u8..10, 12..=18), pos in 0usize..19, delta in 1u8..10) {
            let mut digits = with_check_digit(&body);
            let pos = pos % digits.len();
            digits[pos] = (digits[pos] + delta) % 10;
            // Luhn detects every single-digit error.
            prop_assert!(!luhn_valid(&digits));
            let text = format!("ref {} end", text_of(&digits));
            prop_assert!(find(&text, &[PiiKind::Card]).is_empty());
        }

        #[test]
        fn ibans_with_computed_check_digits_are_found(country in "[A-Z]{2}", bban in "[0-9A-Z]{11,30}") {
            let iban = make_iban(&country, &bban);
            prop_assert!(iban_valid(&iban));
            let text = format!("send it to {iban} please");
            let found = find(&text, &[PiiKind::Iban]);
            prop_assert_eq!(found.len(), 1, "{}", text);
        }

        #[test]
        fn an_iban_with_a_changed_character_fails_mod_97(bban in "[0-9]{12,30}", pos in 0usize..30, delta in 1u8..10) {
            let iban = make_iban("DE", &bban);
            let mut bytes = iban.into_bytes();
            let pos = 4 + pos % (bytes.len() - 4);
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            // Mod 97 catches every single-digit substitution.
            prop_assert!(!iban_valid(&changed), "{}", changed);
        }

        #[test]
        fn find_never_panics_and_spans_are_ordered(text in "\\PC{0,200}") {
            let found = find(&text, &PiiKind::ALL);
            for pair in found.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
            for f in &found {
                prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            }
        }
    }
}
