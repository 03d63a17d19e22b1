//! A small lexer for PDF syntax: enough to find object headers, skip
//! values and read a few entries of a dictionary, in linear time and without
//! recursion, on bytes nobody has checked yet. lopdf's parser stays the
//! judge of what a file means; callers use these spans to decide where to
//! look and check what lopdf then reads.

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

pub(crate) fn is_regular(c: u8) -> bool {
    !is_ws(c) && !b"()<>[]{}/%".contains(&c)
}

pub(crate) fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|p| from + p)
}

pub(crate) fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while buf.get(i).copied().is_some_and(is_ws) {
        i += 1;
    }
    i
}

/// Whitespace and comments.
pub(crate) fn skip_space(buf: &[u8], mut i: usize) -> usize {
    loop {
        i = skip_ws(buf, i);
        if buf.get(i) != Some(&b'%') {
            return i;
        }
        while buf.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
            i += 1;
        }
    }
}

/// `word` at `i`, not followed by a regular byte.
pub(crate) fn keyword_at(buf: &[u8], i: usize, word: &[u8]) -> bool {
    buf.get(i..).is_some_and(|r| r.starts_with(word))
        && !buf.get(i + word.len()).copied().is_some_and(is_regular)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `<<` or `[`.
    Open,
    /// `>>` or `]`.
    Close,
    Str,
    Name,
    Word,
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The token after whitespace and comments from `i`.
pub(crate) fn token(buf: &[u8], i: usize) -> Option<Token> {
    let start = skip_space(buf, i);
    let c = *buf.get(start)?;
    let next = buf.get(start + 1).copied();
    let regular_run =
        |from: usize| from + buf[from..].iter().take_while(|&&c| is_regular(c)).count();
    let (kind, end) = match c {
        b'<' if next == Some(b'<') => (Kind::Open, start + 2),
        b'>' if next == Some(b'>') => (Kind::Close, start + 2),
        b'[' => (Kind::Open, start + 1),
        b']' => (Kind::Close, start + 1),
        b'(' => {
            let mut depth = 0usize;
            let mut j = start;
            let mut end = buf.len();
            while j < buf.len() {
                match buf[j] {
                    b'\\' => j += 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            (Kind::Str, end)
        }
        b'<' => (
            Kind::Str,
            find(buf, start, b">").map_or(buf.len(), |e| e + 1),
        ),
        b'/' => (Kind::Name, regular_run(start + 1)),
        c if is_regular(c) => (Kind::Word, regular_run(start)),
        _ => (Kind::Other, start + 1),
    };
    Some(Token {
        kind,
        start,
        end: end.min(buf.len()),
    })
}

/// The span of the value that starts after whitespace from `i` (a whole
/// array or dictionary, or `N G R`).
pub(crate) fn value_span(buf: &[u8], i: usize) -> Option<(usize, usize)> {
    let t = token(buf, i)?;
    match t.kind {
        Kind::Open => {
            let mut depth = 1usize;
            let mut j = t.end;
            loop {
                let u = token(buf, j)?;
                match u.kind {
                    Kind::Open => depth += 1,
                    Kind::Close => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((t.start, u.end));
                        }
                    }
                    _ => {}
                }
                j = u.end;
            }
        }
        Kind::Word => {
            let digits = |t: &Token| buf[t.start..t.end].iter().all(u8::is_ascii_digit);
            if digits(&t)
                && let Some(g) = token(buf, t.end).filter(|g| g.kind == Kind::Word && digits(g))
                && let Some(r) = token(buf, g.end).filter(|r| &buf[r.start..r.end] == b"R")
            {
                return Some((t.start, r.end));
            }
            Some((t.start, t.end))
        }
        Kind::Str | Kind::Name => Some((t.start, t.end)),
        Kind::Close | Kind::Other => None,
    }
}

/// A dictionary: its span and, for each entry, the spans of the key (after
/// the `/`) and of the value.
#[derive(Debug)]
pub(crate) struct Dict {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) entries: Vec<((usize, usize), (usize, usize))>,
}

/// The dictionary that starts after whitespace from `i`, if one does.
pub(crate) fn dict_at(buf: &[u8], i: usize) -> Option<Dict> {
    let open = token(buf, i)?;
    if open.kind != Kind::Open || buf[open.start] != b'<' {
        return None;
    }
    let mut entries = Vec::new();
    let mut j = open.end;
    loop {
        let t = token(buf, j)?;
        match t.kind {
            Kind::Close if buf[t.start] == b'>' => {
                return Some(Dict {
                    start: open.start,
                    end: t.end,
                    entries,
                });
            }
            Kind::Name => {
                let value = value_span(buf, t.end)?;
                entries.push(((t.start + 1, t.end), value));
                j = value.1;
            }
            _ => return None,
        }
    }
}

impl Dict {
    /// The raw text of the value of `key` (the last one, as lopdf keeps).
    pub(crate) fn get<'a>(&self, buf: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
        self.span(buf, key).map(|(v0, v1)| &buf[v0..v1])
    }

    /// Where the value of `key` (the last one) is.
    pub(crate) fn span(&self, buf: &[u8], key: &[u8]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .rev()
            .find(|((k0, k1), _)| &buf[*k0..*k1] == key)
            .map(|&(_, value)| value)
    }

    pub(crate) fn int(&self, buf: &[u8], key: &[u8]) -> Option<i64> {
        std::str::from_utf8(self.get(buf, key)?).ok()?.parse().ok()
    }

    pub(crate) fn name<'a>(&self, buf: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
        self.get(buf, key)?.strip_prefix(b"/")
    }
}
